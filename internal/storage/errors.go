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

// ErrOutOfOrderSequence refuses a producer's batch whose sequence number
// does not continue the producer's last one (Kafka's
// OUT_OF_ORDER_SEQUENCE_NUMBER): a batch in between was lost, or a new
// epoch did not start at 0.
var ErrOutOfOrderSequence = errors.New("storage: out of order sequence number")

// ErrInvalidProducerEpoch refuses a producer's batch whose epoch is older
// than the producer's latest (Kafka's INVALID_PRODUCER_EPOCH): a zombie
// instance was fenced by a newer one.
var ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")

// ProducerError is a batch that AppendProduced refused because of its
// producer's state. Err is ErrOutOfOrderSequence, ErrInvalidTxnState,
// ErrTransactionCoordinatorFenced or ErrInvalidProducerEpoch
// (errors.Is matches it); Message is Kafka's explanation, fit for the
// produce response's error message.
type ProducerError struct {
	Err     error
	Message string
}

func (e *ProducerError) Error() string { return e.Err.Error() + ": " + e.Message }

// Unwrap returns the sentinel.
func (e *ProducerError) Unwrap() error { return e.Err }

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

// ErrInvalidTxnState refuses a non-transactional batch from a producer
// whose transaction is open in the partition (Kafka's INVALID_TXN_STATE).
var ErrInvalidTxnState = errors.New("storage: invalid transaction state")

// ErrTransactionCoordinatorFenced refuses a transaction marker written by a
// coordinator epoch older than the one that wrote the producer's last
// marker: a deposed transaction coordinator (Kafka's
// TRANSACTION_COORDINATOR_FENCED).
var ErrTransactionCoordinatorFenced = errors.New("storage: transaction coordinator fenced")

// ErrOffsetMismatch refuses a replicated append whose first batch does not
// start at the log end offset: the follower and its leader disagree about
// where the follower's log ends (Kafka's UnexpectedAppendOffsetException).
// The caller re-fetches from LogEndOffset, or truncates first.
var ErrOffsetMismatch = errors.New("storage: replicated batches do not start at the log end offset")

// ErrFencedLeaderEpoch refuses a leader's append under a leader epoch older
// than the latest one the log has recorded (Kafka's FENCED_LEADER_EPOCH): a
// deposed leader must not write after its successor did.
var ErrFencedLeaderEpoch = errors.New("storage: fenced leader epoch")
