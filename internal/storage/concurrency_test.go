package storage

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentReadsDuringWrites runs readers against one writer that
// appends, syncs, truncates, enforces retention and deletes records. Every
// read must be whole batches with good CRCs and contiguous offsets, the
// first holding the offset asked for; -race checks the locking.
func TestConcurrentReadsDuringWrites(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	cfg.IndexIntervalBytes = 200
	cfg.RetentionBytes = 20_000
	l := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer l.Close()
	var done atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() { readUntilDone(t, l, &done, &reads, uint64(r)) })
	}
	wg.Go(func() {
		for !done.Load() {
			l.OffsetForTimestamp(1500)
			l.MaxTimestamp()
		}
	})
	writeMixedLoad(t, l)
	waitFor(t, func() bool { return reads.Load() > 200 })
	done.Store(true)
	wg.Wait()
}

func writeMixedLoad(t *testing.T, l *Log) {
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range 1500 {
		res := mustAppend(t, l, testBatch(t, 1+i%3, int64(1000+i), 20+rng.IntN(300), byte(i)))
		var err error
		switch {
		case i%7 == 0:
			err = l.Sync(res.LastOffset + 1)
		case i%17 == 0:
			err = l.Truncate(l.LogEndOffset() - rng.Int64N(6))
		case i%23 == 0:
			_, err = l.EnforceRetention(time.UnixMilli(0))
		case i%31 == 0:
			start, end := l.LogStartOffset(), l.LogEndOffset()
			err = l.DeleteRecordsBefore(start + rng.Int64N(end-start+1)/4)
		}
		if err != nil {
			t.Errorf("writer op %d: %v", i, err)
			return
		}
	}
}

func readUntilDone(t *testing.T, l *Log, done *atomic.Bool, reads *atomic.Int64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	buf := make([]byte, 0, 1<<16)
	for !done.Load() {
		start, end := l.LogStartOffset(), l.LogEndOffset()
		if end <= start {
			continue
		}
		offset := start + rng.Int64N(end-start)
		data, err := l.ReadInto(buf[:0], offset, int32(rng.IntN(8000)), end, rng.IntN(2) == 0)
		if errors.Is(err, ErrOffsetOutOfRange) {
			continue // retention or truncation moved the bounds meanwhile
		}
		if err != nil {
			t.Errorf("read at %d: %v", offset, err)
			return
		}
		headers, err := splitBatches(data)
		if err != nil {
			t.Errorf("read at %d returned a bad batch run: %v", offset, err)
			return
		}
		if len(headers) > 0 && (headers[0].BaseOffset > offset || headers[0].LastOffset() < offset) {
			t.Errorf("read at %d starts with batch %d..%d", offset, headers[0].BaseOffset, headers[0].LastOffset())
			return
		}
		reads.Add(1)
	}
}
