package quorum

import (
	"testing"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// TestMetadataLogReopensAfterTailTruncation: Raft deletes the tail of its
// log when a new leader's log disagrees with it (a follower drops entries
// an old leader appended but never committed), which happens whenever a
// leader dies with entries in flight. raft-wal v0.4.0 then recorded the
// tail segment as sealed without writing its index block, and the next
// open of the log failed every read with "sealed segment has no index
// block", which raft.NewRaft turns into a panic: the node could never
// start again (hashicorp/raft-wal#31, fixed in v0.4.1).
func TestMetadataLogReopensAfterTailTruncation(t *testing.T) {
	dir := t.TempDir()
	open := func() (*wal.WAL, *metadb.BoltMetaDB) {
		t.Helper()
		meta := &metadb.BoltMetaDB{}
		w, err := wal.Open(dir, wal.WithMetaStore(meta))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return w, meta
	}
	w, meta := open()
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("entry")})
	}
	if err := w.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	// A new leader's log ends at 8: drop 9 and 10, then append its entry.
	if err := w.DeleteRange(9, 10); err != nil {
		t.Fatal(err)
	}
	if err := w.StoreLog(&raft.Log{Index: 9, Term: 2, Type: raft.LogCommand, Data: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := meta.Close(); err != nil {
		t.Fatal(err)
	}

	w, meta = open()
	defer meta.Close()
	defer w.Close()
	for i := uint64(1); i <= 9; i++ {
		var got raft.Log
		if err := w.GetLog(i, &got); err != nil {
			t.Fatalf("after reopening, entry %d: %v", i, err)
		}
		if want := map[bool]uint64{true: 2, false: 1}[i == 9]; got.Term != want {
			t.Errorf("entry %d has term %d, want %d", i, got.Term, want)
		}
	}
}
