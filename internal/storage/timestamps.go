package storage

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/sluice-io/sluice/internal/record"
)

// OffsetForTimestamp finds the first record at or after the log start
// offset whose timestamp is at least ts (ListOffsets by time): the time
// index narrows each candidate segment, then batches are scanned and the
// matching batch's records walked. found is false when no record is that
// new.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	for {
		truncations := l.truncationCount()
		offset, timestamp, found, err = l.offsetForTimestampOnce(ts)
		if l.truncationCount() == truncations && !errors.Is(err, errFileRetired) {
			return offset, timestamp, found, err
		}
	}
}

func (l *Log) offsetForTimestampOnce(ts int64) (offset, timestamp int64, found bool, err error) {
	candidates, logStart, err := l.segmentsWithTimestamp(ts)
	if err != nil {
		return -1, -1, false, err
	}
	defer func() {
		for _, seg := range candidates {
			seg.release()
		}
	}()
	var it record.Iterator
	for _, seg := range candidates {
		offset, timestamp, found, err = l.searchSegment(seg, &it, ts, logStart)
		if err != nil || found {
			return offset, timestamp, found, err
		}
	}
	return -1, -1, false, nil
}

// segmentsWithTimestamp returns, with references held, the segments whose
// max timestamp reaches ts.
func (l *Log) segmentsWithTimestamp(ts int64) ([]*segment, int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.segments == nil {
		return nil, 0, ErrClosed
	}
	var candidates []*segment
	for _, seg := range l.segments {
		if seg.maxTimestamp >= ts && seg.nextOffset > l.logStartOffset {
			seg.acquire()
			candidates = append(candidates, seg)
		}
	}
	return candidates, l.logStartOffset, nil
}

// searchSegment looks in one segment for the first record at or after
// minOffset with a timestamp of at least ts.
func (l *Log) searchSegment(seg *segment, it *record.Iterator, ts, minOffset int64) (int64, int64, bool, error) {
	if err := l.ensureIndexes(seg); err != nil {
		return -1, -1, false, err
	}
	l.mu.RLock()
	size := seg.size
	position := lookupPosition(seg.offsets, lookupTime(seg.times, ts))
	l.mu.RUnlock()
	pinned, err := seg.log.pin(mayRefuse, false)
	if err != nil {
		return -1, -1, false, err
	}
	defer pinned.release()
	f := pinned.file(0)
	var batch []byte
	header := make([]byte, record.HeaderSize)
	for position < size {
		h, err := readHeaderAt(f, header, position, size)
		if err != nil {
			return -1, -1, false, corruption(seg.logName(), position, "unreadable batch in published data", err)
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= minOffset {
			batch = growTo(batch, h.Size())
			if err := readFull(f, batch, position); err != nil {
				return -1, -1, false, err
			}
			offset, timestamp, found, err := firstRecordAtOrAfter(it, batch, ts, minOffset)
			if err != nil || found {
				return offset, timestamp, found, err
			}
		}
		position += int64(h.Size())
	}
	return -1, -1, false, nil
}

// growTo returns b resized to n bytes, reallocating only when too small.
func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// firstRecordAtOrAfter walks batch's records for the first one at or after
// minOffset whose timestamp is at least ts.
func firstRecordAtOrAfter(it *record.Iterator, batch []byte, ts, minOffset int64) (int64, int64, bool, error) {
	if err := it.Reset(batch); err != nil {
		return -1, -1, false, fmt.Errorf("read records for timestamp lookup: %w", err)
	}
	for rec, ok := it.Next(); ok; rec, ok = it.Next() {
		if rec.Timestamp >= ts && rec.Offset >= minOffset {
			return rec.Offset, rec.Timestamp, true, nil
		}
	}
	if err := it.Err(); err != nil {
		return -1, -1, false, fmt.Errorf("read records for timestamp lookup: %w", err)
	}
	return -1, -1, false, nil
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp in the log, the first such record on ties (ListOffsets
// MAX_TIMESTAMP, KIP-734); -1, -1 when no record has a timestamp.
func (l *Log) MaxTimestamp() (offset, timestamp int64) {
	for {
		truncations := l.truncationCount()
		seg, batchOffset, timestamp := l.segmentWithMaxTimestamp()
		if seg == nil {
			return -1, -1
		}
		offset, err := l.recordWithTimestamp(seg, batchOffset, timestamp)
		seg.release()
		if l.truncationCount() != truncations || errors.Is(err, errFileRetired) {
			continue // the batch may have been cut, or its segment deleted, meanwhile
		}
		return l.maxTimestampResult(seg, offset, batchOffset, timestamp, err)
	}
}

func (l *Log) maxTimestampResult(seg *segment, offset, batchOffset, timestamp int64, err error) (int64, int64) {
	if err != nil {
		l.logger.Warn("max timestamp lookup fell back to the batch offset", slog.String("file", seg.logName()), slog.Any("error", err))
		return batchOffset, timestamp
	}
	return offset, timestamp
}

func (l *Log) segmentWithMaxTimestamp() (*segment, int64, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var best *segment
	for _, seg := range l.segments {
		if seg.maxTimestamp >= 0 && (best == nil || seg.maxTimestamp > best.maxTimestamp) {
			best = seg
		}
	}
	if best == nil {
		return nil, -1, -1
	}
	best.acquire()
	return best, best.offsetOfMaxTimestamp, best.maxTimestamp
}

// recordWithTimestamp finds, in the batch at batchOffset, the first record
// carrying timestamp.
func (l *Log) recordWithTimestamp(seg *segment, batchOffset, timestamp int64) (int64, error) {
	if err := l.ensureIndexes(seg); err != nil {
		return -1, err
	}
	l.mu.RLock()
	v := segmentView{seg: seg, size: seg.size, nextOffset: seg.nextOffset, offsets: seg.offsets}
	l.mu.RUnlock()
	pinned, err := seg.log.pin(mayRefuse, false)
	if err != nil {
		return -1, err
	}
	defer pinned.release()
	scratch, position, h, err := findBatch(nil, pinned.file(0), &v, batchOffset)
	if err != nil {
		return -1, err
	}
	if position >= v.size {
		return -1, fmt.Errorf("no batch at offset %d", batchOffset)
	}
	batch := growTo(scratch[:0], h.Size())
	if err := readFull(pinned.file(0), batch, position); err != nil {
		return -1, err
	}
	var it record.Iterator
	offset, _, found, err := firstRecordAtOrAfter(&it, batch, timestamp, batchOffset)
	if err != nil || !found {
		return batchOffset, err
	}
	return offset, nil
}
