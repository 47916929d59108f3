package storage

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// benchBatch is a typical produce batch: 10 records of 100-byte values.
func benchBatch(b *testing.B) []byte { return testBatch(b, 10, 1_700_000_000_000, 100, 'v') }

func benchLog(b *testing.B, fsys vfs.FS, dir string) *Log {
	cfg := DefaultConfig()
	cfg.RetentionMs = -1
	l := mustOpen(b, fsys, dir, cfg, Options{})
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkAppend is the produce path without fsync: offsets assigned in
// place, one write, index bookkeeping.
func BenchmarkAppend(b *testing.B) {
	l := benchLog(b, vfs.OS{}, b.TempDir())
	batch := benchBatch(b)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// syncCounter counts .log fsyncs through a FaultFS.
type syncCounter struct{ syncs atomic.Int64 }

func (c *syncCounter) MaybeFail(op vfs.Op) error {
	if op.Kind == vfs.OpSync {
		c.syncs.Add(1)
	}
	return nil
}

// BenchmarkAppendSyncGrouped is the durable produce path: each goroutine
// appends then waits for its fsync; concurrent callers share fsyncs, so
// fsyncs/op falls as parallelism rises.
func BenchmarkAppendSyncGrouped(b *testing.B) {
	counter := &syncCounter{}
	l := benchLog(b, vfs.NewFaultFS(vfs.OS{}, counter), b.TempDir())
	batch := benchBatch(b)
	b.SetBytes(int64(len(batch)))
	b.SetParallelism(16)
	b.ReportAllocs()
	counter.syncs.Store(0)
	b.RunParallel(func(pb *testing.PB) {
		own := append([]byte(nil), batch...)
		for pb.Next() {
			res, err := l.Append(own, 1)
			if err == nil {
				err = l.Sync(res.LastOffset + 1)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(counter.syncs.Load())/float64(b.N), "fsyncs/op")
}

// BenchmarkRead is the fetch path: a consumer reading 64 KiB at a time at
// random offsets into a reused buffer.
func BenchmarkRead(b *testing.B) {
	for _, fs := range []struct {
		name string
		fsys vfs.FS
		dir  string
	}{{"mem", vfs.NewMem(), "t-0"}, {"os", vfs.OS{}, b.TempDir()}} {
		b.Run(fs.name, func(b *testing.B) {
			l := benchLog(b, fs.fsys, fs.dir)
			batch := benchBatch(b)
			for range 10_000 {
				if _, err := l.Append(batch, 1); err != nil {
					b.Fatal(err)
				}
			}
			end := l.LogEndOffset()
			rng := rand.New(rand.NewPCG(1, 1))
			buf := make([]byte, 0, 128<<10)
			var total int64
			b.ReportAllocs()
			for b.Loop() {
				out, err := l.ReadInto(buf[:0], rng.Int64N(end), 64<<10, end, true)
				if err != nil || len(out) == 0 {
					b.Fatal(err)
				}
				total += int64(len(out))
			}
			b.SetBytes(total / int64(b.N))
		})
	}
}

// BenchmarkIndexLookup is one offset-index lookup in a full 1 GiB
// segment's worth of entries (one per 4 KiB).
func BenchmarkIndexLookup(b *testing.B) {
	entries := make([]offsetEntry, 1<<18)
	for i := range entries {
		entries[i] = offsetEntry{relativeOffset: uint32(i * 30), position: uint32(i * 4096)}
	}
	rng := rand.New(rand.NewPCG(2, 2))
	b.ReportAllocs()
	var sink int64
	for b.Loop() {
		sink += lookupPosition(entries, rng.Int64N(int64(len(entries)*30)))
	}
	_ = sink
}

// BenchmarkCompact compacts 100k records over 1k keys (1000 batches of 100
// records with 50-byte values, in 1 MiB segments): key map, copy and
// swap. Setting the log up is outside the timer.
func BenchmarkCompact(b *testing.B) {
	const records, keys, perBatch = 100_000, 1000, 100
	var batches [][]byte
	for i := 0; i < records; i += perBatch {
		specs := make([]record.RecordSpec, perBatch)
		for j := range specs {
			specs[j] = record.RecordSpec{Timestamp: int64(i + j), Key: fmt.Appendf(nil, "key-%d", (i+j)%keys), Value: bytes.Repeat([]byte{'v'}, 50)}
		}
		batch, err := record.AppendBatch(nil, record.NewBatchSpec(), specs)
		if err != nil {
			b.Fatal(err)
		}
		batches = append(batches, batch)
	}
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.Compact, cfg.Delete = true, false
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := mustOpen(b, newMemFS(b), "t-0", cfg, Options{})
		for _, batch := range batches {
			mustAppend(b, l, batch)
		}
		forceRoll(b, l)
		b.StartTimer()
		res, err := l.Compact(time.UnixMilli(0))
		if err != nil || res.RecordsKept != keys {
			b.Fatalf("compact: %+v, %v", res, err)
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
