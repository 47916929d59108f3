package coord

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/storage"
)

// replayPartition reads the partition from its start to its log end and
// replays every record into the shard. The log end, not the high
// watermark, as Kafka's coordinator loader reads: a new leader's high
// watermark lags what was committed (and acknowledged) under the previous
// leader until its ISR fetches, and the leader's log is the partition's
// history from now on.
func (l *loop[S]) replayPartition() (int, error) {
	log := l.partition.Log()
	offset := log.LogStartOffset()
	end := log.LogEndOffset()
	count := 0
	for offset < end {
		data, err := log.Read(offset, 1<<20, end, true)
		if err != nil {
			return count, fmt.Errorf("read %s-%d at %d: %w", l.partition.Topic, l.partition.Partition, offset, err)
		}
		if len(data) == 0 {
			break
		}
		n, next, err := l.replayBatches(data, offset)
		count += n
		if err != nil {
			return count, err
		}
		offset = next
	}
	return count, nil
}

// replayBatches replays the record batches in data, read at offset, and
// returns how many records it replayed and the offset after the last batch.
func (l *loop[S]) replayBatches(data []byte, offset int64) (count int, next int64, err error) {
	var it record.Iterator
	next = offset
	for len(data) > 0 {
		h, err := record.ParseHeader(data)
		if err != nil {
			return count, next, fmt.Errorf("parse batch at %d: %w", next, err)
		}
		batch := data[:h.Size()]
		data = data[h.Size():]
		next = h.LastOffset() + 1
		if h.IsControl() {
			if err := l.replayMarker(h, batch); err != nil {
				return count, next, fmt.Errorf("control batch at %d: %w", h.BaseOffset, err)
			}
			continue
		}
		if err := it.Reset(batch); err != nil {
			return count, next, fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
		}
		for rec, ok := it.Next(); ok; rec, ok = it.Next() {
			r := Record{Key: rec.Key, Value: rec.Value}
			if h.IsTransactional() {
				r.Transactional, r.ProducerID, r.ProducerEpoch = true, h.ProducerID, h.ProducerEpoch
			}
			if err := l.shard.Replay(r); err != nil {
				return count, next, fmt.Errorf("replay offset %d: %w", rec.Offset, err)
			}
			count++
		}
		if err := it.Err(); err != nil {
			return count, next, fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
		}
	}
	return count, next, nil
}

// replayMarker hands a transaction marker read back at load to a shard
// that replays markers; other control batches are skipped.
func (l *loop[S]) replayMarker(h record.Header, batch []byte) error {
	replayer, ok := any(l.shard).(MarkerReplayer)
	if !ok || h.ProducerID < 0 {
		return nil
	}
	commit, isMarker, err := storage.ParseTxnMarker(batch)
	if err != nil || !isMarker {
		return err
	}
	replayer.ReplayMarker(h.ProducerID, commit)
	return nil
}
