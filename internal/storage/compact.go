package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// CompactResult reports what a compaction pass found and did.
type CompactResult struct {
	// Cleaned is true when a pass ran to its end: the cleaner checkpoint
	// moved to CleanedTo, and the segments it changed were swapped in.
	Cleaned bool
	// DirtyRatio is the dirty share of the log's bytes when the pass was
	// considered: dirty / (clean + dirty), Kafka's cleanable ratio.
	DirtyRatio float64
	// FirstDirtyOffset is where the dirty part began (the cleaner
	// checkpoint before the pass).
	FirstDirtyOffset int64
	// CleanedTo is the cleaner checkpoint after the pass: every record
	// below it has been compacted.
	CleanedTo int64
	// SegmentsBefore and SegmentsAfter count the segments replaced and the
	// segments that replaced them; BytesBefore and BytesAfter their sizes.
	SegmentsBefore, SegmentsAfter int
	BytesBefore, BytesAfter       int64
	// RecordsRead and RecordsKept count the records the pass copied from
	// and into the segments it replaced (control records excluded).
	RecordsRead, RecordsKept int64
}

// Compact runs one compaction pass (Kafka's log cleaner) if the topic's
// cleanup.policy includes compact and the log is dirty enough: more than
// min.cleanable.dirty.ratio of its bytes lie after the cleaner checkpoint,
// or a dirty segment is older than max.compaction.lag.ms. The pass keeps
// the latest record of every key in the sealed segments (never the active
// one, nor any segment newer than min.compaction.lag.ms), drops tombstones
// once delete.retention.ms has passed (see the package doc), and keeps
// every offset where it was.
//
// Appends, reads and fsyncs continue during the pass; only the final swap
// holds the append lock, for a few renames and directory fsyncs. If the
// log is truncated (or its segments deleted) while the pass copies, the
// pass is abandoned and the result says Cleaned false; the next call
// starts again. Compact is safe to call concurrently with every method;
// passes on one log run one at a time.
func (l *Log) Compact(now time.Time) (CompactResult, error) {
	return l.CompactBelow(now, math.MaxInt64)
}

// CompactBelow is Compact cleaning only segments whose every offset is
// below upperBound: with replication, the high watermark, as Kafka cleans
// only below the last stable offset. Compacting past it could drop a
// record whose successor a follower later truncates away.
func (l *Log) CompactBelow(now time.Time, upperBound int64) (CompactResult, error) {
	cfg := l.config.Load()
	if !cfg.Compact || l.uncleanable.Load() {
		return CompactResult{}, nil
	}
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if err := l.writable(); err != nil {
		return CompactResult{}, err
	}
	if first := l.firstUnstable.Load(); first != noTxnFirstOffset {
		// Never past an open transaction (Kafka cleans below the first
		// unstable offset): its records' fate is not decided yet.
		upperBound = min(upperBound, first)
	}
	plan, err := l.planCompaction(cfg, now.UnixMilli(), upperBound)
	if err != nil {
		return CompactResult{}, err
	}
	defer plan.release(l)
	result := CompactResult{DirtyRatio: plan.ratio, FirstDirtyOffset: plan.firstDirty, CleanedTo: plan.firstDirty}
	result, err = l.runIfDue(plan, result)
	if err != nil && (l.truncatedSince(plan) || errors.Is(err, errFileRetired)) {
		// The copy read a segment while a truncation cut it, or retention
		// deleted it: not corruption.
		l.logger.Info("compaction pass dropped: the log was truncated or its segments deleted meanwhile", slog.Any("error", err))
		return result, nil
	}
	if errors.Is(err, ErrCorruption) {
		l.uncleanable.Store(true)
		l.logger.Error("compaction found corruption; not compacting this log again until it is reopened", slog.Any("error", err))
	}
	return result, err
}

// truncatedSince reports whether the log was truncated after p was made.
func (l *Log) truncatedSince(p *cleanPlan) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.truncations != p.truncations
}

// segmentSnapshot is a sealed segment as a compaction pass planned with
// it, with a reference held.
type segmentSnapshot struct {
	seg              *segment
	size             int64
	nextOffset       int64
	truncations      uint64
	largestTimestamp int64
	lastModifiedMs   int64
}

// cleanPlan is what a pass decided from one consistent view of the log.
type cleanPlan struct {
	cfg   *Config
	nowMs int64
	// sealed holds the sealed segments with offsets at or past the log
	// start, ascending.
	sealed      []segmentSnapshot
	truncations uint64 // the log's truncation counter when planned
	firstDirty  int64  // where the dirty part starts
	uncleanable int64  // a segment base: nothing at or past it is cleaned
	dirtyBytes  int64
	ratio       float64
}

// planCompaction snapshots the sealed segments and works out the dirty
// range, as Kafka's LogCleanerManager.cleanableOffsets does.
func (l *Log) planCompaction(cfg *Config, nowMs, upperBound int64) (*cleanPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.segments == nil {
		return nil, ErrClosed
	}
	p := &cleanPlan{cfg: cfg, nowMs: nowMs, truncations: l.truncations}
	p.firstDirty = l.firstDirty.Load()
	if p.firstDirty < l.logStartOffset || p.firstDirty > l.logEndOffset {
		p.firstDirty = l.logStartOffset // none yet, or invalidated
	}
	for _, seg := range l.segments[:len(l.segments)-1] {
		if seg.nextOffset <= l.logStartOffset {
			continue
		}
		seg.acquire()
		p.sealed = append(p.sealed, segmentSnapshot{seg: seg, size: seg.size, nextOffset: seg.nextOffset,
			truncations: seg.truncations, largestTimestamp: seg.largestTimestamp(), lastModifiedMs: seg.lastModifiedMs})
	}
	p.uncleanable = p.firstUncleanable(l.activeLocked().baseOffset, upperBound)
	p.measure()
	return p, nil
}

// firstUncleanable is the base of the first segment the pass must not
// touch: the active one, the one holding upperBound, or the first dirty
// one newer than min.compaction.lag.ms. Never below the first dirty offset.
func (p *cleanPlan) firstUncleanable(activeBase, upperBound int64) int64 {
	limit := activeBase
	for _, s := range p.sealed {
		tooNew := p.cfg.MinCompactionLagMs > 0 && s.nextOffset > p.firstDirty &&
			s.largestTimestamp > subtractMs(p.nowMs, p.cfg.MinCompactionLagMs)
		if s.nextOffset > upperBound || tooNew {
			limit = s.seg.baseOffset
			break
		}
	}
	return max(limit, p.firstDirty)
}

// measure sums the clean and dirty bytes (Kafka's LogToClean).
func (p *cleanPlan) measure() {
	var clean int64
	for _, s := range p.sealed {
		if s.seg.baseOffset < p.firstDirty {
			clean += s.size
		}
		if s.seg.baseOffset < p.uncleanable && s.nextOffset > p.firstDirty {
			p.dirtyBytes += s.size
		}
	}
	if total := clean + p.dirtyBytes; total > 0 {
		p.ratio = float64(p.dirtyBytes) / float64(total)
	}
}

// due reports whether the pass should run: dirty bytes above
// min.cleanable.dirty.ratio (strictly, as Kafka), or dirty bytes held back
// longer than max.compaction.lag.ms.
func (p *cleanPlan) due() (bool, error) {
	if p.dirtyBytes == 0 {
		return false, nil
	}
	if p.ratio > p.cfg.MinCleanableDirtyRatio {
		return true, nil
	}
	return p.pastMaxLag()
}

// pastMaxLag reports whether a dirty sealed segment's first batch is
// older than max.compaction.lag.ms (Kafka's maxCompactionDelay > 0;
// timestamps of 0 or less do not count).
func (p *cleanPlan) pastMaxLag() (bool, error) {
	cleanBefore := subtractMs(p.nowMs, p.cfg.MaxCompactionLagMs)
	if cleanBefore <= 1 {
		return false, nil // no positive timestamp is that old (the default lag is "never")
	}
	header := make([]byte, record.HeaderSize)
	for _, s := range p.sealed {
		if s.nextOffset <= p.firstDirty || s.size == 0 {
			continue
		}
		h, err := firstHeader(s, header)
		if err != nil {
			return false, err
		}
		if h.MaxTimestamp > 0 && h.MaxTimestamp < cleanBefore {
			return true, nil
		}
	}
	return false, nil
}

// firstHeader reads the header of the first batch of a sealed segment.
func firstHeader(s segmentSnapshot, buf []byte) (record.Header, error) {
	pinned, err := s.seg.log.pin(mayRefuse, false)
	if err != nil {
		return record.Header{}, err
	}
	defer pinned.release()
	h, err := readHeaderAt(pinned.file(0), buf, 0, s.size)
	if err != nil {
		return h, corruption(s.seg.logName(), 0, "unreadable first batch of a sealed segment", err)
	}
	return h, nil
}

// subtractMs is now - lag, saturating instead of wrapping around.
func subtractMs(now, lag int64) int64 {
	if now < math.MinInt64+lag {
		return math.MinInt64
	}
	return now - lag
}

// release drops the plan's segment references.
func (p *cleanPlan) release(l *Log) {
	for _, s := range p.sealed {
		s.seg.release()
	}
}

// groups splits the segments to clean (those starting below end) into
// runs that each become one cleaned segment: at most segment.bytes of
// input and 2^31 offsets, as Kafka's groupSegmentsBySize. An empty segment
// ends a run and is left alone.
func (p *cleanPlan) groups(end int64) [][]segmentSnapshot {
	limit := min(p.cfg.SegmentBytes, maxSegmentPosition)
	var groups [][]segmentSnapshot
	var current []segmentSnapshot
	var size int64
	for _, s := range p.sealed {
		if s.seg.baseOffset >= end {
			break
		}
		fits := s.size > 0 && size+s.size <= limit && s.nextOffset-1-firstBase(current, s) <= math.MaxInt32
		if !fits && len(current) > 0 {
			groups, current, size = append(groups, current), nil, 0
		}
		if s.size > 0 {
			current, size = append(current, s), size+s.size
		}
	}
	if len(current) > 0 {
		groups = append(groups, current)
	}
	return groups
}

// firstBase is the base offset of the run current, or of s starting one.
func firstBase(current []segmentSnapshot, s segmentSnapshot) int64 {
	if len(current) == 0 {
		return s.seg.baseOffset
	}
	return current[0].seg.baseOffset
}

// runIfDue runs the pass if the plan says it is due.
func (l *Log) runIfDue(p *cleanPlan, result CompactResult) (CompactResult, error) {
	due, err := p.due()
	if err != nil || !due {
		return result, err
	}
	return l.runCompaction(p, result)
}

// runCompaction maps the dirty keys, writes cleaned copies of the
// segments below the mapped range and swaps them in.
func (l *Log) runCompaction(p *cleanPlan, result CompactResult) (CompactResult, error) {
	for _, s := range p.sealed {
		// Loaded indexes are never read from disk again, so the swap's
		// renames cannot hand a replaced segment its successor's index.
		if err := l.ensureIndexes(s.seg); err != nil {
			return result, err
		}
	}
	c := newCleaner(l, p, newOffsetMap(p.uncleanable-p.firstDirty, l.cleanerBufferBytes))
	l.appendMu.Lock()
	c.producerLastOffsets = l.producers.lastOffsets()
	c.aborted = l.abortedByProducerLocked()
	l.appendMu.Unlock()
	if err := c.buildOffsetMap(); err != nil {
		return result, fmt.Errorf("compact: map keys: %w", err)
	}
	end := c.offsets.latest + 1
	cleaned, err := c.cleanGroups(p.groups(end))
	if err != nil {
		l.removeCleaned(cleaned)
		return result, fmt.Errorf("compact: %w", err)
	}
	result.RecordsRead, result.RecordsKept = c.recordsRead, c.recordsKept
	return l.swapIn(p, cleaned, end, result)
}
