package storage

import (
	"errors"
	"fmt"
	"io"
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
// Ownership: baseOffset, name and log are immutable. The fields under "mu"
// are written only while holding both Log.appendMu and Log.mu (except the
// on-demand index load, which holds loadMu and Log.mu), so the writer may
// read size, nextOffset and the timestamps without Log.mu, but index slices
// are always read under Log.mu. The writer fields are touched only by the
// holder of Log.appendMu.
//
// The files are opened through the Log's FileCache, pinned only for one
// operation at a time (see the package doc, "File handles"): a segment
// holds no descriptor while nobody reads or writes it.
type segment struct {
	baseOffset int64
	name       string      // the .log's path, for messages
	log        *cachedFile // the .log; readers pin it to ReadAt

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
	offsetIndex    *cachedFile // the active segment's .index, nil once sealed
	timeIndex      *cachedFile // the active segment's .timeindex, nil once sealed
	indexer        indexer
	firstTimestamp int64 // max timestamp of the first batch, for segment.ms; -1 if none
	createdMs      int64
	indexScratch   []byte
	// hasTxnIndex is set once the segment's .txnindex file exists.
	hasTxnIndex bool
	// txnIndexBehind is set when aborted transactions published in memory
	// could not be appended to the .txnindex (no descriptor): sealing
	// rewrites the file whole.
	txnIndexBehind bool
}

func (s *segment) logName() string { return s.name }

// state is the active segment's shape for the clean-shutdown marker.
// Caller holds Log.appendMu.
func (s *segment) state() ShutdownState {
	st := ShutdownState{Base: s.baseOffset, Size: s.size, NextOffset: s.nextOffset,
		MaxTimestamp: s.indexer.maxTimestamp, OffsetOfMaxTimestamp: s.indexer.offsetOfMaxTimestamp,
		FirstTimestamp: s.firstTimestamp, OffsetEntries: int64(len(s.offsets)), TimeEntries: int64(len(s.times))}
	if n := len(s.offsets); n > 0 {
		st.LastOffsetRelative, st.LastOffsetPosition = int64(s.offsets[n-1].relativeOffset), int64(s.offsets[n-1].position)
	}
	if n := len(s.times); n > 0 {
		st.LastTimeTimestamp, st.LastTimeRelative = s.times[n-1].timestamp, int64(s.times[n-1].relativeOffset)
	}
	return st
}

// relative converts an offset in this segment to an index's relative offset.
func (s *segment) relative(offset int64) int64 { return offset - s.baseOffset }

// acquire takes a reader's reference; call only while the segment is in the
// Log's list (under Log.mu), so the count never climbs back from zero.
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference and closes the files after the last one.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	for _, f := range []*cachedFile{s.log, s.offsetIndex, s.timeIndex} {
		if f != nil {
			f.close()
		}
	}
}

// retire marks the segment's files as leaving their names (deleted, or
// replaced by a compacted copy): readers that still hold the segment
// finish on a descriptor open now, or read again (errFileRetired).
func (s *segment) retire() {
	for _, f := range []*cachedFile{s.log, s.offsetIndex, s.timeIndex} {
		if f != nil {
			f.retire()
		}
	}
}

// newSegment returns an empty in-memory segment around its log file.
func newSegment(log *cachedFile, baseOffset int64, interval int32, nowMs int64) *segment {
	s := &segment{
		baseOffset:           baseOffset,
		name:                 log.name,
		log:                  log,
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
func (l *Log) createSegmentFiles(baseOffset int64) (*segment, error) {
	log := l.files.file(l.fsys, segmentFileName(l.dir, baseOffset, logSuffix), true, true)
	s := newSegment(log, baseOffset, l.config.Load().IndexIntervalBytes, l.nowMs())
	l.attachIndexFiles(s, true)
	p, err := l.files.pin(mayRefuse, fileUse{s.log, true}, fileUse{s.offsetIndex, true}, fileUse{s.timeIndex, true})
	if err != nil {
		s.release()
		return nil, fmt.Errorf("create segment: %w", err)
	}
	p.release()
	return s, nil
}

// attachIndexFiles gives s its index files for appends (create: new ones,
// replacing any there), opened on first use.
func (l *Log) attachIndexFiles(s *segment, create bool) {
	s.offsetIndex = l.files.file(l.fsys, segmentFileName(l.dir, s.baseOffset, indexSuffix), true, create)
	s.timeIndex = l.files.file(l.fsys, segmentFileName(l.dir, s.baseOffset, timeIndexSuffix), true, create)
}

// sealFiles lets go of the index files once the segment is sealed (their
// entries live in memory), and has the log reopened read-only from now on.
func (s *segment) sealFiles() {
	for _, f := range []**cachedFile{&s.offsetIndex, &s.timeIndex} {
		if *f != nil {
			(*f).close()
			*f = nil
		}
	}
	s.log.setAppendable(false)
}

// activeFiles are the pinned files of an active segment.
type activeFiles struct {
	pins
	log, offsetIndex, timeIndex vfs.File // nil when not pinned
}

// pinActive pins s's log for appending, and each index whose flag is set.
func (l *Log) pinActive(s *segment, policy openPolicy, offsets, times bool) (activeFiles, error) {
	var uses [maxPinsPerOperation]fileUse
	uses[0] = fileUse{s.log, true}
	n := 1
	if offsets {
		uses[n] = fileUse{s.offsetIndex, true}
		n++
	}
	if times {
		uses[n] = fileUse{s.timeIndex, true}
		n++
	}
	p, err := l.files.pin(policy, uses[:n]...)
	if err != nil {
		return activeFiles{}, err
	}
	a := activeFiles{pins: p, log: p.file(0)}
	i := 1
	if offsets {
		a.offsetIndex = p.file(i)
		i++
	}
	if times {
		a.timeIndex = p.file(i)
	}
	return a, nil
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

// fileReader is what the scans read through: a pinned vfs.File, or a
// pinningReader that pins per read.
type fileReader interface {
	ReadAt(p []byte, off int64) (int, error)
	Name() string
}

// pinningReader reads a cached file, pinning it for each read: for scans
// that read a whole segment in large windows, so that no descriptor stays
// pinned across the scan.
type pinningReader struct {
	file   *cachedFile
	policy openPolicy
}

func (r pinningReader) ReadAt(p []byte, off int64) (int, error) {
	pinned, err := r.file.pin(r.policy, false)
	if err != nil {
		return 0, err
	}
	defer pinned.release()
	return pinned.file(0).ReadAt(p, off)
}

func (r pinningReader) Name() string { return r.file.name }

// readHeaderAt reads and parses the batch header at position, checking
// that the whole batch lies within limit. buf must hold HeaderSize bytes.
func readHeaderAt(f fileReader, buf []byte, position, limit int64) (record.Header, error) {
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
func readFull(f fileReader, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes of %s at %d: %w", len(p), f.Name(), off, err)
}
