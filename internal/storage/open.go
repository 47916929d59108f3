package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// load brings the log in l.dir to a consistent, durable state: segments
// opened, the unflushed tail recovered (unless clean), indexes valid, the
// checkpoint saying recovery point = log end offset, and the producer
// states rebuilt.
func (l *Log) load(clean bool) error {
	names, err := l.listAfterSwaps()
	if errors.Is(err, fs.ErrNotExist) {
		if err = l.ensureDir(); err == nil {
			names, err = l.listAfterSwaps()
		}
	}
	if err != nil {
		return err
	}
	l.loadListing = names
	if bases := segmentBases(names); l.loadState != nil && (len(bases) == 0 || bases[len(bases)-1] != l.loadState.Base) {
		l.loadState = nil // not the log the state describes
	}
	l.removeStrays(names)
	cp, found, err := l.loadCheckpoint()
	if err != nil {
		return err
	}
	if found {
		l.checkpointed = cp
		l.firstDirty.Store(cp.firstDirtyOffset)
	} else {
		// No checkpoint: everything is suspect. What is on disk says
		// no more than absentCheckpoint, so writing that is no news.
		cp, l.checkpointed = absentCheckpoint, absentCheckpoint
	}
	bases := segmentBases(names)
	if len(bases) == 0 {
		err = l.startAt(cp.logStartOffset, found)
	} else {
		var scanned bool
		if scanned, err = l.loadSegments(bases, cp.recoveryPoint, clean); err == nil {
			err = l.finishLoad(cp, bases[0], scanned)
		}
	}
	if err != nil {
		return err
	}
	if err := l.openProducerState(clean, names); err != nil {
		return err
	}
	recovered := l.recoveredEpochs
	l.recoveredEpochs = nil
	return l.loadEpochsLocked(recovered)
}

// loadCheckpoint is readCheckpoint, taken from the clean-shutdown state
// when that has it.
func (l *Log) loadCheckpoint() (checkpoint, bool, error) {
	if st := l.loadState; st != nil && st.checkpointed && l.mayExistLocked(checkpointName) {
		return st.checkpoint, true, nil
	}
	return l.readCheckpoint()
}

// mayExistLocked reports whether the file at path may exist: false only
// while Open loads the log and its listing does not name it, so that
// loading an idle partition (no checkpoint, leader-epoch or .txnindex
// file yet) does not ask for files it never wrote.
func (l *Log) mayExistLocked(path string) bool {
	return l.loadListing == nil || slices.Contains(l.loadListing, filepath.Base(path))
}

// ensureDir creates the partition directory durably if it is missing.
func (l *Log) ensureDir() error {
	info, err := l.fsys.Stat(l.dir)
	if err == nil {
		if !info.IsDir {
			return fmt.Errorf("%s is not a directory", l.dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat: %w", err)
	}
	if err := l.fsys.MkdirAll(l.dir); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	parent := filepath.Dir(l.dir)
	if err := l.files.transient(neverRefuse, parent, func() error { return l.fsys.SyncDir(parent) }); err != nil { // fsync point: the new directory
		return fmt.Errorf("sync parent directory: %w", err)
	}
	return nil
}

// removeStrays deletes what a crash can leave behind: a half-written
// checkpoint, and index files whose segment is gone.
func (l *Log) removeStrays(names []string) {
	logs := map[int64]bool{}
	for _, name := range names {
		if base, suffix, ok := parseSegmentName(name); ok && suffix == logSuffix {
			logs[base] = true
		}
	}
	for _, name := range names {
		base, suffix, isSegment := parseSegmentName(name)
		stray := strings.HasSuffix(name, ".tmp") || (isSegment && suffix != logSuffix && !logs[base])
		if !stray {
			continue
		}
		path := filepath.Join(l.dir, name)
		if err := l.fsys.Remove(path); err != nil {
			l.logger.Warn("remove stray file", slog.String("file", path), slog.Any("error", err))
		}
	}
}

// segmentBases returns the base offsets of the .log files, ascending.
func segmentBases(names []string) []int64 {
	var bases []int64
	for _, name := range names {
		if base, suffix, ok := parseSegmentName(name); ok && suffix == logSuffix {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	return bases
}

// startAt gives an empty directory its first segment. A brand-new log
// (no checkpoint, starting at 0, never compacted) writes no checkpoint:
// a missing checkpoint loads exactly as that one would (log start 0,
// recovery point 0, no cleaner checkpoint; see load), so the file and its
// two fsyncs are left to the first checkpoint with something to say.
func (l *Log) startAt(base int64, checkpointFound bool) error {
	seg, err := l.createSegmentFiles(base)
	if err != nil {
		return err
	}
	l.segments = []*segment{seg}
	if err := l.syncDir(); err != nil { // fsync point: the first segment
		return fmt.Errorf("sync directory: %w", err)
	}
	l.logStartOffset, l.logEndOffset = base, base
	l.flushed.Store(base)
	l.markPristineLocked()
	l.checkpointed = checkpoint{logStartOffset: base, recoveryPoint: base, firstDirtyOffset: l.firstDirty.Load()}
	if !checkpointFound && l.checkpointed == absentCheckpoint {
		return nil
	}
	return l.writeCheckpoint(l.checkpointed)
}

// absentCheckpoint is what load makes of a log directory without a
// checkpoint: nothing trusted, nothing compacted.
var absentCheckpoint = checkpoint{logStartOffset: 0, recoveryPoint: 0, firstDirtyOffset: noCleanerCheckpoint}

// loadSegments opens every segment: those that may hold offsets at or past
// the recovery point are scanned (unless clean), the others trusted.
// scanned reports whether a recovery scan ran (then the log's bytes may
// be the page cache's and must be fsynced before they count).
func (l *Log) loadSegments(bases []int64, recoveryPoint int64, clean bool) (scanned bool, err error) {
	for i, base := range bases {
		last := i == len(bases)-1
		seg, err := l.openSegment(base, last)
		if err != nil {
			return scanned, err
		}
		l.segments = append(l.segments, seg)
		switch {
		case !clean && (last || bases[i+1] > recoveryPoint):
			err = l.recoverSegment(seg, last, recoveryPoint)
			scanned = true
		case last && l.loadActiveFromState(seg):
		case last:
			var fellBack bool
			fellBack, err = l.loadActiveClean(seg, recoveryPoint)
			scanned = scanned || fellBack
		default:
			err = l.loadSealed(seg, bases[i+1])
		}
		if err != nil {
			return scanned, err
		}
		if !last && seg.indexLoaded && seg.nextOffset != bases[i+1] {
			return scanned, corruption(seg.logName(), seg.size, fmt.Sprintf("segment ends at offset %d but the next segment starts at %d", seg.nextOffset, bases[i+1]), nil)
		}
	}
	return scanned, nil
}

// openSegment makes the segment at base from its .log, not opened yet:
// its size comes from a stat, and the scans open it through the cache.
// The last segment's log is opened for appends, the others read-only.
func (l *Log) openSegment(base int64, last bool) (*segment, error) {
	name := segmentFileName(l.dir, base, logSuffix)
	info, err := l.fsys.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	seg := newSegment(l.files.file(l.fsys, name, last, false), base, l.config.Load().IndexIntervalBytes, l.nowMs())
	seg.size = info.Size
	return seg, nil
}

// finishLoad sets the log's offsets, makes the recovered state durable and
// records it in the checkpoint. After a clean shutdown with nothing
// scanned there is nothing to make durable: Close fsynced every segment
// before the marker was written, and nothing has written since.
func (l *Log) finishLoad(cp checkpoint, firstBase int64, scanned bool) error {
	active := l.activeLocked()
	if active.nextOffset < cp.recoveryPoint {
		return corruption(active.logName(), active.size,
			fmt.Sprintf("log ends at offset %d, below the recovery point %d: fsynced data is missing", active.nextOffset, cp.recoveryPoint), nil)
	}
	l.logEndOffset = active.nextOffset
	l.logStartOffset = max(cp.logStartOffset, firstBase)
	if l.logStartOffset > l.logEndOffset {
		// Everything left is below the log start offset (DeleteRecords
		// raced with a crash): start empty there, as Kafka does.
		return l.truncateFullyLocked(l.logStartOffset)
	}
	if active.offsetIndex == nil {
		l.attachIndexFiles(active, false)
	}
	if scanned && l.logEndOffset > cp.recoveryPoint {
		if err := l.syncRecovered(active); err != nil {
			return err
		}
	} else if !scanned {
		l.markPristineLocked()
	}
	l.flushed.Store(l.logEndOffset)
	if scanned && l.recoveryPointUnneededLocked() {
		return nil
	}
	return l.writeCheckpointLocked()
}

// recoveryPointUnneededLocked reports whether a recovery that moved the
// recovery point only within the active segment may leave the checkpoint
// as it is: the next recovery after a crash scans the whole active segment
// whatever the recovery point in it, so the new one would change nothing
// but cost two fsyncs per partition (a restart after SIGKILL recovers
// every partition). The next checkpoint written (a roll, Close) records
// it.
func (l *Log) recoveryPointUnneededLocked() bool {
	c := l.checkpointed
	return c.recoveryPoint >= l.activeLocked().baseOffset && c.logStartOffset == l.logStartOffset &&
		c.firstDirtyOffset == l.firstDirty.Load()
}

// syncRecovered fsyncs the active segment after a recovery scan: the bytes
// it kept may have been the dead process's page cache. A log that ends at
// its recovery point needs none: everything below that point was fsynced
// before the checkpoint said so (after a SIGKILL, every partition idle
// since its last checkpoint, which at 100,000 partitions is most of them).
func (l *Log) syncRecovered(active *segment) error {
	files, err := l.pinActive(active, mayRefuse, false, false)
	if err != nil {
		return fmt.Errorf("open active segment: %w", err)
	}
	defer files.release()
	if err := files.log.Sync(); err != nil { // fsync point: what recovery kept
		return fmt.Errorf("make recovered log durable: %w", err)
	}
	return nil
}

// recoverSegment scans seg, cuts a torn tail (only in the last segment and
// only past the recovery point) or reports corruption, and rewrites its
// indexes from the scan.
func (l *Log) recoverSegment(seg *segment, last bool, recoveryPoint int64) error {
	res, err := scanSegment(segmentReader(seg, mayRefuse), seg.size, seg.baseOffset, l.config.Load().IndexIntervalBytes)
	if err != nil {
		return err
	}
	if res.stop != nil {
		if err := l.judgeStop(seg, &res, last, recoveryPoint); err != nil {
			return err
		}
		if err := l.cutTornTail(seg, &res); err != nil {
			return err
		}
	}
	if err := l.writeRecoveredIndexes(seg, last, &res); err != nil {
		return err
	}
	seg.applyScan(&res)
	l.recoveredEpochs = append(l.recoveredEpochs, res.epochs...)
	return nil
}

// writeRecoveredIndexes replaces the index files of a scanned segment. A
// sealed segment's are fsynced: once the recovery point passes it they are
// trusted without a scan. The active segment's are not: nothing reads
// them before they are fsynced (its seal, at a roll or at Close, fsyncs
// them, and only then can a clean-shutdown marker vouch for them), and
// after another crash the active segment is scanned and its indexes
// rebuilt again. That spares two fsyncs per partition on a restart after
// a crash.
func (l *Log) writeRecoveredIndexes(seg *segment, last bool, res *scanResult) error {
	if !last {
		return l.writeIndexFiles(seg.baseOffset, res.offsets, res.times)
	}
	offsetBytes, timeBytes := encodeIndexEntries(res.offsets, res.times)
	if err := l.rewriteIfChanged(segmentFileName(l.dir, seg.baseOffset, indexSuffix), offsetBytes); err != nil {
		return err
	}
	return l.rewriteIfChanged(segmentFileName(l.dir, seg.baseOffset, timeIndexSuffix), timeBytes)
}

// rewriteIfChanged writes data to name, unsynced, unless name already
// holds exactly data: after a crash the active segment's indexes usually
// hold what the scan rebuilt (every entry was written as its batch was),
// and reading a small file costs far less than truncating and rewriting
// it (a metadata change, for each of 100,000 partitions).
func (l *Log) rewriteIfChanged(name string, data []byte) error {
	if current, err := l.readFile(neverRefuse, name, int64(len(data))+1); err == nil && bytes.Equal(current, data) {
		return nil
	}
	return l.writeFileUnsynced(name, data)
}

// judgeStop decides whether the invalid bytes a scan stopped at are a torn
// write (nil) or corruption (an error).
func (l *Log) judgeStop(seg *segment, res *scanResult, last bool, recoveryPoint int64) error {
	stop, name := res.stop, seg.logName()
	if !last {
		return corruption(name, stop.position, "invalid batch in a sealed (fsynced) segment: "+stop.reason, stop.cause)
	}
	if res.nextOffset < recoveryPoint {
		return corruption(name, stop.position, fmt.Sprintf("invalid batch at offset %d, below the recovery point %d (fsynced data): %s",
			res.nextOffset, recoveryPoint, stop.reason), stop.cause)
	}
	zero, err := tailIsZero(segmentReader(seg, mayRefuse), stop.position, seg.size)
	if err != nil || zero {
		return err
	}
	at, found, err := findValidBatch(segmentReader(seg, mayRefuse), stop.position, seg.size, res.nextOffset)
	if err != nil {
		return err
	}
	if found {
		return corruption(name, stop.position, fmt.Sprintf("%s, yet a valid batch follows at byte %d", stop.reason, at), stop.cause)
	}
	return nil
}

// cutTornTail truncates seg after its last valid batch, durably.
func (l *Log) cutTornTail(seg *segment, res *scanResult) error {
	l.logger.Warn("recovery: truncating torn write at the end of the log",
		slog.String("file", seg.logName()), slog.Int64("position", res.stop.position),
		slog.Int64("bytes", seg.size-res.validSize), slog.String("reason", res.stop.reason),
		slog.Any("error", res.stop.cause))
	pinned, err := seg.log.pin(mayRefuse, true)
	if err != nil {
		return fmt.Errorf("truncate %s: %w", seg.logName(), err)
	}
	defer pinned.release()
	if err := pinned.file(0).Truncate(res.validSize); err != nil {
		return fmt.Errorf("truncate %s: %w", seg.logName(), err)
	}
	if err := pinned.file(0).Sync(); err != nil { // fsync point: the cut
		return fmt.Errorf("make torn-tail cut durable: %w", err)
	}
	return nil
}

// applyScan takes a scan's findings as the segment's state.
func (seg *segment) applyScan(res *scanResult) {
	seg.size = res.validSize
	seg.nextOffset = res.nextOffset
	seg.offsets, seg.times = res.offsets, res.times
	seg.indexLoaded = true
	seg.indexer = res.indexer
	seg.maxTimestamp, seg.offsetOfMaxTimestamp = res.indexer.maxTimestamp, res.indexer.offsetOfMaxTimestamp
	seg.firstTimestamp = res.firstTimestamp
}

// writeIndexFiles replaces a segment's index files with entries, durably.
func (l *Log) writeIndexFiles(base int64, offsets []offsetEntry, times []timeEntry) error {
	return l.writeIndexFilesNamed(segmentFileName(l.dir, base, indexSuffix), segmentFileName(l.dir, base, timeIndexSuffix), offsets, times)
}

// writeIndexFilesNamed writes index entries to the files named, durably
// (fsync point: a rebuilt index).
func (l *Log) writeIndexFilesNamed(offsetName, timeName string, offsets []offsetEntry, times []timeEntry) error {
	offsetBytes, timeBytes := encodeIndexEntries(offsets, times)
	if err := l.writeFile(offsetName, offsetBytes); err != nil {
		return err
	}
	return l.writeFile(timeName, timeBytes)
}

// encodeIndexEntries is the file contents of an offset and a time index.
func encodeIndexEntries(offsets []offsetEntry, times []timeEntry) (offsetBytes, timeBytes []byte) {
	for _, e := range offsets {
		offsetBytes = appendOffsetEntry(offsetBytes, e)
	}
	for _, e := range times {
		timeBytes = appendTimeEntry(timeBytes, e)
	}
	return offsetBytes, timeBytes
}

// loadSealed trusts a segment below the recovery point: its end is the next
// segment's base, its max timestamp the time index's last entry. Indexes
// are read in full on first use (ensureIndexes).
func (l *Log) loadSealed(seg *segment, nextBase int64) error {
	seg.nextOffset = nextBase
	seg.indexLoaded = false
	last, ok, err := l.lastTimeEntry(seg)
	if err != nil {
		return err
	}
	if !ok {
		l.logger.Warn("rebuilding index of sealed segment", slog.String("file", seg.logName()))
		return l.rebuildSealed(seg)
	}
	seg.maxTimestamp, seg.offsetOfMaxTimestamp = last.timestamp, seg.baseOffset+int64(last.relativeOffset)
	if last.timestamp < 0 {
		seg.maxTimestamp, seg.offsetOfMaxTimestamp = -1, -1
	}
	return nil
}

// lastTimeEntry reads the last entry of seg's time index; ok is false when
// the index files are missing or malformed and must be rebuilt. An empty
// time index yields a timestamp of -1.
func (l *Log) lastTimeEntry(seg *segment) (entry timeEntry, ok bool, err error) {
	offsetInfo, err := l.fsys.Stat(segmentFileName(l.dir, seg.baseOffset, indexSuffix))
	if err != nil || offsetInfo.Size%offsetEntrySize != 0 {
		return timeEntry{}, false, nil
	}
	name := segmentFileName(l.dir, seg.baseOffset, timeIndexSuffix)
	var last []byte
	err = l.files.transient(mayRefuse, name, func() (err error) {
		last, ok, err = readLastTimeEntry(l.fsys, name)
		return err
	})
	if err != nil || !ok {
		return timeEntry{}, false, err
	}
	if last == nil {
		return timeEntry{timestamp: -1}, true, nil
	}
	entry = decodeTimeEntry(last)
	return entry, int64(entry.relativeOffset) < seg.nextOffset-seg.baseOffset, nil
}

// readLastTimeEntry returns the last entry of a time index file (nil if it
// is empty); ok is false when the file cannot be opened or its size is not
// whole entries (the index is rebuilt). Running out of descriptors is an
// error, not a reason to rebuild.
func readLastTimeEntry(fsys vfs.FS, name string) (last []byte, ok bool, err error) {
	f, err := fsys.Open(name)
	if isOutOfDescriptors(err) {
		return nil, false, err
	}
	if err != nil {
		return nil, false, nil
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size%timeEntrySize != 0 {
		return nil, false, err
	}
	if size == 0 {
		return nil, true, nil
	}
	buf := make([]byte, timeEntrySize)
	if err := readFull(f, buf, size-timeEntrySize); err != nil {
		return nil, false, err
	}
	return buf, true, nil
}

// rebuildSealed scans a sealed segment whose indexes are unusable and
// rewrites them. Any invalid batch is corruption: the segment was fsynced.
func (l *Log) rebuildSealed(seg *segment) error {
	res, err := scanSegment(segmentReader(seg, mayRefuse), seg.size, seg.baseOffset, l.config.Load().IndexIntervalBytes)
	if err != nil {
		return err
	}
	if res.stop != nil {
		return corruption(seg.logName(), res.stop.position, "invalid batch in a sealed (fsynced) segment: "+res.stop.reason, res.stop.cause)
	}
	if err := l.writeIndexFiles(seg.baseOffset, res.offsets, res.times); err != nil {
		return err
	}
	seg.applyScan(&res)
	return nil
}

// loadActiveFromState loads the last segment after a clean shutdown from
// what the clean-shutdown marker recorded of it (Options.ShutdownState),
// reading its indexes only if they have more than one entry and the log
// not at all. It
// reports false, having changed nothing, when there is no state or it does
// not match what is on disk (the segment's base or size, the indexes'
// entries): then loadActiveClean reads the segment.
func (l *Log) loadActiveFromState(seg *segment) bool {
	st := l.loadState
	if st == nil || !st.plausible() || st.Base != seg.baseOffset || st.Size != seg.size {
		l.loadState = nil // read the rest from the files too
		return false
	}
	offsets, times, inState := st.indexes()
	if !inState {
		offsetBytes, timeBytes, err := l.readIndexFiles(seg.baseOffset, seg.size)
		if err != nil {
			return false
		}
		if offsets, err = decodeOffsetIndex(offsetBytes, seg.size); err != nil || int64(len(offsets)) != st.OffsetEntries {
			l.loadState = nil
			return false
		}
		if times, err = decodeTimeIndex(timeBytes, st.NextOffset-st.Base); err != nil || int64(len(times)) != st.TimeEntries {
			l.loadState = nil
			return false
		}
	}
	seg.offsets, seg.times, seg.nextOffset, seg.firstTimestamp = offsets, times, st.NextOffset, st.FirstTimestamp
	seg.indexer.reset(l.config.Load().IndexIntervalBytes)
	seg.indexer.maxTimestamp, seg.indexer.offsetOfMaxTimestamp = st.MaxTimestamp, st.OffsetOfMaxTimestamp
	if n := len(times); n > 0 {
		seg.indexer.lastTimeEntry = times[n-1].timestamp
	}
	seg.maxTimestamp, seg.offsetOfMaxTimestamp = st.MaxTimestamp, st.OffsetOfMaxTimestamp
	seg.indexLoaded = true
	return true
}

// loadActiveClean loads the last segment after a clean shutdown without a
// full scan: indexes read and checked, batch headers walked from the last
// index entry to find the end. Anything odd falls back to recovery.
// recovered reports whether it fell back to a recovery scan.
func (l *Log) loadActiveClean(seg *segment, recoveryPoint int64) (recovered bool, err error) {
	if err := l.tryLoadActiveClean(seg); err != nil {
		if errors.Is(err, ErrTooManyOpenFiles) {
			return false, err // not the segment's fault: the open fails, to be retried
		}
		l.logger.Warn("clean shutdown marker present but the active segment needs recovery",
			slog.String("file", seg.logName()), slog.Any("error", err))
		seg.offsets, seg.times = nil, nil
		return true, l.recoverSegment(seg, true, recoveryPoint)
	}
	return false, nil
}

func (l *Log) tryLoadActiveClean(seg *segment) error {
	offsetBytes, timeBytes, err := l.readIndexFiles(seg.baseOffset, seg.size)
	if err != nil {
		return err
	}
	if seg.offsets, err = decodeOffsetIndex(offsetBytes, seg.size); err != nil {
		return err
	}
	seg.indexer.reset(l.config.Load().IndexIntervalBytes)
	pinned, err := seg.log.pin(mayRefuse, false)
	if err != nil {
		return err
	}
	defer pinned.release()
	if err := walkTail(seg, pinned.file(0)); err != nil {
		return err
	}
	if seg.times, err = decodeTimeIndex(timeBytes, seg.nextOffset-seg.baseOffset); err != nil {
		return err
	}
	if n := len(seg.times); n > 0 {
		lastEntry := seg.times[n-1]
		seg.indexer.lastTimeEntry = lastEntry.timestamp
		if lastEntry.timestamp > seg.indexer.maxTimestamp {
			seg.indexer.maxTimestamp, seg.indexer.offsetOfMaxTimestamp = lastEntry.timestamp, seg.baseOffset+int64(lastEntry.relativeOffset)
		}
	}
	seg.maxTimestamp, seg.offsetOfMaxTimestamp = seg.indexer.maxTimestamp, seg.indexer.offsetOfMaxTimestamp
	seg.indexLoaded = true
	return readFirstTimestamp(seg, pinned.file(0))
}

// walkTail reads batch headers from the last indexed position to the end
// of seg (its log pinned as f), setting its next offset and the timestamps
// seen there.
func walkTail(seg *segment, f vfs.File) error {
	var position int64
	if len(seg.offsets) > 0 {
		position = int64(seg.offsets[len(seg.offsets)-1].position)
	}
	buf := make([]byte, record.HeaderSize)
	for position < seg.size {
		h, err := readHeaderAt(f, buf, position, seg.size)
		if err != nil {
			return err
		}
		if h.Magic != record.CurrentMagic || h.LastOffsetDelta < 0 || h.BaseOffset < seg.nextOffset ||
			h.LastOffset()-seg.baseOffset > math.MaxInt32 {
			return fmt.Errorf("batch at byte %d of %s has offsets %d..%d after %d", position, seg.logName(), h.BaseOffset, h.LastOffset(), seg.nextOffset)
		}
		if h.MaxTimestamp > seg.indexer.maxTimestamp {
			seg.indexer.maxTimestamp, seg.indexer.offsetOfMaxTimestamp = h.MaxTimestamp, h.BaseOffset
		}
		seg.nextOffset = h.LastOffset() + 1
		position += int64(h.Size())
	}
	return nil
}

func readFirstTimestamp(seg *segment, f vfs.File) error {
	if seg.size == 0 {
		return nil
	}
	buf := make([]byte, record.HeaderSize)
	h, err := readHeaderAt(f, buf, 0, seg.size)
	if err != nil {
		return err
	}
	seg.firstTimestamp = h.MaxTimestamp
	return nil
}

// readIndexFiles reads both index files of the segment at base whose log
// has logSize bytes, refusing sizes no valid index could have (each entry
// needs a batch of at least a header's size).
func (l *Log) readIndexFiles(base, logSize int64) (offsets, times []byte, err error) {
	maxEntries := logSize/record.HeaderSize + 1
	if offsets, err = l.readFile(mayRefuse, segmentFileName(l.dir, base, indexSuffix), maxEntries*offsetEntrySize); err != nil {
		return nil, nil, err
	}
	if times, err = l.readFile(mayRefuse, segmentFileName(l.dir, base, timeIndexSuffix), maxEntries*timeEntrySize); err != nil {
		return nil, nil, err
	}
	return offsets, times, nil
}
