package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// The conformance suite runs against every FS implementation: what storage
// relies on must hold for the real disk and for the simulation alike.
func TestConformance(t *testing.T) {
	impls := map[string]func(t *testing.T) (FS, string){
		"OS":    func(t *testing.T) (FS, string) { return OS{}, t.TempDir() },
		"Mem":   func(t *testing.T) (FS, string) { return NewMem(), "/data" },
		"Fault": func(t *testing.T) (FS, string) { return NewFaultFS(NewMem(), nil), "data" },
		"Power": func(t *testing.T) (FS, string) { return NewPowerFS(NewMem()), "/data" },
	}
	cases := map[string]func(t *testing.T, fsys FS, root string){
		"WriteReadAppend":      testWriteReadAppend,
		"CreateTruncates":      testCreateTruncates,
		"OpenAppendContinues":  testOpenAppendContinues,
		"ReadOnlyRefusesWrite": testReadOnlyRefusesWrite,
		"TruncateThenAppend":   testTruncateThenAppend,
		"DirectoryOps":         testDirectoryOps,
		"NotExist":             testNotExist,
		"ConcurrentReadAt":     testConcurrentReadAt,
		"WriteAt":              testWriteAt,
		"WriteKindsByHandle":   testWriteKindsByHandle,
	}
	for implName, newFS := range impls {
		for caseName, run := range cases {
			t.Run(implName+"/"+caseName, func(t *testing.T) {
				fsys, root := newFS(t)
				if err := fsys.MkdirAll(root); err != nil {
					t.Fatal(err)
				}
				run(t, fsys, root)
			})
		}
	}
}

func mustWrite(t *testing.T, f File, p string) {
	t.Helper()
	n, err := f.Write([]byte(p))
	if err != nil || n != len(p) {
		t.Fatalf("write %q: n=%d err=%v", p, n, err)
	}
}

func readAll(t *testing.T, f File) string {
	t.Helper()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		t.Fatalf("read %s: %v", f.Name(), err)
	}
	return string(buf)
}

func testWriteReadAppend(t *testing.T, fsys FS, root string) {
	name := filepath.Join(root, "a.log")
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Name() != name {
		t.Errorf("Name() = %q, want %q", f.Name(), name)
	}
	mustWrite(t, f, "hello ")
	mustWrite(t, f, "world")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f); got != "hello world" {
		t.Errorf("content %q", got)
	}
	buf := make([]byte, 5)
	n, err := f.ReadAt(buf, 8)
	if n != 3 || !errors.Is(err, io.EOF) || string(buf[:n]) != "rld" {
		t.Errorf("short ReadAt: n=%d err=%v %q", n, err, buf[:n])
	}
	if _, err := f.ReadAt(buf, 11); !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt at end: %v, want EOF", err)
	}
	info, err := fsys.Stat(name)
	if err != nil || info.Size != 11 || info.IsDir {
		t.Errorf("Stat = %+v, %v", info, err)
	}
}

func testCreateTruncates(t *testing.T, fsys FS, root string) {
	name := filepath.Join(root, "a")
	f, _ := fsys.Create(name)
	mustWrite(t, f, "old contents")
	f.Close()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustWrite(t, f, "new")
	if got := readAll(t, f); got != "new" {
		t.Errorf("after re-Create: %q", got)
	}
}

func testOpenAppendContinues(t *testing.T, fsys FS, root string) {
	name := filepath.Join(root, "a")
	f, _ := fsys.Create(name)
	mustWrite(t, f, "one")
	f.Close()
	f, err := fsys.OpenAppend(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mustWrite(t, f, "two")
	if got := readAll(t, f); got != "onetwo" {
		t.Errorf("after OpenAppend: %q", got)
	}
}

func testReadOnlyRefusesWrite(t *testing.T, fsys FS, root string) {
	name := filepath.Join(root, "a")
	f, _ := fsys.Create(name)
	mustWrite(t, f, "data")
	f.Close()
	r, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Write([]byte("x")); err == nil {
		t.Error("write to a read-only file succeeded")
	}
	if got := readAll(t, r); got != "data" {
		t.Errorf("read-only content %q", got)
	}
}

func testTruncateThenAppend(t *testing.T, fsys FS, root string) {
	f, _ := fsys.Create(filepath.Join(root, "a"))
	defer f.Close()
	mustWrite(t, f, "0123456789")
	if err := f.Truncate(4); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "ab")
	if got := readAll(t, f); got != "0123ab" {
		t.Errorf("truncate then append: %q", got)
	}
}

func testDirectoryOps(t *testing.T, fsys FS, root string) {
	sub := filepath.Join(root, "t-0")
	if err := fsys.MkdirAll(sub); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"c", "a", "b"} {
		f, err := fsys.Create(filepath.Join(sub, name))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if err := fsys.Rename(filepath.Join(sub, "c"), filepath.Join(sub, "a")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Remove(filepath.Join(sub, "b")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir(sub); err != nil {
		t.Fatal(err)
	}
	names, err := fsys.ReadDir(sub)
	if err != nil || !slices.Equal(names, []string{"a"}) {
		t.Errorf("ReadDir = %v, %v", names, err)
	}
	info, err := fsys.Stat(sub)
	if err != nil || !info.IsDir {
		t.Errorf("Stat dir = %+v, %v", info, err)
	}
	if err := fsys.Remove(sub); err == nil {
		t.Error("removed a non-empty directory")
	}
	if err := fsys.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(sub); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after RemoveAll: %v", err)
	}
	if err := fsys.RemoveAll(sub); err != nil {
		t.Errorf("RemoveAll of a missing dir: %v", err)
	}
}

func testNotExist(t *testing.T, fsys FS, root string) {
	missing := filepath.Join(root, "missing")
	if _, err := fsys.Open(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open: %v", err)
	}
	if _, err := fsys.OpenAppend(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenAppend: %v", err)
	}
	if _, err := fsys.OpenReadWrite(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadWrite: %v", err)
	}
	if _, err := fsys.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat: %v", err)
	}
	if err := fsys.Remove(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove: %v", err)
	}
	if _, err := fsys.ReadDir(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir: %v", err)
	}
	if _, err := fsys.Create(filepath.Join(missing, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create in a missing dir: %v", err)
	}
}

// testConcurrentReadAt reads a stable prefix while one writer appends; -race
// checks the implementation's locking.
func testConcurrentReadAt(t *testing.T, fsys FS, root string) {
	f, _ := fsys.Create(filepath.Join(root, "a"))
	defer f.Close()
	prefix := bytes.Repeat([]byte("p"), 4096)
	f.Write(prefix)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			buf := make([]byte, len(prefix))
			for range 200 {
				if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, prefix) {
					t.Errorf("concurrent ReadAt: %v", err)
					return
				}
			}
		})
	}
	for range 200 {
		mustWrite(t, f, "tail")
	}
	wg.Wait()
	if size, _ := f.Size(); size != int64(len(prefix)+800) {
		t.Errorf("size %d", size)
	}
}

func mustWriteAt(t *testing.T, f File, p string, off int64) {
	t.Helper()
	n, err := f.WriteAt([]byte(p), off)
	if err != nil || n != len(p) {
		t.Fatalf("writeat %q at %d: n=%d err=%v", p, off, n, err)
	}
}

// testWriteAt: WriteAt overwrites in place, extends the file, and fills a
// gap before its offset with zeros (raft-wal writes segments this way).
func testWriteAt(t *testing.T, fsys FS, root string) {
	name := filepath.Join(root, "seg")
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	w, err := fsys.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustWriteAt(t, w, "hello world", 0)
	mustWriteAt(t, w, "W", 6)
	mustWriteAt(t, w, "!", 13)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, w), "hello World\x00\x00!"; got != want {
		t.Errorf("after WriteAt: %q, want %q", got, want)
	}
	if err := w.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, w); got != "hello" {
		t.Errorf("after Truncate: %q", got)
	}
	r, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readAll(t, r); got != "hello" {
		t.Errorf("another handle reads %q", got)
	}
}

// testWriteKindsByHandle: an appending handle refuses WriteAt, a
// read-write one refuses Write (it has no end to append at), a read-only
// one refuses both, as the OS does.
func testWriteKindsByHandle(t *testing.T, fsys FS, root string) {
	name := filepath.Join(root, "a")
	a, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mustWrite(t, a, "data")
	if _, err := a.WriteAt([]byte("x"), 0); err == nil {
		t.Error("WriteAt on an appending handle succeeded")
	}
	rw, err := fsys.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.Write([]byte("x")); err == nil {
		t.Error("Write on a read-write handle succeeded")
	}
	r, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.WriteAt([]byte("x"), 0); err == nil {
		t.Error("WriteAt on a read-only handle succeeded")
	}
	if got := readAll(t, r); got != "data" {
		t.Errorf("content %q after refused writes", got)
	}
}
