package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
)

// Suffixes a compaction pass adds to a segment's file names (Kafka's
// CleanedFileSuffix and SwapFileSuffix): <base>.log.cleaned while the copy
// is written, <base>.log.swap once it is committed.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

func cleanedName(dir string, base int64, suffix string) string {
	return segmentFileName(dir, base, suffix) + cleanedSuffix
}

func swapName(dir string, base int64, suffix string) string {
	return segmentFileName(dir, base, suffix) + swapSuffix
}

// indexSuffixes are the suffixes of a segment's derived files.
var indexSuffixes = []string{indexSuffix, timeIndexSuffix}

// errCompactionRaced means the log changed under a pass (truncation,
// retention) so that its copies no longer match; the pass is dropped.
var errCompactionRaced = errors.New("log changed during compaction")

// swapIn replaces the runs of old segments with their cleaned copies, the
// way Kafka's replaceSegments does, crash-safely:
//
//  1. the copies' index files are renamed .cleaned → .swap, the directory
//     fsynced, then their .log files, the directory fsynced: a durable
//     <base>.log.swap is the commit point;
//  2. the old segments' files are deleted (those at a run's base offset
//     are replaced by the rename next), the directory fsynced;
//  3. the .swap index files are renamed to their final names, the
//     directory fsynced, then the .swap logs, the directory fsynced;
//  4. the new segments are published to readers and the cleaner
//     checkpoint written.
//
// Recovery (completeSwaps) finishes a run whose .log.swap exists and
// deletes every other .swap or .cleaned file. It holds appendMu throughout,
// so no append, roll, truncation or retention interleaves with the renames;
// the copying was done before, without it.
func (l *Log) swapIn(p *cleanPlan, cleaned []*cleanedSegment, end int64, result CompactResult) (CompactResult, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	live, err := l.liveRunsLocked(p, cleaned)
	if err != nil {
		l.removeCleaned(cleaned)
		if errors.Is(err, errCompactionRaced) {
			l.logger.Info("compaction pass dropped: the log changed meanwhile", slog.Any("reason", err))
			return result, nil
		}
		return result, err
	}
	l.removeCleaned(without(cleaned, live))
	if len(live) > 0 {
		if err := l.retainReplacedLocked(live); err != nil {
			l.removeCleaned(live)
			return result, fmt.Errorf("compaction swap: %w", err)
		}
		if err := l.mergeTxnIndexesLocked(live); err != nil {
			l.removeCleaned(live)
			return result, fmt.Errorf("compaction swap: %w", err)
		}
		if err := l.commitSwapLocked(live); err != nil {
			return result, err
		}
		segments, err := l.finishSwapLocked(live)
		if err != nil {
			return result, l.fail(fmt.Errorf("compaction swap: %w", err))
		}
		l.publishSwapLocked(live, segments)
	}
	l.firstDirty.Store(end)
	l.checkpointLocked()
	return passResult(result, live, end), nil
}

// passResult fills in the result of a pass that swapped in live.
func passResult(result CompactResult, live []*cleanedSegment, end int64) CompactResult {
	result.Cleaned, result.CleanedTo = true, end
	for _, cs := range live {
		result.SegmentsAfter++
		result.BytesAfter += cs.size
		for _, s := range cs.old {
			result.SegmentsBefore++
			result.BytesBefore += s.size
		}
	}
	return result
}

// liveRunsLocked returns the cleaned runs whose old segments are all still
// published unchanged. A truncation since planning drops the whole pass
// (errCompactionRaced): the key map may count records that are gone.
// Retention or DeleteRecords only removes runs from the front, which are
// skipped.
func (l *Log) liveRunsLocked(p *cleanPlan, cleaned []*cleanedSegment) ([]*cleanedSegment, error) {
	if err := l.writable(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.truncations != p.truncations {
		return nil, fmt.Errorf("%w: truncated", errCompactionRaced)
	}
	var live []*cleanedSegment
	for _, cs := range cleaned {
		if l.runPublishedLocked(cs.old) {
			live = append(live, cs)
		}
	}
	return live, nil
}

// runPublishedLocked reports whether the run's segments are still in the
// log, consecutive and unchanged. Caller holds mu.
func (l *Log) runPublishedLocked(run []segmentSnapshot) bool {
	i := slices.Index(l.segments, run[0].seg)
	if i < 0 || i+len(run) >= len(l.segments) { // the active segment must follow
		return false
	}
	for j, s := range run {
		seg := l.segments[i+j]
		if seg != s.seg || seg.truncations != s.truncations || seg.size != s.size || seg.nextOffset != s.nextOffset {
			return false
		}
	}
	return true
}

func without(all, keep []*cleanedSegment) []*cleanedSegment {
	var rest []*cleanedSegment
	for _, cs := range all {
		if !slices.Contains(keep, cs) {
			rest = append(rest, cs)
		}
	}
	return rest
}

// commitSwapLocked renames the cleaned files to .swap, indexes first, with
// a directory fsync after each step: once a .log.swap is durable, recovery
// completes that run. A failure before any .log.swap rename is undone; one
// after it fails the log (recovery decides what stands).
func (l *Log) commitSwapLocked(live []*cleanedSegment) error {
	rollBack := func(err error) error {
		l.removeCleaned(live)
		return fmt.Errorf("compaction swap: %w", err)
	}
	for _, cs := range live {
		for _, suffix := range indexSuffixes {
			if err := l.fsys.Rename(cleanedName(l.dir, cs.baseOffset, suffix), swapName(l.dir, cs.baseOffset, suffix)); err != nil {
				return rollBack(err)
			}
		}
	}
	if err := l.syncDir(); err != nil { // fsync point: the index .swap names
		return rollBack(err)
	}
	for _, cs := range live {
		if err := l.fsys.Rename(cleanedName(l.dir, cs.baseOffset, logSuffix), swapName(l.dir, cs.baseOffset, logSuffix)); err != nil {
			return l.fail(fmt.Errorf("compaction swap: %w", err))
		}
	}
	if err := l.syncDir(); err != nil { // fsync point: the commit of every run
		return l.fail(fmt.Errorf("compaction swap: %w", err))
	}
	return nil
}

// finishSwapLocked deletes the old segments' files and gives the swapped
// files their final names, then opens the new segments.
func (l *Log) finishSwapLocked(live []*cleanedSegment) ([]*segment, error) {
	for _, cs := range live {
		for _, s := range cs.old[1:] {
			if err := l.removeSegmentFiles(s.seg.baseOffset); err != nil {
				return nil, err
			}
		}
	}
	if err := l.syncDir(); err != nil { // fsync point: the old segments are gone
		return nil, err
	}
	for _, suffixes := range [][]string{indexSuffixes, {logSuffix}} {
		for _, cs := range live {
			for _, suffix := range suffixes {
				if err := l.fsys.Rename(swapName(l.dir, cs.baseOffset, suffix), segmentFileName(l.dir, cs.baseOffset, suffix)); err != nil {
					return nil, err
				}
			}
		}
		if err := l.syncDir(); err != nil { // fsync point: the final names (indexes before logs)
			return nil, err
		}
	}
	return l.newSwapped(live), nil
}

// removeSegmentFiles deletes the files of the segment at base.
func (l *Log) removeSegmentFiles(base int64) error {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := l.fsys.Remove(segmentFileName(l.dir, base, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// newSwapped makes a segment of each swapped-in run, its .log (sealed,
// read-only) opened by its final name on first use.
func (l *Log) newSwapped(live []*cleanedSegment) []*segment {
	segments := make([]*segment, 0, len(live))
	for _, cs := range live {
		cs.closeFile()
		log := l.files.file(l.fsys, segmentFileName(l.dir, cs.baseOffset, logSuffix), false, false)
		seg := newSegment(log, cs.baseOffset, l.config.Load().IndexIntervalBytes, l.nowMs())
		seg.size, seg.nextOffset = cs.size, cs.nextOffset
		seg.offsets, seg.times = cs.offsets, cs.times
		seg.maxTimestamp, seg.offsetOfMaxTimestamp = cs.indexer.maxTimestamp, cs.indexer.offsetOfMaxTimestamp
		seg.indexer, seg.firstTimestamp = cs.indexer, cs.firstTimestamp
		seg.lastModifiedMs = cs.old[len(cs.old)-1].lastModifiedMs // as Kafka keeps the old mtime
		segments = append(segments, seg)
	}
	return segments
}

// retainReplacedLocked pins the log of every segment the swap replaces,
// then retires them: a reader holding one finishes on that descriptor,
// which stays open (off the idle list) until the segment's last reference
// goes, while the segment's name comes to hold the cleaned copy. Pinned
// one by one, never waiting for the budget (a swap may go past it for the
// few milliseconds until the old segments are released).
func (l *Log) retainReplacedLocked(live []*cleanedSegment) error {
	var held []pins
	defer func() {
		for i := range held {
			held[i].release()
		}
	}()
	for _, cs := range live {
		for _, s := range cs.old {
			p, err := s.seg.log.pin(neverRefuse, false)
			if err != nil {
				return err
			}
			held = append(held, p)
		}
	}
	for _, cs := range live {
		for _, s := range cs.old {
			s.seg.retire()
		}
	}
	return nil
}

// publishSwapLocked replaces each run's old segments with its new one in
// the readers' view. Readers holding an old segment finish on it; its
// files close when the last lets go.
func (l *Log) publishSwapLocked(live []*cleanedSegment, segments []*segment) {
	l.mu.Lock()
	list := slices.Clone(l.segments)
	for i, cs := range live {
		at := slices.Index(list, cs.old[0].seg)
		list = slices.Replace(list, at, at+len(cs.old), segments[i])
	}
	l.segments = list
	l.mu.Unlock()
	for _, cs := range live {
		for _, s := range cs.old {
			s.seg.release() // the log's own reference
		}
	}
}

// closeFile lets go of the file the copy was written through.
func (cs *cleanedSegment) closeFile() {
	if cs.file == nil {
		return
	}
	cs.file.close()
	cs.file = nil
}

// removeCleaned deletes the files of cleaned copies that will not be
// swapped in. Leftovers are harmless: the next Open deletes them.
func (l *Log) removeCleaned(cleaned []*cleanedSegment) {
	for _, cs := range cleaned {
		cs.closeFile()
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			for _, name := range []string{cleanedName(l.dir, cs.baseOffset, suffix), swapName(l.dir, cs.baseOffset, suffix)} {
				if err := l.fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
					l.logger.Warn("remove cleaned file", slog.String("file", name), slog.Any("error", err))
				}
			}
		}
	}
}

// listAfterSwaps finishes or undoes the swaps a crash interrupted, then
// lists the directory: a run whose <base>.log.swap exists was committed
// and is completed; any other .swap or .cleaned file belongs to a pass
// that never committed and is deleted.
func (l *Log) listAfterSwaps() ([]string, error) {
	names, err := l.readDir()
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var bases []int64
	for _, name := range names {
		if stem, ok := strings.CutSuffix(name, logSuffix+swapSuffix); ok && parseBase(stem) >= 0 {
			bases = append(bases, parseBase(stem))
		}
	}
	for _, base := range bases {
		if err := l.completeSwap(base, names); err != nil {
			return nil, err
		}
	}
	removed, err := l.removeUncommitted(names, bases)
	if err != nil {
		return nil, err
	}
	if len(bases) == 0 && !removed {
		return names, nil // nothing changed: no second listing
	}
	if names, err = l.readDir(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	return names, nil
}

// completeSwap finishes the committed swap of the segment at base: it
// scans the .log.swap (fsynced before its commit, so any bad batch is
// corruption), deletes the old segments its offsets cover, writes fresh
// indexes and renames it into place, fsyncing the directory between steps.
func (l *Log) completeSwap(base int64, names []string) error {
	name := swapName(l.dir, base, logSuffix)
	l.logger.Warn("recovery: completing an interrupted compaction swap", slog.String("file", name))
	info, err := l.fsys.Stat(name)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	f := l.files.file(l.fsys, name, false, false)
	defer f.close()
	res, err := scanSegment(pinningReader{file: f, policy: mayRefuse}, info.Size, base, l.config.Load().IndexIntervalBytes)
	if err != nil {
		return err
	}
	if res.stop != nil {
		return corruption(name, res.stop.position, "invalid batch in a committed compaction swap: "+res.stop.reason, res.stop.cause)
	}
	if res.validSize == 0 {
		return corruption(name, 0, "a committed compaction swap is empty (a cleaned segment always keeps its last batch)", nil)
	}
	for _, old := range segmentBases(names) {
		if old > base && old < res.nextOffset {
			if err := l.removeSegmentFiles(old); err != nil {
				return fmt.Errorf("complete swap of %s: %w", name, err)
			}
		}
	}
	return l.installSwap(base, &res)
}

// installSwap gives a scanned .log.swap fresh indexes and its final name.
func (l *Log) installSwap(base int64, res *scanResult) error {
	if err := l.syncDir(); err != nil { // fsync point: the replaced segments are gone
		return fmt.Errorf("sync directory: %w", err)
	}
	if err := l.writeIndexFiles(base, res.offsets, res.times); err != nil {
		return err
	}
	if err := l.syncDir(); err != nil { // fsync point: the rebuilt indexes
		return fmt.Errorf("sync directory: %w", err)
	}
	if err := l.fsys.Rename(swapName(l.dir, base, logSuffix), segmentFileName(l.dir, base, logSuffix)); err != nil {
		return fmt.Errorf("complete swap: %w", err)
	}
	if err := l.syncDir(); err != nil { // fsync point: the swapped segment in place
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// removeUncommitted deletes every .cleaned file, and every .swap file not
// of a completed run (those are index .swap files, superseded by the
// rebuilt indexes, or leftovers of a pass that never committed). removed
// reports whether it deleted any.
func (l *Log) removeUncommitted(names []string, completed []int64) (removed bool, err error) {
	for _, name := range names {
		if !strings.HasSuffix(name, cleanedSuffix) && !strings.HasSuffix(name, swapSuffix) {
			continue
		}
		if stem, ok := strings.CutSuffix(name, logSuffix+swapSuffix); ok && slices.Contains(completed, parseBase(stem)) {
			continue // renamed already
		}
		path := filepath.Join(l.dir, name)
		if err := l.fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("remove uncommitted compaction file: %w", err)
		}
		removed = true
	}
	if !removed {
		return false, nil
	}
	if err := l.syncDir(); err != nil { // fsync point: the leftovers are gone
		return true, fmt.Errorf("sync directory: %w", err)
	}
	return true, nil
}

// parseBase returns the base offset named by a 20-digit file stem, or -1.
func parseBase(stem string) int64 {
	base, _, ok := parseSegmentName(stem + logSuffix)
	if !ok {
		return -1
	}
	return base
}
