package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// DeleteRecordsBefore raises the log start offset to offset (Kafka's
// DeleteRecords), durably, and deletes the segments wholly below it. An
// offset past the log end is ErrOffsetOutOfRange; one at or below the
// current start changes nothing.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset > l.logEndOffset {
		return fmt.Errorf("delete records before %d, past the log end %d: %w", offset, l.logEndOffset, ErrOffsetOutOfRange)
	}
	if offset <= l.logStartOffset {
		return nil
	}
	// The checkpoint must not claim a start above the recovery point, or a
	// crash could leave the log ending below its own start.
	if err := l.syncBelowLocked(offset); err != nil {
		return err
	}
	if err := l.raiseLogStartLocked(offset); err != nil {
		return err
	}
	l.removeSegmentsLocked(l.countBelowStartLocked(), "log start offset")
	return nil
}

// syncBelowLocked fsyncs until every offset below offset is durable.
func (l *Log) syncBelowLocked(offset int64) error {
	if l.flushed.Load() >= offset {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.flushLocked()
}

// raiseLogStartLocked persists and then publishes a higher log start offset.
func (l *Log) raiseLogStartLocked(offset int64) error {
	if offset <= l.logStartOffset {
		return nil
	}
	previous := l.logStartOffset
	l.mu.Lock()
	l.logStartOffset = offset
	l.mu.Unlock()
	if err := l.writeCheckpointLocked(); err != nil {
		l.mu.Lock()
		l.logStartOffset = previous
		l.mu.Unlock()
		return fmt.Errorf("persist log start offset %d: %w", offset, err)
	}
	// The epoch of the new first offset stays known (Kafka's
	// truncateFromStart). Written after the log start: a crash in between
	// leaves entries below it, which the next open trims the same way.
	return l.updateEpochsLocked(func(es epochEntries) (epochEntries, bool) { return es.truncateFromStart(offset) })
}

// countBelowStartLocked counts the leading sealed segments whose offsets
// are all below the log start offset.
func (l *Log) countBelowStartLocked() int {
	n := 0
	for n < len(l.segments)-1 && l.segments[n+1].baseOffset <= l.logStartOffset {
		n++
	}
	return n
}

// EnforceRetention deletes the oldest segments that retention.ms or
// retention.bytes (or the log start offset) no longer keeps, as Kafka's
// periodic retention check does. Time and size retention apply only when
// cleanup.policy includes delete (Config.Delete); a compact-only log loses
// only segments below its log start offset. If that includes the active segment, a new
// empty one is rolled first, so the log start offset moves up to the log
// end. It returns how many segments it deleted.
func (l *Log) EnforceRetention(now time.Time) (deletedSegments int, err error) {
	return l.EnforceRetentionBelow(now, math.MaxInt64)
}

// EnforceRetentionBelow is EnforceRetention deleting only segments whose
// every offset is below upperBound: with replication, the high watermark,
// so that no record is deleted before every replica has it (as Kafka does).
func (l *Log) EnforceRetentionBelow(now time.Time, upperBound int64) (deletedSegments int, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	n := l.countExpiredLocked(now.UnixMilli(), upperBound)
	if n == 0 {
		return 0, nil
	}
	if n == len(l.segments) {
		if err := l.rollLocked(l.logEndOffset); err != nil {
			return 0, err
		}
	}
	if err := l.raiseLogStartLocked(l.segments[n].baseOffset); err != nil {
		return 0, err
	}
	l.removeSegmentsLocked(n, "retention")
	return n, nil
}

// countExpiredLocked returns how many leading segments retention deletes.
// With cleanup.policy delete, a segment goes when it is older than
// retention.ms (by its max timestamp, or its last append when it has none)
// or when the log would still exceed retention.bytes without it; with any
// policy, when it lies below the log start offset.
func (l *Log) countExpiredLocked(nowMs, upperBound int64) int {
	cfg := l.config.Load()
	excess := int64(-1)
	if cfg.RetentionBytes >= 0 {
		excess = l.Size() - cfg.RetentionBytes
	}
	n := 0
	for ; n < len(l.segments); n++ {
		seg := l.segments[n]
		end := seg.nextOffset
		if n+1 < len(l.segments) {
			end = l.segments[n+1].baseOffset
		}
		if seg.size == 0 || end > upperBound {
			break
		}
		timed := cfg.Delete && cfg.RetentionMs >= 0 && nowMs-seg.largestTimestamp() > cfg.RetentionMs
		sized := cfg.Delete && excess >= seg.size
		belowStart := n+1 < len(l.segments) && end <= l.logStartOffset
		if !timed && !sized && !belowStart {
			break
		}
		excess -= seg.size
	}
	return n
}

// largestTimestamp is what time retention compares with retention.ms.
func (s *segment) largestTimestamp() int64 {
	if s.maxTimestamp >= 0 {
		return s.maxTimestamp
	}
	return s.lastModifiedMs
}

// removeSegmentsLocked unpublishes the first n segments and deletes their
// files; each file closes once no reader holds it.
func (l *Log) removeSegmentsLocked(n int, reason string) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	removed := slices.Clone(l.segments[:n])
	l.segments = slices.Clone(l.segments[n:])
	l.mu.Unlock()
	l.deleteSegmentFiles(removed, reason)
	l.pruneSnapshotsLocked()
	l.dropAbortedBelowLocked()
}

// deleteSegmentFiles removes the files of segments already unpublished.
// A removal that is not made durable only leaves files below the log start
// offset behind, which the next Open ignores, so failures are logged.
// Readers still holding a segment finish on its descriptor if one is open,
// else read again (retire).
func (l *Log) deleteSegmentFiles(segments []*segment, reason string) error {
	var errs []error
	for _, seg := range segments {
		seg.retire()
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			name := segmentFileName(l.dir, seg.baseOffset, suffix)
			if err := l.fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		l.logger.Info("deleted segment", slog.String("file", seg.logName()), slog.String("reason", reason),
			slog.Int64("baseOffset", seg.baseOffset), slog.Int64("bytes", seg.size))
		seg.release()
	}
	if err := l.syncDir(); err != nil { // fsync point: the removals
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil {
		l.logger.Warn("delete segment files", slog.String("reason", reason), slog.Any("error", err))
	}
	return err
}

// Truncate drops every record at or after offset (a follower cutting a
// divergent tail), and what producers wrote there: their states, the
// aborted-transaction index and the last stable offset are rebuilt from
// the newest snapshot below the cut and the log up to it. A batch holding
// offset goes whole, so the log then ends at that batch's base offset, or,
// where compaction removed the batches just before offset, after the last
// batch left below it: the log end is never past the data. An offset below
// the log start empties the log and restarts it there, as Kafka's
// truncateFullyAndStartAt. The cleaner checkpoint comes down with the log
// end, and the leader-epoch cache drops the epochs starting at or after
// it (Kafka's truncateFromEnd). An offset at or past the log end cuts no
// data but still drops the epochs starting at the log end, as Kafka's
// UnifiedLog.truncateTo does: a broker that became leader (an epoch
// assigned at its log end) and lost the leadership before writing must
// not report that epoch to its next leader.
func (l *Log) Truncate(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("truncate to negative offset %d: %w", offset, ErrOffsetOutOfRange)
	}
	if offset >= l.logEndOffset {
		end := l.logEndOffset
		return l.updateEpochsLocked(func(es epochEntries) (epochEntries, bool) { return es.truncateFromEnd(end) })
	}
	l.syncMu.Lock() // no fsync may publish a recovery point past the cut
	defer l.syncMu.Unlock()
	if offset < l.logStartOffset {
		return l.truncateFullyLocked(offset)
	}
	return l.truncateToLocked(offset)
}

// truncateToLocked cuts the log at offset (inside the log).
func (l *Log) truncateToLocked(offset int64) error {
	keep := sortSearchSegments(l.segments, offset)
	target := l.segments[keep-1]
	if err := l.ensureIndexes(target); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	cut, err := l.planCut(target, offset)
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	// The cut's files are pinned before anything changes: from here on, a
	// refusal could only fail the log.
	sealed := target.offsetIndex == nil
	if sealed {
		l.attachIndexFiles(target, false)
		target.log.setAppendable(true)
	}
	files, err := l.pinActive(target, mayRefuse, true, true)
	if err != nil {
		if sealed {
			target.sealFiles()
		}
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	defer files.release()
	// Lower the recovery point first: a crash mid-cut then rescans.
	l.flushed.Store(min(l.flushed.Load(), cut.nextOffset))
	l.firstDirty.Store(min(l.firstDirty.Load(), cut.nextOffset))
	if err := l.writeCheckpointLocked(); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	removed := slices.Clone(l.segments[keep:])
	l.publishCutLocked(target, &cut, len(removed))
	if err := l.applyCut(target, &files, &cut); err != nil {
		return l.fail(fmt.Errorf("truncate to %d: %w", offset, err))
	}
	if err := l.deleteSegmentFiles(removed, "truncation"); err != nil {
		return l.fail(fmt.Errorf("truncate to %d: %w", offset, err))
	}
	if _, err := l.loadProducerStateLocked(); err != nil {
		return l.fail(fmt.Errorf("truncate to %d: rebuild producer state: %w", offset, err))
	}
	// After the cut, never before: a crash in between leaves entries past
	// the log end, which the next open drops, rather than batches whose
	// epoch the checkpoint lost.
	end := l.logEndOffset
	return l.updateEpochsLocked(func(es epochEntries) (epochEntries, bool) { return es.truncateFromEnd(end) })
}

// sortSearchSegments returns how many segments have a base offset at or
// below offset (at least one: the first segment is never dropped here).
func sortSearchSegments(segments []*segment, offset int64) int {
	n := 1
	for n < len(segments) && segments[n].baseOffset <= offset {
		n++
	}
	return n
}

// planCut works out target's state once cut before the batch holding
// offset (or the first batch after it), reading but changing nothing.
func (l *Log) planCut(target *segment, offset int64) (cutState, error) {
	l.mu.RLock()
	v := segmentView{seg: target, size: target.size, nextOffset: target.nextOffset, offsets: target.offsets}
	times := target.times
	l.mu.RUnlock()
	pinned, err := target.log.pin(mayRefuse, false)
	if err != nil {
		return cutState{}, err
	}
	defer pinned.release()
	_, position, h, err := findBatch(nil, pinned.file(0), &v, offset)
	if err != nil {
		return cutState{}, err
	}
	cut := cutState{size: position, nextOffset: v.nextOffset}
	if position < v.size {
		cut.nextOffset = h.BaseOffset
	}
	cut.keepIndexes(target, v.offsets, times)
	if err := cut.walkRest(target, pinned.file(0)); err != nil {
		return cutState{}, err
	}
	return cut, nil
}

// cutState is a segment's state after a truncation.
type cutState struct {
	size, nextOffset     int64
	offsets              []offsetEntry
	times                []timeEntry
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
}

// keepIndexes keeps the index entries below the cut (in new arrays, so
// readers holding the old ones are undisturbed).
func (c *cutState) keepIndexes(s *segment, offsets []offsetEntry, times []timeEntry) {
	for _, e := range offsets {
		if int64(e.position) < c.size {
			c.offsets = append(c.offsets, e)
		}
	}
	for _, e := range times {
		if s.baseOffset+int64(e.relativeOffset) < c.nextOffset {
			c.times = append(c.times, e)
		}
	}
	c.maxTimestamp, c.offsetOfMaxTimestamp = -1, -1
	if n := len(c.times); n > 0 {
		c.maxTimestamp, c.offsetOfMaxTimestamp = c.times[n-1].timestamp, s.baseOffset+int64(c.times[n-1].relativeOffset)
	}
}

// walkRest reads the headers (of f, s's log) after the last kept index
// entry for the max timestamp the kept time entries do not cover, and ends
// the segment after the last kept batch (below the cut batch's base offset
// when compaction left a gap before it).
func (c *cutState) walkRest(s *segment, f vfs.File) error {
	var position int64
	if n := len(c.offsets); n > 0 {
		position = int64(c.offsets[n-1].position)
	}
	lastEnd := s.baseOffset
	header := make([]byte, record.HeaderSize)
	for position < c.size {
		h, err := readHeaderAt(f, header, position, c.size)
		if err != nil {
			return err
		}
		if h.MaxTimestamp > c.maxTimestamp {
			c.maxTimestamp, c.offsetOfMaxTimestamp = h.MaxTimestamp, h.BaseOffset
		}
		lastEnd = h.LastOffset() + 1
		position += int64(h.Size())
	}
	if c.size < s.size {
		c.nextOffset = min(c.nextOffset, lastEnd)
	}
	return nil
}

// publishCutLocked shows readers the truncated log before any byte is cut,
// and bumps the truncation counter so in-flight reads retry.
func (l *Log) publishCutLocked(target *segment, cut *cutState, removed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.segments = slices.Clone(l.segments[:len(l.segments)-removed])
	target.size, target.nextOffset = cut.size, cut.nextOffset
	target.offsets, target.times, target.indexLoaded = cut.offsets, cut.times, true
	target.maxTimestamp, target.offsetOfMaxTimestamp = cut.maxTimestamp, cut.offsetOfMaxTimestamp
	target.truncations++
	l.truncations++
	l.logEndOffset = cut.nextOffset
}

// applyCut cuts target's files (pinned) to the published state and makes
// it the active segment again, durably.
func (l *Log) applyCut(target *segment, pinned *activeFiles, cut *cutState) error {
	target.indexer.reset(l.config.Load().IndexIntervalBytes)
	target.indexer.maxTimestamp, target.indexer.offsetOfMaxTimestamp = cut.maxTimestamp, cut.offsetOfMaxTimestamp
	if n := len(cut.times); n > 0 {
		target.indexer.lastTimeEntry = cut.times[n-1].timestamp
	}
	if cut.size == 0 {
		target.firstTimestamp, target.createdMs = -1, l.nowMs()
	}
	files := []struct {
		file vfs.File
		size int64
	}{
		{pinned.log, cut.size},
		{pinned.offsetIndex, int64(len(cut.offsets)) * offsetEntrySize},
		{pinned.timeIndex, int64(len(cut.times)) * timeEntrySize},
	}
	for _, f := range files {
		if err := f.file.Truncate(f.size); err != nil {
			return err
		}
		if err := f.file.Sync(); err != nil { // fsync point: the cut
			return err
		}
	}
	return nil
}

// truncateFullyLocked deletes every segment and restarts the log empty at
// newStart.
func (l *Log) truncateFullyLocked(newStart int64) error {
	seg, err := l.createSegmentFiles(newStart)
	if err != nil {
		return fmt.Errorf("restart log at %d: %w", newStart, err)
	}
	l.mu.Lock()
	removed := l.segments
	for _, old := range removed {
		old.truncations++ // a file may be reused under the same name
	}
	l.truncations++
	l.segments = []*segment{seg}
	l.logStartOffset, l.logEndOffset = newStart, newStart
	l.mu.Unlock()
	l.firstDirty.Store(min(l.firstDirty.Load(), newStart))
	for _, old := range removed {
		if old.baseOffset == newStart {
			old.retire() // its file names are the new segment's now
			old.release()
			continue
		}
		if err := l.deleteSegmentFiles([]*segment{old}, "truncation"); err != nil {
			return l.fail(err)
		}
	}
	if err := l.syncDir(); err != nil { // fsync point: the new segment
		return l.fail(fmt.Errorf("restart log at %d: sync directory: %w", newStart, err))
	}
	if err := l.resetProducerStateLocked(); err != nil {
		return l.fail(fmt.Errorf("restart log at %d: %w", newStart, err))
	}
	// The epochs go with the data, after it (Kafka's clearAndFlush): a
	// crash in between leaves entries the next open trims to the empty log.
	l.recoveredEpochs = nil
	if err := l.setEpochsLocked(nil); err != nil {
		return err
	}
	l.flushed.Store(newStart)
	return l.writeCheckpointLocked()
}
