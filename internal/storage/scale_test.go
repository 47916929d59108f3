package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// TestManyPartitionsOnOS opens many partitions' logs on the real file
// system under a small descriptor budget, appends and fsyncs one record in
// each, then reads each back: the process's open descriptors stay within
// the budget plus a few, whatever the number of partitions. It reports
// descriptors, memory and time per partition. By default 400 partitions
// under a budget of 40; SLUICE_STORAGE_SCALE=10000 runs the measurement
// of the package doc (budget 500).
func TestManyPartitionsOnOS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	partitions, budget := 400, 40
	if n, err := strconv.Atoi(os.Getenv("SLUICE_STORAGE_SCALE")); err == nil && n > 0 {
		partitions, budget = n, 500
	}
	dir := t.TempDir()
	cache := NewFileCache(FileCacheConfig{Budget: budget})
	opts := Options{Files: cache}
	baseFDs, baseRSS, baseHeap := openFDs(t), rssBytes(t), heapBytes()
	start := time.Now()
	logs := make([]*Log, partitions)
	batches := make([][]byte, partitions)
	mostFDs := 0
	for i := range logs {
		l, err := Open(vfs.OS{}, filepath.Join(dir, fmt.Sprintf("topic-%d", i)), DefaultConfig(), opts)
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = l
		b := testBatch(t, 1, int64(i), 100, byte(i))
		res := mustAppend(t, l, b)
		if err := l.Sync(res.LastOffset + 1); err != nil {
			t.Fatal(err)
		}
		batches[i] = withOffset(b, 0, 7)
		if i%50 == 0 {
			mostFDs = max(mostFDs, openFDs(t))
		}
	}
	opened := time.Since(start)
	start = time.Now()
	for i, l := range logs {
		got, err := l.Read(0, 1<<20, 1, true)
		if err != nil || !bytes.Equal(got, batches[i]) {
			t.Fatalf("partition %d read back other bytes: %v", i, err)
		}
		if i%50 == 0 {
			mostFDs = max(mostFDs, openFDs(t))
		}
	}
	read := time.Since(start)
	fds, rss, heap := openFDs(t), rssBytes(t), heapBytes()
	s := cache.Stats()
	t.Logf("%d partitions, budget %d: descriptors %d before, %d after, %d at most (%+v)", partitions, budget, baseFDs, fds, mostFDs, s)
	t.Logf("open+append+fsync %v (%v per partition), read back %v; RSS +%d KiB (%d B per partition), heap +%d KiB (%d B per partition)",
		opened, opened/time.Duration(partitions), read, (rss-baseRSS)>>10, (rss-baseRSS)/int64(partitions), (heap-baseHeap)>>10, (heap-baseHeap)/int64(partitions))
	if limit := baseFDs + budget + 4; max(fds, mostFDs) > limit {
		t.Errorf("%d descriptors open with a budget of %d over %d before", max(fds, mostFDs), budget, baseFDs)
	}
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if after := openFDs(t); after > baseFDs+1 {
		t.Errorf("%d descriptors open after closing every log, %d before", after, baseFDs)
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries) - 1 // the directory being read
}

// rssBytes is the process's resident set size, after a GC.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// heapBytes is the live heap after a GC.
func heapBytes() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
