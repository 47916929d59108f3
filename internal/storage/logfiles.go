package storage

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/vfs"
)

// The Log's file operations besides its segments' cached files: small
// files read or rewritten whole (indexes, checkpoints, snapshots, the
// aborted-transaction index) and directory fsyncs. Each opens one
// descriptor at a time and closes it before returning, inside the file
// budget (FileCache.transient).

// syncDir fsyncs the log's directory.
func (l *Log) syncDir() error {
	return l.files.transient(neverRefuse, l.dir, func() error { return l.fsys.SyncDir(l.dir) })
}

// readDir lists the log's directory.
func (l *Log) readDir() (names []string, err error) {
	err = l.files.transient(neverRefuse, l.dir, func() (err error) {
		names, err = l.fsys.ReadDir(l.dir)
		return err
	})
	return names, err
}

// readFile returns the contents of name, refusing a file larger than
// limit (vfs.ReadFile). A missing file's error satisfies
// errors.Is(err, fs.ErrNotExist).
func (l *Log) readFile(policy openPolicy, name string, limit int64) (b []byte, err error) {
	err = l.files.transient(policy, name, func() (err error) {
		b, err = vfs.ReadFile(l.fsys, name, limit)
		return err
	})
	return b, err
}

// writeFile creates or truncates name and writes data, fsynced
// (vfs.WriteFile); the name is durable after the next syncDir.
func (l *Log) writeFile(name string, data []byte) error {
	return l.files.transient(neverRefuse, name, func() error { return vfs.WriteFile(l.fsys, name, data) })
}

// writeFileUnsynced creates or truncates name and writes data without
// fsync, for files rebuilt again after any crash before they are next
// fsynced (the active segment's indexes after recovery).
func (l *Log) writeFileUnsynced(name string, data []byte) error {
	return l.files.transient(neverRefuse, name, func() error {
		f, err := l.fsys.Create(name)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		_, err = f.Write(data)
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	})
}

// writeFileAtomic replaces name with data durably, through name+".tmp"
// (vfs.WriteFileAtomic).
func (l *Log) writeFileAtomic(name string, data []byte) error {
	return l.files.transient(neverRefuse, name, func() error { return vfs.WriteFileAtomic(l.fsys, name, data) })
}

// segmentReader reads seg's log, pinning it per read (see pinningReader).
func segmentReader(seg *segment, policy openPolicy) pinningReader {
	return pinningReader{file: seg.log, policy: policy}
}
