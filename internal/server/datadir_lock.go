package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/vfs"
)

// lockFileName is the file in each data directory a running broker holds
// an exclusive lock on, as Kafka's LogManager holds `.lock` in every log
// directory: a second process opening the same partition logs and
// metadata log would corrupt both. The lock is flock(2) on an open
// descriptor, so the kernel drops it when the process exits however it
// exits; the file is left in place (unlinking it would let a third process
// lock a new file while the second still holds the old one). It holds the
// holder's process ID, for the error a second process reports. Partition
// scans ignore it: it is not named <topic>-<partition>.
const lockFileName = ".lock"

// errDirLocked is the cause when another holder has a data directory's
// lock.
var errDirLocked = errors.New("in use")

// dataDirLock is the locks a broker holds on its data directories from
// start-up, before anything in them is opened, until its Close has closed
// everything (release). Owned by the Broker's start and close; not for
// concurrent use.
type dataDirLock struct {
	files []*os.File
}

// lockDataDirs creates each directory if needed and takes its lock, or
// fails naming the first directory another process (or another broker in
// this one) holds. Only the operating system's file system is locked: an
// in-memory one (tests) is private to its broker already.
func lockDataDirs(fsys vfs.FS, dirs []string, log *slog.Logger) (*dataDirLock, error) {
	l := &dataDirLock{}
	if _, ok := fsys.(vfs.OS); !ok {
		return l, nil
	}
	for _, dir := range dirs {
		f, err := lockDataDir(fsys, dir, log)
		if err != nil {
			l.release()
			return nil, err
		}
		if f != nil {
			l.files = append(l.files, f)
		}
	}
	return l, nil
}

// lockDataDir takes dir's lock file (nil where locking is not
// implemented) and writes this process's ID into it.
func lockDataDir(fsys vfs.FS, dir string, log *slog.Logger) (*os.File, error) {
	if err := vfs.MkdirAllDurable(fsys, dir); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	name := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", name, err)
	}
	locked, err := lockFile(f)
	switch {
	case errors.Is(err, errDirLocked):
		f.Close()
		return nil, fmt.Errorf("data directory %s is %w: its lock file %s is held by another Sluice process%s or another broker in this one; stop that one, or give this broker its own log.dirs",
			dir, err, name, holderText(name))
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	case !locked:
		f.Close()
		log.Warn("data directory not locked: locking is not implemented on this platform; make sure no other process uses it", "dir", dir)
		return nil, nil
	}
	// Diagnostic only: no fsync, and a failed write leaves the lock held.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// holderText names the process ID a lock file holds, if it holds one.
func holderText(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}

// release closes the lock files, which drops the locks. Safe on nil and
// to call twice.
func (l *dataDirLock) release() {
	if l == nil {
		return
	}
	for _, f := range l.files {
		f.Close()
	}
	l.files = nil
}
