package quorum

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/vfs"
)

func newTestSnapshotStore(t *testing.T, fsys vfs.FS, base string) *snapshotStore {
	t.Helper()
	s, err := newSnapshotStore(fsys, base, retainSnapshots, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testConfiguration = raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "1", Address: "a:1"}}}

// writeSnapshot writes a snapshot of data at index through sink.Close.
func writeSnapshot(t *testing.T, s raft.SnapshotStore, index uint64, data []byte) string {
	t.Helper()
	_, trans := raft.NewInmemTransport("a:1")
	sink, err := s.Create(1, index, 3, testConfiguration, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

func readSnapshot(t *testing.T, s raft.SnapshotStore, id string) (*raft.SnapshotMeta, []byte) {
	t.Helper()
	meta, rc, err := s.Open(id)
	if err != nil {
		t.Fatalf("open snapshot %s: %v", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return meta, data
}

// A closed snapshot survives a power cut and reads back whole; the newest
// two are kept; one still being written at the cut is gone, and its .tmp
// directory is removed at the next start.
func TestSnapshotStoreSurvivesPowerCut(t *testing.T) {
	mem := vfs.NewMem()
	s := newTestSnapshotStore(t, mem, "/node")
	var ids []string
	for i := range uint64(3) {
		ids = append(ids, writeSnapshot(t, s, 10*(i+1), bytes.Repeat([]byte{byte(i)}, 5000)))
	}
	_, trans := raft.NewInmemTransport("a:1")
	pending, err := s.Create(1, 99, 3, testConfiguration, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	pending.Write([]byte("never finished"))
	mem.CrashTorn(newTestRand(4))

	s = newTestSnapshotStore(t, mem, "/node")
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[1] {
		t.Fatalf("after the cut List = %v, want the two newest of %v", snapshotIDs(list), ids)
	}
	meta, data := readSnapshot(t, s, ids[2])
	if meta.Index != 30 || meta.Term != 3 || meta.Size != 5000 || !bytes.Equal(data, bytes.Repeat([]byte{2}, 5000)) {
		t.Fatalf("snapshot after the cut: %+v, %d bytes", meta, len(data))
	}
	if len(meta.Configuration.Servers) != 1 || meta.Configuration.Servers[0].ID != "1" {
		t.Errorf("configuration after the cut: %+v", meta.Configuration)
	}
	names, _ := mem.ReadDir("/node/snapshots")
	if len(names) != 2 {
		t.Errorf("snapshot directory holds %v, want the two kept snapshots only", names)
	}
}

func snapshotIDs(list []*raft.SnapshotMeta) []string {
	var ids []string
	for _, m := range list {
		ids = append(ids, m.ID)
	}
	return ids
}

// A state.bin that does not match the CRC in meta.json is refused.
func TestSnapshotStoreRefusesCorruptState(t *testing.T) {
	mem := vfs.NewMem()
	s := newTestSnapshotStore(t, mem, "/node")
	id := writeSnapshot(t, s, 5, []byte("the image"))
	if err := vfs.WriteFile(mem, filepath.Join("/node/snapshots", id, snapshotStateName), []byte("the imagE")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(id); err == nil {
		t.Fatal("a snapshot with a damaged state.bin opened")
	}
}

// Snapshots that hashicorp/raft's FileSnapshotStore wrote (every data
// directory before the vfs seam) open unchanged, and the other way round.
func TestSnapshotStoreReadsFileSnapshotStore(t *testing.T) {
	dir := t.TempDir()
	file, err := raft.NewFileSnapshotStoreWithLogger(dir, retainSnapshots, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	old := writeSnapshot(t, file, 7, []byte("written by FileSnapshotStore"))
	s := newTestSnapshotStore(t, vfs.OS{}, dir)
	if meta, data := readSnapshot(t, s, old); meta.Index != 7 || string(data) != "written by FileSnapshotStore" {
		t.Fatalf("FileSnapshotStore's snapshot read as %+v %q", meta, data)
	}
	ours := writeSnapshot(t, s, 8, []byte("written by snapshotStore"))
	if meta, data := readSnapshot(t, file, ours); meta.Index != 8 || string(data) != "written by snapshotStore" {
		t.Fatalf("FileSnapshotStore reads our snapshot as %+v %q", meta, data)
	}
	list, err := s.List()
	if err != nil || fmt.Sprint(snapshotIDs(list)) != fmt.Sprint([]string{ours, old}) {
		t.Fatalf("List = %v, %v", snapshotIDs(list), err)
	}
}
