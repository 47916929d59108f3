package coord

import (
	"sort"
	"sync"
	"time"
)

// Clock is where the runtime reads the time and arms its timers: the
// shards' timers (session timeouts, transaction timeouts, retention) and
// every Effects.Now. Shards never read a clock themselves; injecting this
// one lets tests move time by hand (ManualClock) and drive timeouts
// without sleeping.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// AfterFunc calls f on a goroutine of the clock's choosing once d has
	// passed, unless the returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it
	// did so.
	Stop() bool
}

// SystemClock is the real clock (time.Now and time.AfterFunc), the
// runtime's default.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// ManualClock is a Clock that moves only when Advance is called, for tests
// and simulations: the calls of timers that come due run on Advance's
// goroutine, in deadline order, each seeing Now at its own deadline. It is
// safe for concurrent use.
type ManualClock struct {
	mu     sync.Mutex // guards now, timers and seq
	now    time.Time
	timers []*manualTimer
	seq    int
}

// NewManualClock returns a ManualClock that reads start until advanced.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now implements Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements Clock; f runs inside a later Advance.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &manualTimer{clock: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Pending is the number of timers armed and not yet run or stopped: a test
// waits for the timer it means to fire before advancing past it.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves the clock forward by d, running every timer due by then.
// A timer armed by a running call fires in the same Advance if it is due.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		t := c.popDue(end)
		if t == nil {
			break
		}
		t.f()
	}
	c.mu.Lock()
	if end.After(c.now) {
		c.now = end
	}
	c.mu.Unlock()
}

// popDue removes and returns the earliest timer due by end, moving the
// clock to its deadline; nil when none is due.
func (c *ManualClock) popDue(end time.Time) *manualTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	sort.Slice(c.timers, func(i, j int) bool {
		a, b := c.timers[i], c.timers[j]
		return a.at.Before(b.at) || a.at.Equal(b.at) && a.seq < b.seq
	})
	if len(c.timers) == 0 || c.timers[0].at.After(end) {
		return nil
	}
	t := c.timers[0]
	c.timers = c.timers[1:]
	if t.at.After(c.now) {
		c.now = t.at
	}
	return t
}

// manualTimer is one AfterFunc of a ManualClock.
type manualTimer struct {
	clock *ManualClock
	at    time.Time
	seq   int
	f     func()
}

// Stop implements Timer.
func (t *manualTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, other := range c.timers {
		if other == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}
