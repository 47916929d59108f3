package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// txnBatch is producerBatch marked transactional.
func txnBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	spec := record.NewBatchSpec()
	spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence, spec.Transactional = pid, epoch, seq, true
	records := make([]record.RecordSpec, n)
	for i := range records {
		records[i] = record.RecordSpec{Timestamp: recentMs + int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "p%d-s%d", pid, int64(seq)+int64(i))}
	}
	b, err := record.AppendBatch(nil, spec, records)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarker(t testing.TB, l *Log, pid int64, epoch int16, commit bool, coordinatorEpoch int32) AppendResult {
	t.Helper()
	res, err := l.AppendTxnMarker(pid, epoch, commit, coordinatorEpoch, 7)
	if err != nil {
		t.Fatalf("marker of producer %d: %v", pid, err)
	}
	return res
}

// The last stable offset stops at the first offset of the earliest open
// transaction, and moves when that transaction ends, whichever way.
func TestLastStableOffsetFollowsOpenTransactions(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	mustAppend(t, l, testBatch(t, 3, recentMs, 10, 'a')) // 0..2, no producer
	a := mustProduce(t, l, txnBatch(t, 1, 0, 0, 2))      // 3..4
	b := mustProduce(t, l, txnBatch(t, 2, 0, 0, 2))      // 5..6
	mustProduce(t, l, txnBatch(t, 1, 0, 2, 2))           // 7..8, same transaction
	if got := l.LastStableOffset(100); got != a.BaseOffset {
		t.Fatalf("LSO with two open transactions = %d, want %d", got, a.BaseOffset)
	}
	if got := l.LastStableOffset(2); got != 2 {
		t.Fatalf("LSO below the open transactions = %d, want the high watermark 2", got)
	}
	commitA := mustMarker(t, l, 1, 0, true, 0)
	if got := l.LastStableOffset(100); got != b.BaseOffset {
		t.Fatalf("LSO after producer 1 committed = %d, want %d", got, b.BaseOffset)
	}
	abortB := mustMarker(t, l, 2, 0, false, 0)
	if got := l.LastStableOffset(100); got != 100 {
		t.Fatalf("LSO with no open transaction = %d, want the high watermark", got)
	}
	want := []AbortedTxn{{ProducerID: 2, FirstOffset: b.BaseOffset, LastOffset: abortB.BaseOffset, LastStableOffset: abortB.BaseOffset + 1}}
	if got := l.AbortedTransactions(0, 100); !slices.Equal(got, want) {
		t.Fatalf("aborted transactions = %+v, want %+v", got, want)
	}
	if got := l.AbortedTransactions(abortB.BaseOffset+1, 100); len(got) != 0 {
		t.Fatalf("aborted transactions after the marker = %+v, want none", got)
	}
	if got := l.AbortedTransactions(0, b.BaseOffset); len(got) != 0 {
		t.Fatalf("aborted transactions before the first offset = %+v, want none", got)
	}
	if commitA.BaseOffset != 9 || abortB.BaseOffset != 10 {
		t.Fatalf("markers at %d and %d, want 9 and 10", commitA.BaseOffset, abortB.BaseOffset)
	}
	states := l.Producers()
	if states[0].CurrentTxnFirstOffset != -1 || states[0].CoordinatorEpoch != 0 {
		t.Fatalf("producer 1 after its commit: %+v", states[0])
	}
}

// The abort's last stable offset is the first offset of a transaction
// still open, as Kafka's ProducerStateManager.lastStableOffset.
func TestAbortedEntryCarriesLastStableOffset(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	first := mustProduce(t, l, txnBatch(t, 1, 0, 0, 1))
	mustProduce(t, l, txnBatch(t, 2, 0, 0, 1))
	abort := mustMarker(t, l, 2, 0, false, 0)
	got := l.AbortedTransactions(0, 100)
	want := []AbortedTxn{{ProducerID: 2, FirstOffset: 1, LastOffset: abort.BaseOffset, LastStableOffset: first.BaseOffset}}
	if !slices.Equal(got, want) {
		t.Fatalf("aborted = %+v, want %+v", got, want)
	}
}

// Markers are fenced by producer epoch and coordinator epoch, and a fenced
// marker appends nothing.
func TestMarkerFencing(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	mustProduce(t, l, txnBatch(t, 1, 3, 0, 1))
	mustMarker(t, l, 1, 3, true, 5)
	end := l.LogEndOffset()
	if _, err := l.AppendTxnMarker(1, 2, true, 5, 7); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker of an old producer epoch: %v, want ErrInvalidProducerEpoch", err)
	}
	if _, err := l.AppendTxnMarker(1, 3, false, 4, 7); !errors.Is(err, ErrTransactionCoordinatorFenced) {
		t.Fatalf("marker of an old coordinator epoch: %v, want ErrTransactionCoordinatorFenced", err)
	}
	if l.LogEndOffset() != end {
		t.Fatalf("fenced markers appended: log end %d, want %d", l.LogEndOffset(), end)
	}
	if got := l.AbortedTransactions(0, end); len(got) != 0 {
		t.Fatalf("a fenced abort was indexed: %+v", got)
	}
}

// buildTxnLog writes rounds of two transactions (producer 1 commits,
// producer 2 aborts), leaves producer 3's transaction open, and returns
// the aborted entries it expects.
func buildTxnLog(t *testing.T, l *Log, rounds int) (want []AbortedTxn, open int64) {
	t.Helper()
	for i := range rounds {
		seq := int32(i * 2)
		mustProduce(t, l, txnBatch(t, 1, 0, seq, 2))
		first := mustProduce(t, l, txnBatch(t, 2, 0, seq, 2))
		mustMarker(t, l, 1, 0, true, 0)
		abort := mustMarker(t, l, 2, 0, false, 0)
		want = append(want, AbortedTxn{ProducerID: 2, FirstOffset: first.BaseOffset, LastOffset: abort.BaseOffset, LastStableOffset: abort.BaseOffset + 1})
	}
	return want, mustProduce(t, l, txnBatch(t, 3, 0, 0, 1)).BaseOffset
}

// The index and the open transaction survive a clean reopen (from files
// and the snapshot) and a power cut (rebuilt by replaying the log), and
// the .txnindex files hold 34-byte entries.
func TestTxnIndexSurvivesReopenAndPowerLoss(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	want, open := buildTxnLog(t, l, 20)
	check := func(l *Log, when string) {
		t.Helper()
		if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, want) {
			t.Fatalf("%s: aborted = %+v\nwant %+v", when, got, want)
		}
		if got := l.LastStableOffset(l.LogEndOffset()); got != open {
			t.Fatalf("%s: LSO = %d, want %d (producer 3's open transaction)", when, got, open)
		}
	}
	check(l, "before close")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := txnIndexEntries(t, fsys, "t-0"); n != len(want) {
		t.Fatalf("%d entries in .txnindex files, want %d", n, len(want))
	}
	l = mustOpen(t, fsys, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true})
	check(l, "after a clean reopen")

	// More aborts after the last durable snapshot, synced, then a power cut.
	more, _ := buildTxnLogFrom(t, l, 20, 5)
	want = append(want, more...)
	if err := l.Sync(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	l.Close()
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	check(l, "after power loss")
}

// buildTxnLogFrom continues buildTxnLog's pattern from round start.
func buildTxnLogFrom(t *testing.T, l *Log, start, rounds int) ([]AbortedTxn, int64) {
	t.Helper()
	var want []AbortedTxn
	for i := start; i < start+rounds; i++ {
		seq := int32(i * 2)
		mustProduce(t, l, txnBatch(t, 1, 0, seq, 2))
		first := mustProduce(t, l, txnBatch(t, 2, 0, seq, 2))
		mustMarker(t, l, 1, 0, true, 0)
		abort := mustMarker(t, l, 2, 0, false, 0)
		// Producer 3's transaction (offset open) is still open: it bounds
		// every later abort's last stable offset.
		want = append(want, AbortedTxn{ProducerID: 2, FirstOffset: first.BaseOffset, LastOffset: abort.BaseOffset, LastStableOffset: l.LastStableOffset(1 << 62)})
	}
	return want, l.LastStableOffset(1 << 62)
}

func txnIndexEntries(t *testing.T, fsys vfs.FS, dir string) int {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, name := range names {
		if len(name) < len(txnIndexSuffix) || name[len(name)-len(txnIndexSuffix):] != txnIndexSuffix {
			continue
		}
		info, err := fsys.Stat(dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size%txnIndexEntrySize != 0 {
			t.Fatalf("%s is %d bytes, not whole %d-byte entries", name, info.Size, txnIndexEntrySize)
		}
		total += int(info.Size / txnIndexEntrySize)
	}
	return total
}

// Truncating below an abort marker forgets the abort and reopens the
// transaction it ended.
func TestTruncateForgetsAbortsPastTheCut(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	first := mustProduce(t, l, txnBatch(t, 1, 0, 0, 2))
	abort := mustMarker(t, l, 1, 0, false, 0)
	if len(l.AbortedTransactions(0, 100)) != 1 {
		t.Fatal("abort not indexed")
	}
	if err := l.Truncate(abort.BaseOffset); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(0, 100); len(got) != 0 {
		t.Fatalf("aborts after truncating the marker: %+v", got)
	}
	if got := l.LastStableOffset(100); got != first.BaseOffset {
		t.Fatalf("LSO after truncating the marker = %d, want %d", got, first.BaseOffset)
	}
}

func TestTxnIndexEntryRoundTripAndRejects(t *testing.T) {
	a := AbortedTxn{ProducerID: 9, FirstOffset: 10, LastOffset: 20, LastStableOffset: 21}
	b := appendAbortedTxn(nil, a)
	if len(b) != txnIndexEntrySize {
		t.Fatalf("entry is %d bytes, want %d", len(b), txnIndexEntrySize)
	}
	got, err := decodeTxnIndex("x", append(b, 1, 2, 3)) // torn tail ignored
	if err != nil || !slices.Equal(got, []AbortedTxn{a}) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	bad := appendAbortedTxn(nil, AbortedTxn{ProducerID: 9, FirstOffset: 30, LastOffset: 20})
	if _, err := decodeTxnIndex("x", bad); !isCorruption(err) {
		t.Fatalf("first offset past last: %v, want corruption", err)
	}
	b[1] = 1
	if _, err := decodeTxnIndex("x", b); !isCorruption(err) {
		t.Fatalf("version 1: %v, want corruption", err)
	}
}

// A compaction that merges segments keeps every aborted transaction, in
// memory and on disk (one copy each), across a reopen; and it never
// cleans past an open transaction.
func TestCompactionKeepsAbortedIndexAndOpenTransactions(t *testing.T) {
	fsys := newMemFS(t)
	cfg := compactConfig()
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	var want []AbortedTxn
	for i := range 6 {
		first := mustProduce(t, l, txnBatch(t, 2, 0, int32(i*2), 2))
		abort := mustMarker(t, l, 2, 0, false, 0)
		want = append(want, AbortedTxn{ProducerID: 2, FirstOffset: first.BaseOffset, LastOffset: abort.BaseOffset, LastStableOffset: abort.BaseOffset + 1})
		forceRoll(t, l)
	}
	before := segmentCount(l)
	res := mustCompact(t, l, recentMs)
	if !res.Cleaned || segmentCount(l) >= before {
		t.Fatalf("compaction merged nothing: %+v, %d segments before, %d after", res, before, segmentCount(l))
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, want) {
		t.Fatalf("aborted after compaction = %+v\nwant %+v", got, want)
	}
	if n := txnIndexEntries(t, fsys, "t-0"); n != len(want) {
		t.Fatalf("%d entries in .txnindex files after compaction, want %d", n, len(want))
	}
	open := mustProduce(t, l, txnBatch(t, 3, 0, 0, 2))
	mustAppend(t, l, testBatch(t, 2, recentMs, 10, 'z'))
	forceRoll(t, l)
	if res := mustCompact(t, l, recentMs); res.CleanedTo > open.BaseOffset {
		t.Fatalf("compaction cleaned to %d, past the open transaction at %d", res.CleanedTo, open.BaseOffset)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true})
	defer l.Close()
	if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, want) {
		t.Fatalf("aborted after reopen = %+v\nwant %+v", got, want)
	}
}

// A producer with an open transaction may not write outside it (Kafka's
// ProducerAppendInfo: "Expected transactional write").
func TestNonTransactionalWriteInOpenTransaction(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", testConfig(), testOptions(t))
	defer l.Close()
	mustProduce(t, l, txnBatch(t, 1, 0, 0, 1))
	end := l.LogEndOffset()
	if _, err := l.AppendProduced(producerBatch(t, 1, 0, 1, 1, 0), 7); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("idempotent batch inside an open transaction: %v, want ErrInvalidTxnState", err)
	}
	if l.LogEndOffset() != end {
		t.Fatal("the refused batch was appended")
	}
	mustMarker(t, l, 1, 0, true, 0)
	mustProduce(t, l, producerBatch(t, 1, 0, 1, 1, 0))
}

// Compaction leaves an aborted value out: it neither supersedes the
// committed value of its key nor survives itself (Kafka's cleaner).
func TestCompactionDropsAbortedData(t *testing.T) {
	l := mustOpen(t, newMemFS(t), "t-0", compactConfig(), testOptions(t))
	defer l.Close()
	mustProduce(t, l, txnBatch(t, 1, 0, 0, 1)) // k0 = p1-s0
	mustMarker(t, l, 1, 0, true, 0)
	mustProduce(t, l, txnBatch(t, 2, 0, 0, 1)) // k0 = p2-s0, aborted
	mustMarker(t, l, 2, 0, false, 0)
	mustAppend(t, l, testBatch(t, 1, recentMs, 4, 'x')) // key "0"
	forceRoll(t, l)
	if res := mustCompact(t, l, recentMs); !res.Cleaned {
		t.Fatalf("nothing cleaned: %+v", res)
	}
	records, _ := readRecords(t, l)
	var values []string
	for _, r := range records {
		if len(r.key) == markerKeySize && r.key[0] == 0 {
			continue // a commit or abort marker, kept
		}
		values = append(values, r.key+"="+r.value)
	}
	if want := []string{"k0=p1-s0", "0=xxxx"}; !slices.Equal(values, want) {
		t.Fatalf("records after compaction = %q, want %q", values, want)
	}
}

// A truncation that cuts an abort marker right at a snapshot (so nothing
// is replayed) still removes the entry from the segment's .txnindex: it
// must not come back when the log reopens after growing past it.
func TestTruncateAtSnapshotDropsStaleTxnIndexEntry(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	mustAppend(t, l, testBatch(t, 2, recentMs, 10, 'a'))
	if err := l.Close(); err != nil { // snapshot at the log end
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true})
	cut := l.LogEndOffset()
	mustProduce(t, l, txnBatch(t, 1, 0, 0, 1))
	mustMarker(t, l, 1, 0, false, 0)
	if err := l.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustAppend(t, l, testBatch(t, 2, recentMs, 10, 'b'))
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("aborted after the truncation = %+v, want none", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true})
	defer l.Close()
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("aborted after reopening = %+v, want none: a truncated marker came back", got)
	}
}

// Deleting segments (DeleteRecords here, retention alike) deletes their
// .txnindex files and forgets their aborted transactions.
func TestDeletedSegmentsTakeTheirAborts(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	want, _ := buildTxnLog(t, l, 20)
	start := want[len(want)/2].LastOffset + 1
	if err := l.DeleteRecordsBefore(start); err != nil {
		t.Fatal(err)
	}
	firstBase := l.segments[0].baseOffset
	var kept []AbortedTxn
	for _, a := range want {
		if a.LastOffset >= firstBase {
			kept = append(kept, a)
		}
	}
	if len(kept) == len(want) {
		t.Fatal("no segment with an abort was deleted; the test proves nothing")
	}
	if got := l.AbortedTransactions(0, l.LogEndOffset()); !slices.Equal(got, kept) {
		t.Fatalf("aborted after deleting segments = %+v\nwant %+v", got, kept)
	}
	if n := txnIndexEntries(t, fsys, "t-0"); n != len(kept) {
		t.Fatalf("%d entries left in .txnindex files, want %d", n, len(kept))
	}
}

// FuzzDecodeTxnIndex: any bytes decode to valid entries or a corruption
// error, never a panic.
func FuzzDecodeTxnIndex(f *testing.F) {
	f.Add(appendAbortedTxn(nil, AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 3, LastStableOffset: 4}))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := decodeTxnIndex("fuzz", b)
		if err != nil {
			if !isCorruption(err) {
				t.Fatalf("error %v is not corruption", err)
			}
			return
		}
		for _, a := range entries {
			if a.ProducerID < 0 || a.FirstOffset < 0 || a.FirstOffset > a.LastOffset {
				t.Fatalf("invalid entry decoded: %+v", a)
			}
		}
	})
}
