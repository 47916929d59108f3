package storage

import (
	"slices"
	"testing"
)

// A truncation to a segment's base offset empties that segment, and the
// aborted transactions its .txnindex held must go with its batches: once
// the segment fills again and a later snapshot makes Open trust its index
// file, a stale entry would hide a live producer's records from
// read_committed consumers.
func TestTruncateToSegmentBaseDropsItsAbortedTransactions(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	mustAppend(t, l, testBatch(t, 3, recentMs, 10, 'a'))
	forceRoll(t, l) // a snapshot at the new segment's base
	base := l.LogEndOffset()
	mustProduce(t, l, txnBatch(t, 1, 0, 0, 2))
	mustMarker(t, l, 1, 0, false, 0)
	if got := l.AbortedTransactions(0, l.LogEndOffset()); len(got) != 1 {
		t.Fatalf("aborted before the cut = %+v, want one", got)
	}
	if err := l.Truncate(base); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(0, 1<<62); len(got) != 0 {
		t.Fatalf("aborted after the cut = %+v, want none", got)
	}
	// Producer 1 writes again over the same offsets, outside any transaction.
	mustProduce(t, l, producerBatch(t, 1, 0, 0, 2, 0))
	mustAppend(t, l, testBatch(t, 1, recentMs, 10, 'b'))
	forceRoll(t, l) // a snapshot past the segment: Open now trusts its .txnindex
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true})
	defer l.Close()
	if got := l.AbortedTransactions(0, 1<<62); !slices.Equal(got, nil) {
		t.Fatalf("aborted after reopening = %+v, want none", got)
	}
}
