package vfs

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// WriteFileAtomic's result survives a crash once it returns; a crash
// during a rewrite (here: of the temporary file, before the rename) keeps
// the old contents, never a mix.
func TestWriteFileAtomic(t *testing.T) {
	m := newDurableDir(t)
	if err := WriteFileAtomic(m, "d/state", []byte("first")); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got, _ := contents(t, m, "d/state"); got != "first" {
		t.Fatalf("after a crash: %q", got)
	}
	tmp, _ := m.Create("d/state.tmp")
	mustWrite(t, tmp, "second, torn")
	m.CrashTorn(rand.New(rand.NewPCG(1, 2)))
	if got, _ := contents(t, m, "d/state"); got != "first" {
		t.Fatalf("after a crash mid-rewrite: %q", got)
	}
	if err := WriteFileAtomic(m, "d/state", []byte("second")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(m, "d/state", 6)
	if err != nil || string(got) != "second" {
		t.Fatalf("ReadFile: %q, %v", got, err)
	}
	if _, err := ReadFile(m, "d/state", 5); err == nil {
		t.Error("ReadFile read a file above its limit")
	}
}

// ReadFile answers alike on the real filesystem (its system-call path,
// OS.readFileLimit) and on a MemFS: contents, an empty file, a missing
// file (fs.ErrNotExist), a file over the limit (ErrTooLarge).
func TestReadFileOnEveryFS(t *testing.T) {
	osDir := t.TempDir()
	mem := NewMem()
	mem.MkdirAll("/m")
	for name, fsys := range map[string]struct {
		fs  FS
		dir string
	}{"OS": {OS{}, osDir}, "Mem": {mem, "/m"}} {
		for file, content := range map[string]string{"full": "0123456789", "empty": ""} {
			if err := WriteFile(fsys.fs, filepath.Join(fsys.dir, file), []byte(content)); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFile(fsys.fs, filepath.Join(fsys.dir, file), 10)
			if err != nil || string(got) != content {
				t.Errorf("%s: %s read %q, %v; want %q", name, file, got, err, content)
			}
		}
		if _, err := ReadFile(fsys.fs, filepath.Join(fsys.dir, "full"), 9); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: a 10-byte file under a 9-byte limit: %v, want ErrTooLarge", name, err)
		}
		if _, err := ReadFile(fsys.fs, filepath.Join(fsys.dir, "missing"), 9); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a missing file: %v, want fs.ErrNotExist", name, err)
		}
	}
}
