package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// File name suffixes of a segment.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// maxSegmentPosition is the largest byte position a 32-bit index entry can
// hold; a segment rolls before growing past it.
const maxSegmentPosition = math.MaxInt32

// segmentFileName is <dir>/<20-digit base offset><suffix>, as Kafka names them.
func segmentFileName(dir string, baseOffset int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", baseOffset, suffix))
}

// parseSegmentName returns the base offset and suffix of a segment file
// name; ok is false for any other file.
func parseSegmentName(name string) (baseOffset int64, suffix string, ok bool) {
	ext := filepath.Ext(name)
	switch ext {
	case logSuffix, indexSuffix, timeIndexSuffix:
	default:
		return 0, "", false
	}
	digits := strings.TrimSuffix(name, ext)
	if len(digits) != 20 {
		return 0, "", false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || base < 0 {
		return 0, "", false
	}
	return base, ext, true
}

// segment is one .log file with its indexes.
//
// Ownership: baseOffset and logFile are immutable. The fields under "mu"
// are written only while holding both Log.appendMu and Log.mu (except the
// on-demand index load, which holds loadMu and Log.mu), so the writer may
// read size, nextOffset and the timestamps without Log.mu, but index slices
// are always read under Log.mu. The writer fields are touched only by the
// holder of Log.appendMu.
type segment struct {
	baseOffset int64
	logFile    vfs.File // opened for append; readers use ReadAt

	// refs counts the Log's own reference plus one per reader; the files
	// are closed when it drops to zero.
	refs atomic.Int32
	// loadMu serialises loading a sealed segment's indexes on demand.
	loadMu sync.Mutex

	// Guarded by Log.mu (see above).
	size                 int64 // bytes of whole batches, all readable
	nextOffset           int64 // offset after the last batch; baseOffset if empty
	maxTimestamp         int64 // largest batch max timestamp; -1 if none
	offsetOfMaxTimestamp int64 // base offset of the first batch reaching it
	offsets              []offsetEntry
	times                []timeEntry
	indexLoaded          bool
	truncations          uint64 // bumped when bytes are cut; readers recheck it
	lastModifiedMs       int64  // last append (or open) time, for retention without timestamps

	// Writer fields (Log.appendMu).
	offsetIndexFile vfs.File // open while active, nil once sealed
	timeIndexFile   vfs.File
	indexer         indexer
	firstTimestamp  int64 // max timestamp of the first batch, for segment.ms; -1 if none
	createdMs       int64
	indexScratch    []byte
	// hasTxnIndex is set once the segment's .txnindex file exists.
	hasTxnIndex bool
}

func (s *segment) logName() string { return s.logFile.Name() }

// relative converts an offset in this segment to an index's relative offset.
func (s *segment) relative(offset int64) int64 { return offset - s.baseOffset }

// acquire takes a reader's reference; call only while the segment is in the
// Log's list (under Log.mu), so the count never climbs back from zero.
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference and closes the files after the last one.
func (s *segment) release(logger *slog.Logger) {
	if s.refs.Add(-1) != 0 {
		return
	}
	for _, f := range []vfs.File{s.logFile, s.offsetIndexFile, s.timeIndexFile} {
		if f == nil {
			continue
		}
		if err := f.Close(); err != nil {
			logger.Warn("close segment file", slog.String("file", f.Name()), slog.Any("error", err))
		}
	}
}

// newSegment returns an empty in-memory segment around an open log file.
func newSegment(logFile vfs.File, baseOffset int64, interval int32, nowMs int64) *segment {
	s := &segment{
		baseOffset:           baseOffset,
		logFile:              logFile,
		nextOffset:           baseOffset,
		maxTimestamp:         -1,
		offsetOfMaxTimestamp: -1,
		indexLoaded:          true,
		lastModifiedMs:       nowMs,
		firstTimestamp:       -1,
		createdMs:            nowMs,
	}
	s.indexer.reset(interval)
	s.refs.Store(1)
	return s
}

// createSegmentFiles creates the three files of a new, empty segment. The
// caller fsyncs the directory before anything in it is acknowledged.
func createSegmentFiles(fsys vfs.FS, dir string, baseOffset int64, interval int32, nowMs int64) (*segment, error) {
	logFile, err := fsys.Create(segmentFileName(dir, baseOffset, logSuffix))
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	s := newSegment(logFile, baseOffset, interval, nowMs)
	if err := s.openIndexFiles(fsys, dir, true); err != nil {
		logFile.Close()
		return nil, err
	}
	return s, nil
}

// openIndexFiles opens (create: or recreates) the index files for appends.
func (s *segment) openIndexFiles(fsys vfs.FS, dir string, create bool) error {
	open := fsys.OpenAppend
	if create {
		open = fsys.Create
	}
	var err error
	if s.offsetIndexFile, err = open(segmentFileName(dir, s.baseOffset, indexSuffix)); err != nil {
		return fmt.Errorf("open offset index: %w", err)
	}
	if s.timeIndexFile, err = open(segmentFileName(dir, s.baseOffset, timeIndexSuffix)); err != nil {
		s.offsetIndexFile.Close()
		s.offsetIndexFile = nil
		return fmt.Errorf("open time index: %w", err)
	}
	return nil
}

// closeIndexFiles closes the index files once the segment is sealed.
func (s *segment) closeIndexFiles() error {
	var errs []error
	for _, f := range []*vfs.File{&s.offsetIndexFile, &s.timeIndexFile} {
		if *f != nil {
			errs = append(errs, (*f).Close())
			*f = nil
		}
	}
	return errors.Join(errs...)
}

// indexer decides index entries as batches go into a segment. Append and
// recovery share it, so a rebuilt index equals the one appends wrote.
type indexer struct {
	interval             int64
	bytesSinceEntry      int64
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
	lastTimeEntry        int64 // timestamp of the last time-index entry; -1 if none
}

func (ix *indexer) reset(interval int32) {
	*ix = indexer{interval: int64(interval), maxTimestamp: -1, offsetOfMaxTimestamp: -1, lastTimeEntry: -1}
}

// add accounts for the batch h at position and reports the index entries
// to write for it, if any.
func (ix *indexer) add(h *record.Header, position, segmentBase int64) (offset offsetEntry, addOffset bool, timed timeEntry, addTime bool) {
	if h.MaxTimestamp > ix.maxTimestamp {
		ix.maxTimestamp, ix.offsetOfMaxTimestamp = h.MaxTimestamp, h.BaseOffset
	}
	if ix.bytesSinceEntry > ix.interval {
		offset = offsetEntry{relativeOffset: uint32(h.BaseOffset - segmentBase), position: uint32(position)}
		addOffset = true
		timed, addTime = ix.timeEntry(segmentBase)
		ix.bytesSinceEntry = 0
	}
	ix.bytesSinceEntry += int64(h.Size())
	return offset, addOffset, timed, addTime
}

// timeEntry returns the time-index entry for the max timestamp so far if
// it is newer than the last one written, and records it as written.
func (ix *indexer) timeEntry(segmentBase int64) (timeEntry, bool) {
	if ix.maxTimestamp <= ix.lastTimeEntry {
		return timeEntry{}, false
	}
	ix.lastTimeEntry = ix.maxTimestamp
	return timeEntry{timestamp: ix.maxTimestamp, relativeOffset: uint32(ix.offsetOfMaxTimestamp - segmentBase)}, true
}

// readHeaderAt reads and parses the batch header at position, checking
// that the whole batch lies within limit. buf must hold HeaderSize bytes.
func readHeaderAt(f vfs.File, buf []byte, position, limit int64) (record.Header, error) {
	if limit-position < record.HeaderSize {
		return record.Header{}, fmt.Errorf("%d bytes left at %d: %w", limit-position, position, record.ErrShortBatch)
	}
	if _, err := f.ReadAt(buf[:record.HeaderSize], position); err != nil {
		return record.Header{}, fmt.Errorf("read batch header of %s at %d: %w", f.Name(), position, err)
	}
	h, err := record.ParseHeader(buf)
	if err != nil {
		return h, err
	}
	if int64(h.Size()) > limit-position {
		return h, fmt.Errorf("batch of %d bytes with %d left at %d: %w", h.Size(), limit-position, position, record.ErrShortBatch)
	}
	return h, nil
}

// readFull reads exactly len(p) bytes at off, treating a short file as an
// error (io.ErrUnexpectedEOF).
func readFull(f vfs.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes of %s at %d: %w", len(p), f.Name(), off, err)
}
