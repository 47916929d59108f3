package storage

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/record"
)

// replicatedSummary is what AppendReplicated learns of its input before
// taking the append lock.
type replicatedSummary struct {
	appendSummary
	firstOffset, lastOffset int64
	// epochs are the batches' leader epochs, each at the first batch of a
	// run carrying it.
	epochs epochEntries
}

// summarizeReplicated checks that batches is a run of whole, checksummed v2
// batches with strictly increasing offsets (a compacted leader's batches
// may leave gaps between them), and that every transaction marker in it
// decodes, so that nothing can fail once the bytes are written.
func summarizeReplicated(batches []byte) (replicatedSummary, error) {
	s := replicatedSummary{appendSummary: appendSummary{bytes: int64(len(batches)), maxTimestamp: -1}, lastOffset: -1}
	if len(batches) == 0 {
		return s, fmt.Errorf("append replicated: no batches: %w", record.ErrCorrupt)
	}
	for pos := 0; pos < len(batches); {
		h, err := checkReplicatedBatch(batches[pos:], s.lastOffset)
		if err != nil {
			return s, fmt.Errorf("append replicated: batch at byte %d: %w", pos, err)
		}
		if pos == 0 {
			s.firstOffset = h.BaseOffset
		}
		s.lastOffset = h.LastOffset()
		s.maxTimestamp = max(s.maxTimestamp, h.MaxTimestamp)
		s.producers = s.producers || h.ProducerID >= 0
		if last, ok := s.epochs.latest(); h.PartitionLeaderEpoch >= 0 && (!ok || last.epoch != h.PartitionLeaderEpoch) {
			s.epochs = append(s.epochs, epochEntry{epoch: h.PartitionLeaderEpoch, startOffset: h.BaseOffset})
		}
		pos += h.Size()
	}
	s.records = s.lastOffset - s.firstOffset + 1
	return s, nil
}

// checkReplicatedBatch validates the batch at the front of b, which must
// start after offset after.
func checkReplicatedBatch(b []byte, after int64) (record.Header, error) {
	h, err := record.ParseHeader(b)
	switch {
	case err != nil:
		return h, err
	case h.Size() > len(b):
		return h, fmt.Errorf("%d bytes claimed, %d left: %w", h.Size(), len(b), record.ErrCorrupt)
	case h.Magic != record.CurrentMagic:
		return h, fmt.Errorf("magic %d: %w", h.Magic, record.ErrCorrupt)
	case h.LastOffsetDelta < 0 || h.BaseOffset <= after || h.BaseOffset < 0:
		return h, fmt.Errorf("offsets %d..%d after offset %d: %w", h.BaseOffset, h.LastOffset(), after, record.ErrCorrupt)
	}
	batch := b[:h.Size()]
	if err := record.VerifyCRC(batch); err != nil {
		return h, err
	}
	if h.IsControl() && h.ProducerID >= 0 {
		if _, _, err := parseTxnMarker(batch); err != nil {
			return h, err
		}
	}
	return h, nil
}

// AppendReplicated appends batches a follower fetched from its leader
// (Kafka's UnifiedLog.appendAsFollower): offsets, leader epochs and every
// other byte are kept as the leader wrote them. The first batch must start
// at the log end offset, else the error wraps ErrOffsetMismatch; batches
// whose structure or CRC is wrong wrap record.ErrCorrupt. Producer states,
// the aborted-transaction index and the last stable offset follow the
// batches as recovery's replay does (never refused for sequence or epoch),
// and the leader-epoch cache records each epoch the batches start. Like
// Append it rolls segments as needed and does not fsync: call Sync.
func (l *Log) AppendReplicated(batches []byte) (AppendResult, error) {
	summary, err := summarizeReplicated(batches)
	if err != nil {
		return AppendResult{}, err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, err
	}
	if summary.firstOffset != l.logEndOffset {
		return AppendResult{}, fmt.Errorf("append replicated batches at offset %d to a log ending at %d: %w",
			summary.firstOffset, l.logEndOffset, ErrOffsetMismatch)
	}
	if err := l.maybeRollLocked(summary.appendSummary, summary.firstOffset); err != nil {
		return AppendResult{}, err
	}
	if err := l.writeReplicatedLocked(batches, summary.epochs); err != nil {
		return AppendResult{}, err
	}
	if summary.producers {
		if err := l.replayAppendedLocked(batches); err != nil {
			return AppendResult{}, err
		}
	}
	return AppendResult{BaseOffset: summary.firstOffset, LastOffset: summary.lastOffset, MaxTimestamp: summary.maxTimestamp}, nil
}

// writeReplicatedLocked records the batches' epochs (durably, before the
// data, like a leader's append) and writes them. A write that fails is
// undone, and so are the epochs it recorded: they would describe offsets
// the leader may fill differently.
func (l *Log) writeReplicatedLocked(batches []byte, epochs epochEntries) error {
	previous := l.epochs
	next, changed := previous, false
	for _, e := range epochs {
		var assigned bool
		next, assigned = next.assign(e)
		changed = changed || assigned
	}
	if changed {
		if err := l.setEpochsLocked(next); err != nil {
			return err
		}
	}
	if err := l.writeLocked(l.activeLocked(), batches); err != nil {
		if changed {
			if restoreErr := l.setEpochsLocked(previous); restoreErr != nil {
				return fmt.Errorf("%w; then restoring the leader epoch cache: %w", err, restoreErr)
			}
		}
		return err
	}
	return nil
}

// replayAppendedLocked applies the written batches to the producer states
// exactly as a rebuild from the log would (replayBatchLocked), so that a
// follower's states, aborted transactions and last stable offset are the
// leader's. The markers were decoded before the write, so a failure here
// means the state no longer matches the log: the log is failed.
func (l *Log) replayAppendedLocked(batches []byte) error {
	var aborted []AbortedTxn
	for pos := 0; pos < len(batches); {
		h, _ := record.ParseHeader(batches[pos:]) // checked by summarizeReplicated
		batch := batches[pos : pos+h.Size()]
		pos += h.Size()
		if h.ProducerID < 0 {
			continue
		}
		entry, isAbort, err := l.producers.replay(&h, batch)
		if err != nil {
			return l.fail(fmt.Errorf("append replicated: producer state of batch at offset %d: %w", h.BaseOffset, err))
		}
		if isAbort {
			aborted = append(aborted, entry)
		}
	}
	if len(aborted) > 0 {
		if err := l.recordAbortedLocked(aborted); err != nil {
			return l.fail(err)
		}
	}
	l.firstUnstable.Store(l.producers.firstUnstableOffset())
	return nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the log empty
// at offset, which becomes both its start and end offset (Kafka's
// UnifiedLog.truncateFullyAndStartAt): a follower whose leader's log start
// lies past the follower's log end, or a log replaced wholesale. Producer
// states, aborted transactions, snapshots, the leader-epoch cache and the
// cleaner checkpoint go with the data; the result is durable.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("restart log at negative offset %d: %w", offset, ErrOffsetOutOfRange)
	}
	l.syncMu.Lock() // no fsync may publish a recovery point of the old log
	defer l.syncMu.Unlock()
	return l.truncateFullyLocked(offset)
}
