package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// testBatch encodes one uncompressed v2 batch of n records with timestamps
// ts, ts+1, ... and values of valueSize bytes (tagged with tag so that
// batches differ).
func testBatch(t testing.TB, n int, ts int64, valueSize int, tag byte) []byte {
	t.Helper()
	records := make([]record.RecordSpec, n)
	for i := range records {
		value := bytes.Repeat([]byte{tag}, valueSize)
		records[i] = record.RecordSpec{Timestamp: ts + int64(i), Key: []byte(fmt.Sprint(i)), Value: value}
	}
	return testBatchOf(t, records)
}

func testBatchOf(t testing.TB, records []record.RecordSpec) []byte {
	t.Helper()
	b, err := record.AppendBatch(nil, record.NewBatchSpec(), records)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testConfig is a small-segment config so tests roll and index often.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 512
	cfg.RetentionMs = -1
	return cfg
}

// testClock is a settable clock for segment.ms and retention.
type testClock struct{ ms int64 }

func (c *testClock) now() time.Time { return time.UnixMilli(c.ms) }

func testOptions(t testing.TB) Options {
	return Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Files: testFileCache(t)}
}

// testCaches holds each test's file cache.
var testCaches sync.Map // testing.TB → *FileCache

// testFileCache is the test's file cache, shared by every log it opens
// with testOptions, with the smallest budget there is: nearly every
// operation evicts and reopens files, so the whole suite runs the reopen
// paths. At the end of the test no descriptor may still be pinned.
func testFileCache(t testing.TB) *FileCache {
	if c, ok := testCaches.Load(t); ok {
		return c.(*FileCache)
	}
	c := NewFileCache(FileCacheConfig{Budget: minFileBudget})
	testCaches.Store(t, c)
	t.Cleanup(func() {
		testCaches.Delete(t)
		if s := c.Stats(); s.InUse != 0 {
			t.Errorf("%d file descriptors still pinned at the end of the test: %+v", s.InUse, s)
		}
	})
	return c
}

// testWriter sends log output to t.Log, so it shows only for failures.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// newMemFS returns a MemFS whose root listing is durable.
func newMemFS(t testing.TB) *vfs.MemFS {
	m := vfs.NewMem()
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustOpen(t testing.TB, fsys vfs.FS, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	l, err := Open(fsys, dir, cfg, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, batch []byte) AppendResult {
	t.Helper()
	res, err := l.Append(batch, 7)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

// readAll reads the whole log from its start, one Read at a time.
func readAll(t testing.TB, l *Log) []byte {
	t.Helper()
	var out []byte
	offset := l.LogStartOffset()
	end := l.LogEndOffset()
	for offset < end {
		chunk, err := l.Read(offset, 1<<20, end, true)
		if err != nil {
			t.Fatalf("read at %d: %v", offset, err)
		}
		if len(chunk) == 0 {
			t.Fatalf("empty read at %d below end %d", offset, end)
		}
		headers := mustSplit(t, chunk)
		out = append(out, chunk...)
		offset = headers[len(headers)-1].LastOffset() + 1
	}
	return out
}

// mustSplit checks that b is whole batches with good CRCs and contiguous
// offsets, and returns their headers.
func mustSplit(t testing.TB, b []byte) []record.Header {
	t.Helper()
	headers, err := splitBatches(b)
	if err != nil {
		t.Fatal(err)
	}
	return headers
}

func splitBatches(b []byte) ([]record.Header, error) {
	var headers []record.Header
	for pos := 0; pos < len(b); {
		h, err := record.ParseHeader(b[pos:])
		if err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		if h.Size() > len(b)-pos {
			return nil, fmt.Errorf("batch at byte %d: %d bytes, %d left", pos, h.Size(), len(b)-pos)
		}
		if err := record.VerifyCRC(b[pos : pos+h.Size()]); err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		if n := len(headers); n > 0 && h.BaseOffset != headers[n-1].LastOffset()+1 {
			return nil, fmt.Errorf("batch at byte %d starts at offset %d after %d", pos, h.BaseOffset, headers[n-1].LastOffset())
		}
		headers = append(headers, h)
		pos += h.Size()
	}
	return headers, nil
}

// withOffset returns a copy of batch as the log stores it at base.
func withOffset(batch []byte, base int64, epoch int32) []byte {
	b := bytes.Clone(batch)
	record.SetBaseOffset(b, base)
	record.SetPartitionLeaderEpoch(b, epoch)
	return b
}

func isCorruption(err error) bool { return errors.Is(err, ErrCorruption) }

func slogTo(w *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: w}, nil))
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func runtimeGosched() { runtime.Gosched() }
