package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// segmentView is a reader's snapshot of one segment, taken under Log.mu
// with a reference held so the segment's files stay readable.
type segmentView struct {
	seg        *segment
	size       int64
	nextOffset int64
	offsets    []offsetEntry
}

// Read returns whole batches starting with the one that holds offset: only
// batches whose base offset is below maxOffset (the high watermark), at
// most maxBytes of them, except that with minOneBatch a first batch larger
// than maxBytes is returned whole (KIP-74). It continues into the next
// segments while maxBytes allows. offset == log end offset gives an empty
// result; an offset below the log start offset or past the end gives
// ErrOffsetOutOfRange. Safe concurrently with every other method.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) ([]byte, error) {
	return l.ReadInto(nil, offset, maxBytes, maxOffset, minOneBatch)
}

// ReadInto is Read appending to dst, so a caller can reuse one buffer
// across fetches without allocating. dst is returned with its length
// unchanged (its capacity maybe grown) when nothing is read or on error.
func (l *Log) ReadInto(dst []byte, offset int64, maxBytes int32, maxOffset int64, minOneBatch bool) ([]byte, error) {
	start := len(dst)
	for {
		out, stale, err := l.readOnce(dst, offset, int64(max(maxBytes, 0)), maxOffset, minOneBatch)
		if !stale {
			return out, err
		}
		dst = out[:start] // a truncation raced with the read: read again
	}
}

// readOnce reads segment by segment. stale reports that the log was
// truncated meanwhile, so the bytes cannot be trusted.
func (l *Log) readOnce(dst []byte, offset, maxBytes, maxOffset int64, minOneBatch bool) (out []byte, stale bool, err error) {
	start := len(dst)
	truncations := l.truncationCount()
	for first := true; ; first = false {
		read := int64(len(dst) - start)
		wantOne := minOneBatch && read == 0
		if read >= maxBytes && !wantOne {
			break
		}
		v, ok, viewErr := l.viewAt(offset, first)
		if viewErr != nil || !ok {
			err = viewErr
			break
		}
		var reachedEnd bool
		dst, reachedEnd, err = readSegment(dst, &v, offset, maxBytes-read, maxOffset, wantOne, !first)
		v.seg.release()
		if err != nil || !reachedEnd || v.nextOffset >= maxOffset {
			break
		}
		offset = v.nextOffset
	}
	if l.truncationCount() != truncations || errors.Is(err, errFileRetired) {
		// Truncated, or the segment deleted or replaced, meanwhile.
		return dst[:start], true, nil
	}
	if err != nil {
		return dst[:start], false, err
	}
	return dst, false, nil
}

// truncationCount reads the log's truncation counter.
func (l *Log) truncationCount() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.truncations
}

// viewAt snapshots the segment holding offset. ok is false when there is
// nothing at offset yet (the log end). checkRange applies the log start
// and end bounds (ErrOffsetOutOfRange); continuations into the next segment
// skip it.
func (l *Log) viewAt(offset int64, checkRange bool) (segmentView, bool, error) {
	for {
		l.mu.RLock()
		if l.segments == nil {
			l.mu.RUnlock()
			return segmentView{}, false, ErrClosed
		}
		if checkRange && (offset < l.logStartOffset || offset > l.logEndOffset) {
			start, end := l.logStartOffset, l.logEndOffset
			l.mu.RUnlock()
			return segmentView{}, false, fmt.Errorf("offset %d outside [%d, %d]: %w", offset, start, end, ErrOffsetOutOfRange)
		}
		if offset >= l.logEndOffset || offset < l.logStartOffset {
			// The end, or (continuing) a start that moved past us.
			l.mu.RUnlock()
			return segmentView{}, false, nil
		}
		seg := l.segmentAtLocked(offset)
		seg.acquire()
		if !seg.indexLoaded {
			l.mu.RUnlock()
			err := l.ensureIndexes(seg)
			seg.release()
			if err != nil && !errors.Is(err, errFileRetired) { // retired: look again
				return segmentView{}, false, err
			}
			continue
		}
		v := segmentView{seg: seg, size: seg.size, nextOffset: seg.nextOffset, offsets: seg.offsets}
		l.mu.RUnlock()
		return v, true, nil
	}
}

// segmentAtLocked returns the segment whose range holds offset (or the
// first one after it). Caller holds mu and offset < log end offset.
func (l *Log) segmentAtLocked(offset int64) *segment {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].baseOffset > offset }) - 1
	i = max(i, 0)
	for i < len(l.segments)-1 && l.segments[i].nextOffset <= offset {
		i++
	}
	return l.segments[i]
}

// readSegment appends to dst the whole batches of v from the one holding
// offset, within budget bytes (or the first batch whole if minOneBatch),
// stopping before a batch whose base offset reaches maxOffset. reachedEnd
// reports that every batch up to the segment's end was taken, so the read
// may continue in the next segment. A continuation (exact) reads nothing
// if the batch found starts before offset; it may start after it, where
// compaction removed the batches between.
func readSegment(dst []byte, v *segmentView, offset, budget, maxOffset int64, minOneBatch, exact bool) (out []byte, reachedEnd bool, err error) {
	pinned, err := v.seg.log.pin(mayRefuse, false)
	if err != nil {
		return dst, false, err
	}
	defer pinned.release()
	f := pinned.file(0)
	dst, pos, first, err := findBatch(dst, f, v, offset)
	if err != nil || pos >= v.size {
		return dst, pos >= v.size, err
	}
	if first.BaseOffset >= maxOffset || (exact && first.BaseOffset < offset) {
		return dst, false, nil
	}
	length := min(v.size-pos, budget)
	if int64(first.Size()) > length {
		if !minOneBatch {
			return dst, false, nil
		}
		length = int64(first.Size())
	}
	start := len(dst)
	dst = slices.Grow(dst, int(length))[:start+int(length)]
	if err := readFull(f, dst[start:], pos); err != nil {
		return dst[:start], false, err
	}
	used, stoppedAtMax := wholeBatches(dst[start:], maxOffset)
	return dst[:start+used], !stoppedAtMax && pos+int64(used) == v.size, nil
}

// findBatch returns the position and header of the first batch in v whose
// last offset is at least offset (pos == v.size if none), scanning headers
// of f (v's log, pinned) forward from the offset index's entry. It uses
// dst's spare capacity as scratch, so it may grow dst but never changes
// its contents.
func findBatch(dst []byte, f vfs.File, v *segmentView, offset int64) ([]byte, int64, record.Header, error) {
	dst = slices.Grow(dst, record.HeaderSize)
	scratch := dst[len(dst) : len(dst)+record.HeaderSize]
	pos := lookupPosition(v.offsets, v.seg.relative(offset))
	for pos < v.size {
		h, err := readHeaderAt(f, scratch, pos, v.size)
		if err != nil {
			return dst, pos, h, corruption(v.seg.logName(), pos, "unreadable batch in published data", err)
		}
		if h.LastOffset() >= offset {
			return dst, pos, h, nil
		}
		pos += int64(h.Size())
	}
	return dst, v.size, record.Header{}, nil
}

// wholeBatches returns how many leading bytes of b are whole batches with
// base offsets below maxOffset, and whether it stopped at maxOffset.
func wholeBatches(b []byte, maxOffset int64) (used int, stoppedAtMax bool) {
	for used < len(b) {
		h, err := record.ParseHeader(b[used:])
		if err != nil || h.Size() > len(b)-used {
			return used, false
		}
		if h.BaseOffset >= maxOffset {
			return used, true
		}
		used += h.Size()
	}
	return used, false
}

// ensureIndexes loads a sealed segment's indexes on first use. The caller
// holds a reference on seg. An index that fails validation is rebuilt in
// memory from the log (the files are left to the next recovery).
func (l *Log) ensureIndexes(seg *segment) error {
	seg.loadMu.Lock()
	defer seg.loadMu.Unlock()
	l.mu.RLock()
	loaded, size, next, truncations := seg.indexLoaded, seg.size, seg.nextOffset, seg.truncations
	l.mu.RUnlock()
	if loaded {
		return nil
	}
	offsets, times, err := l.readIndexes(seg, size, next)
	if errors.Is(err, ErrTooManyOpenFiles) {
		return err // not the index's fault
	}
	if err != nil {
		l.logger.Warn("rebuilding unusable index in memory", slog.String("file", seg.logName()), slog.Any("error", err))
		if offsets, times, err = l.scanIndexes(seg, size); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !seg.indexLoaded && seg.truncations == truncations {
		seg.offsets, seg.times, seg.indexLoaded = offsets, times, true
	}
	return nil
}

func (l *Log) readIndexes(seg *segment, size, next int64) ([]offsetEntry, []timeEntry, error) {
	offsetBytes, timeBytes, err := l.readIndexFiles(seg.baseOffset, size)
	if err != nil {
		return nil, nil, err
	}
	offsets, err := decodeOffsetIndex(offsetBytes, size)
	if err != nil {
		return nil, nil, err
	}
	times, err := decodeTimeIndex(timeBytes, next-seg.baseOffset)
	return offsets, times, err
}

func (l *Log) scanIndexes(seg *segment, size int64) ([]offsetEntry, []timeEntry, error) {
	res, err := scanSegment(segmentReader(seg, mayRefuse), size, seg.baseOffset, l.config.Load().IndexIntervalBytes)
	if err != nil {
		return nil, nil, err
	}
	if res.stop != nil {
		return nil, nil, corruption(seg.logName(), res.stop.position, "invalid batch in a sealed (fsynced) segment: "+res.stop.reason, res.stop.cause)
	}
	return res.offsets, res.times, nil
}
