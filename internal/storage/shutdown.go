package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/sluice-io/sluice/internal/vfs"
)

// cleanShutdownName is the marker a broker leaves in a log directory after
// closing every log cleanly (Kafka's .kafka_cleanshutdown).
const cleanShutdownName = ".sluice_cleanshutdown"

// cleanShutdownContent is the marker's versioned contents.
var cleanShutdownContent = []byte("sluice clean shutdown\nversion 1\n")

// WriteCleanShutdown durably marks logDir as cleanly shut down. Call it
// after every Log in the directory has been closed.
func WriteCleanShutdown(fsys vfs.FS, logDir string) error {
	name := filepath.Join(logDir, cleanShutdownName)
	if err := writeFileAtomic(fsys, logDir, name, cleanShutdownContent); err != nil {
		return fmt.Errorf("write clean shutdown marker: %w", err)
	}
	return nil
}

// TakeCleanShutdown reports whether logDir holds a valid clean-shutdown
// marker and removes it, durably, before anything is written: a crash from
// here on must lead to recovery. An unreadable marker counts as unclean.
func TakeCleanShutdown(fsys vfs.FS, logDir string) (clean bool, err error) {
	name := filepath.Join(logDir, cleanShutdownName)
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open clean shutdown marker: %w", err)
	}
	buf := make([]byte, len(cleanShutdownContent)+1)
	n, readErr := f.ReadAt(buf, 0)
	f.Close()
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		return false, fmt.Errorf("read clean shutdown marker: %w", readErr)
	}
	if err := fsys.Remove(name); err != nil {
		return false, fmt.Errorf("remove clean shutdown marker: %w", err)
	}
	if err := fsys.SyncDir(logDir); err != nil { // fsync point: the marker is gone
		return false, fmt.Errorf("remove clean shutdown marker: %w", err)
	}
	return bytes.Equal(buf[:n], cleanShutdownContent), nil
}
