package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/vfs"
)

// AppendResult is the offsets an append assigned.
type AppendResult struct {
	BaseOffset int64 // offset of the first record appended
	LastOffset int64 // offset of the last record appended
	// MaxTimestamp is the largest batch max timestamp appended.
	MaxTimestamp int64
	// Duplicate is set when AppendProduced recognised a producer's retry of
	// a batch already in the log: nothing was appended, and the offsets and
	// max timestamp are the original batch's (Kafka answers such a retry
	// with success and the original offsets).
	Duplicate bool
	// LeaderEpoch is the leader epoch the append ran under, filled in by
	// replica.Partition's leader appends (storage leaves it 0): a commit
	// wait for the records holds only while the partition is still led
	// under that epoch.
	LeaderEpoch int32
}

// Log is one partition's log on disk. See the package doc for the locking
// order and what each lock guards.
type Log struct {
	fsys vfs.FS
	// files is the cache every file of the log is opened through
	// (Options.Files, shared by the broker's logs).
	files              *FileCache
	dir                string
	logger             *slog.Logger
	now                func() time.Time
	cleanerBufferBytes int64
	// producerIDExpirationMs is producer.id.expiration.ms.
	producerIDExpirationMs int64

	config      atomic.Pointer[Config]
	flushed     atomic.Int64 // every offset below is fsynced: the recovery point
	lastFlushMs atomic.Int64 // wall time of the last fsync, for flush.ms
	failure     atomic.Pointer[error]
	closed      atomic.Bool
	// firstDirty is the cleaner checkpoint (noCleanerCheckpoint if none).
	// Written under appendMu (a compaction's swap, truncation); read by
	// the cleaner and the checkpoint writer.
	firstDirty atomic.Int64
	// firstUnstable is the first offset of the earliest open transaction
	// (noTxnFirstOffset if none): the last stable offset's bound. Written
	// under appendMu, read by fetches.
	firstUnstable atomic.Int64
	// uncleanable is set when compaction met corruption: like Kafka's
	// uncleanable partitions, the log is not compacted again until reopened.
	uncleanable atomic.Bool

	// cleanMu serialises compaction passes (see compact.go); it is taken
	// before appendMu and held across the whole pass.
	cleanMu sync.Mutex

	// appendMu serialises writers; the fields below it are its own.
	appendMu      sync.Mutex
	checkpointed  checkpoint // last checkpoint written
	offsetScratch []byte     // index entries being appended
	timeScratch   []byte
	// producers is every idempotent producer's state as of the log end
	// (producer_state.go), with the producer snapshots on disk.
	producers producerStates
	// recoveredEpochs collects, while the log opens, the leader epochs of
	// the batches recovery scanned (epoch_cache.go).
	recoveredEpochs epochEntries
	// epochsUnsynced: epochs holds an entry AssignLeaderEpoch published
	// that the leader-epoch checkpoint lacks (no batch under it yet); the
	// next append writes it first (epoch_cache.go).
	epochsUnsynced bool
	// pristine is the active segment as loaded from a clean shutdown or
	// created empty; nil once anything may have changed it since
	// (pristine.go). Close skips the seal's fsyncs while it holds.
	pristine *pristineState

	// shutdownState is the active segment as a clean Close left it, nil
	// until then (appendMu).
	shutdownState *ShutdownState
	// loadState is the active segment as the clean-shutdown marker
	// recorded it (Options.ShutdownState), used and dropped by Open.
	loadState *ShutdownState
	// loadListing is the directory's file names while Open loads the log
	// (nil otherwise): a file it does not name is not there to read or
	// remove (mayExistLocked).
	loadListing []string

	// syncMu is held by the group-commit leader across its fsync.
	syncMu sync.Mutex

	// mu guards the published view (and the segments' "mu" fields). The
	// fields are written under appendMu and mu both, so the writer may read
	// them without mu.
	mu             sync.RWMutex
	segments       []*segment // ascending base offsets; the last is active
	logEndOffset   int64
	logStartOffset int64
	// abortedTxns is the aborted-transaction index of every segment, in
	// marker order (txn_index.go).
	abortedTxns []AbortedTxn
	// truncations counts cuts of published data; a reader that sees it
	// change during a read reads again rather than mix old and new bytes.
	truncations uint64
	// epochs is the leader-epoch cache (epoch_cache.go), persisted in
	// leader-epoch-checkpoint; replaced whole on every change.
	epochs epochEntries
}

// Open opens (creating if missing) the log in dir and recovers it.
func Open(fsys vfs.FS, dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	opts = opts.withDefaults()
	l := &Log{fsys: fsys, files: opts.Files, dir: dir, logger: opts.Logger.With(slog.String("log", dir)), now: opts.Now,
		cleanerBufferBytes: opts.CleanerBufferBytes, producerIDExpirationMs: opts.ProducerIDExpirationMs,
		producers: newProducerStates()}
	if opts.CleanShutdown {
		l.loadState = opts.ShutdownState // a state describes only what a clean Close left
	}
	l.firstDirty.Store(noCleanerCheckpoint)
	l.firstUnstable.Store(noTxnFirstOffset)
	l.config.Store(&cfg)
	err := l.load(opts.CleanShutdown)
	l.loadState, l.loadListing = nil, nil
	if err != nil {
		l.releaseAll()
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.lastFlushMs.Store(l.nowMs())
	return l, nil
}

func (l *Log) nowMs() int64 { return l.now().UnixMilli() }

// activeLocked is the segment appends go to. Callers hold appendMu or mu.
func (l *Log) activeLocked() *segment { return l.segments[len(l.segments)-1] }

// fail puts the log in the failed state (the first error wins) and returns
// the error to report.
func (l *Log) fail(err error) error {
	if l.failure.CompareAndSwap(nil, &err) {
		l.logger.Error("log failed; no more writes until it is reopened", slog.Any("error", err))
	}
	return fmt.Errorf("%w: %w", ErrLogFailed, err)
}

// writable reports why the log cannot take a write, if it cannot.
func (l *Log) writable() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if failure := l.failure.Load(); failure != nil {
		return fmt.Errorf("%w: %w", ErrLogFailed, *failure)
	}
	return nil
}

// raiseFlushed moves the recovery point up to offset (never down).
func (l *Log) raiseFlushed(offset int64) {
	for {
		current := l.flushed.Load()
		if offset <= current || l.flushed.CompareAndSwap(current, offset) {
			return
		}
	}
}

// appendSummary is what Append needs to know about its input up front.
type appendSummary struct {
	bytes        int64
	records      int64 // offsets the batches take
	maxTimestamp int64
	producers    bool // some batch carries a producer ID
}

// summarize checks that batches is a run of whole v2 batch headers and
// totals them. The batches were validated by the caller; this guards the
// log's own arithmetic.
func summarize(batches []byte) (appendSummary, error) {
	s := appendSummary{bytes: int64(len(batches)), maxTimestamp: -1}
	if len(batches) == 0 {
		return s, errors.New("append: no batches")
	}
	for pos := 0; pos < len(batches); {
		h, err := record.ParseHeader(batches[pos:])
		if err != nil {
			return s, fmt.Errorf("append: batch at byte %d: %w", pos, err)
		}
		if h.Size() > len(batches)-pos || h.LastOffsetDelta < 0 {
			return s, fmt.Errorf("append: batch at byte %d claims %d bytes and %d offsets in %d bytes: %w",
				pos, h.Size(), int64(h.LastOffsetDelta)+1, len(batches)-pos, record.ErrCorrupt)
		}
		s.records += int64(h.LastOffsetDelta) + 1
		s.maxTimestamp = max(s.maxTimestamp, h.MaxTimestamp)
		s.producers = s.producers || h.ProducerID >= 0
		pos += h.Size()
	}
	return s, nil
}

// Append assigns offsets to batches (one or more complete, validated v2
// batches), rewriting each base offset and partition leader epoch in place
// (both outside the CRC), and appends them to the active segment, rolling
// first if needed. It does not fsync: call Sync. Appends are serialised.
//
// leaderEpoch is the appending leader's epoch. One below the latest epoch
// in the leader-epoch cache fails with ErrFencedLeaderEpoch before anything
// is written (a deposed leader); a newer one is recorded in the cache, at
// the first offset it writes, durably and before the batches.
//
// Batches that carry a producer ID update that producer's state unchecked,
// as Kafka's appends from replication and coordinators do; a producer's own
// batches go through AppendProduced.
func (l *Log) Append(batches []byte, leaderEpoch int32) (AppendResult, error) {
	return l.append(batches, leaderEpoch, false)
}

// AppendProduced is Append for batches a client produced (Kafka's
// AppendOrigin.CLIENT): a batch with a producer ID is first checked
// against its producer's state. A retry of one of the producer's last five
// batches appends nothing and returns the original's offsets with
// Duplicate set; a sequence gap, or a new epoch not starting at sequence 0,
// fails with ErrOutOfOrderSequence; an epoch older than the producer's
// fails with ErrInvalidProducerEpoch (both as a *ProducerError). Batches
// without a producer ID take Append's path and cost nothing more. The
// leader epoch is fenced and recorded as by Append, before any producer
// check.
func (l *Log) AppendProduced(batches []byte, leaderEpoch int32) (AppendResult, error) {
	return l.append(batches, leaderEpoch, true)
}

func (l *Log) append(batches []byte, leaderEpoch int32, fromProducer bool) (AppendResult, error) {
	summary, err := summarize(batches)
	if err != nil {
		return AppendResult{}, err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return AppendResult{}, err
	}
	if err := l.checkLeaderEpochLocked(leaderEpoch); err != nil {
		return AppendResult{}, err
	}
	base := l.logEndOffset
	if summary.producers {
		duplicate, found, err := l.producers.prepare(batches, base, fromProducer)
		if err != nil {
			return AppendResult{}, err
		}
		if found {
			return AppendResult{BaseOffset: duplicate.firstOffset(), LastOffset: duplicate.lastOffset,
				MaxTimestamp: duplicate.maxTimestamp, Duplicate: true}, nil
		}
	}
	if err := l.maybeRollLocked(summary, base); err != nil {
		return AppendResult{}, err
	}
	if err := l.assignLeaderEpochLocked(leaderEpoch, base); err != nil {
		return AppendResult{}, err
	}
	assignOffsets(batches, base, leaderEpoch)
	if err := l.writeLocked(l.activeLocked(), batches); err != nil {
		return AppendResult{}, err
	}
	if summary.producers {
		if err := l.commitProducersLocked(); err != nil {
			return AppendResult{}, err
		}
	}
	return AppendResult{BaseOffset: base, LastOffset: base + summary.records - 1, MaxTimestamp: summary.maxTimestamp}, nil
}

// commitProducersLocked applies the producer states of the append just
// written: aborted transactions go to the aborted-transaction index, and
// the first unstable offset follows transactions opened or ended. A
// failure to write the index fails the log (the marker is written; a
// reopen rebuilds the index from it).
func (l *Log) commitProducersLocked() error {
	aborted, txnChanged := l.producers.commit()
	if len(aborted) > 0 {
		if err := l.recordAbortedLocked(aborted); err != nil {
			return l.fail(err)
		}
	}
	if txnChanged {
		l.firstUnstable.Store(l.producers.firstUnstableOffset())
	}
	return nil
}

func assignOffsets(batches []byte, next int64, leaderEpoch int32) {
	for pos := 0; pos < len(batches); {
		h, _ := record.ParseHeader(batches[pos:]) // checked by summarize
		record.SetBaseOffset(batches[pos:], next)
		record.SetPartitionLeaderEpoch(batches[pos:], leaderEpoch)
		next += int64(h.LastOffsetDelta) + 1
		pos += h.Size()
	}
}

// maybeRollLocked starts a new segment at base if the batches would push
// the active one past segment.bytes, its 32-bit indexes, or segment.ms
// (measured, as in Kafka, from the first batch's timestamp to the new
// batches' max timestamp, or by wall clock when there is none).
func (l *Log) maybeRollLocked(summary appendSummary, base int64) error {
	active := l.activeLocked()
	if active.size == 0 {
		return nil
	}
	cfg := l.config.Load()
	var waited int64
	if active.firstTimestamp >= 0 {
		waited = summary.maxTimestamp - active.firstTimestamp
	} else {
		waited = l.nowMs() - active.createdMs
	}
	full := active.size+summary.bytes > min(cfg.SegmentBytes, maxSegmentPosition)
	overflow := base+summary.records-1-active.baseOffset > math.MaxInt32
	if !full && !overflow && waited <= cfg.SegmentMs {
		return nil
	}
	return l.rollLocked(base)
}

// rollLocked seals the active segment (durably) and starts a new one at
// newBase. Afterwards only the new segment can hold unsynced bytes.
func (l *Log) rollLocked(newBase int64) error {
	old := l.activeLocked()
	if err := l.sealLocked(old, mayRefuse); err != nil {
		return err
	}
	seg, err := l.createSegmentFiles(newBase)
	if err != nil {
		return fmt.Errorf("roll to offset %d: %w", newBase, err)
	}
	if err := l.syncDir(); err != nil { // fsync point: the new segment's name
		seg.release()
		err = fmt.Errorf("roll to offset %d: sync directory: %w", newBase, err)
		if errors.Is(err, ErrTooManyOpenFiles) {
			return err // nothing published: the next append rolls again
		}
		return l.fail(err)
	}
	l.mu.Lock()
	l.segments = append(l.segments, seg)
	l.mu.Unlock()
	old.sealFiles()
	l.raiseFlushed(newBase)
	l.checkpointLocked()
	l.takeSnapshotLocked() // everything below newBase is fsynced: the sealed segment
	return nil
}

// sealLocked writes the segment's final time-index entry and fsyncs its log
// and indexes: after it, the segment never changes again (until a
// truncation). Whatever was written through descriptors closed since is
// covered: an fsync makes the file durable, whichever descriptor it goes
// through.
func (l *Log) sealLocked(s *segment, policy openPolicy) error {
	if err := l.syncSegmentLocked(s, policy); err != nil {
		return err
	}
	if err := l.syncTxnIndexLocked(s); err != nil {
		return l.failUnlessRefused(fmt.Errorf("seal %s: %w", s.logName(), err))
	}
	return nil
}

// syncSegmentLocked is sealLocked's work on the three pinned files.
func (l *Log) syncSegmentLocked(s *segment, policy openPolicy) error {
	files, err := l.pinActive(s, policy, true, true)
	if err != nil {
		return fmt.Errorf("seal %s: %w", s.logName(), err)
	}
	defer files.release()
	ix := s.indexer
	if entry, ok := ix.timeEntry(s.baseOffset); ok {
		l.timeScratch = appendTimeEntry(l.timeScratch[:0], entry)
		if err := l.writeIndexLocked(s, &files, nil, l.timeScratch); err != nil {
			return err
		}
		s.indexer = ix
	}
	for _, f := range []vfs.File{files.log, files.offsetIndex, files.timeIndex} {
		if err := f.Sync(); err != nil { // fsync point: the sealed segment
			return l.fail(err) // vfs errors name the file
		}
	}
	return nil
}

// failUnlessRefused fails the log with err, unless err is a refusal for
// want of descriptors (ErrTooManyOpenFiles): then nothing was changed and
// the operation can simply be retried.
func (l *Log) failUnlessRefused(err error) error {
	if errors.Is(err, ErrTooManyOpenFiles) {
		return err
	}
	return l.fail(err)
}

// writeLocked appends batches (offsets assigned) to segment s with their
// index entries, then publishes them to readers. A failed write is undone
// so the files end where they started.
func (l *Log) writeLocked(s *segment, batches []byte) error {
	start := s.size
	ix := s.indexer
	ix.interval = int64(l.config.Load().IndexIntervalBytes)
	l.offsetScratch, l.timeScratch = l.offsetScratch[:0], l.timeScratch[:0]
	for pos := 0; pos < len(batches); {
		h, _ := record.ParseHeader(batches[pos:])
		offset, addOffset, timed, addTime := ix.add(&h, start+int64(pos), s.baseOffset)
		if addOffset {
			l.offsetScratch = appendOffsetEntry(l.offsetScratch, offset)
		}
		if addTime {
			l.timeScratch = appendTimeEntry(l.timeScratch, timed)
		}
		pos += h.Size()
	}
	files, err := l.pinActive(s, mayRefuse, len(l.offsetScratch) > 0, len(l.timeScratch) > 0)
	if err != nil {
		return fmt.Errorf("append to %s: %w", s.logName(), err) // nothing written
	}
	defer files.release()
	if _, err := files.log.Write(batches); err != nil {
		return l.undoWriteLocked(s, files.log, start, err)
	}
	if err := l.writeIndexLocked(s, &files, l.offsetScratch, l.timeScratch); err != nil {
		return l.undoWriteLocked(s, files.log, start, err)
	}
	if start == 0 {
		first, _ := record.ParseHeader(batches)
		s.firstTimestamp = first.MaxTimestamp
	}
	s.indexer = ix
	l.publishAppendLocked(s, start+int64(len(batches)), batches)
	return nil
}

// writeIndexLocked appends encoded entries to s's index files (pinned in
// files, each that gets entries) and publishes them. On error the index
// files are cut back to where they were.
func (l *Log) writeIndexLocked(s *segment, files *activeFiles, offsets, times []byte) error {
	l.mu.RLock()
	offsetSize, timeSize := int64(len(s.offsets))*offsetEntrySize, int64(len(s.times))*timeEntrySize
	l.mu.RUnlock()
	if err := appendIndexFile(files.offsetIndex, offsets, offsetSize); err != nil {
		return err
	}
	if err := appendIndexFile(files.timeIndex, times, timeSize); err != nil {
		if len(offsets) == 0 {
			return err
		}
		if cutErr := files.offsetIndex.Truncate(offsetSize); cutErr != nil {
			return l.fail(fmt.Errorf("%w; then undoing the offset index: %w", err, cutErr))
		}
		return err
	}
	l.mu.Lock()
	s.offsets = appendDecodedOffsets(s.offsets, offsets)
	s.times = appendDecodedTimes(s.times, times)
	l.mu.Unlock()
	return nil
}

func appendIndexFile(f vfs.File, entries []byte, oldSize int64) error {
	if len(entries) == 0 {
		return nil
	}
	if _, err := f.Write(entries); err != nil { // vfs errors name the file
		if cutErr := f.Truncate(oldSize); cutErr != nil {
			return fmt.Errorf("%w; then undoing it: %w", err, cutErr)
		}
		return err
	}
	return nil
}

func appendDecodedOffsets(dst []offsetEntry, b []byte) []offsetEntry {
	for ; len(b) >= offsetEntrySize; b = b[offsetEntrySize:] {
		dst = append(dst, decodeOffsetEntry(b))
	}
	return dst
}

func appendDecodedTimes(dst []timeEntry, b []byte) []timeEntry {
	for ; len(b) >= timeEntrySize; b = b[timeEntrySize:] {
		dst = append(dst, decodeTimeEntry(b))
	}
	return dst
}

// undoWriteLocked cuts the log back to size after a failed write (a short
// write may have landed). If even that fails the log is failed.
func (l *Log) undoWriteLocked(s *segment, logFile vfs.File, size int64, cause error) error {
	if err := logFile.Truncate(size); err != nil {
		return l.fail(fmt.Errorf("append to %s: %w; then cutting it back to %d bytes: %w", s.logName(), cause, size, err))
	}
	return fmt.Errorf("append to %s: %w", s.logName(), cause)
}

// publishAppendLocked makes the appended batches visible to readers.
func (l *Log) publishAppendLocked(s *segment, newSize int64, batches []byte) {
	var last record.Header
	for pos := 0; pos < len(batches); pos += last.Size() {
		last, _ = record.ParseHeader(batches[pos:])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.size = newSize
	s.nextOffset = last.LastOffset() + 1
	s.maxTimestamp, s.offsetOfMaxTimestamp = s.indexer.maxTimestamp, s.indexer.offsetOfMaxTimestamp
	s.lastModifiedMs = l.nowMs()
	l.logEndOffset = s.nextOffset
}

// Sync returns once every offset below upto is fsynced (a group commit).
// Concurrent callers share fsyncs: one fsyncs everything appended so far
// while the others wait, and those it covered return without another.
// It never holds the append lock, so appends continue during the fsync.
func (l *Log) Sync(upto int64) error {
	if l.flushed.Load() >= upto {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.flushed.Load() >= upto {
		return nil
	}
	return l.flushLocked()
}

// flushLocked fsyncs the active segment up to what is published now.
// Caller holds syncMu.
func (l *Log) flushLocked() error {
	if err := l.writable(); err != nil {
		return err
	}
	l.mu.RLock()
	if len(l.segments) == 0 {
		l.mu.RUnlock()
		return ErrClosed
	}
	s := l.activeLocked()
	target := s.nextOffset
	s.acquire()
	l.mu.RUnlock()
	defer s.release()
	l.files.acquireSync()
	defer l.files.releaseSync()
	pinned, err := s.log.pin(mayRefuse, false)
	if errors.Is(err, errFileRetired) && l.flushed.Load() >= target {
		return nil // rolled (so fsynced) and deleted by retention meanwhile
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", s.logName(), err) // nothing changed: the log stays writable
	}
	defer pinned.release()
	// fsync point: acknowledged appends. Appends written through a
	// descriptor the cache has closed since are covered too: fsync
	// flushes the file, not the descriptor.
	if err := pinned.file(0).Sync(); err != nil {
		return l.fail(err)
	}
	l.raiseFlushed(target)
	l.lastFlushMs.Store(l.nowMs())
	return nil
}

// FlushedOffset is the recovery point: every offset below it is durable.
func (l *Log) FlushedOffset() int64 { return l.flushed.Load() }

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logEndOffset
}

// LogStartOffset is the first offset readers may ask for.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStartOffset
}

// WriteCaching reports whether the config asks for Kafka-style write
// caching (flush.messages > 1 or flush.ms > 0): acknowledge before fsync
// and let MaybeFlush fsync by count or age.
func (l *Log) WriteCaching() bool { return l.config.Load().WriteCaching() }

// MaybeFlush, in write-caching mode, fsyncs when at least flush.messages
// offsets are unflushed or flush.ms has passed since the last fsync (Kafka's
// flush scheduler check). It does nothing in the default durable mode.
func (l *Log) MaybeFlush(now time.Time) error {
	cfg := l.config.Load()
	if !cfg.WriteCaching() {
		return nil
	}
	end := l.LogEndOffset()
	unflushed := end - l.flushed.Load()
	if unflushed <= 0 {
		return nil
	}
	if unflushed >= cfg.FlushMessages || now.UnixMilli()-l.lastFlushMs.Load() >= cfg.FlushMs {
		return l.Sync(end)
	}
	return nil
}

// Size is the bytes of all segment .log files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var total int64
	for _, s := range l.segments {
		total += s.size
	}
	return total
}

// SetConfig applies a changed topic config from the next append or
// retention pass on. The caller validates it (Config.Validate).
func (l *Log) SetConfig(cfg Config) { l.config.Store(&cfg) }

// Checkpoint persists the log start offset and recovery point if they
// moved, bounding the next recovery scan (Kafka's periodic recovery-point
// checkpoint, log.flush.offset.checkpoint.interval.ms).
func (l *Log) Checkpoint() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	return l.writeCheckpointLocked()
}

// writeCheckpointLocked persists {log start offset, recovery point,
// cleaner checkpoint}.
func (l *Log) writeCheckpointLocked() error {
	c := checkpoint{logStartOffset: l.logStartOffset, recoveryPoint: l.flushed.Load(), firstDirtyOffset: l.firstDirty.Load()}
	if c == l.checkpointed {
		return nil
	}
	if err := l.writeCheckpoint(c); err != nil {
		return err
	}
	l.checkpointed = c
	return nil
}

// checkpointLocked writes the checkpoint where failing only costs a longer
// recovery scan: it logs instead of failing the caller.
func (l *Log) checkpointLocked() {
	if err := l.writeCheckpointLocked(); err != nil {
		l.logger.Warn("write checkpoint", slog.Any("error", err))
	}
}

// Close fsyncs everything, writes the checkpoint and closes the files
// (each as soon as no reader holds it).
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	var err error
	if err = l.writable(); err == nil {
		err = l.closeCleanlyLocked()
	}
	if err == nil {
		state := l.activeLocked().state()
		state.checkpointed, state.checkpoint = true, l.checkpointed
		if !l.epochsUnsynced {
			state.epochsKnown, state.epochs = true, slices.Clone(l.epochs)
		}
		l.shutdownState = &state
	}
	l.closed.Store(true)
	l.releaseAll()
	return err
}

// ShutdownState is what the last Close, if it was clean, knew of the
// active segment, for the log directory's clean-shutdown marker
// (WriteCleanShutdown).
func (l *Log) ShutdownState() (ShutdownState, bool) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.shutdownState == nil {
		return ShutdownState{}, false
	}
	return *l.shutdownState, true
}

func (l *Log) closeCleanlyLocked() error {
	if !l.unchangedSinceLoadLocked() {
		if err := l.sealLocked(l.activeLocked(), neverRefuse); err != nil {
			return err
		}
	}
	l.raiseFlushed(l.logEndOffset)
	l.takeSnapshotLocked() // the whole log is fsynced
	return l.writeCheckpointLocked()
}

// releaseAll drops the log's reference on every segment.
func (l *Log) releaseAll() {
	l.mu.Lock()
	segments := l.segments
	l.segments = nil
	l.mu.Unlock()
	for _, s := range segments {
		s.release()
	}
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrLogFailed) {
		return err
	}
	parent := filepath.Dir(l.dir)
	if err := l.files.transient(neverRefuse, l.dir, func() error { return l.fsys.RemoveAll(l.dir) }); err != nil {
		return fmt.Errorf("delete log %s: %w", l.dir, err)
	}
	if err := l.files.transient(neverRefuse, parent, func() error { return l.fsys.SyncDir(parent) }); err != nil {
		return fmt.Errorf("delete log %s: sync parent directory: %w", l.dir, err)
	}
	return nil
}
