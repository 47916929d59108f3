package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/sluice-io/sluice/internal/record"
)

// Control record types (Kafka's ControlRecordType): the key of a
// transaction marker says whether the transaction aborted or committed.
const (
	controlTypeAbort  int16 = 0
	controlTypeCommit int16 = 1
)

// Sizes of a transaction marker's key (version int16, type int16) and
// value (version int16, coordinator epoch int32): Kafka's
// ControlRecordType key and EndTransactionMarker value, both version 0.
const (
	markerKeySize   = 4
	markerValueSize = 6
)

// txnMarker is one decoded commit or abort marker.
type txnMarker struct {
	commit           bool
	coordinatorEpoch int32
	timestamp        int64
}

// buildTxnMarker encodes the control batch that ends producerID's
// transaction: one record whose key names the marker type and whose value
// carries the coordinator's epoch.
func buildTxnMarker(producerID int64, producerEpoch int16, m txnMarker) ([]byte, error) {
	controlType := controlTypeAbort
	if m.commit {
		controlType = controlTypeCommit
	}
	var key [markerKeySize]byte
	binary.BigEndian.PutUint16(key[2:], uint16(controlType))
	var value [markerValueSize]byte
	binary.BigEndian.PutUint32(value[2:], uint32(m.coordinatorEpoch))
	spec := record.NewBatchSpec()
	spec.ProducerID, spec.ProducerEpoch = producerID, producerEpoch
	spec.Transactional, spec.Control = true, true
	return record.AppendBatch(nil, spec, []record.RecordSpec{{Timestamp: m.timestamp, Key: key[:], Value: value[:]}})
}

// parseTxnMarker decodes the marker in a whole control batch. A control
// batch whose key is not a commit or abort (Kafka has others, such as
// leader-change records) reports ok false and ends no transaction.
func parseTxnMarker(batch []byte) (m txnMarker, ok bool, err error) {
	var it record.Iterator
	if err := it.Reset(batch); err != nil {
		return m, false, fmt.Errorf("control batch: %w", err)
	}
	rec, found := it.Next()
	if !found {
		if it.Err() != nil {
			return m, false, fmt.Errorf("control batch: %w", it.Err())
		}
		return m, false, nil
	}
	if len(rec.Key) < markerKeySize {
		return m, false, fmt.Errorf("control record key of %d bytes: %w", len(rec.Key), record.ErrCorrupt)
	}
	switch int16(binary.BigEndian.Uint16(rec.Key[2:])) {
	case controlTypeAbort:
	case controlTypeCommit:
		m.commit = true
	default:
		return m, false, nil
	}
	if len(rec.Value) < markerValueSize {
		return m, false, fmt.Errorf("transaction marker value of %d bytes: %w", len(rec.Value), record.ErrCorrupt)
	}
	m.coordinatorEpoch = int32(binary.BigEndian.Uint32(rec.Value[2:]))
	m.timestamp = rec.Timestamp
	return m, true, nil
}

// ParseTxnMarker decodes the transaction marker of a whole control batch:
// ok is false for a control batch that is not a commit or abort marker.
// Coordinators replaying their partitions use it to learn how the
// transactions of their transactional records ended.
func ParseTxnMarker(batch []byte) (commit, ok bool, err error) {
	m, ok, err := parseTxnMarker(batch)
	return m.commit, ok, err
}

// AppendTxnMarker appends the commit (commit true) or abort marker that
// ends producerID's transaction in this partition, written by the
// transaction coordinator of coordinatorEpoch (Kafka's
// UnifiedLog.appendAsLeader with AppendOrigin.COORDINATOR). A marker with
// an epoch older than the producer's fails with ErrInvalidProducerEpoch,
// one from an older coordinator epoch with ErrTransactionCoordinatorFenced
// (both as a *ProducerError). An abort is recorded in the aborted
// transaction index, which read_committed fetches consult. Like Append it
// fences and records leaderEpoch (ErrFencedLeaderEpoch) and does not
// fsync: call Sync.
func (l *Log) AppendTxnMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, leaderEpoch int32) (AppendResult, error) {
	batch, err := buildTxnMarker(producerID, producerEpoch, txnMarker{commit: commit, coordinatorEpoch: coordinatorEpoch, timestamp: l.nowMs()})
	if err != nil {
		return AppendResult{}, fmt.Errorf("build transaction marker: %w", err)
	}
	return l.append(batch, leaderEpoch, true)
}
