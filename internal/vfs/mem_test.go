package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"slices"
	"testing"
)

// newDurableDir returns a MemFS with a durable directory "d".
func newDurableDir(t *testing.T) *MemFS {
	t.Helper()
	m := NewMem()
	if err := m.MkdirAll("d"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

func contents(t *testing.T, m *MemFS, name string) (string, bool) {
	t.Helper()
	f, err := m.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readAll(t, f), true
}

func TestCrashDropsUnsyncedBytes(t *testing.T) {
	m := newDurableDir(t)
	f, _ := m.Create("d/seg")
	m.SyncDir("d")
	mustWrite(t, f, "durable|")
	f.Sync()
	mustWrite(t, f, "lost")
	m.Crash()
	if got, _ := contents(t, m, "d/seg"); got != "durable|" {
		t.Errorf("after crash: %q, want only the fsynced bytes", got)
	}
}

func TestCrashDropsUnsyncedDirectoryChanges(t *testing.T) {
	m := newDurableDir(t)
	kept, _ := m.Create("d/kept")
	mustWrite(t, kept, "k")
	kept.Sync()
	m.SyncDir("d")

	fresh, _ := m.Create("d/fresh")
	mustWrite(t, fresh, "f")
	fresh.Sync() // the bytes are durable but the directory entry is not
	m.Rename("d/kept", "d/renamed")
	m.MkdirAll("d/sub")
	m.Crash()

	names, _ := m.ReadDir("d")
	if !slices.Equal(names, []string{"kept"}) {
		t.Errorf("after crash d holds %v, want [kept]", names)
	}
	if got, _ := contents(t, m, "d/kept"); got != "k" {
		t.Errorf("kept = %q", got)
	}
}

func TestCrashKeepsSyncedDirectoryChanges(t *testing.T) {
	m := newDurableDir(t)
	f, _ := m.Create("d/tmp")
	mustWrite(t, f, "v1")
	f.Sync()
	m.Rename("d/tmp", "d/final")
	m.SyncDir("d")
	m.Remove("d/final") // not synced: the file comes back
	m.Crash()
	if got, ok := contents(t, m, "d/final"); !ok || got != "v1" {
		t.Errorf("final = %q (exists %v), want v1", got, ok)
	}
}

func TestCrashUndoesUnsyncedTruncate(t *testing.T) {
	m := newDurableDir(t)
	f, _ := m.Create("d/seg")
	m.SyncDir("d")
	mustWrite(t, f, "0123456789")
	f.Sync()
	f.Truncate(3)
	mustWrite(t, f, "abc")
	m.Crash()
	if got, _ := contents(t, m, "d/seg"); got != "0123456789" {
		t.Errorf("unsynced truncate survived: %q", got)
	}

	f, _ = m.OpenAppend("d/seg")
	f.Truncate(3)
	mustWrite(t, f, "abc")
	f.Sync()
	m.Crash()
	if got, _ := contents(t, m, "d/seg"); got != "012abc" {
		t.Errorf("synced truncate + append: %q", got)
	}
}

func TestHandlesDieWithTheCrash(t *testing.T) {
	m := newDurableDir(t)
	f, _ := m.Create("d/seg")
	m.SyncDir("d")
	m.Crash()
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrCrashed) {
		t.Errorf("write after crash: %v", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrCrashed) {
		t.Errorf("sync after crash: %v", err)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrCrashed) {
		t.Errorf("read after crash: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("close after crash: %v", err)
	}
}

// TestCrashTornKeepsAPrefix: whatever a torn crash keeps is the fsynced bytes
// followed by a prefix of the unsynced tail (possibly zeroed at its end).
func TestCrashTornKeepsAPrefix(t *testing.T) {
	sawPartial, sawZeroes := false, false
	for seed := range uint64(200) {
		m := newDurableDir(t)
		f, _ := m.Create("d/seg")
		m.SyncDir("d")
		mustWrite(t, f, "SYNCED")
		f.Sync()
		tail := "unsynced-tail-bytes"
		mustWrite(t, f, tail)
		m.CrashTorn(rand.New(rand.NewPCG(seed, 1)))
		got, ok := contents(t, m, "d/seg")
		if !ok || len(got) < 6 || got[:6] != "SYNCED" || len(got) > 6+len(tail) {
			t.Fatalf("seed %d: %q", seed, got)
		}
		kept := []byte(got[6:])
		trimmed := bytes.TrimRight(kept, "\x00")
		if !bytes.HasPrefix([]byte(tail), trimmed) {
			t.Fatalf("seed %d: kept %q is not a (zero-ended) prefix of the tail", seed, kept)
		}
		sawPartial = sawPartial || (len(kept) > 0 && len(kept) < len(tail))
		sawZeroes = sawZeroes || len(trimmed) < len(kept)
	}
	if !sawPartial || !sawZeroes {
		t.Errorf("200 seeds never produced a partial tail (%v) or a zeroed one (%v)", sawPartial, sawZeroes)
	}
}

func TestCrashTornIsReproducible(t *testing.T) {
	run := func() string {
		m := newDurableDir(t)
		f, _ := m.Create("d/seg")
		mustWrite(t, f, "some unsynced bytes in a new file")
		m.CrashTorn(rand.New(rand.NewPCG(7, 7)))
		got, ok := contents(t, m, "d/seg")
		if !ok {
			return "<gone>"
		}
		return got
	}
	if a, b := run(), run(); a != b {
		t.Errorf("same seed, different outcomes: %q vs %q", a, b)
	}
}

func TestDiskFullShortWrite(t *testing.T) {
	inner := NewMem()
	inner.MkdirAll("d")
	full := NewDiskFull(10)
	fsys := NewFaultFS(inner, full)
	f, err := fsys.Create("d/seg")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "12345678")
	n, err := f.Write([]byte("abcdef"))
	if n != 2 || !errors.Is(err, ENOSPC) {
		t.Fatalf("write crossing the budget: n=%d err=%v, want 2 and ENOSPC", n, err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, ENOSPC) {
		t.Errorf("write on a full disk: %v", err)
	}
	if got := readAll(t, f); got != "12345678ab" {
		t.Errorf("content %q", got)
	}
	full.SetBudget(100)
	mustWrite(t, f, "more")
}

func TestFailOnMatchesKindAndPath(t *testing.T) {
	inner := NewMem()
	inner.MkdirAll("d")
	fsys := NewFaultFS(inner, FailOn(OpSync, "*.log", nil))
	log, _ := fsys.Create("d/0.log")
	index, _ := fsys.Create("d/0.index")
	if err := log.Sync(); !errors.Is(err, ErrInjected) {
		t.Errorf("sync of .log: %v", err)
	}
	if err := index.Sync(); err != nil {
		t.Errorf("sync of .index: %v", err)
	}
	fsys.SetInjector(nil)
	if err := log.Sync(); err != nil {
		t.Errorf("sync after disarming: %v", err)
	}
}

// openRW creates name (durably, in a durable directory) holding synced,
// and opens it for WriteAt.
func openRW(t *testing.T, m *MemFS, name, synced string) File {
	t.Helper()
	f, _ := m.Create(name)
	mustWrite(t, f, synced)
	f.Sync()
	f.Close()
	m.SyncDir("d")
	rw, err := m.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	return rw
}

func TestCrashDropsUnsyncedWriteAt(t *testing.T) {
	m := newDurableDir(t)
	f := openRW(t, m, "d/seg", "durable|")
	mustWriteAt(t, f, "tail", 8)
	mustWriteAt(t, f, "gap", 20)
	m.Crash()
	if got, _ := contents(t, m, "d/seg"); got != "durable|" {
		t.Errorf("after crash: %q, want only the fsynced bytes", got)
	}
}

// An unsynced overwrite of synced bytes is lost whole, by a clean crash
// and by a torn one alike: the old bytes come back. Without that a test
// could not tell a writer that fsyncs its overwrites from one that does
// not.
func TestCrashUndoesUnsyncedOverwrite(t *testing.T) {
	for seed := range uint64(50) {
		m := newDurableDir(t)
		f := openRW(t, m, "d/seg", "0123456789")
		mustWriteAt(t, f, "AB", 2)
		mustWriteAt(t, f, "tail", 10)
		if got := readAll(t, f); got != "01AB456789tail" {
			t.Fatalf("before the crash: %q", got)
		}
		if seed == 0 {
			m.Crash()
		} else {
			m.CrashTorn(rand.New(rand.NewPCG(seed, 3)))
		}
		if got, _ := contents(t, m, "d/seg"); got != "0123456789" {
			t.Fatalf("seed %d: after crash %q, want the synced bytes exactly", seed, got)
		}
	}
}

func TestSyncKeepsWriteAt(t *testing.T) {
	m := newDurableDir(t)
	f := openRW(t, m, "d/seg", "0123456789")
	mustWriteAt(t, f, "AB", 2)
	mustWriteAt(t, f, "!", 12)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	mustWriteAt(t, f, "lost", 13)
	m.CrashTorn(rand.New(rand.NewPCG(1, 1)))
	got, _ := contents(t, m, "d/seg")
	if want := "01AB456789\x00\x00!"; got[:min(len(got), len(want))] != want {
		t.Errorf("after sync and crash: %q, want %q then a prefix of the unsynced tail", got, want)
	}
}

// A torn crash of a file written only past its synced end (raft-wal's
// appends) keeps the synced bytes and a prefix of the new ones.
func TestCrashTornKeepsAPrefixOfWriteAtTail(t *testing.T) {
	sawPartial := false
	for seed := range uint64(100) {
		m := newDurableDir(t)
		f := openRW(t, m, "d/seg", "SYNCED")
		tail := "written-at-the-end"
		mustWriteAt(t, f, tail, 6)
		m.CrashTorn(rand.New(rand.NewPCG(seed, 2)))
		got, _ := contents(t, m, "d/seg")
		if len(got) < 6 || got[:6] != "SYNCED" {
			t.Fatalf("seed %d: %q lost synced bytes", seed, got)
		}
		if kept := bytes.TrimRight([]byte(got[6:]), "\x00"); !bytes.HasPrefix([]byte(tail), kept) {
			t.Fatalf("seed %d: kept %q is not a prefix of the tail", seed, got[6:])
		}
		sawPartial = sawPartial || (len(got) > 6 && len(got) < 6+len(tail))
	}
	if !sawPartial {
		t.Error("100 seeds never kept part of the tail")
	}
}
