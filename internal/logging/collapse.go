package logging

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// maxKinds bounds the kinds tracked at once. Past it a new kind is keyed
// without its error cause (call sites and messages are few), and past
// that it is passed on uncounted: memory stays bounded and nothing is
// hidden without a count.
const maxKinds = 4096

// kind is what makes two records "the same" (see the package doc).
type kind struct {
	level slog.Level
	pc    uintptr
	msg   string
	cause uint64 // causeHash of the first error attribute; 0: none
}

// window is one kind's state: the current interval, and the latest
// record counted in it, kept to be written with the count.
type window struct {
	end        time.Time
	suppressed int
	last       slog.Record  // a Clone: valid after Handle returned
	handler    slog.Handler // the handler last was logged through (With attributes, groups)
}

// report is one collapsed line to write: the latest record counted, and
// how many others were counted with it.
type report struct {
	handler slog.Handler
	record  slog.Record
	count   int
}

// collapser is the state shared by a Handler and its derived handlers.
// mu guards kinds, armed, timer and closed and is never held while a
// record is written. reportMu serialises the writers of reports (the
// timer and Flush/Close), so Close returns only once a running timer
// report is written.
type collapser struct {
	interval time.Duration
	now      func() time.Time

	reportMu sync.Mutex

	mu     sync.Mutex
	kinds  map[kind]*window
	armed  bool        // timer will fire
	timer  *time.Timer // made on first use
	closed bool
}

func newCollapser(interval time.Duration, now func() time.Time) *collapser {
	return &collapser{interval: interval, now: now, kinds: map[kind]*window{}}
}

// admit decides about one record of kind k logged through handler: pass
// it on (with repeated records of its kind not shown yet), or count it.
func (c *collapser) admit(k kind, r slog.Record, handler slog.Handler) (repeated int, pass bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, true
	}
	w := c.kinds[k]
	if w == nil && len(c.kinds) >= maxKinds {
		k.cause = 0
		w = c.kinds[k]
		if w == nil {
			return 0, true
		}
	}
	if w == nil {
		c.kinds[k] = &window{end: now.Add(c.interval)}
		c.armLocked()
		return 0, true
	}
	if now.Before(w.end) {
		w.suppressed++
		w.last, w.handler = r.Clone(), handler
		return 0, false
	}
	repeated = w.suppressed
	*w = window{end: now.Add(c.interval)}
	return repeated, true
}

// armLocked makes sure the timer will look at the windows.
func (c *collapser) armLocked() {
	if c.armed || c.closed {
		return
	}
	c.armed = true
	if c.timer == nil {
		c.timer = time.AfterFunc(c.interval, c.tick)
		return
	}
	c.timer.Reset(c.interval)
}

// tick runs on the timer: it writes the counts of windows that ended and
// forgets kinds that were quiet for a whole window.
func (c *collapser) tick() {
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	c.mu.Lock()
	c.armed = false
	reports := c.collectLocked(c.now(), false)
	if len(c.kinds) > 0 {
		c.armLocked()
	}
	c.mu.Unlock()
	write(reports)
}

// flush writes every pending count now.
func (c *collapser) flush() {
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	c.mu.Lock()
	reports := c.collectLocked(c.now(), true)
	c.mu.Unlock()
	write(reports)
}

// close writes every pending count and stops collapsing.
func (c *collapser) close() {
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	c.mu.Lock()
	reports := c.collectLocked(c.now(), true)
	c.closed = true
	clear(c.kinds)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	write(reports)
}

// collectLocked takes the counts of windows that ended by now (all of
// them when all), starting a new window for each, and forgets kinds whose
// window ended with nothing counted. Reports are in the order of their
// records.
func (c *collapser) collectLocked(now time.Time, all bool) []report {
	var reports []report
	for k, w := range c.kinds {
		ended := !now.Before(w.end)
		if w.suppressed == 0 {
			if ended {
				delete(c.kinds, k)
			}
			continue
		}
		if !ended && !all {
			continue
		}
		// The latest counted record is the line; the others counted are its repeated.
		reports = append(reports, report{handler: w.handler, record: w.last, count: w.suppressed - 1})
		end := w.end
		if ended {
			end = now.Add(c.interval)
		}
		*w = window{end: end}
	}
	slices.SortFunc(reports, func(a, b report) int { return cmp.Compare(a.record.Time.UnixNano(), b.record.Time.UnixNano()) })
	return reports
}

// write passes the reports on; a handler's error has nowhere to go (the
// logger itself failed), as with slog.Logger.
func write(reports []report) {
	for _, r := range reports {
		record := r.record
		if r.count > 0 {
			record = withRepeated(record, r.count)
		}
		_ = r.handler.Handle(context.Background(), record)
	}
}
