package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// OS is the real filesystem; the zero value is ready to use (vfs.OS{}).
type OS struct{}

var _ FS = OS{}

// osFile is a handle from Create, OpenAppend or Open. Its WriteAt is
// os.File's, which refuses a file opened with O_APPEND (and a read-only
// one): appending handles have no offsets to write at.
type osFile struct{ *os.File }

// osRandomFile is a handle from OpenReadWrite: opened without O_APPEND, so
// WriteAt works, and Write, which would write at the file offset rather
// than the end, is refused.
type osRandomFile struct{ osFile }

func (f osRandomFile) Write([]byte) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.EBADF}
}

func (f osFile) Size() (int64, error) {
	info, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

func (OS) Create(name string) (File, error) {
	return openOS(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND)
}

func (OS) OpenAppend(name string) (File, error) {
	return openOS(name, os.O_RDWR|os.O_APPEND)
}

func (OS) Open(name string) (File, error) {
	return openOS(name, os.O_RDONLY)
}

func (OS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	return osRandomFile{osFile{f}}, nil
}

func openOS(name string, flag int) (File, error) {
	f, err := os.OpenFile(name, flag, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OS) Remove(name string) error             { return os.Remove(name) }
func (OS) RemoveAll(dir string) error           { return os.RemoveAll(dir) }
func (OS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (OS) MkdirAll(dir string) error            { return os.MkdirAll(dir, 0o755) }

func (OS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

func (OS) Stat(name string) (FileInfo, error) {
	info, err := os.Stat(name)
	if err != nil {
		return FileInfo{}, err
	}
	return FileInfo{Size: info.Size(), IsDir: info.IsDir()}, nil
}

func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	syncErr := d.Sync()
	closeErr := d.Close()
	if syncErr != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, syncErr)
	}
	return closeErr
}

// DiskSpace implements SpaceReporter with statfs.
func (OS) DiskSpace(dir string) (total, usable int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
}

// readFileLimit is ReadFile for the real filesystem in four system calls
// (open, fstat, pread, close) and without os.File's bookkeeping (a poller
// registration attempt, which is one more system call, and a finalizer).
// Opening a partition reads up to three small files, so a broker starting
// with 100,000 partitions does this 300,000 times.
func (OS) readFileLimit(name string, limit int64) ([]byte, error) {
	fd, err := ignoringEINTR(func() (int, error) { return syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0) })
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("size of %s: %w", name, &fs.PathError{Op: "fstat", Path: name, Err: err})
	}
	if st.Size > limit {
		return nil, tooLarge(name, st.Size, limit)
	}
	buf := make([]byte, st.Size)
	for read := 0; read < len(buf); {
		n, err := ignoringEINTR(func() (int, error) { return syscall.Pread(fd, buf[read:], int64(read)) })
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, &fs.PathError{Op: "read", Path: name, Err: err})
		}
		if n == 0 {
			return nil, fmt.Errorf("read %s: %w", name, io.EOF)
		}
		read += n
	}
	return buf, nil
}

func ignoringEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != syscall.EINTR {
			return n, err
		}
	}
}
