package replica

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/storage"
)

// FetchIsolation is how far a read may go (Kafka's FetchIsolation).
type FetchIsolation int8

const (
	// IsolationHighWatermark: read_uncommitted consumers, below the high
	// watermark.
	IsolationHighWatermark FetchIsolation = iota
	// IsolationCommitted: read_committed consumers, below the last stable
	// offset.
	IsolationCommitted
	// IsolationLogEnd: followers (and ListOffsets' debug replica), up to
	// the log end.
	IsolationLogEnd
)

// IsolationFor is the isolation of a request from replicaID with Kafka's
// isolation_level (1 read_committed): a broker's replica ID (>= 0) reads
// to the log end, consumers to the high watermark or last stable offset.
func IsolationFor(replicaID int32, isolationLevel int8) FetchIsolation {
	switch {
	case replicaID >= 0:
		return IsolationLogEnd
	case isolationLevel == 1:
		return IsolationCommitted
	}
	return IsolationHighWatermark
}

// NoEpoch is Kafka's "no leader epoch" (-1) for the epoch fields of
// ReadOptions and the other checked reads.
const NoEpoch int32 = -1

// ReadOptions is one partition read of a fetch.
type ReadOptions struct {
	Offset   int64
	MaxBytes int32
	// MinOneBatch returns a first batch larger than MaxBytes whole
	// (KIP-74).
	MinOneBatch bool
	Isolation   FetchIsolation
	// CurrentLeaderEpoch is the reader's idea of the leader epoch
	// (KIP-320), NoEpoch to skip the check.
	CurrentLeaderEpoch int32
	// LastFetchedEpoch is a follower's latest local epoch (Fetch v12+):
	// when the leader's log diverges from it before Offset, the read
	// returns no records and the divergence instead. NoEpoch skips it.
	LastFetchedEpoch int32
	// FollowerMayServe lets a follower serve a consumer's read (Fetch
	// v11+, whose client metadata Kafka's fetchOnlyLeader looks for:
	// KIP-392), bounded by the isolation as on the leader but with the
	// follower's own high watermark, learned from the leader, and its last
	// stable offset below it. A replica still waiting for its role does
	// not serve (ErrNotLeader).
	FollowerMayServe bool
	// AllowFollower lets any hosted replica serve the read, whatever its
	// role (debug paths); reads are otherwise the leader's.
	AllowFollower bool
}

// servers says which replicas may answer a read.
type servers int8

const (
	leaderServes  servers = iota
	replicaServes         // the leader or a follower
	anyLogServes          // any hosted log (debug)
)

func (opts ReadOptions) servers() servers {
	switch {
	case opts.AllowFollower:
		return anyLogServes
	case opts.FollowerMayServe:
		return replicaServes
	}
	return leaderServes
}

// ReadResult is a read's records and the partition's offsets as the read
// saw them.
type ReadResult struct {
	// Records is the read's destination buffer with the batches appended.
	Records          []byte
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	LogEndOffset     int64
	// DivergingEpoch and DivergingEndOffset (both -1 when the logs agree)
	// tell a follower where its log stops matching the leader's: the
	// largest leader epoch at or below its last fetched one, and where
	// that epoch ends here.
	DivergingEpoch     int32
	DivergingEndOffset int64
}

// Offsets is the partition's offsets at one moment, with the leadership
// they were read under.
type Offsets struct {
	LeaderEpoch      int32
	LogStartOffset   int64
	LogEndOffset     int64
	HighWatermark    int64
	LastStableOffset int64
	// EpochStartOffset is where the current leader epoch began, -1 when
	// not the leader. A new leader whose high watermark is still below it
	// cannot tell what is committed yet (ListOffsets answers
	// OFFSET_NOT_AVAILABLE for latest).
	EpochStartOffset int64
}

// checkLocked is Kafka's getLocalLog: the reader's leader epoch against
// ours (FENCED_LEADER_EPOCH when older, UNKNOWN_LEADER_EPOCH when newer;
// a follower's epoch is the one it follows), then the role.
func (p *Partition) checkLocked(currentLeaderEpoch int32, who servers) error {
	if currentLeaderEpoch >= 0 {
		switch epoch := p.state.LeaderEpoch; {
		case currentLeaderEpoch < epoch:
			return fmt.Errorf("%s-%d: leader epoch %d, ours %d: %w", p.Topic, p.Partition, currentLeaderEpoch, epoch, ErrFencedLeaderEpoch)
		case currentLeaderEpoch > epoch:
			return fmt.Errorf("%s-%d: leader epoch %d, ours %d: %w", p.Topic, p.Partition, currentLeaderEpoch, epoch, ErrUnknownLeaderEpoch)
		}
	}
	serves := !p.closed
	switch who {
	case leaderServes:
		serves = serves && p.role == RoleLeader
	case replicaServes:
		serves = serves && (p.role == RoleLeader || p.role == RoleFollower)
	}
	if !serves {
		return fmt.Errorf("%s-%d is %s here: %w", p.Topic, p.Partition, p.role, ErrNotLeader)
	}
	return nil
}

// requiredServers maps Offsets' requireLeader to who serves.
func requiredServers(requireLeader bool) servers {
	if requireLeader {
		return leaderServes
	}
	return anyLogServes
}

// Offsets checks the reader's leader epoch and (with requireLeader) that
// the partition is led here, and returns its offsets.
func (p *Partition) Offsets(currentLeaderEpoch int32, requireLeader bool) (Offsets, error) {
	return p.offsets(currentLeaderEpoch, requiredServers(requireLeader))
}

func (p *Partition) offsets(currentLeaderEpoch int32, who servers) (Offsets, error) {
	p.mu.Lock()
	if err := p.checkLocked(currentLeaderEpoch, who); err != nil {
		p.mu.Unlock()
		return Offsets{}, err
	}
	o := Offsets{LeaderEpoch: p.state.LeaderEpoch, HighWatermark: p.highWatermark.Load(), EpochStartOffset: -1}
	if p.leader != nil {
		o.EpochStartOffset = p.leader.EpochStartOffset()
	}
	p.mu.Unlock()
	o.LogStartOffset, o.LogEndOffset = p.log.LogStartOffset(), p.log.LogEndOffset()
	o.LastStableOffset = p.log.LastStableOffset(o.HighWatermark)
	return o, nil
}

// Read reads whole batches from opts.Offset into dst, bounded by the
// isolation: the high watermark, the last stable offset or the log end.
// It fails with ErrNotLeader (on a replica opts does not let serve),
// ErrFencedLeaderEpoch, ErrUnknownLeaderEpoch, or
// storage.ErrOffsetOutOfRange for an offset outside the log (below its
// start or past its end, Kafka's LocalLog.read). An offset between the
// bound and the log end reads nothing: on a follower, records it has but
// the leader has not committed yet, as far as it knows.
func (p *Partition) Read(dst []byte, opts ReadOptions) (ReadResult, error) {
	o, err := p.offsets(opts.CurrentLeaderEpoch, opts.servers())
	res := ReadResult{Records: dst, HighWatermark: o.HighWatermark, LastStableOffset: o.LastStableOffset,
		LogStartOffset: o.LogStartOffset, LogEndOffset: o.LogEndOffset, DivergingEpoch: -1, DivergingEndOffset: -1}
	if err != nil {
		return res, err
	}
	if opts.LastFetchedEpoch >= 0 {
		diverged, err := p.divergence(&res, opts)
		if err != nil || diverged {
			return res, err
		}
	}
	end := o.HighWatermark
	switch opts.Isolation {
	case IsolationCommitted:
		end = o.LastStableOffset
	case IsolationLogEnd:
		end = o.LogEndOffset
	}
	res.Records, err = p.log.ReadInto(dst, opts.Offset, max(opts.MaxBytes, 0), end, opts.MinOneBatch)
	if err != nil {
		return res, fmt.Errorf("read %s-%d at %d: %w", p.Topic, p.Partition, opts.Offset, err)
	}
	return res, nil
}

// divergence is Kafka's lastFetchedEpoch check on a follower fetch: when
// this log's end of the follower's last epoch (or the largest epoch below
// it) is before the fetch offset, or the epoch is unknown here, the
// follower must truncate first.
func (p *Partition) divergence(res *ReadResult, opts ReadOptions) (bool, error) {
	epoch, end := p.log.EndOffsetForEpoch(opts.LastFetchedEpoch)
	if epoch < 0 || end < 0 {
		return false, fmt.Errorf("%s-%d: no end offset for last fetched epoch %d: %w", p.Topic, p.Partition, opts.LastFetchedEpoch, storage.ErrOffsetOutOfRange)
	}
	if opts.Offset < res.LogStartOffset {
		return false, fmt.Errorf("%s-%d: fetch offset %d below log start %d: %w", p.Topic, p.Partition, opts.Offset, res.LogStartOffset, storage.ErrOffsetOutOfRange)
	}
	if epoch < opts.LastFetchedEpoch || end < opts.Offset {
		res.DivergingEpoch, res.DivergingEndOffset = epoch, end
		return true, nil
	}
	return false, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch on the leader after the
// reader's leader epoch check: the largest epoch at or below epoch in the
// log's epoch cache and where it ends (the log end for the current one),
// (-1, -1) when undefined. A log that has recorded no epoch yet (written
// before epochs were kept, and not appended to since) has lived in the
// current epoch as far as anyone can tell: that epoch ends at the log end.
func (p *Partition) EndOffsetForEpoch(currentLeaderEpoch, epoch int32) (foundEpoch int32, endOffset int64, err error) {
	p.mu.Lock()
	err = p.checkLocked(currentLeaderEpoch, leaderServes)
	leaderEpoch := p.state.LeaderEpoch
	p.mu.Unlock()
	if err != nil {
		return -1, -1, err
	}
	if _, ok := p.log.LatestEpoch(); !ok && epoch == leaderEpoch {
		return epoch, p.log.LogEndOffset(), nil
	}
	foundEpoch, endOffset = p.log.EndOffsetForEpoch(epoch)
	return foundEpoch, endOffset, nil
}

// DeleteRecordsBefore raises the log start offset to offset on the leader
// (DeleteRecords; followers follow the log start they fetch). -1 means the
// high watermark; an offset above the high watermark fails with
// storage.ErrOffsetOutOfRange. It returns the new log start offset.
func (p *Partition) DeleteRecordsBefore(offset int64) (logStartOffset int64, err error) {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	p.mu.Lock()
	err = p.checkLocked(NoEpoch, leaderServes)
	hw := p.highWatermark.Load()
	p.mu.Unlock()
	if err != nil {
		return -1, err
	}
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, fmt.Errorf("delete %s-%d before %d, high watermark %d: %w", p.Topic, p.Partition, offset, hw, storage.ErrOffsetOutOfRange)
	}
	if err := p.log.DeleteRecordsBefore(offset); err != nil {
		return -1, fmt.Errorf("delete %s-%d before %d: %w", p.Topic, p.Partition, offset, err)
	}
	p.wake()
	return p.log.LogStartOffset(), nil
}

// LogStartOffset is the first offset readers may ask for.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset is the offset the next record will get.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// Size is the log's size on disk in bytes.
func (p *Partition) Size() int64 { return p.log.Size() }

// Producers lists the partition's active idempotent producers.
func (p *Partition) Producers() []storage.ProducerState { return p.log.Producers() }

// AbortedTransactions lists the aborted transactions overlapping
// [from, upto) (read_committed fetches).
func (p *Partition) AbortedTransactions(from, upto int64) []storage.AbortedTxn {
	return p.log.AbortedTransactions(from, upto)
}

// OffsetForTimestamp is the first record at or after ts (ListOffsets by
// time); callers bound it by the visible end.
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	return p.log.OffsetForTimestamp(ts)
}

// MaxTimestamp is the record with the largest timestamp (-1, -1 if none).
func (p *Partition) MaxTimestamp() (offset, timestamp int64) { return p.log.MaxTimestamp() }
