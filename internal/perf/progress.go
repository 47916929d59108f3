package perf

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// counters are the running totals of one run: workers add to them with
// atomic operations and the progress reporter reads them.
type counters struct {
	records atomic.Int64
	bytes   atomic.Int64
	failed  atomic.Int64
}

// progress prints one line per interval with the totals so far and the rate
// over the last interval. It owns one goroutine, started by startProgress and
// ended and waited for by stop.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

// startProgress begins reporting to w; a nil w or non-positive interval
// reports nothing.
func startProgress(w io.Writer, interval time.Duration, mode string, totals *counters) *progress {
	p := &progress{done: make(chan struct{})}
	if w == nil || interval <= 0 {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(w, interval, mode, totals)
	}()
	return p
}

func (p *progress) run(w io.Writer, interval time.Duration, mode string, totals *counters) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	start := time.Now()
	last := start
	var lastRecords, lastBytes int64
	for {
		select {
		case <-p.done:
			return
		case now := <-ticker.C:
			records, bytes := totals.records.Load(), totals.bytes.Load()
			seconds := now.Sub(last).Seconds()
			fmt.Fprintf(w, "%s: %5.1fs %d records, %.0f records/s, %.2f MB/s, %d failed\n",
				mode, now.Sub(start).Seconds(), records,
				float64(records-lastRecords)/seconds, megabytes(bytes-lastBytes)/seconds,
				totals.failed.Load())
			last, lastRecords, lastBytes = now, records, bytes
		}
	}
}

// stop ends the reporter and waits for its goroutine.
func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}
