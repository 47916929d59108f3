package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/record"
)

// The leader-epoch cache (Kafka's LeaderEpochFileCache): for each leader
// epoch that wrote to the log, the first offset it wrote. Followers use it
// (through OffsetForLeaderEpoch) to find where their log diverged from the
// leader's, and the log fences appends of a deposed leader with it. The
// format of leader-epoch-checkpoint is in the package doc.
const (
	epochCheckpointName    = "leader-epoch-checkpoint"
	epochCheckpointVersion = 0
	// maxEpochCheckpointBytes bounds what is read of the file: a million
	// epochs of the longest lines.
	maxEpochCheckpointBytes = 1_000_000 * 32
	// undefinedEpoch and undefinedEpochOffset are Kafka's
	// OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH and
	// UNDEFINED_EPOCH_OFFSET.
	undefinedEpoch       = -1
	undefinedEpochOffset = -1
)

// epochEntry is one leader epoch and the first offset written under it
// (Kafka's EpochEntry).
type epochEntry struct {
	epoch       int32
	startOffset int64
}

// epochEntries is the cache's content: epochs and start offsets both
// strictly ascending. It is never changed in place: every change returns a
// new slice, so readers may keep the one they were handed.
type epochEntries []epochEntry

// latest is the newest entry, if any.
func (es epochEntries) latest() (epochEntry, bool) {
	if len(es) == 0 {
		return epochEntry{}, false
	}
	return es[len(es)-1], true
}

// assign records that epoch e.epoch wrote from e.startOffset on (Kafka's
// LeaderEpochFileCache.assign). Nothing changes when e is the latest epoch
// at or after its known start. Otherwise the entries e contradicts (a
// later epoch, or a start at or after e's) are dropped from the end first,
// so the cache stays monotonic: a follower's log follows its leader's
// history even where that history replaced its own. Unlike Kafka, which
// also drops an entry of e's own epoch with an earlier start and so
// forgets where that epoch began, such an entry is kept as it is.
func (es epochEntries) assign(e epochEntry) (epochEntries, bool) {
	if last, ok := es.latest(); ok && last.epoch == e.epoch && e.startOffset >= last.startOffset {
		return es, false
	}
	keep := len(es)
	for keep > 0 && (es[keep-1].epoch > e.epoch || es[keep-1].startOffset >= e.startOffset) {
		keep--
	}
	out := slices.Clone(es[:keep])
	if last, ok := out.latest(); ok && last.epoch == e.epoch {
		return out, true // keep < len(es): something was dropped
	}
	return append(out, e), true
}

// assignNewer is assign for an epoch seen in the log itself (recovery, a
// rebuild): only an epoch above the latest is recorded, so batches that
// were already accounted for never rewrite history (Kafka's
// LogSegment.recover).
func (es epochEntries) assignNewer(e epochEntry) (epochEntries, bool) {
	if last, ok := es.latest(); ok && e.epoch <= last.epoch {
		return es, false
	}
	return es.assign(e)
}

// truncateFromEnd drops the entries that start at or after end: their
// epochs wrote nothing below end (Kafka's truncateFromEnd).
func (es epochEntries) truncateFromEnd(end int64) (epochEntries, bool) {
	keep := len(es)
	for keep > 0 && es[keep-1].startOffset >= end {
		keep--
	}
	if keep == len(es) {
		return es, false
	}
	return slices.Clone(es[:keep]), true
}

// truncateFromStart drops the entries wholly below start but keeps the one
// covering start, moved to it (Kafka's truncateFromStart): the epoch of the
// first offset left in the log stays known.
func (es epochEntries) truncateFromStart(start int64) (epochEntries, bool) {
	drop := 0
	for drop < len(es) && es[drop].startOffset <= start {
		drop++
	}
	if drop == 0 || (drop == 1 && es[0].startOffset == start) {
		return es, false
	}
	out := make(epochEntries, 0, len(es)-drop+1)
	out = append(out, epochEntry{epoch: es[drop-1].epoch, startOffset: start})
	return append(out, es[drop:]...), true
}

// endOffsetFor is Kafka's LeaderEpochFileCache.endOffsetFor: the largest
// epoch at or below requested and the offset where it ended (the start of
// the next epoch), or the log end offset for the latest epoch. A requested
// epoch below every entry answers itself with the first entry's start (the
// history before it was deleted; the follower then replicates from there);
// one above every entry, or undefinedEpoch, answers undefined.
func (es epochEntries) endOffsetFor(requested int32, logEndOffset int64) (int32, int64) {
	if requested == undefinedEpoch {
		return undefinedEpoch, undefinedEpochOffset
	}
	if last, ok := es.latest(); ok && last.epoch == requested {
		return requested, logEndOffset
	}
	higher, _ := slices.BinarySearchFunc(es, requested, func(e epochEntry, epoch int32) int {
		if e.epoch <= epoch {
			return -1
		}
		return 1
	})
	switch {
	case higher == len(es):
		return undefinedEpoch, undefinedEpochOffset
	case higher == 0:
		return requested, es[0].startOffset
	default:
		return es[higher-1].epoch, es[higher].startOffset
	}
}

// encodeEpochCheckpoint writes entries in Kafka's checkpoint text format.
func encodeEpochCheckpoint(es epochEntries) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", epochCheckpointVersion, len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.startOffset)
	}
	return b.Bytes()
}

// errBadEpochCheckpoint marks a leader-epoch-checkpoint that fails its
// checks; the cache is then rebuilt from the log.
var errBadEpochCheckpoint = errors.New("bad leader epoch checkpoint")

// decodeEpochCheckpoint parses the file as Kafka's CheckpointFile reads it:
// a version line, a count line, then exactly count "epoch offset" lines.
// Entries that break monotonicity are dropped the way assign drops them
// (Kafka builds its cache from the file by assigning each entry).
func decodeEpochCheckpoint(b []byte) (epochEntries, error) {
	lines := bufio.NewScanner(bytes.NewReader(b))
	lines.Buffer(make([]byte, 0, 64), maxEpochCheckpointBytes)
	next := func(what string) (string, error) {
		if !lines.Scan() {
			if err := lines.Err(); err != nil {
				return "", fmt.Errorf("%w: reading the %s: %w", errBadEpochCheckpoint, what, err)
			}
			return "", fmt.Errorf("%w: file ends before the %s", errBadEpochCheckpoint, what)
		}
		return strings.TrimSpace(lines.Text()), nil
	}
	version, err := next("version line")
	if err != nil {
		return nil, err
	}
	if version != strconv.Itoa(epochCheckpointVersion) {
		return nil, fmt.Errorf("%w: version %q, this Sluice reads version %d", errBadEpochCheckpoint, version, epochCheckpointVersion)
	}
	countLine, err := next("entry count")
	if err != nil {
		return nil, err
	}
	count, err := strconv.Atoi(countLine)
	if err != nil || count < 0 || count > len(b) {
		return nil, fmt.Errorf("%w: entry count %q", errBadEpochCheckpoint, countLine)
	}
	var es epochEntries
	for i := range count {
		line, err := next(fmt.Sprintf("entry %d of %d", i+1, count))
		if err != nil {
			return nil, err
		}
		e, err := parseEpochLine(line)
		if err != nil {
			return nil, err
		}
		es, _ = es.assign(e)
	}
	if lines.Scan() && strings.TrimSpace(lines.Text()) != "" {
		return nil, fmt.Errorf("%w: more than the %d entries it announces", errBadEpochCheckpoint, count)
	}
	if err := lines.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadEpochCheckpoint, err)
	}
	return es, nil
}

// parseEpochLine reads one "epoch startOffset" line.
func parseEpochLine(line string) (epochEntry, error) {
	fields := strings.Fields(line)
	if len(fields) != 2 {
		return epochEntry{}, fmt.Errorf("%w: entry %q is not \"epoch offset\"", errBadEpochCheckpoint, line)
	}
	epoch, err1 := strconv.ParseInt(fields[0], 10, 32)
	offset, err2 := strconv.ParseInt(fields[1], 10, 64)
	if err1 != nil || err2 != nil || epoch < 0 || offset < 0 {
		return epochEntry{}, fmt.Errorf("%w: entry %q", errBadEpochCheckpoint, line)
	}
	return epochEntry{epoch: int32(epoch), startOffset: offset}, nil
}

// readEpochCheckpoint reads the log's leader-epoch-checkpoint; found is
// false when there is none (a new log, or a data directory from before
// replication; while Open loads the log, one its listing lacks:
// mayExistLocked). A file that fails its checks is an
// errBadEpochCheckpoint.
func (l *Log) readEpochCheckpoint() (es epochEntries, found bool, err error) {
	name := filepath.Join(l.dir, epochCheckpointName)
	if !l.mayExistLocked(name) {
		return nil, false, nil
	}
	b, err := l.readFile(mayRefuse, name, maxEpochCheckpointBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", name, err)
	}
	es, err = decodeEpochCheckpoint(b)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", name, err)
	}
	return es, true, nil
}

// LatestEpoch is the newest leader epoch the log has recorded (Kafka's
// LeaderEpochFileCache.latestEpoch); ok is false when it knows none (an
// empty log, or one from before replication not yet appended to).
func (l *Log) LatestEpoch() (epoch int32, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, ok := l.epochs.latest()
	return e.epoch, ok
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch with Kafka's
// LeaderEpochFileCache.endOffsetFor: for the latest epoch, the log end
// offset; otherwise the largest epoch at or below epoch and the start
// offset of the epoch after it; for an epoch below every recorded one,
// epoch itself and the first recorded start offset; for an epoch above
// every recorded one, or -1, (-1, -1) (UNDEFINED_EPOCH,
// UNDEFINED_EPOCH_OFFSET).
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.logEndOffset)
}

// AssignLeaderEpoch records that epoch starts at the log end offset, as a
// new leader does before it appends anything (Kafka's
// Partition.makeLeader calling maybeAssignEpochStartOffset): followers
// asking where the previous epoch ended then get the right answer at once,
// and appends under older epochs are fenced. An epoch below the latest is
// refused with ErrFencedLeaderEpoch; the latest one changes nothing.
//
// The new entry is published at once but reaches the checkpoint only with
// the first batch written under it (or the cache's next durable change):
// until then it describes no data, and losing it in a crash loses nothing,
// since the broker leads under a newer epoch after a restart. Kafka writes
// it at once; here a restart that makes 100,000 partitions leaders would
// otherwise cost 200,000 fsyncs before they serve.
func (l *Log) AssignLeaderEpoch(epoch int32) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if epoch < 0 {
		return fmt.Errorf("assign leader epoch %d: negative", epoch)
	}
	if err := l.checkLeaderEpochLocked(epoch); err != nil {
		return err
	}
	next, changed := l.epochs.assign(epochEntry{epoch: epoch, startOffset: l.logEndOffset})
	if !changed {
		return nil
	}
	l.mu.Lock()
	l.epochs = next
	l.mu.Unlock()
	l.epochsUnsynced = true
	return nil
}

// checkLeaderEpochLocked fences a leader's write under an epoch older than
// the latest recorded one.
func (l *Log) checkLeaderEpochLocked(leaderEpoch int32) error {
	if latest, ok := l.epochs.latest(); ok && leaderEpoch < latest.epoch {
		return fmt.Errorf("leader epoch %d is older than the log's latest epoch %d: %w", leaderEpoch, latest.epoch, ErrFencedLeaderEpoch)
	}
	return nil
}

// setEpochsLocked persists next as the cache, durably, then publishes it.
// The checkpoint is written whenever the cache changes, which is rare
// (leader changes, truncations, log start moves). A failed write fails the
// log, as Kafka takes the log directory offline: the file's contents are
// then unknown, and appends must not outrun it. Running out of descriptors
// does not: before the rename nothing changed; after it the file holds
// next, which is published, and only the directory fsync is left to the
// next one made in the directory.
func (l *Log) setEpochsLocked(next epochEntries) error {
	name := filepath.Join(l.dir, epochCheckpointName)
	tmp := name + ".tmp"
	if err := l.writeFile(tmp, encodeEpochCheckpoint(next)); err != nil {
		return l.failUnlessRefused(fmt.Errorf("write leader epoch checkpoint: %w", err))
	}
	if err := l.fsys.Rename(tmp, name); err != nil {
		return l.fail(fmt.Errorf("write leader epoch checkpoint: %w", err))
	}
	err := l.syncDir() // fsync point: the new checkpoint's name
	if err != nil && !errors.Is(err, ErrTooManyOpenFiles) {
		return l.fail(fmt.Errorf("write leader epoch checkpoint: %w", err))
	}
	l.mu.Lock()
	l.epochs = next
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("write leader epoch checkpoint: %w", err)
	}
	l.epochsUnsynced = false
	return nil
}

// updateEpochsLocked applies change to the cache and persists the result
// if it changed.
func (l *Log) updateEpochsLocked(change func(epochEntries) (epochEntries, bool)) error {
	next, changed := change(l.epochs)
	if !changed {
		return nil
	}
	return l.setEpochsLocked(next)
}

// assignLeaderEpochLocked records an appending leader's epoch at base, the
// first offset it is about to write, unless the cache already has it.
// Called before the batches are written, so the checkpoint never lacks the
// epoch of a durable batch; an append that then fails leaves an entry at
// the log end, which describes no data and is dropped at the next open.
//
// An entry AssignLeaderEpoch published without writing it is written here,
// before the first batch under it.
func (l *Log) assignLeaderEpochLocked(leaderEpoch int32, base int64) error {
	if leaderEpoch < 0 {
		return nil
	}
	next, changed := l.epochs.assignNewer(epochEntry{epoch: leaderEpoch, startOffset: base})
	if !changed && !l.epochsUnsynced {
		return nil
	}
	return l.setEpochsLocked(next)
}

// loadEpochsLocked builds the cache when the log opens, after recovery:
// the checkpoint's entries, the epochs of batches recovery scanned that
// are newer, then (as Kafka's LogLoader) the entries past the log end
// dropped and the first one moved up to the log start offset. A missing
// checkpoint (a data directory from before replication) leaves the cache
// to fill from later appends; one that fails its checks is rebuilt from
// the batch headers of the whole log, since a leader answering from an
// empty cache could let a follower keep a divergent tail.
func (l *Log) loadEpochsLocked(recovered epochEntries) error {
	var es epochEntries
	var found bool
	var err error
	if st := l.loadState; st != nil && st.epochsKnown && l.mayExistLocked(epochCheckpointName) {
		es, found = slices.Clone(st.epochs), true // the file's contents, from the clean-shutdown state
	} else {
		es, found, err = l.readEpochCheckpoint()
	}
	rebuilt := errors.Is(err, errBadEpochCheckpoint)
	if rebuilt {
		l.logger.Warn("rebuilding unreadable leader epoch checkpoint from the log", slog.Any("error", err))
		if es, err = l.rebuildEpochsLocked(); err != nil {
			return fmt.Errorf("rebuild leader epoch cache: %w", err)
		}
	} else if err != nil {
		return err
	}
	loaded := es
	for _, e := range recovered {
		es, _ = es.assignNewer(e)
	}
	es, _ = es.truncateFromEnd(l.logEndOffset)
	es, _ = es.truncateFromStart(l.logStartOffset)
	unchanged := slices.Equal(es, loaded) && (found || len(es) == 0)
	if unchanged && !rebuilt {
		l.epochs = es
		return nil
	}
	return l.setEpochsLocked(es)
}

// rebuildEpochsLocked reads the leader epoch of every batch header in the
// log and records each newer epoch at its first batch.
func (l *Log) rebuildEpochsLocked() (epochEntries, error) {
	var es epochEntries
	header := make([]byte, record.HeaderSize)
	for _, seg := range l.segments {
		var err error
		if es, err = segmentEpochs(seg, es, header); err != nil {
			return nil, err
		}
	}
	return es, nil
}

// segmentEpochs adds the epochs of seg's batch headers to es.
func segmentEpochs(seg *segment, es epochEntries, header []byte) (epochEntries, error) {
	pinned, err := seg.log.pin(mayRefuse, false)
	if err != nil {
		return nil, err
	}
	defer pinned.release()
	for position := int64(0); position < seg.size; {
		h, err := readHeaderAt(pinned.file(0), header, position, seg.size)
		if err != nil {
			return nil, corruption(seg.logName(), position, "unreadable batch header while rebuilding the leader epoch cache", err)
		}
		if h.PartitionLeaderEpoch >= 0 {
			es, _ = es.assignNewer(epochEntry{epoch: h.PartitionLeaderEpoch, startOffset: h.BaseOffset})
		}
		position += int64(h.Size())
	}
	return es, nil
}
