package vfs

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
)

// WriteFile creates (or truncates) name, writes data and fsyncs it. The
// name itself is durable only after SyncDir of its directory.
func WriteFile(fsys FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync() // fsync point: the file's contents
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// WriteFileAtomic replaces name with data through name+".tmp": write,
// fsync, rename, fsync of the directory. Once it returns, name holds data
// across a crash; a crash before that leaves the old contents (or no
// file), never a mix, and at worst a stale .tmp beside it.
func WriteFileAtomic(fsys FS, name string, data []byte) error {
	tmp := name + ".tmp"
	if err := WriteFile(fsys, tmp, data); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	dir := filepath.Dir(name)
	if err := fsys.SyncDir(dir); err != nil { // fsync point: the rename
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// ErrTooLarge is wrapped by ReadFile's error for a file over its limit.
var ErrTooLarge = errors.New("file larger than allowed")

func tooLarge(name string, size, limit int64) error {
	return fmt.Errorf("%s is %d bytes, more than the %d allowed: %w", name, size, limit, ErrTooLarge)
}

// ReadFile returns the contents of name, refusing a file larger than
// limit bytes before allocating for it (a corrupt or foreign file must not
// cost memory; the error wraps ErrTooLarge). A missing file's error
// satisfies errors.Is(err, fs.ErrNotExist).
func ReadFile(fsys FS, name string, limit int64) ([]byte, error) {
	if r, ok := fsys.(interface {
		readFileLimit(name string, limit int64) ([]byte, error)
	}); ok {
		return r.readFileLimit(name, limit)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", name, err)
	}
	if size > limit {
		return nil, tooLarge(name, size, limit)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return buf, nil
}
