package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// TestCompactKeepsLatestValuePerKey appends rounds of random keyed records
// (mixed codecs, some tombstones) across many segments, compacting after
// each round: every key's latest value stays readable at its offset, the
// cleaned range holds one record per key, and the log shrinks.
func TestCompactKeepsLatestValuePerKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	l := mustOpen(t, newMemFS(t), "t-0", compactConfig(), testOptions(t))
	defer l.Close()
	m := newModel()
	var before int64
	for round := range 4 {
		m.appendRandom(t, l, rng, 600, 40, 10, int64(round*10_000))
		forceRoll(t, l)
		before = l.Size()
		res := mustCompact(t, l, 0)
		if !res.Cleaned || res.CleanedTo != l.LogEndOffset() {
			t.Fatalf("round %d: %+v, want cleaned to the log end %d", round, res, l.LogEndOffset())
		}
		if res.RecordsKept >= res.RecordsRead || res.BytesAfter >= res.BytesBefore {
			t.Errorf("round %d: nothing removed: %+v", round, res)
		}
		m.checkCompacted(t, l, res.CleanedTo)
	}
	if after := l.Size(); after*3 > before {
		t.Errorf("log is %d bytes after compaction, %d before: expected most of it gone", after, before)
	}
}

// TestCompactPreservesBatchHeaders checks a rewritten batch: same base
// offset, last offset delta (so offsets never repeat), base timestamp,
// producer ID, epoch and sequence, leader epoch and codec; only the
// superseded record is gone.
func TestCompactPreservesBatchHeaders(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			l := mustOpen(t, newMemFS(t), "t-0", compactConfig(), testOptions(t))
			defer l.Close()
			spec := record.NewBatchSpec()
			spec.Codec, spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = codec, 42, 3, 100
			batch, err := record.AppendBatch(nil, spec, []record.RecordSpec{
				{Timestamp: 10, Key: []byte("a"), Value: []byte("a1")},
				{Timestamp: 11, Key: []byte("b"), Value: []byte("b1")},
				{Timestamp: 12, Key: []byte("c"), Value: []byte("c1")},
			})
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, l, batch)
			m := newModel()
			m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 20, key: "c", value: "c2"}})
			forceRoll(t, l)
			mustCompact(t, l, 0)
			recs, headers := readRecords(t, l)
			h := headers[0]
			if h.BaseOffset != 0 || h.LastOffsetDelta != 2 || h.NumRecords != 2 || h.BaseTimestamp != 10 || h.MaxTimestamp != 11 ||
				h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 100 || h.PartitionLeaderEpoch != 7 || h.Codec() != codec {
				t.Fatalf("rewritten header %+v", h)
			}
			got := fmt.Sprint(recs)
			want := "[{0 10 a a1 false} {1 11 b b1 false} {3 20 c c2 false}]"
			if got != want {
				t.Fatalf("records %s, want %s", got, want)
			}
		})
	}
}

// TestCompactKeepsEmptiedLastBatch: when every record of a cleaned
// segment's last batch is superseded, the batch stays with no records, so
// the segment still ends where it did and offsets never move backwards.
func TestCompactKeepsEmptiedLastBatch(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 200 // no two segments fit one cleaned segment
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	m := newModel()
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 1, key: "a", value: "1"}})
	m.appendKeyed(t, l, record.CodecGzip, []keyed{{timestamp: 2, key: "b", value: "1"}, {timestamp: 3, key: "c", value: "1"}})
	forceRoll(t, l)
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 4, key: "b", value: "2"}, {timestamp: 5, key: "c", value: "2"}})
	forceRoll(t, l)
	mustCompact(t, l, 0)
	_, headers := readRecords(t, l)
	if len(headers) != 3 || headers[1].NumRecords != 0 || headers[1].BaseOffset != 1 || headers[1].LastOffset() != 2 || headers[1].Codec() != record.CodecNone {
		t.Fatalf("headers after compaction: %+v", headers)
	}
	m.checkCompacted(t, l, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.Remove(filepath.Join("t-0", checkpointName)) // rescan every segment
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	m.checkCompacted(t, l, 5)
}

// TestCompactTombstonesAfterDeleteRetention (KIP-534): the first pass that
// keeps a tombstone stamps its batch with a delete horizon of now +
// delete.retention.ms (record timestamps unchanged); passes before the
// horizon keep the tombstone, the first one at or after it drops it.
func TestCompactTombstonesAfterDeleteRetention(t *testing.T) {
	cfg := compactConfig()
	cfg.DeleteRetentionMs = 1000
	l := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer l.Close()
	m := newModel()
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 100, key: "gone", value: "v"}, {timestamp: 101, key: "kept", value: "v"}})
	forceRoll(t, l)
	m.appendKeyed(t, l, record.CodecZstd, []keyed{{timestamp: 200, key: "gone", tombstone: true}, {timestamp: 201, key: "other", value: "v"}})
	forceRoll(t, l)
	tombstone := func() (keyed, record.Header, bool) {
		m.checkCompacted(t, l, 0)
		recs, headers := readRecords(t, l)
		i := slices.IndexFunc(recs, func(r keyed) bool { return r.key == "gone" })
		if i < 0 {
			return keyed{}, record.Header{}, false
		}
		j := slices.IndexFunc(headers, func(h record.Header) bool { return h.LastOffset() >= recs[i].offset })
		return recs[i], headers[j], true
	}
	for step, now := range []int64{5000, 5999} {
		m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: now, key: fmt.Sprint("filler", step), value: "v"}})
		forceRoll(t, l)
		mustCompact(t, l, now)
		r, h, ok := tombstone()
		if !ok || !r.tombstone {
			t.Fatalf("pass at %d: tombstone gone before its delete horizon (or its old value kept: %+v)", now, r)
		}
		if horizon, stamped := deleteHorizon(&h); !stamped || horizon != 6000 || h.Codec() != record.CodecZstd {
			t.Fatalf("pass at %d: tombstone batch header %+v, want delete horizon 6000 and zstd", now, h)
		}
	}
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 6000, key: "late", value: "v"}})
	forceRoll(t, l)
	mustCompact(t, l, 6000)
	if r, _, ok := tombstone(); ok {
		t.Fatalf("tombstone %+v still there at its delete horizon", r)
	}
}

// TestCompactRespectsMinCompactionLag: segments whose newest record is
// younger than min.compaction.lag.ms are neither mapped nor cleaned.
func TestCompactRespectsMinCompactionLag(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCompactionLagMs = 1000
	l := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer l.Close()
	m := newModel()
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 100, key: "k", value: "old"}})
	forceRoll(t, l)
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 5000, key: "k", value: "new"}})
	forceRoll(t, l)
	if res := mustCompact(t, l, 5500); res.CleanedTo != 1 {
		t.Fatalf("at 5500: %+v, want cleaned only to offset 1", res)
	}
	if recs := m.checkCompacted(t, l, 1); len(recs) != 2 {
		t.Fatalf("at 5500 the old value went while the new one is within the lag: %v", recs)
	}
	if res := mustCompact(t, l, 6000); res.CleanedTo != 2 {
		t.Fatalf("at 6000: %+v, want cleaned to 2", res)
	}
	if recs := m.checkCompacted(t, l, 2); len(recs) != 1 || recs[0].value != "new" {
		t.Fatalf("after the lag: %v", recs)
	}
}

// TestCompactDirtyRatioAndMaxLag: no pass runs at or below
// min.cleanable.dirty.ratio unless max.compaction.lag.ms forces one.
func TestCompactDirtyRatioAndMaxLag(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.5
	cfg.MaxCompactionLagMs = 10_000
	l := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer l.Close()
	m := newModel()
	rng := rand.New(rand.NewPCG(1, 1))
	m.appendRandom(t, l, rng, 200, 300, 0, 1000)
	forceRoll(t, l)
	res := mustCompact(t, l, 2000)
	if !res.Cleaned || res.DirtyRatio != 1 {
		t.Fatalf("all-dirty log: %+v", res)
	}
	m.appendRandom(t, l, rng, 20, 300, 0, 2000)
	forceRoll(t, l)
	res = mustCompact(t, l, 3000)
	if res.Cleaned || res.DirtyRatio <= 0 || res.DirtyRatio > 0.5 {
		t.Fatalf("slightly dirty log: %+v, want no pass", res)
	}
	if res = mustCompact(t, l, 12_100); !res.Cleaned { // the dirty batches are from ~2000
		t.Fatalf("dirty segment past max.compaction.lag.ms: %+v, want a pass", res)
	}
	m.checkCompacted(t, l, res.CleanedTo)
}

// TestCompactSmallMapCleansInPasses: with a key map too small for the
// dirty keys, each pass cleans up to where the map filled, and repeated
// passes finish the job.
func TestCompactSmallMapCleansInPasses(t *testing.T) {
	opts := testOptions(t)
	opts.CleanerBufferBytes = 64 * offsetSlotSize // 57 keys per pass
	l := mustOpen(t, newMemFS(t), "t-0", compactConfig(), opts)
	defer l.Close()
	m := newModel()
	rng := rand.New(rand.NewPCG(3, 3))
	for range 3 {
		m.appendRandom(t, l, rng, 300, 150, 0, 0)
	}
	forceRoll(t, l)
	var passes int
	for cleanedTo := int64(0); cleanedTo < l.LogEndOffset(); passes++ {
		res := mustCompact(t, l, 0)
		if !res.Cleaned || res.CleanedTo <= cleanedTo {
			t.Fatalf("pass %d made no progress: %+v", passes, res)
		}
		cleanedTo = res.CleanedTo
		m.checkCompacted(t, l, cleanedTo)
	}
	if passes < 3 {
		t.Errorf("%d passes; a 57-key map should need several for 150 keys", passes)
	}
}

// TestCompactCheckpointSurvivesReopen: the cleaner checkpoint is in the
// checkpoint file, so a reopened log does not clean its clean part again;
// a version 1 checkpoint still opens.
func TestCompactCheckpointSurvivesReopen(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", compactConfig(), testOptions(t))
	m := newModel()
	m.appendRandom(t, l, rand.New(rand.NewPCG(4, 4)), 300, 20, 0, 0)
	forceRoll(t, l)
	res := mustCompact(t, l, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", compactConfig(), testOptions(t))
	if got := l.firstDirty.Load(); got != res.CleanedTo {
		t.Fatalf("cleaner checkpoint %d after reopen, want %d", got, res.CleanedTo)
	}
	if again := mustCompact(t, l, 0); again.Cleaned {
		t.Fatalf("reopened clean log compacted again: %+v", again)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	v1 := binary.BigEndian.AppendUint16(nil, 1) // version 1: no cleaner checkpoint
	v1 = binary.BigEndian.AppendUint16(v1, 0)
	v1 = binary.BigEndian.AppendUint64(v1, 0)
	v1 = binary.BigEndian.AppendUint64(v1, uint64(l.checkpointed.recoveryPoint))
	v1 = binary.BigEndian.AppendUint32(v1, crc32.Checksum(v1, crc32c))
	if err := writeFileAtomic(fsys, "t-0", filepath.Join("t-0", checkpointName), v1); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", compactConfig(), testOptions(t))
	defer l.Close()
	if got := l.firstDirty.Load(); got != noCleanerCheckpoint {
		t.Fatalf("version 1 checkpoint gave cleaner checkpoint %d", got)
	}
	m.checkCompacted(t, l, 0)
}

// TestCompactReadsByOffsetAndTime: after compaction, a read at any offset
// (including removed ones) starts at the first surviving record at or
// after it, and ListOffsets by time finds the first surviving record at
// or after the time.
func TestCompactReadsByOffsetAndTime(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", compactConfig(), testOptions(t))
	defer l.Close()
	m := newModel()
	m.appendRandom(t, l, rand.New(rand.NewPCG(5, 5)), 500, 30, 0, 1000)
	forceRoll(t, l)
	m.appendRandom(t, l, rand.New(rand.NewPCG(6, 6)), 20, 30, 0, 2000) // stays in the active segment
	mustCompact(t, l, 0)
	recs := m.checkCompacted(t, l, 500)
	for offset := int64(0); offset < l.LogEndOffset(); offset++ {
		data, err := l.Read(offset, 4096, l.LogEndOffset(), true)
		if err != nil || len(data) == 0 {
			t.Fatalf("read at %d: %d bytes, %v", offset, len(data), err)
		}
		var got []keyed
		var it record.Iterator
		for _, h := range mustSplitGaps(t, data) {
			got = appendBatchRecords(t, &it, got, data[:h.Size()])
			data = data[h.Size():]
		}
		first := got[slices.IndexFunc(got, func(r keyed) bool { return r.offset >= offset })]
		if want := recs[slices.IndexFunc(recs, func(r keyed) bool { return r.offset >= offset })]; first != want {
			t.Fatalf("read at %d: first record at or after it is %+v, want %+v", offset, first, want)
		}
	}
	for ts := int64(990); ts <= 2030; ts += 7 {
		offset, timestamp, found, err := l.OffsetForTimestamp(ts)
		i := slices.IndexFunc(recs, func(r keyed) bool { return r.timestamp >= ts })
		switch {
		case err != nil:
			t.Fatalf("offset for %d: %v", ts, err)
		case i < 0 && found:
			t.Fatalf("offset for %d: found %d though no record is that new", ts, offset)
		case i >= 0 && (!found || offset != recs[i].offset || timestamp != recs[i].timestamp):
			t.Fatalf("offset for %d: %d@%d (found %v), want %d@%d", ts, offset, timestamp, found, recs[i].offset, recs[i].timestamp)
		}
	}
	last := recs[len(recs)-1]
	if offset, ts := l.MaxTimestamp(); offset != last.offset || ts != last.timestamp {
		t.Fatalf("max timestamp %d@%d, want %d@%d", offset, ts, last.offset, last.timestamp)
	}
}

// TestCompactOnlyWhenConfigured: a delete-only topic is never compacted.
func TestCompactOnlyWhenConfigured(t *testing.T) {
	cfg := compactConfig()
	cfg.Compact, cfg.Delete = false, true
	l := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer l.Close()
	m := newModel()
	m.appendRandom(t, l, rand.New(rand.NewPCG(8, 8)), 200, 5, 0, 0)
	forceRoll(t, l)
	if res := mustCompact(t, l, 0); res.Cleaned {
		t.Fatalf("delete-only log compacted: %+v", res)
	}
	if recs, _ := readRecords(t, l); len(recs) != 200 {
		t.Fatalf("%d records left of 200", len(recs))
	}
}

// TestRetentionSkipsCompactOnlyLogs: retention.ms and retention.bytes
// apply with cleanup.policy delete only (Kafka's compact-only topics keep
// everything compaction keeps).
func TestRetentionSkipsCompactOnlyLogs(t *testing.T) {
	for _, policy := range []string{"compact", "compact,delete"} {
		t.Run(policy, func(t *testing.T) {
			cfg := compactConfig()
			cfg.Delete = strings.Contains(policy, "delete")
			cfg.RetentionMs, cfg.RetentionBytes = 1000, 100
			l := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
			defer l.Close()
			m := newModel()
			m.appendRandom(t, l, rand.New(rand.NewPCG(9, 9)), 200, 50, 0, 0)
			forceRoll(t, l)
			deleted, err := l.EnforceRetention(time.UnixMilli(1_000_000))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Delete != (deleted > 0) {
				t.Fatalf("policy %s: retention deleted %d segments", policy, deleted)
			}
		})
	}
}

// TestTruncateIntoCompactedGap: truncating to an offset whose records
// compaction removed ends the log after the last batch below it, so the
// log end never passes the data; the log reopens and takes appends.
func TestTruncateIntoCompactedGap(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", compactConfig(), testOptions(t))
	m := newModel()
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 1, key: "a", value: "1"}})
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 2, key: "b", value: "1"}})
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 3, key: "b", value: "2"}})
	m.appendKeyed(t, l, record.CodecNone, []keyed{{timestamp: 4, key: "c", value: "1"}})
	forceRoll(t, l)
	mustCompact(t, l, 0) // offset 1 (b=1) is gone
	if err := l.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if end := l.LogEndOffset(); end != 1 {
		t.Fatalf("log end %d after truncating into the gap at 1..2, want 1", end)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", compactConfig(), testOptions(t))
	defer l.Close()
	if res := mustAppend(t, l, testBatch(t, 1, 9, 10, 'x')); res.BaseOffset != 1 {
		t.Fatalf("append after reopen at %d, want 1", res.BaseOffset)
	}
}

// TestCompactDroppedWhenTruncatedMeanwhile: a truncation while a pass
// copies makes the pass give up without touching the log; retention that
// removes a run's segments makes the pass skip that run only.
func TestCompactDroppedWhenTruncatedMeanwhile(t *testing.T) {
	for _, race := range []string{"truncate", "retention"} {
		t.Run(race, func(t *testing.T) {
			mem := newMemFS(t)
			fsys := vfs.NewFaultFS(mem, nil)
			cfg := compactConfig()
			cfg.SegmentBytes = 1000
			l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
			defer l.Close()
			m := newModel()
			m.appendRandom(t, l, rand.New(rand.NewPCG(10, 10)), 300, 20, 0, 0)
			forceRoll(t, l)
			start := l.segments[2].baseOffset
			var fired bool
			fsys.SetInjector(vfs.InjectorFunc(func(op vfs.Op) error {
				if fired || op.Kind != vfs.OpCreate || !strings.HasSuffix(op.Path, ".log.cleaned") {
					return nil
				}
				fired = true
				if race == "truncate" {
					return l.Truncate(l.LogEndOffset() - 5)
				}
				return l.DeleteRecordsBefore(start)
			}))
			res := mustCompact(t, l, 0)
			if !fired {
				t.Fatal("the race never ran")
			}
			if res.Cleaned != (race == "retention") {
				t.Fatalf("%s during the copy: %+v", race, res)
			}
			names, _ := mem.ReadDir("t-0")
			if slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, swapSuffix) }) {
				t.Fatalf("leftover compaction files: %v", names)
			}
			for offset, r := range m.records {
				if offset < l.LogStartOffset() || offset >= l.LogEndOffset() {
					delete(m.records, offset)
					if m.latest[r.key] == offset {
						delete(m.latest, r.key)
					}
				}
			}
			m.checkCompacted(t, l, 0)
		})
	}
}
