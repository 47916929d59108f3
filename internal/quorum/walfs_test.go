package quorum

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

// walFS keeps raft-wal's VFS contract on a MemFS: Create is exclusive, a
// new segment's name is durable after its first Sync, a Delete is durable
// when it returns, a missing segment is os.ErrNotExist.
func TestWALFSContract(t *testing.T) {
	mem := vfs.NewMem()
	if err := vfs.MkdirAllDurable(mem, "/wal"); err != nil {
		t.Fatal(err)
	}
	w := walFS{fsys: mem}
	f, err := w.Create("/wal", "1.wal", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create("/wal", "1.wal", 0); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create of a segment: %v, want ErrExist", err)
	}
	if _, err := f.WriteAt([]byte("entries"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	doomed, _ := w.Create("/wal", "0.wal", 0)
	doomed.Sync()
	if err := w.Delete("/wal", "0.wal"); err != nil {
		t.Fatal(err)
	}
	mem.Crash()
	if names, err := w.ListDir("/wal"); err != nil || len(names) != 1 || names[0] != "1.wal" {
		t.Fatalf("after a crash the directory lists %v, %v; want the synced segment only", names, err)
	}
	r, err := w.OpenReader("/wal", "1.wal")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 7)
	if _, err := r.ReadAt(buf, 0); err != nil || string(buf) != "entries" {
		t.Errorf("segment after the crash: %q, %v", buf, err)
	}
	if _, err := w.OpenWriter("/wal", "2.wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenWriter of a missing segment: %v, want os.ErrNotExist", err)
	}
}
