package storage

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// buildLeaderLog writes, as a leader would over three leader epochs, plain
// batches, idempotent batches, committed and aborted transactions and one
// transaction left open, across several segments.
func buildLeaderLog(t *testing.T, l *Log) {
	t.Helper()
	epochs := []int32{1, 1, 3, 3, 6}
	for round, epoch := range epochs {
		seq := int32(round * 2)
		if _, err := l.Append(testBatch(t, 3, recentMs, 40, byte('a'+round)), epoch); err != nil {
			t.Fatal(err)
		}
		appendProduced(t, l, producerBatch(t, 9, 0, seq, 2, int64(round)), epoch)
		appendProduced(t, l, txnBatch(t, 1, 0, seq, 2), epoch)
		appendProduced(t, l, txnBatch(t, 2, 0, seq, 2), epoch)
		mustMarkerEpoch(t, l, 1, 0, true, epoch)
		mustMarkerEpoch(t, l, 2, 0, false, epoch)
	}
	appendProduced(t, l, txnBatch(t, 3, 0, 0, 1), 6) // stays open
	appendProduced(t, l, producerBatch(t, 9, 0, int32(len(epochs)*2), 1, 99), 6)
}

func appendProduced(t *testing.T, l *Log, batch []byte, epoch int32) AppendResult {
	t.Helper()
	res, err := l.AppendProduced(batch, epoch)
	if err != nil {
		t.Fatalf("append produced: %v", err)
	}
	return res
}

func mustMarkerEpoch(t *testing.T, l *Log, pid int64, epoch int16, commit bool, leaderEpoch int32) {
	t.Helper()
	if _, err := l.AppendTxnMarker(pid, epoch, commit, 0, leaderEpoch); err != nil {
		t.Fatalf("marker of producer %d: %v", pid, err)
	}
}

// replicate copies leader into follower the way a fetcher does: Read from
// the follower's log end, at most maxBytes at a time, AppendReplicated.
func replicate(t *testing.T, leader, follower *Log, maxBytes int32) {
	t.Helper()
	for follower.LogEndOffset() < leader.LogEndOffset() {
		chunk, err := leader.Read(follower.LogEndOffset(), maxBytes, leader.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("leader read at %d: %v", follower.LogEndOffset(), err)
		}
		if _, err := follower.AppendReplicated(chunk); err != nil {
			t.Fatalf("append replicated at %d: %v", follower.LogEndOffset(), err)
		}
	}
}

// requireSameState compares everything a replica must agree on with its
// leader: bytes, producer states, aborted transactions, the last stable
// offset and the leader epoch cache.
func requireSameState(t *testing.T, want, got *Log, when string) {
	t.Helper()
	if got.LogStartOffset() != want.LogStartOffset() || got.LogEndOffset() != want.LogEndOffset() {
		t.Fatalf("%s: log %d..%d, want %d..%d", when, got.LogStartOffset(), got.LogEndOffset(), want.LogStartOffset(), want.LogEndOffset())
	}
	if !bytes.Equal(readAll(t, got), readAll(t, want)) {
		t.Fatalf("%s: the bytes differ", when)
	}
	if g, w := got.Producers(), want.Producers(); !slices.EqualFunc(g, w, producerStateEqual) {
		t.Fatalf("%s: producers\n%+v\nwant\n%+v", when, g, w)
	}
	end := want.LogEndOffset()
	if g, w := got.AbortedTransactions(0, end), want.AbortedTransactions(0, end); !slices.Equal(g, w) {
		t.Fatalf("%s: aborted transactions\n%+v\nwant\n%+v", when, g, w)
	}
	if g, w := got.LastStableOffset(end), want.LastStableOffset(end); g != w {
		t.Fatalf("%s: last stable offset %d, want %d", when, g, w)
	}
	if g, w := epochsOf(got), epochsOf(want); !slices.Equal(g, w) {
		t.Fatalf("%s: leader epochs %+v, want %+v", when, g, w)
	}
}

// A follower fed the leader's own batches ends up with the leader's bytes,
// producer states, aborted transactions, last stable offset and epochs,
// however the fetches split them, and keeps them across a clean reopen
// and a power cut (its .txnindex files and snapshots written the same
// way as the leader's).
func TestReplicatedAppendReproducesLeader(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	leader := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer leader.Close()
	buildLeaderLog(t, leader)
	if open := leader.LastStableOffset(leader.LogEndOffset()); open == leader.LogEndOffset() {
		t.Fatal("the leader log has no open transaction")
	}
	if len(leader.AbortedTransactions(0, leader.LogEndOffset())) == 0 || segmentCount(leader) < 3 {
		t.Fatal("the leader log should hold aborts across several segments")
	}
	for _, maxBytes := range []int32{1, 300, 1 << 20} {
		fsys := newMemFS(t)
		follower := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
		replicate(t, leader, follower, maxBytes)
		requireSameState(t, leader, follower, "replicated")
		// Like Append, one call goes to one segment: only split fetches roll.
		if maxBytes < 1<<20 && segmentCount(follower) < 3 {
			t.Fatalf("maxBytes %d: the follower rolled into only %d segments", maxBytes, segmentCount(follower))
		}
		if err := follower.Close(); err != nil {
			t.Fatal(err)
		}
		follower = mustOpen(t, fsys, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true})
		requireSameState(t, leader, follower, "after a clean reopen")
		fsys.Crash() // everything was synced by Close
		follower.Close()
		follower = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
		requireSameState(t, leader, follower, "after a power cut")
		follower.Close()
	}
}

// The first batch must start at the log end offset; anything else is
// ErrOffsetMismatch and writes nothing.
func TestReplicatedAppendOffsetMismatch(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if _, err := l.AppendReplicated(withOffset(testBatch(t, 2, 0, 1, 'a'), 0, 1)); err != nil {
		t.Fatal(err)
	}
	for _, base := range []int64{0, 1, 3, 100} {
		_, err := l.AppendReplicated(withOffset(testBatch(t, 1, 0, 1, 'b'), base, 1))
		if !errors.Is(err, ErrOffsetMismatch) {
			t.Errorf("batch at %d on a log ending at 2: %v, want ErrOffsetMismatch", base, err)
		}
	}
	if l.LogEndOffset() != 2 {
		t.Fatalf("log end %d after refused appends, want 2", l.LogEndOffset())
	}
}

// Malformed input is refused whole, before anything is written.
func TestReplicatedAppendRejectsMalformedInput(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	good := withOffset(testBatch(t, 2, 0, 10, 'a'), 0, 1) // 0..1
	next := withOffset(testBatch(t, 2, 0, 10, 'b'), 2, 1) // 2..3
	badCRC := bytes.Clone(next)
	badCRC[len(badCRC)-1] ^= 0xff
	badMagic := bytes.Clone(next)
	badMagic[16] = 1
	inputs := map[string][]byte{
		"empty":                nil,
		"bad crc":              slices.Concat(good, badCRC),
		"bad magic":            slices.Concat(good, badMagic),
		"cut short":            slices.Concat(good, next[:len(next)-3]),
		"header only":          good[:record.HeaderSize-1],
		"offsets go back":      slices.Concat(good, withOffset(next, 1, 1)),
		"offsets repeat":       slices.Concat(good, withOffset(next, 0, 1)),
		"bad marker":           slices.Concat(good, badMarkerBatch(t, 2)),
		"negative base offset": withOffset(good, -2, 1),
	}
	for name, input := range inputs {
		if _, err := l.AppendReplicated(input); err == nil || (name != "empty" && !errors.Is(err, record.ErrCorrupt) && !errors.Is(err, record.ErrShortBatch)) {
			t.Errorf("%s: err = %v, want a corrupt-batch error", name, err)
		}
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("refused appends wrote: log end %d, %d bytes", l.LogEndOffset(), l.Size())
	}
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("refused appends recorded an epoch")
	}
}

// badMarkerBatch is a control batch of producer 5 at base whose record is
// too short to be a transaction marker.
func badMarkerBatch(t *testing.T, base int64) []byte {
	t.Helper()
	spec := record.NewBatchSpec()
	spec.ProducerID, spec.ProducerEpoch, spec.Transactional, spec.Control = 5, 0, true, true
	b, err := record.AppendBatch(nil, spec, []record.RecordSpec{{Timestamp: 1, Key: []byte{0, 0, 0, 0}, Value: []byte{0}}})
	if err != nil {
		t.Fatal(err)
	}
	return withOffset(b, base, 1)
}

// A compacted leader's batches may skip offsets between them; they are
// kept as they are, and the log ends after the last one.
func TestReplicatedAppendKeepsOffsetGaps(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	first := withOffset(testBatch(t, 2, 0, 10, 'a'), 0, 2)  // 0..1
	second := withOffset(testBatch(t, 3, 0, 10, 'b'), 5, 2) // 5..7
	res, err := l.AppendReplicated(slices.Concat(first, second))
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 0 || res.LastOffset != 7 || l.LogEndOffset() != 8 {
		t.Fatalf("result %+v, log end %d; want 0..7 and 8", res, l.LogEndOffset())
	}
	got, err := l.Read(3, 1<<20, 8, false)
	if err != nil || !bytes.Equal(got, second) {
		t.Fatalf("read inside the gap = %d bytes, %v; want the batch at 5", len(got), err)
	}
}

// A follower takes whatever its leader's producers wrote: a sequence gap
// or an old producer epoch is the leader's business, not a reason to stop
// replicating. The state follows the batches as a replay does.
func TestReplicatedAppendNeverRefusesSequences(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	batches := [][]byte{
		withOffset(producerBatch(t, 4, 2, 0, 1, 0), 0, 1),
		withOffset(producerBatch(t, 4, 2, 7, 1, 1), 1, 1),  // a gap
		withOffset(producerBatch(t, 4, 1, 0, 1, 2), 2, 1),  // an older epoch
		withOffset(producerBatch(t, 4, 3, 50, 1, 3), 3, 1), // a new epoch not at 0
	}
	for _, b := range batches {
		if _, err := l.AppendReplicated(b); err != nil {
			t.Fatalf("append replicated: %v", err)
		}
	}
	states := l.Producers()
	if len(states) != 1 || states[0].Epoch != 3 || states[0].LastSequence != 50 {
		t.Fatalf("producer state = %+v, want epoch 3 at sequence 50", states)
	}
}

// AppendReplicated leaves fsync to the caller, like Append: nothing new
// is durable until Sync, and a power cut before it loses the batches.
func TestReplicatedAppendDoesNotSync(t *testing.T) {
	mem := newMemFS(t)
	l := mustOpen(t, mem, "t-0", testConfig(), testOptions(t))
	if _, err := l.AppendReplicated(withOffset(testBatch(t, 2, 0, 10, 'a'), 0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendReplicated(withOffset(testBatch(t, 2, 0, 10, 'b'), 2, 1)); err != nil {
		t.Fatal(err)
	}
	if l.FlushedOffset() != 2 {
		t.Fatalf("recovery point %d after an unsynced replicated append, want 2", l.FlushedOffset())
	}
	mem.Crash()
	l.Close()
	l = mustOpen(t, mem, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if l.LogEndOffset() != 2 {
		t.Fatalf("log end %d after the cut, want 2", l.LogEndOffset())
	}
}

// The follower's epoch cache follows its leader's history (Kafka's
// assign): an epoch it recorded that the leader's batches contradict goes.
func TestReplicatedAppendFollowsLeaderEpochs(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if _, err := l.AppendReplicated(slices.Concat(
		withOffset(testBatch(t, 2, 0, 10, 'a'), 0, 1),                // 0..1 epoch 1
		withOffset(testBatch(t, 2, 0, 10, 'b'), 2, 1),                // 2..3 epoch 1
		withOffset(testBatch(t, 2, 0, 10, 'c'), 4, 4))); err != nil { // 4..5 epoch 4
		t.Fatal(err)
	}
	if got, want := epochsOf(l), entries(1, 0, 4, 4); !slices.Equal(got, want) {
		t.Fatalf("epochs = %+v, want %+v", got, want)
	}
	// Briefly leader under epoch 7, it wrote nothing; its new leader's
	// batches at 6 come from epoch 5.
	if err := l.AssignLeaderEpoch(7); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendReplicated(withOffset(testBatch(t, 1, 0, 10, 'd'), 6, 5)); err != nil {
		t.Fatal(err)
	}
	if got, want := epochsOf(l), entries(1, 0, 4, 4, 5, 6); !slices.Equal(got, want) {
		t.Fatalf("epochs = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, fsys, "t-0"); text != "0\n3\n1 0\n4 4\n5 6\n" {
		t.Fatalf("checkpoint = %q", text)
	}
	// Replicated appends are never fenced: the leader decides.
	if _, err := l.AppendReplicated(withOffset(testBatch(t, 1, 0, 10, 'e'), 7, 2)); err != nil {
		t.Fatalf("replicated batch of an older epoch: %v", err)
	}
}

// A replicated append that fails to write is undone, and so are the
// epochs it recorded.
func TestReplicatedAppendFailureRestoresEpochs(t *testing.T) {
	mem := newMemFS(t)
	fsys := vfs.NewFaultFS(mem, nil)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if _, err := l.AppendReplicated(withOffset(testBatch(t, 2, 0, 10, 'a'), 0, 1)); err != nil {
		t.Fatal(err)
	}
	fsys.SetInjector(vfs.FailOn(vfs.OpWrite, "*.log", nil))
	if _, err := l.AppendReplicated(withOffset(testBatch(t, 2, 0, 10, 'b'), 2, 3)); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("append with a failing write: %v", err)
	}
	fsys.SetInjector(nil)
	if got, want := epochsOf(l), entries(1, 0); !slices.Equal(got, want) {
		t.Fatalf("epochs after the failed append = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, mem, "t-0"); text != "0\n1\n1 0\n" {
		t.Fatalf("checkpoint after the failed append = %q", text)
	}
	if _, err := l.AppendReplicated(withOffset(testBatch(t, 2, 0, 10, 'b'), 2, 3)); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

// TruncateFullyAndStartAt empties the log at any offset, above or below
// its end, durably, with producer states, aborted transactions, snapshots,
// .txnindex files and epochs gone.
func TestTruncateFullyAndStartAt(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	for _, restart := range []int64{5, 1000} {
		mem := newMemFS(t)
		l := mustOpen(t, mem, "t-0", cfg, testOptions(t))
		buildLeaderLog(t, l)
		if err := l.TruncateFullyAndStartAt(restart); err != nil {
			t.Fatal(err)
		}
		check := func(l *Log, when string) {
			t.Helper()
			if l.LogStartOffset() != restart || l.LogEndOffset() != restart || l.Size() != 0 {
				t.Fatalf("%s: log %d..%d with %d bytes, want empty at %d", when, l.LogStartOffset(), l.LogEndOffset(), l.Size(), restart)
			}
			if len(l.Producers()) != 0 || len(l.AbortedTransactions(0, 1<<62)) != 0 || l.LastStableOffset(restart) != restart {
				t.Fatalf("%s: producers %+v, aborted %+v, LSO %d", when, l.Producers(), l.AbortedTransactions(0, 1<<62), l.LastStableOffset(restart))
			}
			if _, ok := l.LatestEpoch(); ok {
				t.Fatalf("%s: epochs %+v", when, epochsOf(l))
			}
			names, err := mem.ReadDir("t-0")
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range names {
				if base, _, ok := parseSegmentName(name); (ok && base != restart) || bytes.HasSuffix([]byte(name), []byte(snapshotSuffix)) || bytes.HasSuffix([]byte(name), []byte(txnIndexSuffix)) {
					t.Fatalf("%s: %s left in the directory %v", when, name, names)
				}
			}
		}
		check(l, "after the restart")
		mem.Crash() // the restart is durable by itself
		l.Close()
		l = mustOpen(t, mem, "t-0", cfg, testOptions(t))
		check(l, "after a power cut")
		res := mustAppendEpoch(t, l, testBatch(t, 1, 0, 1, 'z'), 2)
		if res.BaseOffset != restart {
			t.Fatalf("first append after the restart at %d, want %d", res.BaseOffset, restart)
		}
		if _, err := l.AppendReplicated(withOffset(testBatch(t, 1, 0, 1, 'y'), restart+1, 2)); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
}

// Truncating a log to any batch boundary leaves it exactly as a log that
// only ever received the batches below the cut: the same producer states,
// aborted transactions, last stable offset and epochs, before and after a
// reopen.
func TestTruncateMatchesNeverWritten(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	leader := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer leader.Close()
	buildLeaderLog(t, leader)
	all := readAll(t, leader)
	headers := mustSplit(t, all)
	position := 0
	for i, h := range headers {
		if i%3 == 0 || i == len(headers)-1 {
			checkTruncateAt(t, cfg, all, position, h.BaseOffset)
		}
		position += h.Size()
	}
}

func checkTruncateAt(t *testing.T, cfg Config, all []byte, position int, cut int64) {
	t.Helper()
	reference := mustOpen(t, newMemFS(t), "t-0", cfg, testOptions(t))
	defer reference.Close()
	if position > 0 {
		if _, err := reference.AppendReplicated(all[:position]); err != nil {
			t.Fatal(err)
		}
	}
	fsys := newMemFS(t)
	truncated := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	if _, err := truncated.AppendReplicated(all); err != nil {
		t.Fatal(err)
	}
	if err := truncated.Close(); err != nil { // snapshots and .txnindex files past the cut
		t.Fatal(err)
	}
	truncated = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	if err := truncated.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	requireSameState(t, reference, truncated, fmt.Sprintf("truncated to %d", cut))
	if err := truncated.Close(); err != nil {
		t.Fatal(err)
	}
	truncated = mustOpen(t, fsys, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true})
	defer truncated.Close()
	requireSameState(t, reference, truncated, fmt.Sprintf("truncated to %d, reopened", cut))
}
