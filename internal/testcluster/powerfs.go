package testcluster

import (
	"io/fs"
	"sync"

	"github.com/sluice-io/sluice/internal/vfs"
)

// powerFS is the power supply between one broker and its vfs.MemFS: every
// operation, on the file system and on the files opened through it, runs
// under a shared lock and fails with vfs.ErrCrashed once the power is off.
// cutPower takes the lock exclusively, so that a power cut (MemFS.Crash
// while it is held) falls between operations, never inside one, and
// nothing the broker does afterwards reaches the MemFS: not a write to a
// file opened before the cut (MemFS refuses those too), and not a file
// created after it (which MemFS would accept: its handles are new), such
// as a producer snapshot or the clean-shutdown marker written by Close.
// A restarted broker gets a new powerFS over the same MemFS.
type powerFS struct {
	inner vfs.FS
	mu    sync.RWMutex
	off   bool // guarded by mu
}

func newPowerFS(inner vfs.FS) *powerFS { return &powerFS{inner: inner} }

// lockForCut takes the supply exclusively: once it returns, no operation
// is running and none starts until unlockAfterCut.
func (p *powerFS) lockForCut() { p.mu.Lock() }

// unlockAfterCut turns the power off for good and releases the supply.
func (p *powerFS) unlockAfterCut() {
	p.off = true
	p.mu.Unlock()
}

// do runs op with the power on, else fails with ErrCrashed naming path.
func (p *powerFS) do(opName, path string, op func() error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.off {
		return &fs.PathError{Op: opName, Path: path, Err: vfs.ErrCrashed}
	}
	return op()
}

func (p *powerFS) open(opName, name string, open func(string) (vfs.File, error)) (vfs.File, error) {
	var f vfs.File
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

func (p *powerFS) Create(name string) (vfs.File, error) {
	return p.open("create", name, p.inner.Create)
}

func (p *powerFS) OpenAppend(name string) (vfs.File, error) {
	return p.open("open", name, p.inner.OpenAppend)
}

func (p *powerFS) Open(name string) (vfs.File, error) { return p.open("open", name, p.inner.Open) }

func (p *powerFS) Remove(name string) error {
	return p.do("remove", name, func() error { return p.inner.Remove(name) })
}

func (p *powerFS) RemoveAll(dir string) error {
	return p.do("removeall", dir, func() error { return p.inner.RemoveAll(dir) })
}

func (p *powerFS) Rename(oldname, newname string) error {
	return p.do("rename", oldname, func() error { return p.inner.Rename(oldname, newname) })
}

func (p *powerFS) MkdirAll(dir string) error {
	return p.do("mkdir", dir, func() error { return p.inner.MkdirAll(dir) })
}

func (p *powerFS) ReadDir(dir string) ([]string, error) {
	var names []string
	err := p.do("readdir", dir, func() error {
		var err error
		names, err = p.inner.ReadDir(dir)
		return err
	})
	return names, err
}

func (p *powerFS) Stat(name string) (vfs.FileInfo, error) {
	var info vfs.FileInfo
	err := p.do("stat", name, func() error {
		var err error
		info, err = p.inner.Stat(name)
		return err
	})
	return info, err
}

func (p *powerFS) SyncDir(dir string) error {
	return p.do("syncdir", dir, func() error { return p.inner.SyncDir(dir) })
}

// powerFile is a file opened through a powerFS.
type powerFile struct {
	vfs.File
	power *powerFS
}

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
