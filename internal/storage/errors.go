package storage

import (
	"errors"
	"fmt"
)

// ErrOffsetOutOfRange means an offset below the log start offset or above
// the log end offset (Kafka's OFFSET_OUT_OF_RANGE).
var ErrOffsetOutOfRange = errors.New("storage: offset out of range")

// ErrCorruption marks on-disk bytes that are complete but wrong where they
// cannot be a torn write: fsynced data changed, or valid data after a bad
// batch. The log refuses to open rather than drop anything.
var ErrCorruption = errors.New("storage: log corruption")

// ErrClosed is returned by operations on a closed Log.
var ErrClosed = errors.New("storage: log closed")

// ErrLogFailed is returned by writes after an I/O error left the on-disk
// state unknown (a failed fsync, or a failed write that could not be
// undone). Like Kafka marking a log directory offline, the log takes no
// more writes; reopening it runs recovery.
var ErrLogFailed = errors.New("storage: log failed after an I/O error")

// CorruptionError says where corruption was found. It matches ErrCorruption
// with errors.Is.
type CorruptionError struct {
	File     string
	Position int64 // byte position in File
	Reason   string
	Err      error // the underlying cause, if any (e.g. record.ErrCorrupt)
}

func (e *CorruptionError) Error() string {
	msg := fmt.Sprintf("corruption in %s at byte %d: %s", e.File, e.Position, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + " (refusing to drop data that may have been acknowledged; inspect or restore the file)"
}

// Is makes errors.Is(err, ErrCorruption) true.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorruption }

// Unwrap returns the underlying cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

func corruption(file string, position int64, reason string, cause error) error {
	return &CorruptionError{File: file, Position: position, Reason: reason, Err: cause}
}
