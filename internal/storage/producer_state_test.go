package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// recentMs is the time the producer tests' timestamps count from: producer
// states expire by batch timestamp, so test batches must look recent.
var recentMs = time.Now().UnixMilli()

// producerBatch encodes an idempotent batch of n keyed records of producer
// pid at epoch, starting at sequence seq, with timestamps from recentMs+ts.
func producerBatch(t testing.TB, pid int64, epoch int16, seq int32, n int, ts int64) []byte {
	t.Helper()
	ts += recentMs
	spec := record.NewBatchSpec()
	spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = pid, epoch, seq
	records := make([]record.RecordSpec, n)
	for i := range records {
		records[i] = record.RecordSpec{Timestamp: ts + int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "p%d-s%d", pid, int64(seq)+int64(i))}
	}
	b, err := record.AppendBatch(nil, spec, records)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustProduce(t testing.TB, l *Log, batch []byte) AppendResult {
	t.Helper()
	res, err := l.AppendProduced(batch, 7)
	if err != nil {
		t.Fatalf("append produced: %v", err)
	}
	return res
}

// produceStep is one append of a producer's batch in a sequence-rule case.
type produceStep struct {
	epoch int16
	seq   int32
	n     int
}

// TestSequenceRules is Kafka's ProducerAppendInfo.checkProducerEpoch and
// checkSequence for non-transactional batches from a client, step by step:
// each case appends its setup, then the probe, and expects the probe's
// outcome.
func TestSequenceRules(t *testing.T) {
	const pid = 9
	tests := []struct {
		name    string
		setup   []produceStep
		probe   produceStep
		wantErr error
		wantDup bool
	}{
		{name: "new producer at 0", probe: produceStep{0, 0, 3}},
		// KIP-360: an unknown producer (expired, or its batches deleted)
		// is accepted at any sequence rather than UNKNOWN_PRODUCER_ID.
		{name: "unknown producer at any sequence", probe: produceStep{4, 77, 1}},
		{name: "next in sequence", setup: []produceStep{{0, 0, 3}}, probe: produceStep{0, 3, 2}},
		{name: "gap", setup: []produceStep{{0, 0, 3}}, probe: produceStep{0, 4, 1}, wantErr: ErrOutOfOrderSequence},
		{name: "overlap that is no retained batch", setup: []produceStep{{0, 0, 3}}, probe: produceStep{0, 2, 2}, wantErr: ErrOutOfOrderSequence},
		{name: "retry of the last batch", setup: []produceStep{{0, 0, 3}}, probe: produceStep{0, 0, 3}, wantDup: true},
		{name: "same start, other length", setup: []produceStep{{0, 0, 3}}, probe: produceStep{0, 0, 2}, wantErr: ErrOutOfOrderSequence},
		{name: "older epoch", setup: []produceStep{{2, 0, 3}}, probe: produceStep{1, 3, 1}, wantErr: ErrInvalidProducerEpoch},
		{name: "older epoch retry", setup: []produceStep{{1, 0, 1}, {2, 0, 1}}, probe: produceStep{1, 0, 1}, wantErr: ErrInvalidProducerEpoch},
		{name: "new epoch at 0", setup: []produceStep{{0, 0, 3}}, probe: produceStep{1, 0, 1}},
		{name: "new epoch not at 0", setup: []produceStep{{0, 0, 3}}, probe: produceStep{1, 3, 1}, wantErr: ErrOutOfOrderSequence},
		{name: "same range under a new epoch is no duplicate", setup: []produceStep{{0, 0, 3}}, probe: produceStep{1, 0, 3}},
		{name: "wrap after MaxInt32", setup: []produceStep{{0, math.MaxInt32 - 1, 2}}, probe: produceStep{0, 0, 1}},
		{name: "batch spanning the wrap", setup: []produceStep{{0, math.MaxInt32 - 1, 3}}, probe: produceStep{0, 1, 1}},
		{name: "retry of a batch spanning the wrap", setup: []produceStep{{0, math.MaxInt32 - 1, 3}}, probe: produceStep{0, math.MaxInt32 - 1, 3}, wantDup: true},
		{name: "no wrap to 1", setup: []produceStep{{0, math.MaxInt32 - 1, 2}}, probe: produceStep{0, 1, 1}, wantErr: ErrOutOfOrderSequence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
			defer l.Close()
			var first AppendResult
			for i, s := range tt.setup {
				res := mustProduce(t, l, producerBatch(t, pid, s.epoch, s.seq, s.n, 1000))
				if i == 0 {
					first = res
				}
			}
			end := l.LogEndOffset()
			res, err := l.AppendProduced(producerBatch(t, pid, tt.probe.epoch, tt.probe.seq, tt.probe.n, 1000), 7)
			switch {
			case tt.wantErr != nil:
				var perr *ProducerError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &perr) || perr.Message == "" {
					t.Fatalf("err = %v, want a *ProducerError for %v", err, tt.wantErr)
				}
				if l.LogEndOffset() != end {
					t.Fatalf("refused batch moved the log end from %d to %d", end, l.LogEndOffset())
				}
			case tt.wantDup:
				if err != nil || !res.Duplicate || res.BaseOffset != first.BaseOffset || res.LastOffset != first.LastOffset {
					t.Fatalf("retry: %+v, %v; want duplicate of %+v", res, err, first)
				}
				if l.LogEndOffset() != end {
					t.Fatalf("duplicate moved the log end from %d to %d", end, l.LogEndOffset())
				}
			default:
				if err != nil || res.Duplicate || res.BaseOffset != end {
					t.Fatalf("append: %+v, %v; want a fresh append at %d", res, err, end)
				}
			}
		})
	}
}

// A retry of each of the last five batches answers with that batch's
// original offsets and timestamp and appends nothing; the sixth-latest is
// forgotten, so its retry is out of order (Kafka keeps five).
func TestDuplicatesOfTheLastFiveBatches(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	const pid, batches = 3, 8
	var results []AppendResult
	for i := range batches {
		results = append(results, mustProduce(t, l, producerBatch(t, pid, 0, int32(i*2), 2, int64(100+i))))
	}
	end := l.LogEndOffset()
	for i := batches - producerBatchesRetained; i < batches; i++ {
		res, err := l.AppendProduced(producerBatch(t, pid, 0, int32(i*2), 2, int64(100+i)), 7)
		want := results[i]
		want.Duplicate = true
		if err != nil || res != want {
			t.Fatalf("retry of batch %d: %+v, %v; want %+v", i, res, err, want)
		}
	}
	if _, err := l.AppendProduced(producerBatch(t, pid, 0, int32((batches-producerBatchesRetained-1)*2), 2, 0), 7); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry of a forgotten batch: err = %v, want ErrOutOfOrderSequence", err)
	}
	if l.LogEndOffset() != end {
		t.Fatalf("retries moved the log end from %d to %d", end, l.LogEndOffset())
	}
	states := l.Producers()
	if len(states) != 1 || states[0].LastSequence != batches*2-1 || len(states[0].Batches) != producerBatchesRetained {
		t.Fatalf("producer state %+v", states)
	}
}

// Append (replication, coordinators) records producer batches without
// checking them; AppendProduced then checks the next batch against them.
func TestAppendTracksProducersUnchecked(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	mustAppend(t, l, producerBatch(t, 5, 1, 10, 2, 0))
	mustAppend(t, l, producerBatch(t, 5, 0, 50, 1, 0)) // an older epoch: Append does not judge
	if _, err := l.AppendProduced(producerBatch(t, 5, 0, 51, 1, 0), 7); err != nil {
		t.Fatalf("continuing the replicated state: %v", err)
	}
	if _, err := l.AppendProduced(producerBatch(t, 5, 0, 60, 1, 0), 7); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after replicated state: err = %v", err)
	}
}

// buildProducerLog writes batches of several producers across many
// segments (each roll leaves a snapshot), with an epoch bump and a
// non-idempotent batch in between.
func buildProducerLog(t *testing.T, l *Log, rounds int) {
	t.Helper()
	seq := map[int64]int32{}
	for round := range rounds {
		for pid := int64(1); pid <= 4; pid++ {
			epoch := int16(0)
			if pid == 2 && round >= rounds/2 {
				epoch = 1
				if round == rounds/2 {
					seq[pid] = 0
				}
			}
			n := 1 + int(pid)%3
			mustProduce(t, l, producerBatch(t, pid, epoch, seq[pid], n, int64(1000+round)))
			seq[pid] += int32(n)
		}
		mustAppend(t, l, testBatch(t, 2, int64(round), 40, byte(round)))
	}
}

// TestSnapshotPlusTailEqualsFullReplay: the state in memory, the state an
// unclean open rebuilds from the newest snapshot plus the batches after it,
// the state a clean open reads from the Close snapshot, and the state a
// full replay with every snapshot deleted builds are all the same.
func TestSnapshotPlusTailEqualsFullReplay(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	buildProducerLog(t, l, 40)
	want := l.Producers()
	if len(want) != 4 {
		t.Fatalf("%d producers, want 4", len(want))
	}
	if err := l.Sync(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	snapshots := snapshotFiles(t, fsys, "t-0")
	if len(snapshots) < 3 {
		t.Fatalf("only %d snapshots after many rolls: %v", len(snapshots), snapshots)
	}
	if last := snapshots[len(snapshots)-1]; last >= l.LogEndOffset() {
		t.Fatalf("newest snapshot at %d, not below the log end %d: the tail replay is not exercised", last, l.LogEndOffset())
	}

	fsys.Crash() // no Close: the next open recovers
	l.Close()
	unclean := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	if got := unclean.Producers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("snapshot + tail:\n got %+v\nwant %+v", got, want)
	}
	if err := unclean.Close(); err != nil {
		t.Fatal(err)
	}
	clean := mustOpen(t, fsys, "t-0", cfg, Options{CleanShutdown: true, Logger: testOptions(t).Logger})
	if got := clean.Producers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("close snapshot:\n got %+v\nwant %+v", got, want)
	}
	if err := clean.Close(); err != nil {
		t.Fatal(err)
	}
	for _, offset := range snapshotFiles(t, fsys, "t-0") {
		if err := fsys.Remove(snapshotFileName("t-0", offset)); err != nil {
			t.Fatal(err)
		}
	}
	full := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer full.Close()
	if got := full.Producers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("full replay:\n got %+v\nwant %+v", got, want)
	}
}

func snapshotFiles(t testing.TB, fsys vfs.FS, dir string) []int64 {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var offsets []int64
	for _, name := range names {
		if offset, ok := parseSnapshotName(name); ok {
			offsets = append(offsets, offset)
		}
	}
	return offsets
}

// Power loss drops the unsynced tail; the rebuilt state knows exactly the
// durable batches: a retry of a durable batch is a duplicate with its
// original offsets, a retry of a lost one is appended afresh, at the
// offset the lost one had.
func TestPowerLossRebuildsProducerState(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	var durable AppendResult
	seq := int32(0)
	for i := range 30 {
		durable = mustProduce(t, l, producerBatch(t, 1, 0, seq, 2, int64(i)))
		seq += 2
	}
	if err := l.Sync(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	lost := mustProduce(t, l, producerBatch(t, 1, 0, seq, 2, 99))
	fsys.Crash()
	l.Close()

	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if l.LogEndOffset() != lost.BaseOffset {
		t.Fatalf("log end %d after power loss, want %d", l.LogEndOffset(), lost.BaseOffset)
	}
	res, err := l.AppendProduced(producerBatch(t, 1, 0, seq-2, 2, 29), 7)
	if err != nil || !res.Duplicate || res.BaseOffset != durable.BaseOffset {
		t.Fatalf("retry of the last durable batch: %+v, %v; want duplicate at %d", res, err, durable.BaseOffset)
	}
	res, err = l.AppendProduced(producerBatch(t, 1, 0, seq, 2, 99), 7)
	if err != nil || res.Duplicate || res.BaseOffset != lost.BaseOffset {
		t.Fatalf("retry of the lost batch: %+v, %v; want a fresh append at %d", res, err, lost.BaseOffset)
	}
}

// Truncate forgets what producers wrote past the cut: a retry of a cut
// batch is appended again, and a retry of a kept one is still a duplicate.
func TestTruncateRollsProducerStateBack(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	var results []AppendResult
	for i := range 20 {
		results = append(results, mustProduce(t, l, producerBatch(t, 1, 0, int32(i*2), 2, int64(i))))
	}
	cut := results[12]
	if err := l.Truncate(cut.BaseOffset); err != nil {
		t.Fatal(err)
	}
	for _, offset := range snapshotFiles(t, fsys, "t-0") {
		if offset > cut.BaseOffset {
			t.Fatalf("snapshot at %d survived the truncation to %d", offset, cut.BaseOffset)
		}
	}
	res, err := l.AppendProduced(producerBatch(t, 1, 0, 22, 2, 11), 7)
	if err != nil || !res.Duplicate || res != (AppendResult{BaseOffset: results[11].BaseOffset, LastOffset: results[11].LastOffset, MaxTimestamp: results[11].MaxTimestamp, Duplicate: true}) {
		t.Fatalf("retry of the last kept batch: %+v, %v", res, err)
	}
	res, err = l.AppendProduced(producerBatch(t, 1, 0, 24, 2, 12), 7)
	if err != nil || res.Duplicate || res.BaseOffset != cut.BaseOffset {
		t.Fatalf("retry of the first cut batch: %+v, %v; want a fresh append at %d", res, err, cut.BaseOffset)
	}
	if _, err := l.AppendProduced(producerBatch(t, 1, 0, 30, 2, 13), 7); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence past the cut state: err = %v", err)
	}
}

// Producers idle for producer.id.expiration.ms are forgotten, by their last
// batch's timestamp; a forgotten producer is accepted at any sequence.
func TestExpireProducers(t *testing.T) {
	clock := &testClock{ms: recentMs + 10_000}
	opts := testOptions(t)
	opts.Now, opts.ProducerIDExpirationMs = clock.now, 5_000
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), opts)
	defer l.Close()
	mustProduce(t, l, producerBatch(t, 1, 0, 0, 1, 4_000))
	mustProduce(t, l, producerBatch(t, 2, 0, 0, 1, 6_000))
	if n := l.ExpireProducers(clock.now()); n != 1 {
		t.Fatalf("expired %d producers at 10s, want 1 (idle since 4s)", n)
	}
	if states := l.Producers(); len(states) != 1 || states[0].ProducerID != 2 {
		t.Fatalf("left %+v, want producer 2", states)
	}
	if _, err := l.AppendProduced(producerBatch(t, 1, 0, 40, 1, 10_000), 7); err != nil {
		t.Fatalf("expired producer writing again: %v", err)
	}
	clock.ms = recentMs + 11_000
	if n := l.ExpireProducers(clock.now()); n != 1 {
		t.Fatalf("expired %d producers at 11s, want 1 (producer 2 idle since 6s)", n)
	}
}

// Compaction keeps each producer's latest batch even when every record of
// it is superseded, so a state rebuilt from the compacted log alone still
// knows where the producer's sequence stands.
func TestCompactionKeepsProducersLastBatch(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", compactConfig(), testOptions(t))
	mustProduce(t, l, producerBatch(t, 8, 2, 0, 2, 10)) // keys k0, k1
	mustProduce(t, l, producerBatch(t, 8, 2, 2, 2, 11)) // keys k0, k1 again
	mustAppend(t, l, testBatchOf(t, []record.RecordSpec{{Timestamp: recentMs, Key: []byte("k0"), Value: []byte("x")}, {Timestamp: recentMs, Key: []byte("k1"), Value: []byte("y")}}))
	forceRoll(t, l)
	mustCompact(t, l, 0)
	_, headers := readRecords(t, l)
	if len(headers) != 2 || headers[0].ProducerID != 8 || headers[0].BaseSequence != 2 || headers[0].NumRecords != 0 || headers[0].BaseOffset != 2 {
		t.Fatalf("headers after compaction: %+v; want producer 8's emptied last batch, then the superseding batch", headers)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, offset := range snapshotFiles(t, fsys, "t-0") {
		fsys.Remove(snapshotFileName("t-0", offset))
	}
	l = mustOpen(t, fsys, "t-0", compactConfig(), testOptions(t))
	defer l.Close()
	states := l.Producers()
	if len(states) != 1 || states[0].Epoch != 2 || states[0].LastSequence != 3 {
		t.Fatalf("state rebuilt from the compacted log: %+v, want producer 8 epoch 2 at sequence 3", states)
	}
	if _, err := l.AppendProduced(producerBatch(t, 8, 2, 4, 1, 13), 7); err != nil {
		t.Fatalf("producer continuing after compaction: %v", err)
	}
}

// A snapshot that fails its checks is dropped with a warning and the state
// rebuilt from the log; it never stops the log from opening.
func TestCorruptSnapshotIsRebuilt(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	for i := range 5 {
		mustProduce(t, l, producerBatch(t, 4, 0, int32(i), 1, int64(i)))
	}
	want := l.Producers()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snapshots := snapshotFiles(t, fsys, "t-0")
	if len(snapshots) != 1 || snapshots[0] != 5 {
		t.Fatalf("snapshots after close: %v, want [5]", snapshots)
	}
	flipByte(t, fsys, snapshotFileName("t-0", 5), 12)
	l = mustOpen(t, fsys, "t-0", testConfig(), Options{CleanShutdown: true, Logger: testOptions(t).Logger})
	defer l.Close()
	if got := l.Producers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a corrupt snapshot: %+v, want %+v", got, want)
	}
	if got := snapshotFiles(t, fsys, "t-0"); len(got) != 1 {
		t.Fatalf("snapshots %v: the corrupt one should be replaced by a fresh one", got)
	}
}

func TestSnapshotRoundTripAndRejects(t *testing.T) {
	e := newProducerEntry()
	e.add(3, batchMetadata{firstSeq: math.MaxInt32, lastSeq: 1, lastOffset: 40, offsetDelta: 2, maxTimestamp: 7})
	e.add(3, batchMetadata{firstSeq: 2, lastSeq: 2, lastOffset: 41, maxTimestamp: 9})
	entries := map[int64]producerEntry{12: e, 5: newProducerEntry()}
	b := encodeSnapshot(entries)
	got, err := decodeSnapshot(b)
	if err != nil || !reflect.DeepEqual(got, entries) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for n := range len(b) {
		if _, err := decodeSnapshot(b[:n]); !errors.Is(err, errBadSnapshot) {
			t.Fatalf("prefix of %d bytes: err = %v", n, err)
		}
	}
	for i := range len(b) {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x40
		if _, err := decodeSnapshot(bad); !errors.Is(err, errBadSnapshot) {
			t.Fatalf("byte %d flipped: err = %v", i, err)
		}
	}
}

// FuzzDecodeSnapshot: arbitrary bytes never panic, and what decodes
// encodes back to the same bytes.
func FuzzDecodeSnapshot(f *testing.F) {
	e := newProducerEntry()
	e.add(1, batchMetadata{firstSeq: 0, lastSeq: 4, lastOffset: 4, offsetDelta: 4, maxTimestamp: 3})
	f.Add(encodeSnapshot(map[int64]producerEntry{1: e}))
	f.Add(encodeSnapshot(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		if again := encodeSnapshot(entries); string(again) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// The truncation path that restarts the log empty drops every producer and
// every snapshot on disk.
func TestTruncateFullyForgetsProducers(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	for i := range 3 {
		mustProduce(t, l, producerBatch(t, 1, 0, int32(i), 1, 0))
	}
	forceRoll(t, l)
	if err := l.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(1); err != nil {
		t.Fatal(err)
	}
	if states := l.Producers(); len(states) != 0 {
		t.Fatalf("producers after restarting the log: %+v", states)
	}
	if got := snapshotFiles(t, fsys, "t-0"); len(got) != 0 {
		t.Fatalf("snapshots after restarting the log: %v", got)
	}
	if _, err := fsys.Stat(filepath.Join("t-0", fmt.Sprintf("%020d.log", 1))); err != nil {
		t.Fatalf("log did not restart at 1: %v", err)
	}
}

// baseSequencePosition is where a v2 batch header keeps its base sequence.
const baseSequencePosition = 53

// BenchmarkAppendProduced is the idempotent produce path: BenchmarkAppend
// plus the duplicate lookup, the sequence check and the state update. Each
// batch gets the next sequence number, which costs the benchmark a CRC.
func BenchmarkAppendProduced(b *testing.B) {
	l := benchLog(b, vfs.OS{}, b.TempDir())
	batch := producerBatch(b, 1, 0, 0, 10, 0)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	seq := int32(0)
	for b.Loop() {
		binary.BigEndian.PutUint32(batch[baseSequencePosition:], uint32(seq))
		record.SetCRC(batch)
		if _, err := l.AppendProduced(batch, 1); err != nil {
			b.Fatal(err)
		}
		seq += 10
	}
}
