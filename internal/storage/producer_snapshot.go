package storage

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/record"
)

// Producer-state snapshot files (the format is in the package doc).
const (
	snapshotSuffix       = ".snapshot"
	snapshotVersion      = 1
	snapshotHeaderSize   = 10 // version u16, crc u32, producer count u32
	snapshotEntrySize    = 31 // fixed part of one producer
	snapshotBatchSize    = 28 // one retained batch
	snapshotCRCPosition  = 2
	snapshotDataPosition = 6 // the CRC covers the bytes from here on
	// maxSnapshotBytes bounds what is read of a snapshot file: ten million
	// producers with five batches each.
	maxSnapshotBytes = 10_000_000 * (snapshotEntrySize + producerBatchesRetained*snapshotBatchSize)
)

// snapshotFileName is <dir>/<20-digit offset>.snapshot, as Kafka names them.
func snapshotFileName(dir string, offset int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", offset, snapshotSuffix))
}

// parseSnapshotName returns the offset a snapshot file name carries.
func parseSnapshotName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, snapshotSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	offset, err := strconv.ParseInt(digits, 10, 64)
	return offset, err == nil && offset >= 0
}

// encodeSnapshot writes entries in the snapshot format, producers by ID so
// that equal states give equal bytes.
func encodeSnapshot(entries map[int64]producerEntry) []byte {
	ids := make([]int64, 0, len(entries))
	for id := range entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := make([]byte, snapshotHeaderSize, snapshotHeaderSize+len(ids)*(snapshotEntrySize+snapshotBatchSize))
	binary.BigEndian.PutUint16(b, snapshotVersion)
	binary.BigEndian.PutUint32(b[snapshotDataPosition:], uint32(len(ids)))
	for _, id := range ids {
		b = appendSnapshotEntry(b, id, entries[id])
	}
	binary.BigEndian.PutUint32(b[snapshotCRCPosition:], crc32.Checksum(b[snapshotDataPosition:], crc32c))
	return b
}

func appendSnapshotEntry(b []byte, id int64, e producerEntry) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(id))
	b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
	b = binary.BigEndian.AppendUint32(b, uint32(e.coordinatorEpoch))
	b = binary.BigEndian.AppendUint64(b, uint64(e.currentTxnFirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(e.lastTimestamp))
	b = append(b, byte(e.count))
	for _, m := range e.batches[:e.count] {
		b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
		b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
		b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
		b = binary.BigEndian.AppendUint32(b, uint32(m.offsetDelta))
		b = binary.BigEndian.AppendUint64(b, uint64(m.maxTimestamp))
	}
	return b
}

// errBadSnapshot marks a snapshot file that fails its checks; the file is
// dropped and the state rebuilt from the log instead.
var errBadSnapshot = errors.New("bad producer snapshot")

// decodeSnapshot reads a snapshot file's bytes back into entries. Every
// count and length is checked against the bytes present, so corrupt input
// can neither panic nor allocate beyond the file's size.
func decodeSnapshot(b []byte) (map[int64]producerEntry, error) {
	if len(b) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", errBadSnapshot, len(b))
	}
	if version := binary.BigEndian.Uint16(b); version != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, this Sluice reads version %d", errBadSnapshot, version, snapshotVersion)
	}
	if got, want := crc32.Checksum(b[snapshotDataPosition:], crc32c), binary.BigEndian.Uint32(b[snapshotCRCPosition:]); got != want {
		return nil, fmt.Errorf("%w: crc %08x, computed %08x", errBadSnapshot, want, got)
	}
	count := int64(binary.BigEndian.Uint32(b[snapshotDataPosition:]))
	rest := b[snapshotHeaderSize:]
	if count > int64(len(rest))/snapshotEntrySize {
		return nil, fmt.Errorf("%w: %d producers in %d bytes", errBadSnapshot, count, len(rest))
	}
	entries := make(map[int64]producerEntry, count)
	for range count {
		id, e, n, err := decodeSnapshotEntry(rest)
		if err != nil {
			return nil, err
		}
		if _, dup := entries[id]; dup {
			return nil, fmt.Errorf("%w: producer %d listed twice", errBadSnapshot, id)
		}
		entries[id] = e
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last producer", errBadSnapshot, len(rest))
	}
	return entries, nil
}

// decodeSnapshotEntry reads one producer from the front of b and returns
// how many bytes it took.
func decodeSnapshotEntry(b []byte) (id int64, e producerEntry, n int, err error) {
	if len(b) < snapshotEntrySize {
		return 0, e, 0, fmt.Errorf("%w: producer entry cut short", errBadSnapshot)
	}
	id = int64(binary.BigEndian.Uint64(b))
	e.epoch = int16(binary.BigEndian.Uint16(b[8:]))
	e.coordinatorEpoch = int32(binary.BigEndian.Uint32(b[10:]))
	e.currentTxnFirstOffset = int64(binary.BigEndian.Uint64(b[14:]))
	e.lastTimestamp = int64(binary.BigEndian.Uint64(b[22:]))
	e.count = int(b[30])
	n = snapshotEntrySize + e.count*snapshotBatchSize
	if id < 0 || e.count > producerBatchesRetained || len(b) < n {
		return 0, e, 0, fmt.Errorf("%w: producer %d with %d batches in %d bytes", errBadSnapshot, id, e.count, len(b))
	}
	for i := range e.count {
		m := b[snapshotEntrySize+i*snapshotBatchSize:]
		e.batches[i] = batchMetadata{
			firstSeq:     int32(binary.BigEndian.Uint32(m)),
			lastSeq:      int32(binary.BigEndian.Uint32(m[4:])),
			lastOffset:   int64(binary.BigEndian.Uint64(m[8:])),
			offsetDelta:  int32(binary.BigEndian.Uint32(m[16:])),
			maxTimestamp: int64(binary.BigEndian.Uint64(m[20:])),
		}
		if bm := e.batches[i]; bm.offsetDelta < 0 || bm.firstOffset() < 0 {
			return 0, e, 0, fmt.Errorf("%w: producer %d has a batch at offsets %d..%d", errBadSnapshot, id, bm.firstOffset(), bm.lastOffset)
		}
	}
	return id, e, n, nil
}

// takeSnapshotLocked writes the producer states as of the log end offset
// to <log end offset>.snapshot, unless the newest snapshot already has that
// offset or the log is empty and knows no producer. Every offset below the log end must be durable (a snapshot must
// never remember a batch a crash can lose): callers write one right after
// sealing a segment, on Close and after recovery. Failing only costs a
// longer rebuild at the next start, so it is logged, not returned.
func (l *Log) takeSnapshotLocked() {
	offset := l.logEndOffset
	if n := len(l.producers.snapshots); n > 0 && l.producers.snapshots[n-1] == offset {
		return
	}
	if len(l.producers.entries) == 0 && offset == l.segments[0].baseOffset {
		return // an empty log: rebuilding needs no snapshot
	}
	if err := l.writeFileAtomic(snapshotFileName(l.dir, offset), encodeSnapshot(l.producers.entries)); err != nil {
		l.logger.Warn("write producer snapshot", slog.Int64("offset", offset), slog.Any("error", err))
		return
	}
	l.producers.snapshots = append(l.producers.snapshots, offset)
	l.pruneSnapshotsLocked()
}

// pruneSnapshotsLocked deletes the snapshots no rebuild will use: those
// below the first segment, and those neither at a segment's base offset
// (kept so that a truncation finds one close below its cut, as in Kafka)
// nor the newest. A deletion that does not reach the disk is harmless: such
// a snapshot stays a valid state of the log up to its offset, and a
// truncation below it deletes it durably (dropSnapshotsAboveLocked).
func (l *Log) pruneSnapshotsLocked() {
	snapshots := l.producers.snapshots
	if len(snapshots) == 0 {
		return
	}
	newest := snapshots[len(snapshots)-1]
	firstBase := l.segments[0].baseOffset
	kept := snapshots[:0]
	for _, offset := range snapshots {
		keep := offset >= firstBase && (offset == newest || l.isSegmentBaseLocked(offset))
		if keep || !l.removeSnapshotFile(offset) {
			kept = append(kept, offset) // a file that would not go stays known
		}
	}
	l.producers.snapshots = kept
}

// isSegmentBaseLocked reports whether a segment starts at offset.
func (l *Log) isSegmentBaseLocked(offset int64) bool {
	_, found := slices.BinarySearchFunc(l.segments, offset, func(s *segment, offset int64) int {
		return cmp.Compare(s.baseOffset, offset)
	})
	return found
}

// removeSnapshotFile deletes one snapshot file, reporting whether it is
// gone.
func (l *Log) removeSnapshotFile(offset int64) bool {
	name := snapshotFileName(l.dir, offset)
	if err := l.fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.logger.Warn("remove producer snapshot", slog.String("file", name), slog.Any("error", err))
		return false
	}
	return true
}

// dropSnapshotsAboveLocked deletes, durably, every snapshot past offset:
// after a truncation or a torn-tail cut, the log past offset will be
// rewritten, and a surviving snapshot there would describe batches that
// are gone.
func (l *Log) dropSnapshotsAboveLocked(offset int64) error {
	cut, _ := slices.BinarySearch(l.producers.snapshots, offset+1)
	if cut == len(l.producers.snapshots) {
		return nil
	}
	for _, s := range l.producers.snapshots[cut:] {
		name := snapshotFileName(l.dir, s)
		if err := l.fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove producer snapshot: %w", err)
		}
	}
	l.producers.snapshots = l.producers.snapshots[:cut]
	if err := l.syncDir(); err != nil { // fsync point: stale snapshots are gone
		return fmt.Errorf("remove producer snapshots past offset %d: sync directory: %w", offset, err)
	}
	return nil
}

// listSnapshots finds the snapshot files in the log directory.
func (l *Log) listSnapshots() ([]int64, error) {
	names, err := l.readDir()
	if err != nil {
		return nil, fmt.Errorf("list producer snapshots: %w", err)
	}
	return snapshotOffsets(names), nil
}

// snapshotOffsets is the offsets of the snapshots among a directory's
// names, ascending.
func snapshotOffsets(names []string) []int64 {
	var offsets []int64
	for _, name := range names {
		if offset, ok := parseSnapshotName(name); ok {
			offsets = append(offsets, offset)
		}
	}
	slices.Sort(offsets)
	return offsets
}

// openProducerState builds the producer states when the log opens, once
// the segments are recovered and the log is durable to its end. If that
// took a replay, a snapshot at the log end saves the next start from
// repeating it, unless after a crash (not clean) it replayed only the
// active segment. names is the directory's listing when the log began to
// load: nothing in between creates or deletes snapshots.
func (l *Log) openProducerState(clean bool, names []string) error {
	l.producers.snapshots = snapshotOffsets(names)
	replayed, err := l.loadProducerStateLocked()
	if err != nil {
		return fmt.Errorf("rebuild producer state: %w", err)
	}
	if replayed && (clean || l.replayedSealedLocked()) {
		l.takeSnapshotLocked()
	}
	return nil
}

// replayedSealedLocked reports whether the producer-state replay that
// just ran read sealed segments, not only the active one: only then is a
// snapshot worth its two fsyncs. A replay of the active segment alone is
// repeated at the next open only after a crash, whose recovery scans that
// segment anyway (a clean Close leaves a snapshot at the log end), so on a
// restart after a crash each partition is spared a snapshot. (A clean
// open replays only when its snapshot was unusable, and replaces it.)
func (l *Log) replayedSealedLocked() bool {
	from := l.segments[0].baseOffset
	if n := len(l.producers.snapshots); n > 0 {
		from = max(from, l.producers.snapshots[n-1])
	}
	return from < l.activeLocked().baseOffset
}

// loadProducerStateLocked rebuilds the producer states at the log end: the
// newest usable snapshot, then every batch after it (Kafka's
// LogLoader.rebuildProducerState). A snapshot is usable when it lies
// between the first segment's base and the log end; one that fails its
// checks is deleted and the next older one tried. Without any, the whole
// log is replayed. Expired producers are dropped afterwards. replayed
// reports whether any of the log had to be read.
func (l *Log) loadProducerStateLocked() (replayed bool, err error) {
	if err := l.dropSnapshotsAboveLocked(l.logEndOffset); err != nil {
		return false, err
	}
	from := l.segments[0].baseOffset
	entries := map[int64]producerEntry{}
	for i := len(l.producers.snapshots) - 1; i >= 0; i-- {
		offset := l.producers.snapshots[i]
		if offset < from {
			break
		}
		loaded, err := l.readSnapshot(offset)
		if err == nil {
			entries, from = loaded, offset
			break
		}
		if !errors.Is(err, errBadSnapshot) {
			return false, err
		}
		l.logger.Warn("dropping unreadable producer snapshot; rebuilding from the log", slog.Int64("offset", offset), slog.Any("error", err))
		if l.removeSnapshotFile(offset) {
			l.producers.snapshots = slices.Delete(l.producers.snapshots, i, i+1)
		}
	}
	l.producers.entries = entries
	aborted, stale, err := l.loadAbortedBelowLocked(from)
	if err != nil {
		return false, err
	}
	below := len(aborted)
	if aborted, err = l.replayProducersLocked(from, aborted); err != nil {
		return false, err
	}
	replayed = from < l.logEndOffset
	if replayed {
		l.logAbortedRebuilt(len(aborted)-below, from)
	}
	// The replay rebuilt the entries of every segment from `from` on; an
	// empty segment starting there (a truncation to its base) may still
	// have a file holding the entries of batches cut from it.
	stale = append(stale, l.segmentsPastLocked(from)...)
	if err := l.rewriteTxnIndexesLocked(aborted, stale); err != nil {
		return false, err
	}
	l.producers.expire(l.nowMs(), l.producerIDExpirationMs)
	l.publishTxnStateLocked(aborted)
	return replayed, nil
}

// readSnapshot reads and decodes the snapshot at offset.
func (l *Log) readSnapshot(offset int64) (map[int64]producerEntry, error) {
	name := snapshotFileName(l.dir, offset)
	b, err := l.readFile(neverRefuse, name, maxSnapshotBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s vanished", errBadSnapshot, name)
		}
		return nil, fmt.Errorf("read producer snapshot %s: %w", name, err)
	}
	entries, err := decodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return entries, nil
}

// replayProducersLocked applies every batch whose offsets reach from, to
// the log end, reading only batch headers (and the records of control
// batches), and appends the aborted transactions it meets to aborted. The
// bytes were checked by recovery (or fsynced before the last clean
// start), so anything malformed here is corruption.
func (l *Log) replayProducersLocked(from int64, aborted []AbortedTxn) ([]AbortedTxn, error) {
	for _, seg := range l.segments {
		if seg.nextOffset <= from {
			continue
		}
		var err error
		if aborted, err = l.replaySegmentLocked(seg, from, aborted); err != nil {
			return nil, err
		}
	}
	return aborted, nil
}

func (l *Log) replaySegmentLocked(seg *segment, from int64, aborted []AbortedTxn) ([]AbortedTxn, error) {
	w := windowReader{file: segmentReader(seg, neverRefuse), size: seg.size}
	for position := int64(0); position < seg.size; {
		if seg.size-position < record.HeaderSize {
			return nil, corruption(seg.logName(), position, "batch header cut short while rebuilding producer state", record.ErrShortBatch)
		}
		head, err := w.bytes(position, record.HeaderSize)
		if err != nil {
			return nil, fmt.Errorf("rebuild producer state from %s: %w", seg.logName(), err)
		}
		h, err := record.ParseHeader(head)
		if err != nil || h.Size() > int(seg.size-position) || h.LastOffsetDelta < 0 {
			return nil, corruption(seg.logName(), position, "unreadable batch header while rebuilding producer state", err)
		}
		if h.LastOffset() >= from {
			entry, isAbort, err := l.replayBatchLocked(&w, &h, position)
			if err != nil {
				return nil, corruption(seg.logName(), position, "unreadable transaction marker while rebuilding producer state", err)
			}
			if isAbort {
				aborted = append(aborted, entry)
			}
		}
		position += int64(h.Size())
	}
	return aborted, nil
}

// replayBatchLocked replays the batch h at position, reading a control
// batch's records to learn which marker it is.
func (l *Log) replayBatchLocked(w *windowReader, h *record.Header, position int64) (AbortedTxn, bool, error) {
	if !h.IsControl() || h.ProducerID < 0 {
		return l.producers.replay(h, nil)
	}
	batch, err := w.bytes(position, h.Size())
	if err != nil {
		return AbortedTxn{}, false, err
	}
	return l.producers.replay(h, batch)
}

// resetProducerStateLocked forgets every producer and deletes every
// snapshot file in the directory, durably: the log restarts empty, and no
// old snapshot may describe its new offsets.
func (l *Log) resetProducerStateLocked() error {
	snapshots, err := l.listSnapshots()
	if err != nil {
		return err
	}
	l.producers.entries = map[int64]producerEntry{}
	l.producers.snapshots = snapshots
	name := segmentFileName(l.dir, l.segments[0].baseOffset, txnIndexSuffix)
	if err := l.fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove aborted transaction index: %w", err)
	}
	l.segments[0].hasTxnIndex = false
	l.publishTxnStateLocked(nil)
	return l.dropSnapshotsAboveLocked(-1)
}
