package quorum

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/sluice-io/sluice/internal/metadata"
)

// runOldLayoutNode runs a one-voter quorum the way Sluice did before the
// metadata log went through the vfs seam (raft-wal with its BoltDB meta
// store and raft's FileSnapshotStore, on the real disk in dir), commits
// topics with a snapshot half-way (the log truncated behind it), stops it
// and returns its image.
func runOldLayoutNode(t *testing.T, dir string) *metadata.Image {
	t.Helper()
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := &metadb.BoltMetaDB{}
	logStore, err := wal.Open(walDir, wal.WithMetaStore(meta), wal.WithLogger(hclog.NewNullLogger()))
	if err != nil {
		t.Fatal(err)
	}
	snapshots, err := raft.NewFileSnapshotStoreWithLogger(dir, retainSnapshots, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Config{Dir: dir, NodeID: 1, TrailingLogs: 1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	_, transport := raft.NewInmemTransport("old-layout")
	rc := cfg.raftConfig(hclog.NewNullLogger())
	if err := bootstrapIfEmpty(rc, cfg, logStore, snapshots, transport); err != nil {
		t.Fatal(err)
	}
	n := &Node{fsm: newFSM(nil, slog.New(slog.DiscardHandler)), logger: cfg.Logger}
	if n.raft, err = raft.NewRaft(rc, n.fsm, logStore, logStore, snapshots, transport); err != nil {
		t.Fatal(err)
	}
	if err := n.waitReady(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	propose(t, n, &metadata.ClusterIDRecord{ID: "old"})
	for i := range 8 {
		propose(t, n, topicBatch(fmt.Sprintf("old-%d", i), byte(i+1), 2)...)
		if i == 3 {
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	image := n.Image()
	if err := n.raft.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	if err := logStore.Close(); err != nil {
		t.Fatal(err)
	}
	if err := meta.Close(); err != nil {
		t.Fatal(err)
	}
	return image
}

// TestOpenMigratesOldDataDirectory: a node's first start on a data
// directory from before the vfs seam (raft-wal's BoltDB meta store) keeps
// everything: the image (from the old FileSnapshotStore snapshot plus the
// log after it), Raft's term, and new commits; a second restart reads only
// the migrated state.
func TestOpenMigratesOldDataDirectory(t *testing.T) {
	dir := t.TempDir()
	want := runOldLayoutNode(t, dir)
	boltPath := filepath.Join(dir, "wal", metadb.FileName)
	oldTerm := boltTerm(t, boltPath)

	n := openNode(t, dir, nil)
	if got := n.Image(); !bytes.Equal(encodedImage(got), encodedImage(want)) || got.TopicCount() != 8 {
		t.Fatalf("after the migration the image has %d topics (or differs from the old node's)", got.TopicCount())
	}
	if term := n.raft.CurrentTerm(); term < oldTerm {
		t.Fatalf("Raft term %d after the migration, the old store had %d", term, oldTerm)
	}
	if _, err := os.Stat(boltPath); !os.IsNotExist(err) {
		t.Errorf("%s still in place after the migration: %v", boltPath, err)
	}
	propose(t, n, topicBatch("new", 100, 1)...)
	want = n.Image()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	again := openNode(t, dir, nil)
	if !bytes.Equal(encodedImage(again.Image()), encodedImage(want)) {
		t.Fatal("after a second restart the image differs")
	}
}

// boltTerm reads CurrentTerm from a BoltDB meta store.
func boltTerm(t *testing.T, path string) uint64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, stable, err := readBoltMeta(data)
	if err != nil {
		t.Fatal(err)
	}
	term := stable["CurrentTerm"]
	if len(term) != 8 {
		t.Fatalf("CurrentTerm in the BoltDB store: %v", term)
	}
	return binary.LittleEndian.Uint64(term) // raft-wal's SetUint64
}
