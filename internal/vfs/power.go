package vfs

import (
	"io/fs"
	"sync"
)

// PowerFS is the power supply between one process (a broker, a quorum
// node) and the file system it writes, usually a MemFS: every operation,
// on the file system and on the files opened through it, runs under a
// shared lock and fails with ErrCrashed once the power is off.
//
// A power cut takes the lock exclusively (LockForCut), crashes the MemFS
// while it is held, and turns the power off for good (UnlockAfterCut). So
// the cut falls between operations, never inside one, and nothing the
// process does afterwards reaches the MemFS: not a write to a file opened
// before the cut (MemFS refuses those too), and not a file created after it
// (which MemFS would accept: its handles are new), such as a temporary file
// of an atomic rewrite or a clean-shutdown marker written while the dying
// process closes. The restarted process gets a new PowerFS over the same
// MemFS.
//
// Safe for concurrent use.
type PowerFS struct {
	inner FS
	mu    sync.RWMutex
	off   bool // guarded by mu
}

var _ FS = (*PowerFS)(nil)

// NewPowerFS returns a supply, switched on, in front of inner.
func NewPowerFS(inner FS) *PowerFS { return &PowerFS{inner: inner} }

// LockForCut takes the supply exclusively: once it returns, no operation
// is running and none starts until UnlockAfterCut. Several supplies may be
// held at once, so that the crashes of several nodes' file systems happen
// at one instant with respect to all their I/O.
func (p *PowerFS) LockForCut() { p.mu.Lock() }

// UnlockAfterCut turns the power off for good and releases the supply.
func (p *PowerFS) UnlockAfterCut() {
	p.off = true
	p.mu.Unlock()
}

// Cut is LockForCut, crash, UnlockAfterCut: the power cut of one process,
// crash being what the cut does to the disk (MemFS.Crash or CrashTorn).
func (p *PowerFS) Cut(crash func()) {
	p.LockForCut()
	defer p.UnlockAfterCut()
	crash()
}

// do runs op with the power on, else fails with ErrCrashed naming path.
func (p *PowerFS) do(opName, path string, op func() error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.off {
		return &fs.PathError{Op: opName, Path: path, Err: ErrCrashed}
	}
	return op()
}

func (p *PowerFS) open(opName, name string, open func(string) (File, error)) (File, error) {
	var f File
	err := p.do(opName, name, func() error {
		var err error
		f, err = open(name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &powerFile{File: f, power: p}, nil
}

// Create implements FS.
func (p *PowerFS) Create(name string) (File, error) {
	return p.open("create", name, p.inner.Create)
}

// OpenAppend implements FS.
func (p *PowerFS) OpenAppend(name string) (File, error) {
	return p.open("open", name, p.inner.OpenAppend)
}

// Open implements FS.
func (p *PowerFS) Open(name string) (File, error) { return p.open("open", name, p.inner.Open) }

// OpenReadWrite implements FS.
func (p *PowerFS) OpenReadWrite(name string) (File, error) {
	return p.open("open", name, p.inner.OpenReadWrite)
}

// Remove implements FS.
func (p *PowerFS) Remove(name string) error {
	return p.do("remove", name, func() error { return p.inner.Remove(name) })
}

// RemoveAll implements FS.
func (p *PowerFS) RemoveAll(dir string) error {
	return p.do("removeall", dir, func() error { return p.inner.RemoveAll(dir) })
}

// Rename implements FS.
func (p *PowerFS) Rename(oldname, newname string) error {
	return p.do("rename", oldname, func() error { return p.inner.Rename(oldname, newname) })
}

// MkdirAll implements FS.
func (p *PowerFS) MkdirAll(dir string) error {
	return p.do("mkdir", dir, func() error { return p.inner.MkdirAll(dir) })
}

// ReadDir implements FS.
func (p *PowerFS) ReadDir(dir string) ([]string, error) {
	var names []string
	err := p.do("readdir", dir, func() error {
		var err error
		names, err = p.inner.ReadDir(dir)
		return err
	})
	return names, err
}

// Stat implements FS.
func (p *PowerFS) Stat(name string) (FileInfo, error) {
	var info FileInfo
	err := p.do("stat", name, func() error {
		var err error
		info, err = p.inner.Stat(name)
		return err
	})
	return info, err
}

// SyncDir implements FS.
func (p *PowerFS) SyncDir(dir string) error {
	return p.do("syncdir", dir, func() error { return p.inner.SyncDir(dir) })
}

// powerFile is a file opened through a PowerFS.
type powerFile struct {
	File
	power *PowerFS
}

// ReadAt passes the inner file's error through unwrapped: callers compare
// it with io.EOF (raft-wal does, with ==).
func (f *powerFile) ReadAt(b []byte, off int64) (int, error) {
	var n int
	err := f.power.do("read", f.Name(), func() error {
		var err error
		n, err = f.File.ReadAt(b, off)
		return err
	})
	return n, err
}

func (f *powerFile) Write(b []byte) (int, error) {
	var n int
	err := f.power.do("write", f.Name(), func() error {
		var err error
		n, err = f.File.Write(b)
		return err
	})
	return n, err
}

func (f *powerFile) WriteAt(b []byte, off int64) (int, error) {
	var n int
	err := f.power.do("writeat", f.Name(), func() error {
		var err error
		n, err = f.File.WriteAt(b, off)
		return err
	})
	return n, err
}

func (f *powerFile) Sync() error {
	return f.power.do("sync", f.Name(), f.File.Sync)
}

func (f *powerFile) Truncate(size int64) error {
	return f.power.do("truncate", f.Name(), func() error { return f.File.Truncate(size) })
}

func (f *powerFile) Size() (int64, error) {
	var n int64
	err := f.power.do("stat", f.Name(), func() error {
		var err error
		n, err = f.File.Size()
		return err
	})
	return n, err
}

// Close always releases the handle: closing writes nothing.
func (f *powerFile) Close() error { return f.File.Close() }
