package quorum

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"

	"github.com/hashicorp/raft-wal/types"

	"github.com/sluice-io/sluice/internal/vfs"
)

// walFS is raft-wal's types.VFS over a vfs.FS, so the metadata log's
// segment files go through the same seam as the partition logs (and a
// MemFS power cut drops what raft-wal had not fsynced).
//
// It keeps the durability contract of raft-wal's own OS implementation
// (raft-wal/fs): a new segment's directory entry is made durable by the
// first Sync of that segment, before raft-wal acknowledges the first
// append to it; a Delete syncs the directory before it returns. It does
// not preallocate (raft-wal's reader treats the end of the file like
// preallocated zeros), so a MemFS holds only what was written.
//
// Safe for concurrent use: it holds no state of its own.
type walFS struct {
	fsys vfs.FS
}

var _ types.VFS = walFS{}

// ListDir implements types.VFS: the names in dir, sorted (raft-wal keeps
// only those ending in .wal).
func (w walFS) ListDir(dir string) ([]string, error) {
	names, err := w.fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list metadata log directory %s: %w", dir, err)
	}
	return names, nil
}

// Create implements types.VFS: a new, empty segment, failing with
// fs.ErrExist if one of that name exists (raft-wal never reuses a name).
// size, the preallocation hint, is ignored.
func (w walFS) Create(dir, name string, _ uint64) (types.WritableFile, error) {
	path := filepath.Join(dir, name)
	if _, err := w.fsys.Stat(path); err == nil {
		return nil, &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	f, err := w.fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create metadata log segment: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create metadata log segment %s: %w", path, err)
	}
	rw, err := w.fsys.OpenReadWrite(path)
	if err != nil {
		return nil, fmt.Errorf("open new metadata log segment: %w", err)
	}
	return &newSegmentFile{File: rw, fsys: w.fsys, dir: dir}, nil
}

// Delete implements types.VFS; the removal is durable when it returns.
func (w walFS) Delete(dir, name string) error {
	path := filepath.Join(dir, name)
	if err := w.fsys.Remove(path); err != nil {
		return fmt.Errorf("delete metadata log segment: %w", err)
	}
	if err := w.fsys.SyncDir(dir); err != nil { // fsync point: the segment's removal
		return fmt.Errorf("sync metadata log directory %s: %w", dir, err)
	}
	return nil
}

// OpenReader implements types.VFS. The error of a missing file satisfies
// errors.Is(err, os.ErrNotExist), which raft-wal relies on.
func (w walFS) OpenReader(dir, name string) (types.ReadableFile, error) {
	return w.fsys.Open(filepath.Join(dir, name))
}

// OpenWriter implements types.VFS: an existing segment (the tail raft-wal
// recovers), open for WriteAt.
func (w walFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	return w.fsys.OpenReadWrite(filepath.Join(dir, name))
}

// newSegmentFile is a segment walFS created: its first successful Sync
// also syncs its directory, so the file's name is durable no later than
// the first entries it holds.
//
// raft-wal's single writer calls Sync; readers only ReadAt, so dirSynced
// is atomic only for the race detector's sake.
type newSegmentFile struct {
	vfs.File
	fsys      vfs.FS
	dir       string
	dirSynced atomic.Bool
}

// Sync implements types.WritableFile.
func (f *newSegmentFile) Sync() error {
	if err := f.File.Sync(); err != nil { // fsync point: the appended entries
		return err
	}
	if f.dirSynced.Load() {
		return nil
	}
	if err := f.fsys.SyncDir(f.dir); err != nil { // fsync point: the new segment's name
		return fmt.Errorf("sync metadata log directory %s: %w", f.dir, err)
	}
	f.dirSynced.Store(true)
	return nil
}
