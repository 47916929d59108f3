package vfs

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// File is an open file. How it may be written depends on how it was
// opened: a handle from Create or OpenAppend appends (Write; a log segment,
// an index), with Truncate to cut a tail; a handle from OpenReadWrite writes
// at any offset (WriteAt; the metadata log's segments, which raft-wal
// writes at offsets it tracks and rewinds after a crash); a handle from
// Open only reads. Each refuses the other kinds of write.
type File interface {
	// ReadAt reads len(p) bytes at off; it is safe to call concurrently with
	// other ReadAt calls and with the writer. It returns io.EOF when fewer
	// bytes exist, as os.File does.
	io.ReaderAt
	// Write appends p at the end of the file. Not durable until Sync. Only
	// on handles from Create and OpenAppend.
	Write(p []byte) (int, error)
	// WriteAt writes p at off, overwriting what is there and growing the
	// file if it ends before off+len(p) (a gap reads as zeros). Not
	// durable until Sync, overwritten synced bytes included: a crash before
	// the Sync may keep the old bytes. Only on handles from OpenReadWrite.
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes everything written so far survive a crash (fsync).
	Sync() error
	// Truncate changes the size; durable after the next Sync.
	Truncate(size int64) error
	// Size is the current size in bytes, written or not yet synced.
	Size() (int64, error)
	// Close releases the handle; it does not sync.
	Close() error
	// Name is the path the file was opened with.
	Name() string
}

// FileInfo is what Stat reports.
type FileInfo struct {
	Size  int64
	IsDir bool
}

// FS is a filesystem. Paths use the host separator (storage builds them with
// path/filepath). Errors for missing paths satisfy errors.Is(err, fs.ErrNotExist).
type FS interface {
	// Create creates name, or truncates it if it exists, open for read and append.
	Create(name string) (File, error)
	// OpenAppend opens an existing file for read and append at its end.
	OpenAppend(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reads and WriteAt at any
	// offset (no Write: the handle has no end to append at). To make a new
	// one, Create it first.
	OpenReadWrite(name string) (File, error)
	// Remove deletes a file or an empty directory.
	Remove(name string) error
	// RemoveAll deletes a directory tree; a missing path is not an error.
	RemoveAll(dir string) error
	// Rename moves oldname to newname, replacing a file already there.
	Rename(oldname, newname string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string) error
	// ReadDir lists the names in dir, sorted.
	ReadDir(dir string) ([]string, error)
	// Stat describes name.
	Stat(name string) (FileInfo, error)
	// SyncDir makes the creates, renames and removes in dir durable.
	SyncDir(dir string) error
}

// ErrCrashed is returned by every operation on a MemFS file opened before a
// simulated crash: the process that held it "died" with the power.
var ErrCrashed = errors.New("vfs: file handle predates a simulated crash")

// MkdirAllDurable creates dir and any missing parents, and fsyncs the
// parent of each directory it created, so the whole path survives a power
// cut (a new directory's name lives in its parent, like a new file's).
func MkdirAllDurable(fsys FS, dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if parent := filepath.Dir(d); parent == d {
			break
		}
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		parent := filepath.Dir(missing[i])
		if err := fsys.SyncDir(parent); err != nil { // fsync point: the new directory's name
			return fmt.Errorf("sync %s: %w", parent, err)
		}
	}
	return nil
}

// SpaceReporter is implemented by file systems that know their capacity.
type SpaceReporter interface {
	// DiskSpace reports the total and usable bytes of the file system
	// holding dir.
	DiskSpace(dir string) (total, usable int64, err error)
}

// DiskSpace reports the total and usable bytes under dir, or -1, -1 when
// the file system cannot tell (Kafka's UNKNOWN_VOLUME_BYTES).
func DiskSpace(fsys FS, dir string) (total, usable int64) {
	sr, ok := fsys.(SpaceReporter)
	if !ok {
		return -1, -1
	}
	total, usable, err := sr.DiskSpace(dir)
	if err != nil {
		return -1, -1
	}
	return total, usable
}
