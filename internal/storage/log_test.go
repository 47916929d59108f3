package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

func TestAppendAssignsOffsetsInPlace(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	first := testBatch(t, 3, 1000, 10, 'a')
	second := testBatch(t, 2, 2000, 10, 'b')
	both := append(slices.Clone(first), second...)
	res := mustAppend(t, l, both)
	if res.BaseOffset != 0 || res.LastOffset != 4 {
		t.Fatalf("append result %+v, want 0..4", res)
	}
	headers := mustSplit(t, both)
	if headers[0].BaseOffset != 0 || headers[1].BaseOffset != 3 || headers[1].PartitionLeaderEpoch != 7 {
		t.Errorf("input not rewritten in place: %+v", headers)
	}
	res = mustAppend(t, l, testBatch(t, 1, 3000, 10, 'c'))
	if res.BaseOffset != 5 || res.LastOffset != 5 || l.LogEndOffset() != 6 {
		t.Errorf("second append %+v, LEO %d", res, l.LogEndOffset())
	}
}

func TestAppendRejectsMalformedInput(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	batch := testBatch(t, 2, 1000, 10, 'a')
	for name, input := range map[string][]byte{
		"empty":     nil,
		"cut short": batch[:len(batch)-1],
		"header":    batch[:20],
	} {
		if _, err := l.Append(slices.Clone(input), 0); err == nil {
			t.Errorf("%s: append accepted", name)
		}
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Errorf("rejected appends changed the log: LEO %d size %d", l.LogEndOffset(), l.Size())
	}
}

func TestReadBoundaries(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	var batches [][]byte
	for i := range 5 {
		b := testBatch(t, 2, int64(1000+i), 100, byte('a'+i))
		mustAppend(t, l, b)
		batches = append(batches, b)
	}
	size := len(batches[0])

	got, err := l.Read(3, 1<<20, 10, false)
	if err != nil || !bytes.Equal(got, slices.Concat(batches[1:]...)) {
		t.Errorf("read from inside batch 1: %d bytes, %v", len(got), err)
	}
	if got, _ := l.Read(0, int32(2*size+size/2), 10, false); !bytes.Equal(got, slices.Concat(batches[:2]...)) {
		t.Errorf("maxBytes should cut at whole batches, got %d bytes", len(got))
	}
	if got, _ := l.Read(0, 1<<20, 5, false); !bytes.Equal(got, slices.Concat(batches[:3]...)) {
		t.Errorf("maxOffset 5 should end after the batch holding offset 4, got %d bytes", len(got))
	}
	if got, _ := l.Read(0, 10, 10, false); len(got) != 0 {
		t.Errorf("maxBytes below one batch without minOneBatch: %d bytes", len(got))
	}
	if got, _ := l.Read(0, 10, 10, true); !bytes.Equal(got, batches[0]) {
		t.Errorf("minOneBatch (KIP-74) should return the first batch whole, got %d bytes", len(got))
	}
	if got, err := l.Read(10, 100, 10, false); err != nil || len(got) != 0 {
		t.Errorf("read at LEO: %d bytes, %v", len(got), err)
	}
	if _, err := l.Read(11, 100, 20, false); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("read past LEO: %v", err)
	}
	if _, err := l.Read(-1, 100, 20, false); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("read below start: %v", err)
	}
}

func TestReadIntoReusesBuffer(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	batch := testBatch(t, 2, 1000, 100, 'a')
	mustAppend(t, l, batch)
	buf := make([]byte, 3, 4096)
	copy(buf, "abc")
	out, err := l.ReadInto(buf, 0, 1<<20, 2, false)
	if err != nil || string(out[:3]) != "abc" || !bytes.Equal(out[3:], batch) || &out[0] != &buf[0] {
		t.Errorf("ReadInto should append into the caller's buffer: %v", err)
	}
}

func TestRollsBySizeAndReadsAcrossSegments(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	var want []byte
	for i := range 40 {
		b := testBatch(t, 3, int64(i), 150, byte(i))
		res := mustAppend(t, l, b)
		want = append(want, withOffset(b, res.BaseOffset, 7)...)
	}
	names, _ := fsys.ReadDir("t-0")
	logs := 0
	for _, name := range names {
		if strings.HasSuffix(name, ".log") {
			logs++
			info, _ := fsys.Stat(filepath.Join("t-0", name))
			if info.Size > cfg.SegmentBytes {
				t.Errorf("%s has %d bytes, above segment.bytes", name, info.Size)
			}
		}
	}
	if logs < 5 {
		t.Errorf("only %d segments after %d bytes with segment.bytes %d", logs, len(want), cfg.SegmentBytes)
	}
	if !slices.Contains(names, "00000000000000000000.log") || !slices.Contains(names, "00000000000000000000.timeindex") {
		t.Errorf("segment names: %v", names)
	}
	got, err := l.Read(0, int32(len(want)), l.LogEndOffset(), false)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("read across segments: %d of %d bytes, %v", len(got), len(want), err)
	}
	if l.FlushedOffset() == 0 {
		t.Error("rolling should have fsynced the sealed segments")
	}
	if l.Size() != int64(len(want)) {
		t.Errorf("Size %d, want %d", l.Size(), len(want))
	}
	l.Close()
}

func TestRollsBySegmentMs(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 1000
	l := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer l.Close()
	mustAppend(t, l, testBatch(t, 1, 10_000, 10, 'a'))
	mustAppend(t, l, testBatch(t, 1, 10_900, 10, 'b'))
	if n := len(l.segments); n != 1 {
		t.Fatalf("%d segments before segment.ms passed", n)
	}
	mustAppend(t, l, testBatch(t, 1, 11_001, 10, 'c'))
	if n := len(l.segments); n != 2 || l.segments[1].baseOffset != 2 {
		t.Errorf("segment.ms should roll at offset 2: %d segments", n)
	}
}

// TestIndexLookups checks that every offset reads back from the batch that
// holds it, through the index, before and after reopening (which reloads
// or rebuilds the indexes).
func TestIndexLookups(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 8000
	cfg.IndexIntervalBytes = 300
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	var stored [][]byte
	for i := range 120 {
		b := testBatch(t, 1+i%4, int64(i*10), 20+i%50, byte(i))
		res := mustAppend(t, l, b)
		stored = append(stored, withOffset(b, res.BaseOffset, 7))
	}
	check := func(l *Log, when string) {
		t.Helper()
		for _, want := range stored {
			h, _ := record.ParseHeader(want)
			for offset := h.BaseOffset; offset <= h.LastOffset(); offset++ {
				got, err := l.Read(offset, 1, l.LogEndOffset(), true)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s: offset %d: got %d bytes (%v), want the batch at %d", when, offset, len(got), err, h.BaseOffset)
				}
			}
		}
	}
	check(l, "live")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(mustOpen(t, fsys, "t-0", cfg, Options{CleanShutdown: true}), "clean reopen")
	check(mustOpen(t, fsys, "t-0", cfg, testOptions(t)), "recovered reopen")
}

func TestOffsetForTimestamp(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	cfg.IndexIntervalBytes = 200
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	type rec struct{ offset, ts int64 }
	var all []rec
	for i := range 60 {
		// Timestamps wander: not monotonic across or within batches.
		specs := []record.RecordSpec{
			{Timestamp: int64(1000 + i*10 + (i%3)*7), Value: []byte("x")},
			{Timestamp: int64(1000 + i*10 - (i%5)*4), Value: []byte("y")},
		}
		res := mustAppend(t, l, testBatchOf(t, specs))
		all = append(all, rec{res.BaseOffset, specs[0].Timestamp}, rec{res.LastOffset, specs[1].Timestamp})
	}
	expect := func(ts int64) (int64, int64, bool) {
		for _, r := range all {
			if r.ts >= ts {
				return r.offset, r.ts, true
			}
		}
		return -1, -1, false
	}
	check := func(l *Log, when string) {
		for ts := int64(900); ts <= 1700; ts += 3 {
			wantOffset, wantTs, wantFound := expect(ts)
			offset, gotTs, found, err := l.OffsetForTimestamp(ts)
			if err != nil || found != wantFound || offset != wantOffset || gotTs != wantTs {
				t.Fatalf("%s: ts %d: got (%d, %d, %v, %v), want (%d, %d, %v)", when, ts, offset, gotTs, found, err, wantOffset, wantTs, wantFound)
			}
		}
	}
	check(l, "live")
	l.Close()
	check(mustOpen(t, fsys, "t-0", cfg, Options{CleanShutdown: true}), "clean reopen")
}

func TestMaxTimestamp(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	if offset, ts := l.MaxTimestamp(); offset != -1 || ts != -1 {
		t.Errorf("empty log: %d, %d", offset, ts)
	}
	for i := range 30 {
		ts := int64(5000 + i)
		if i == 11 {
			ts = 9999 // the max, on the second record of batch 11
		}
		mustAppend(t, l, testBatchOf(t, []record.RecordSpec{{Timestamp: 100, Value: []byte("a")}, {Timestamp: ts, Value: []byte("b")}}))
	}
	want := int64(11*2 + 1)
	if offset, ts := l.MaxTimestamp(); offset != want || ts != 9999 {
		t.Errorf("MaxTimestamp = %d, %d; want %d, 9999", offset, ts, want)
	}
	l.Close()
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	if offset, ts := l.MaxTimestamp(); offset != want || ts != 9999 {
		t.Errorf("after reopen MaxTimestamp = %d, %d; want %d, 9999", offset, ts, want)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	for _, clean := range []bool{true, false} {
		fsys := newMemFS(t)
		cfg := testConfig()
		l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
		for i := range 100 {
			mustAppend(t, l, testBatch(t, 2, int64(i), 100, byte(i)))
		}
		want := readAll(t, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(testBatch(t, 1, 0, 1, 'x'), 0); !errors.Is(err, ErrClosed) {
			t.Errorf("append after close: %v", err)
		}
		opts := testOptions(t)
		opts.CleanShutdown = clean
		l = mustOpen(t, fsys, "t-0", cfg, opts)
		if got := readAll(t, l); !bytes.Equal(got, want) || l.LogEndOffset() != 200 || l.FlushedOffset() != 200 {
			t.Errorf("clean=%v: reopened log differs (LEO %d, flushed %d)", clean, l.LogEndOffset(), l.FlushedOffset())
		}
		res := mustAppend(t, l, testBatch(t, 1, 0, 1, 'y'))
		if res.BaseOffset != 200 {
			t.Errorf("append after reopen got offset %d", res.BaseOffset)
		}
		l.Close()
	}
}

func TestCleanShutdownMarker(t *testing.T) {
	fsys := newMemFS(t)
	fsys.MkdirAll("logs")
	fsys.SyncDir("/")
	if clean, _, err := TakeCleanShutdown(fsys, "logs"); clean || err != nil {
		t.Fatalf("no marker: %v, %v", clean, err)
	}
	if err := WriteCleanShutdown(fsys, "logs", nil); err != nil {
		t.Fatal(err)
	}
	fsys.Crash() // the marker is durable
	if clean, _, err := TakeCleanShutdown(fsys, "logs"); !clean || err != nil {
		t.Fatalf("marker written: %v, %v", clean, err)
	}
	fsys.Crash() // and so is taking it
	if clean, _, _ := TakeCleanShutdown(fsys, "logs"); clean {
		t.Error("marker survived being taken")
	}
	f, _ := fsys.Create("logs/" + cleanShutdownName)
	f.Write([]byte("garbage"))
	f.Close()
	if clean, _, err := TakeCleanShutdown(fsys, "logs"); clean || err != nil {
		t.Errorf("garbage marker: %v, %v", clean, err)
	}
}

func TestDeleteRemovesDirectory(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	mustAppend(t, l, testBatch(t, 1, 0, 10, 'a'))
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	if _, err := fsys.Stat("t-0"); err == nil {
		t.Error("directory survived Delete")
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1
	if _, err := Open(vfs.NewMem(), "t-0", cfg, Options{}); err == nil {
		t.Error("segment.bytes 1 accepted")
	}
}

// TestOnRealFiles runs the main paths on the OS filesystem: the MemFS is a
// model, and this keeps it honest.
func TestOnRealFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	l := mustOpen(t, vfs.OS{}, dir, cfg, testOptions(t))
	for i := range 30 {
		res := mustAppend(t, l, testBatch(t, 2, int64(1000+i), 150, byte(i)))
		if err := l.Sync(res.LastOffset + 1); err != nil {
			t.Fatal(err)
		}
	}
	want := readAll(t, l)
	l.Close()
	l = mustOpen(t, vfs.OS{}, dir, cfg, testOptions(t)) // full recovery scan
	if got := readAll(t, l); !bytes.Equal(got, want) {
		t.Fatal("reopened log differs")
	}
	if offset, ts, found, err := l.OffsetForTimestamp(1010); err != nil || !found || offset != 19 || ts != 1010 {
		t.Errorf("OffsetForTimestamp(1010) = %d, %d, %v, %v", offset, ts, found, err)
	}
	if err := l.Truncate(31); err != nil || l.LogEndOffset() != 30 {
		t.Fatalf("truncate: %v, LEO %d", err, l.LogEndOffset())
	}
	if err := l.DeleteRecordsBefore(25); err != nil || l.LogStartOffset() != 25 {
		t.Fatalf("delete records: %v, start %d", err, l.LogStartOffset())
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := (vfs.OS{}).Stat(dir); err == nil {
		t.Error("Delete left the directory")
	}
}
