package storage

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

// filledLog returns a log of n 2-record batches (timestamps 1000+i) over
// small segments.
func filledLog(t *testing.T, n int, cfg Config, clock *testClock) (*Log, [][]byte) {
	t.Helper()
	opts := testOptions(t)
	opts.Now = clock.now
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", cfg, opts)
	var stored [][]byte
	for i := range n {
		b := testBatch(t, 2, int64(1000+i*100), 200, byte(i))
		res := mustAppend(t, l, b)
		stored = append(stored, withOffset(b, res.BaseOffset, 7))
	}
	return l, stored
}

func TestTimeRetention(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500 // a few batches per segment
	cfg.RetentionMs = 1000
	clock := &testClock{ms: 2000}
	l, stored := filledLog(t, 20, cfg, clock)
	segmentsBefore := len(l.segments)

	deleted, err := l.EnforceRetention(clock.now())
	if err != nil || deleted != 0 {
		t.Fatalf("nothing is older than 1s yet: deleted %d, %v", deleted, err)
	}
	clock.ms = 1000 + 9*100 + 1001 // batches 0..9 have expired
	deleted, err = l.EnforceRetention(clock.now())
	if err != nil || deleted == 0 {
		t.Fatalf("deleted %d, %v", deleted, err)
	}
	start := l.LogStartOffset()
	if start > 20 || start != l.segments[0].baseOffset {
		t.Errorf("log start %d, first segment at %d: batch 10 (offset 20) must survive", start, l.segments[0].baseOffset)
	}
	if len(l.segments) != segmentsBefore-deleted {
		t.Errorf("%d segments left of %d after deleting %d", len(l.segments), segmentsBefore, deleted)
	}
	if _, err := l.Read(start-1, 100, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("read below the new start: %v", err)
	}
	got := readAll(t, l)
	if !bytes.HasSuffix(bytes.Join(stored, nil), got) {
		t.Error("what retention kept is not the tail of the log")
	}

	clock.ms = math.MaxInt32 * 1000 // everything expired, active segment included
	if _, err := l.EnforceRetention(clock.now()); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 40 || l.LogEndOffset() != 40 || l.Size() != 0 {
		t.Errorf("all expired: start %d end %d size %d, want 40 40 0", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	if res := mustAppend(t, l, testBatch(t, 1, clock.ms, 10, 'z')); res.BaseOffset != 40 {
		t.Errorf("append after full retention at %d", res.BaseOffset)
	}
	l.Close()
}

func TestSizeRetention(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	cfg.RetentionBytes = 3000
	l, _ := filledLog(t, 30, cfg, &testClock{})
	defer l.Close()
	if _, err := l.EnforceRetention(time.UnixMilli(0)); err != nil {
		t.Fatal(err)
	}
	size := l.Size()
	if size > 3000+cfg.SegmentBytes || size < 3000-cfg.SegmentBytes {
		t.Errorf("size after retention.bytes=3000: %d", size)
	}
	oldest := l.segments[0].size
	if size-oldest >= 3000 {
		t.Errorf("the oldest segment (%d bytes) should have gone: %d bytes left", oldest, size)
	}
}

func TestRetentionRespectsUpperBound(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	cfg.RetentionMs = 0
	clock := &testClock{ms: 1 << 40}
	l, _ := filledLog(t, 20, cfg, clock)
	defer l.Close()
	if _, err := l.EnforceRetentionBelow(clock.now(), 7); err != nil {
		t.Fatal(err)
	}
	if start := l.LogStartOffset(); start > 7 || l.segments[0].nextOffset <= 7 && len(l.segments) > 1 && l.segments[1].baseOffset <= 7 {
		t.Errorf("retention below HW 7 moved the start to %d", start)
	}
	if got, err := l.Read(6, 1<<20, 100, true); err != nil || len(got) == 0 {
		t.Errorf("offset 6 is below the bound and must stay readable: %v", err)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	l, stored := filledLog(t, 20, cfg, &testClock{})
	fsys := l.fsys.(interface{ Crash() })
	if err := l.DeleteRecordsBefore(41); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("past the end: %v", err)
	}
	if err := l.DeleteRecordsBefore(13); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 13 {
		t.Errorf("log start %d", l.LogStartOffset())
	}
	if l.segments[0].baseOffset > 13 || (len(l.segments) > 1 && l.segments[1].baseOffset <= 13) {
		t.Errorf("segments wholly below 13 should be gone, the one holding 13 kept: first at %d", l.segments[0].baseOffset)
	}
	if _, err := l.Read(12, 100, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("read below the start: %v", err)
	}
	got, err := l.Read(13, 1, 100, true)
	if err != nil || !bytes.Equal(got, stored[6]) {
		t.Errorf("read at the start should give the batch holding 13 (12..13): %v", err)
	}
	if err := l.DeleteRecordsBefore(5); err != nil || l.LogStartOffset() != 13 {
		t.Errorf("a lower offset must not move the start back: %v, %d", err, l.LogStartOffset())
	}

	flushed := l.FlushedOffset()
	fsys.Crash() // the new start was persisted and fsynced
	l = mustOpen(t, l.fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if l.LogStartOffset() != 13 || l.LogEndOffset() != flushed {
		t.Errorf("after a crash: start %d end %d, want 13 %d", l.LogStartOffset(), l.LogEndOffset(), flushed)
	}
}

func TestTruncate(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	for _, tc := range []struct {
		name    string
		offset  int64
		wantEnd int64
	}{
		{"at a batch boundary", 24, 24},
		{"inside a batch", 25, 24},
		{"into an early segment", 3, 2},
		{"to zero", 0, 0},
		{"past the end", 100, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, stored := filledLog(t, 20, cfg, &testClock{})
			if err := l.Truncate(tc.offset); err != nil {
				t.Fatal(err)
			}
			if l.LogEndOffset() != tc.wantEnd || l.FlushedOffset() > tc.wantEnd {
				t.Fatalf("end %d flushed %d, want end %d", l.LogEndOffset(), l.FlushedOffset(), tc.wantEnd)
			}
			kept := bytes.Join(stored[:tc.wantEnd/2], nil)
			if got := readAll(t, l); !bytes.Equal(got, kept) {
				t.Fatalf("after truncation the log holds %d bytes, want %d", len(got), len(kept))
			}
			more := testBatch(t, 2, 99_000, 50, 'n')
			res := mustAppend(t, l, more)
			if res.BaseOffset != tc.wantEnd {
				t.Errorf("next append at %d", res.BaseOffset)
			}
			if err := l.Sync(res.LastOffset + 1); err != nil {
				t.Fatal(err)
			}
			want := append(kept, withOffset(more, tc.wantEnd, 7)...)
			l.fsys.(interface{ Crash() }).Crash()
			l = mustOpen(t, l.fsys, "t-0", cfg, testOptions(t))
			defer l.Close()
			if got := readAll(t, l); !bytes.Equal(got, want) {
				t.Errorf("after truncate, append, sync and a crash: %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

func TestTruncateBelowStartRestarts(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	l, _ := filledLog(t, 20, cfg, &testClock{})
	defer l.Close()
	if err := l.DeleteRecordsBefore(20); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 10 || l.LogEndOffset() != 10 || l.Size() != 0 || len(l.segments) != 1 {
		t.Errorf("start %d end %d size %d segments %d", l.LogStartOffset(), l.LogEndOffset(), l.Size(), len(l.segments))
	}
	if res := mustAppend(t, l, testBatch(t, 1, 0, 1, 'a')); res.BaseOffset != 10 {
		t.Errorf("append at %d", res.BaseOffset)
	}
}
