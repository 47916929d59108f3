package storage

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sluice-io/sluice/internal/record"
)

// scanWindow is how much of a segment recovery reads at a time.
const scanWindow = 1 << 20

// windowReader serves byte ranges of a file from a sliding buffer so that a
// scan reads each region once. Requests are bounded by the file size, so a
// length field read from disk can never make it allocate more than the file.
type windowReader struct {
	file  fileReader
	size  int64
	buf   []byte
	start int64
}

// bytes returns the file's bytes [pos, pos+length); the caller has checked
// that they lie within the file.
func (w *windowReader) bytes(pos int64, length int) ([]byte, error) {
	if pos >= w.start && pos+int64(length) <= w.start+int64(len(w.buf)) {
		return w.buf[pos-w.start : pos-w.start+int64(length)], nil
	}
	want := int(min(max(int64(length), scanWindow), w.size-pos))
	if cap(w.buf) < want {
		w.buf = make([]byte, want)
	}
	w.buf = w.buf[:want]
	w.start = pos
	if err := readFull(w.file, w.buf, pos); err != nil {
		w.buf = w.buf[:0]
		return nil, err
	}
	return w.buf[:length], nil
}

// scanStop says where and why a scan found the first invalid batch.
type scanStop struct {
	position int64
	reason   string
	cause    error
}

// scanResult is what a full scan of a segment learned.
type scanResult struct {
	validSize      int64 // bytes of valid batches from the start
	nextOffset     int64 // offset after the last valid batch
	offsets        []offsetEntry
	times          []timeEntry
	indexer        indexer // state to continue appending after validSize
	firstTimestamp int64
	stop           *scanStop // nil when every byte is valid
	// epochs are the leader epochs of the valid batches, each at the
	// first batch of a run of batches carrying it.
	epochs epochEntries
}

// scanSegment reads a segment batch by batch, verifying each CRC, and
// rebuilds its indexes. It stops at the first invalid batch; I/O errors are
// returned as errors.
func scanSegment(f fileReader, size, baseOffset int64, interval int32) (scanResult, error) {
	res := scanResult{nextOffset: baseOffset, firstTimestamp: -1}
	res.indexer.reset(interval)
	w := windowReader{file: f, size: size}
	for res.validSize < size {
		h, stop, err := checkBatchAt(&w, res.validSize, res.nextOffset, baseOffset)
		if err != nil {
			return res, err
		}
		if stop != nil {
			res.stop = stop
			break
		}
		res.add(&h, baseOffset)
	}
	if entry, ok := res.indexer.timeEntry(baseOffset); ok {
		res.times = append(res.times, entry)
	}
	return res, nil
}

func (res *scanResult) add(h *record.Header, baseOffset int64) {
	if res.validSize == 0 {
		res.firstTimestamp = h.MaxTimestamp
	}
	offset, addOffset, timed, addTime := res.indexer.add(h, res.validSize, baseOffset)
	if addOffset {
		res.offsets = append(res.offsets, offset)
	}
	if addTime {
		res.times = append(res.times, timed)
	}
	res.validSize += int64(h.Size())
	res.nextOffset = h.LastOffset() + 1
	if last, ok := res.epochs.latest(); h.PartitionLeaderEpoch >= 0 && (!ok || last.epoch != h.PartitionLeaderEpoch) {
		res.epochs = append(res.epochs, epochEntry{epoch: h.PartitionLeaderEpoch, startOffset: h.BaseOffset})
	}
}

// checkBatchAt validates the batch at pos: complete, magic 2, CRC, offsets
// increasing from expectNext and representable in the segment's indexes.
func checkBatchAt(w *windowReader, pos, expectNext, baseOffset int64) (record.Header, *scanStop, error) {
	stop := func(reason string, cause error) (record.Header, *scanStop, error) {
		return record.Header{}, &scanStop{position: pos, reason: reason, cause: cause}, nil
	}
	left := w.size - pos
	if left < record.HeaderSize {
		return stop(fmt.Sprintf("%d bytes, less than a batch header", left), record.ErrShortBatch)
	}
	head, err := w.bytes(pos, record.HeaderSize)
	if err != nil {
		return record.Header{}, nil, err
	}
	h, err := record.ParseHeader(head)
	switch {
	case err != nil:
		return stop("unreadable batch header", err)
	case int64(h.Size()) > left:
		return stop(fmt.Sprintf("batch of %d bytes with %d left in the file", h.Size(), left), record.ErrShortBatch)
	case h.Magic != record.CurrentMagic:
		return stop(fmt.Sprintf("batch magic %d", h.Magic), record.ErrCorrupt)
	case h.LastOffsetDelta < 0 || h.BaseOffset < expectNext:
		return stop(fmt.Sprintf("batch offsets %d..%d where %d was next", h.BaseOffset, h.LastOffset(), expectNext), record.ErrCorrupt)
	case h.LastOffset()-baseOffset > math.MaxInt32 || pos > maxSegmentPosition:
		return stop(fmt.Sprintf("batch offsets %d..%d at byte %d do not fit the segment's 32-bit indexes", h.BaseOffset, h.LastOffset(), pos), record.ErrCorrupt)
	}
	batch, err := w.bytes(pos, h.Size())
	if err != nil {
		return record.Header{}, nil, err
	}
	if err := record.VerifyCRC(batch); err != nil {
		return stop("batch checksum mismatch", err)
	}
	return h, nil, nil
}

// tailIsZero reports whether every byte in [from, size) is zero: a file
// grown by a crash before its data landed.
func tailIsZero(f fileReader, from, size int64) (bool, error) {
	w := windowReader{file: f, size: size}
	for pos := from; pos < size; {
		n := int(min(scanWindow, size-pos))
		chunk, err := w.bytes(pos, n)
		if err != nil {
			return false, err
		}
		for _, b := range chunk {
			if b != 0 {
				return false, nil
			}
		}
		pos += int64(n)
	}
	return true, nil
}

// findValidBatch looks for a complete, checksummed batch starting anywhere
// after from whose base offset is at least minOffset. Finding one means the
// bad bytes at from are not a torn tail.
func findValidBatch(f fileReader, from, size, minOffset int64) (int64, bool, error) {
	w := windowReader{file: f, size: size}
	for pos := from + 1; size-pos >= record.HeaderSize; pos++ {
		head, err := w.bytes(pos, record.HeaderSize)
		if err != nil {
			return 0, false, err
		}
		if !plausibleHeader(head, size-pos, minOffset) {
			continue
		}
		length := record.LogOverhead + int(binary.BigEndian.Uint32(head[8:]))
		batch, err := w.bytes(pos, length)
		if err != nil {
			return 0, false, err
		}
		if record.VerifyCRC(batch) == nil {
			return pos, true, nil
		}
	}
	return 0, false, nil
}

// plausibleHeader is a cheap filter before a CRC check: magic 2, a length
// that fits in what is left, a base offset not before minOffset.
func plausibleHeader(head []byte, left, minOffset int64) bool {
	h, err := record.ParseHeader(head)
	return err == nil && h.Magic == record.CurrentMagic && int64(h.Size()) <= left &&
		h.BaseOffset >= minOffset && h.LastOffsetDelta >= 0
}
