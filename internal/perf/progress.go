package perf

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// barWidth is the number of cells in the progress bar.
const barWidth = 30

// counters are the running totals of one run: workers add to them with
// atomic operations and the progress reporter reads them.
type counters struct {
	records atomic.Int64
	bytes   atomic.Int64
	failed  atomic.Int64
	// transactions counts committed transactions (transactional produce).
	transactions atomic.Int64
}

// progressSpec says where and how a run reports progress.
type progressSpec struct {
	w        io.Writer
	interval time.Duration
	// bar redraws one line in place (for a terminal) instead of printing
	// a line per interval (for a log or a pipe).
	bar  bool
	mode string
	// target is the record count the run aims at, for the bar's fill;
	// zero when unknown.
	target int64
}

// progress reports the totals so far and the rate over the last interval,
// as plain lines or as a bar redrawn in place. It owns one goroutine,
// started by startProgress and ended and waited for by stop.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

// startProgress begins reporting; a nil writer or non-positive interval
// reports nothing.
func startProgress(spec progressSpec, totals *counters) *progress {
	p := &progress{done: make(chan struct{})}
	if spec.w == nil || spec.interval <= 0 {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(spec, totals)
	}()
	return p
}

func (p *progress) run(spec progressSpec, totals *counters) {
	ticker := time.NewTicker(spec.interval)
	defer ticker.Stop()
	start := time.Now()
	last := start
	var lastRecords, lastBytes int64
	drawn := false
	for {
		select {
		case <-p.done:
			if drawn {
				fmt.Fprintln(spec.w)
			}
			return
		case now := <-ticker.C:
			records, bytes := totals.records.Load(), totals.bytes.Load()
			seconds := now.Sub(last).Seconds()
			rate := float64(records-lastRecords) / seconds
			throughput := megabytes(bytes-lastBytes) / seconds
			if spec.bar {
				fmt.Fprintf(spec.w, "\r%s", barLine(spec.mode, records, spec.target, rate, throughput, totals.failed.Load()))
				drawn = true
			} else {
				fmt.Fprintf(spec.w, "%s: %5.1fs %d records, %.0f records/s, %.2f MB/s, %d failed\n",
					spec.mode, now.Sub(start).Seconds(), records, rate, throughput, totals.failed.Load())
			}
			last, lastRecords, lastBytes = now, records, bytes
		}
	}
}

// barLine draws "produce [#######.......]  45%  450/1000 records ...";
// without a target the bar is left out.
func barLine(mode string, records, target int64, rate, throughput float64, failed int64) string {
	var b strings.Builder
	b.WriteString(mode)
	if target > 0 {
		done := min(records, target)
		filled := int(done * barWidth / target)
		fmt.Fprintf(&b, " [%s%s] %3d%%  %d/%d", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled),
			done*100/target, records, target)
	} else {
		fmt.Fprintf(&b, " %d", records)
	}
	fmt.Fprintf(&b, " records  %.0f rec/s  %.2f MB/s", rate, throughput)
	if failed > 0 {
		fmt.Fprintf(&b, "  %d failed", failed)
	}
	// Trailing spaces wipe the end of a longer previous line.
	b.WriteString("   ")
	return b.String()
}

// stop ends the reporter and waits for its goroutine.
func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}
