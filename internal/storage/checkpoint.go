package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"

	"github.com/sluice-io/sluice/internal/vfs"
)

const (
	checkpointName    = "log-offsets.checkpoint"
	checkpointVersion = 2
	checkpointSize    = 32
	// checkpointV1Size is the version 1 layout (no cleaner checkpoint),
	// still read so that logs written before compaction existed open.
	checkpointV1Size = 24
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// noCleanerCheckpoint marks a log the cleaner has never finished a pass on.
const noCleanerCheckpoint = -1

// checkpoint is the persisted state that bounds recovery and compaction.
type checkpoint struct {
	logStartOffset int64
	recoveryPoint  int64
	// firstDirtyOffset is the cleaner checkpoint: every offset below it
	// was compacted by the last pass (noCleanerCheckpoint if none).
	firstDirtyOffset int64
}

func (c checkpoint) encode() []byte {
	b := make([]byte, 0, checkpointSize)
	b = binary.BigEndian.AppendUint16(b, checkpointVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(c.logStartOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(c.recoveryPoint))
	b = binary.BigEndian.AppendUint64(b, uint64(c.firstDirtyOffset))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32c))
}

func decodeCheckpoint(name string, b []byte) (checkpoint, error) {
	if len(b) != checkpointSize && len(b) != checkpointV1Size {
		return checkpoint{}, corruption(name, 0, fmt.Sprintf("checkpoint is %d bytes, want %d", len(b), checkpointSize), nil)
	}
	body := len(b) - 4
	if got, want := crc32.Checksum(b[:body], crc32c), binary.BigEndian.Uint32(b[body:]); got != want {
		return checkpoint{}, corruption(name, int64(body), fmt.Sprintf("checkpoint crc %08x, computed %08x", want, got), nil)
	}
	version := binary.BigEndian.Uint16(b)
	if version > checkpointVersion || version == 0 || (version == 1) != (len(b) == checkpointV1Size) {
		return checkpoint{}, fmt.Errorf("checkpoint %s has version %d in %d bytes; this Sluice reads versions 1 (%d bytes) and %d (%d bytes)",
			name, version, len(b), checkpointV1Size, checkpointVersion, checkpointSize)
	}
	c := checkpoint{
		logStartOffset:   int64(binary.BigEndian.Uint64(b[4:])),
		recoveryPoint:    int64(binary.BigEndian.Uint64(b[12:])),
		firstDirtyOffset: noCleanerCheckpoint,
	}
	if version >= 2 {
		c.firstDirtyOffset = int64(binary.BigEndian.Uint64(b[20:]))
	}
	if c.logStartOffset < 0 || c.recoveryPoint < 0 || c.firstDirtyOffset < noCleanerCheckpoint {
		return checkpoint{}, corruption(name, 4, fmt.Sprintf("checkpoint holds negative offsets %d, %d, %d",
			c.logStartOffset, c.recoveryPoint, c.firstDirtyOffset), nil)
	}
	return c, nil
}

// readCheckpoint returns the log's checkpoint; found is false if there
// is none (a new log, or one whose checkpoint an operator removed; while
// Open loads the log, one its listing lacks: mayExistLocked).
func (l *Log) readCheckpoint() (c checkpoint, found bool, err error) {
	name := filepath.Join(l.dir, checkpointName)
	if !l.mayExistLocked(name) {
		return checkpoint{}, false, nil
	}
	var b []byte
	err = l.files.transient(mayRefuse, name, func() (err error) {
		b, err = readCheckpointBytes(l.fsys, name)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, err
	}
	c, err = decodeCheckpoint(name, b)
	return c, err == nil, err
}

// readCheckpointBytes reads a checkpoint file; one longer than a
// checkpoint by more than a byte is returned cut there, so that it fails
// to decode (as corruption) without being read whole.
func readCheckpointBytes(fsys vfs.FS, name string) ([]byte, error) {
	b, err := vfs.ReadFile(fsys, name, checkpointSize+1)
	if errors.Is(err, vfs.ErrTooLarge) {
		return make([]byte, checkpointSize+1), nil
	}
	return b, err
}

// writeCheckpoint replaces the log's checkpoint atomically and durably.
func (l *Log) writeCheckpoint(c checkpoint) error {
	return l.writeFileAtomic(filepath.Join(l.dir, checkpointName), c.encode())
}

// writeFileAtomic replaces name (in dir) with data durably
// (vfs.WriteFileAtomic), for files of the log directory outside any Log.
func writeFileAtomic(fsys vfs.FS, dir, name string, data []byte) error {
	if filepath.Dir(name) != filepath.Clean(dir) {
		return fmt.Errorf("write %s: not in directory %s", name, dir)
	}
	return vfs.WriteFileAtomic(fsys, name, data)
}

// readBoundedFile returns the contents of name, refusing a file larger
// than limit (vfs.ReadFile), for files of the log directory outside any
// Log.
func readBoundedFile(fsys vfs.FS, name string, limit int64) ([]byte, error) {
	return vfs.ReadFile(fsys, name, limit)
}
