package vfs

import (
	"errors"
	"io/fs"
	"testing"
)

// TestPowerFSRefusesEverythingAfterTheCut checks the power supply between a
// process and its MemFS: once cut, no operation reaches the MemFS, not
// even a file created afterwards, which MemFS alone would accept.
func TestPowerFSRefusesEverythingAfterTheCut(t *testing.T) {
	mem := NewMem()
	power := NewPowerFS(mem)
	if err := MkdirAllDurable(power, "/d"); err != nil {
		t.Fatal(err)
	}
	f, err := power.Create("/d/a")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "synced")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := power.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	rw, err := power.OpenReadWrite("/d/a")
	if err != nil {
		t.Fatal(err)
	}
	power.Cut(mem.Crash)
	if _, err := f.Write([]byte("late")); !errors.Is(err, ErrCrashed) {
		t.Errorf("write after the cut: %v, want ErrCrashed", err)
	}
	if _, err := rw.WriteAt([]byte("late"), 0); !errors.Is(err, ErrCrashed) {
		t.Errorf("writeat after the cut: %v, want ErrCrashed", err)
	}
	if _, err := power.Create("/d/b"); !errors.Is(err, ErrCrashed) {
		t.Errorf("create after the cut: %v, want ErrCrashed", err)
	}
	if _, err := power.OpenReadWrite("/d/a"); !errors.Is(err, ErrCrashed) {
		t.Errorf("open after the cut: %v, want ErrCrashed", err)
	}
	if err := power.SyncDir("/d"); !errors.Is(err, ErrCrashed) {
		t.Errorf("syncdir after the cut: %v, want ErrCrashed", err)
	}
	if _, err := mem.Stat("/d/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/d/b exists on the MemFS after the cut: %v", err)
	}
	// A new supply (the restarted process's) reaches what survived.
	if got, _ := contents(t, mem, "/d/a"); got != "synced" {
		t.Errorf("after the cut /d/a holds %q, want %q", got, "synced")
	}
	again := NewPowerFS(mem)
	g, err := again.Open("/d/a")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got := readAll(t, g); got != "synced" {
		t.Errorf("through a new supply /d/a holds %q", got)
	}
}
