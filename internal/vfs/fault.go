package vfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
)

// OpKind names a filesystem operation that an Injector may fail.
type OpKind int

// The operations FaultFS consults its Injector about.
const (
	OpCreate OpKind = iota
	OpOpen
	OpRemove
	OpRename
	OpMkdir
	OpReadDir
	OpStat
	OpSyncDir
	OpRead
	OpWrite
	OpSync
	OpTruncate
)

var opNames = [...]string{"create", "open", "remove", "rename", "mkdir", "readdir", "stat", "syncdir", "read", "write", "sync", "truncate"}

// String names the operation.
func (k OpKind) String() string {
	if k < 0 || int(k) >= len(opNames) {
		return fmt.Sprintf("op(%d)", int(k))
	}
	return opNames[k]
}

// Op is one operation about to run through a FaultFS.
type Op struct {
	Kind OpKind
	Path string // the file or directory (the source path for Rename)
	Size int    // bytes about to be written, for OpWrite (Write and WriteAt)
}

// Injector decides whether an operation fails. It is called before the
// operation runs; a nil error lets it through.
type Injector interface {
	MaybeFail(op Op) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op) error

// MaybeFail implements Injector.
func (f InjectorFunc) MaybeFail(op Op) error { return f(op) }

// ShortWriteError, returned by an Injector for an OpWrite, makes FaultFS write
// the first Written bytes and then fail with Err: what a disk filling up in
// the middle of a write looks like.
type ShortWriteError struct {
	Written int
	Err     error
}

func (e *ShortWriteError) Error() string {
	return fmt.Sprintf("short write after %d bytes: %v", e.Written, e.Err)
}

func (e *ShortWriteError) Unwrap() error { return e.Err }

// ErrInjected is the error FailOn injects when given none.
var ErrInjected = errors.New("vfs: injected fault")

// FailOn fails every op of kind whose path matches the filepath.Match
// pattern ("" matches all) with err (ErrInjected if nil).
func FailOn(kind OpKind, pattern string, err error) Injector {
	if err == nil {
		err = ErrInjected
	}
	return InjectorFunc(func(op Op) error {
		if op.Kind != kind {
			return nil
		}
		if pattern != "" {
			if ok, _ := filepath.Match(pattern, filepath.Base(op.Path)); !ok {
				return nil
			}
		}
		return err
	})
}

// DiskFull models a disk with a byte budget for writes: once the budget is
// spent, writes fail with ENOSPC; the write that crosses it is short.
type DiskFull struct {
	mu   sync.Mutex
	left int64 // guarded by mu
}

// NewDiskFull returns an Injector that allows budget more written bytes.
func NewDiskFull(budget int64) *DiskFull {
	return &DiskFull{left: budget}
}

// SetBudget replaces the remaining byte budget (e.g. after "freeing space").
func (d *DiskFull) SetBudget(budget int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.left = budget
}

// MaybeFail implements Injector.
func (d *DiskFull) MaybeFail(op Op) error {
	if op.Kind != OpWrite {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if int64(op.Size) <= d.left {
		d.left -= int64(op.Size)
		return nil
	}
	written := int(max(d.left, 0))
	d.left = 0
	return &ShortWriteError{Written: written, Err: syscall.ENOSPC}
}

// FaultFS wraps an FS and runs every operation past an Injector first.
type FaultFS struct {
	inner    FS
	injector atomic.Pointer[Injector]
}

// NewFaultFS wraps inner; a nil injector fails nothing until SetInjector.
func NewFaultFS(inner FS, injector Injector) *FaultFS {
	f := &FaultFS{inner: inner}
	f.SetInjector(injector)
	return f
}

// SetInjector swaps the injector (nil disables faults), safe at any time.
func (f *FaultFS) SetInjector(injector Injector) {
	f.injector.Store(&injector)
}

func (f *FaultFS) check(kind OpKind, name string, size int) error {
	injector := *f.injector.Load()
	if injector == nil {
		return nil
	}
	if err := injector.MaybeFail(Op{Kind: kind, Path: name, Size: size}); err != nil {
		var short *ShortWriteError
		if errors.As(err, &short) {
			return err
		}
		return fmt.Errorf("%s %s: %w", kind, name, err)
	}
	return nil
}

func (f *FaultFS) wrap(file File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

// Create implements FS.
func (f *FaultFS) Create(name string) (File, error) {
	if err := f.check(OpCreate, name, 0); err != nil {
		return nil, err
	}
	return f.wrap(f.inner.Create(name))
}

// OpenAppend implements FS.
func (f *FaultFS) OpenAppend(name string) (File, error) {
	if err := f.check(OpOpen, name, 0); err != nil {
		return nil, err
	}
	return f.wrap(f.inner.OpenAppend(name))
}

// Open implements FS.
func (f *FaultFS) Open(name string) (File, error) {
	if err := f.check(OpOpen, name, 0); err != nil {
		return nil, err
	}
	return f.wrap(f.inner.Open(name))
}

// OpenReadWrite implements FS.
func (f *FaultFS) OpenReadWrite(name string) (File, error) {
	if err := f.check(OpOpen, name, 0); err != nil {
		return nil, err
	}
	return f.wrap(f.inner.OpenReadWrite(name))
}

// Remove implements FS.
func (f *FaultFS) Remove(name string) error {
	if err := f.check(OpRemove, name, 0); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// RemoveAll implements FS.
func (f *FaultFS) RemoveAll(dir string) error {
	if err := f.check(OpRemove, dir, 0); err != nil {
		return err
	}
	return f.inner.RemoveAll(dir)
}

// Rename implements FS.
func (f *FaultFS) Rename(oldname, newname string) error {
	if err := f.check(OpRename, oldname, 0); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// MkdirAll implements FS.
func (f *FaultFS) MkdirAll(dir string) error {
	if err := f.check(OpMkdir, dir, 0); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir)
}

// ReadDir implements FS.
func (f *FaultFS) ReadDir(dir string) ([]string, error) {
	if err := f.check(OpReadDir, dir, 0); err != nil {
		return nil, err
	}
	return f.inner.ReadDir(dir)
}

// Stat implements FS.
func (f *FaultFS) Stat(name string) (FileInfo, error) {
	if err := f.check(OpStat, name, 0); err != nil {
		return FileInfo{}, err
	}
	return f.inner.Stat(name)
}

// SyncDir implements FS.
func (f *FaultFS) SyncDir(dir string) error {
	if err := f.check(OpSyncDir, dir, 0); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

type faultFile struct {
	File
	fs *FaultFS
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.Name(), len(p)); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) Write(p []byte) (int, error) {
	return f.write(p, f.File.Write)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	return f.write(p, func(b []byte) (int, error) { return f.File.WriteAt(b, off) })
}

// write runs a Write or WriteAt past the injector; a ShortWriteError
// writes the bytes it allows, then fails.
func (f *faultFile) write(p []byte, write func([]byte) (int, error)) (int, error) {
	err := f.fs.check(OpWrite, f.Name(), len(p))
	if err == nil {
		return write(p)
	}
	var short *ShortWriteError
	if !errors.As(err, &short) {
		return 0, err
	}
	written := min(max(short.Written, 0), len(p))
	n, writeErr := write(p[:written])
	if writeErr != nil {
		return n, writeErr
	}
	return n, fmt.Errorf("write %s: %w", f.Name(), short.Err)
}

func (f *faultFile) Sync() error {
	if err := f.fs.check(OpSync, f.Name(), 0); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.check(OpTruncate, f.Name(), 0); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// ENOSPC is "no space left on device", what DiskFull injects.
const ENOSPC = syscall.ENOSPC
