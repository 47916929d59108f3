package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/storage"
)

// Partition is one hosted topic partition: its log, its role and, while
// it leads, the LeaderState that tracks followers, the ISR and the high
// watermark.
type Partition struct {
	Topic     string
	TopicID   [16]byte
	Partition int32

	log          *storage.Log
	self         int32
	now          func() time.Time
	lagTimeMaxMs int64
	// propose hands ISR proposals to the manager's ISRProposer.
	propose func(TopicPartition, LeaderAndISR)
	// eligible says which replicas may join the ISR (nil: all).
	eligible func(id int32) bool

	// highWatermark mirrors the leader state's (or, on a follower, the
	// leader's as last fetched) so that reads need no lock; written under
	// mu only.
	highWatermark atomic.Int64
	minISR        atomic.Int32

	// roleMu is held shared by every write to the log (appends,
	// truncations) and exclusively by role changes: a role change waits
	// for the writes in flight, and no write starts under a stale role.
	roleMu sync.RWMutex

	mu    sync.Mutex // guards the fields below; never held across I/O
	role  Role
	state LeaderAndISR
	// leader is the leader's replication state; non-nil iff role is
	// RoleLeader.
	leader *LeaderState
	// provisional: the role is the default Ensure gave (leader of itself,
	// or none), not one the broker applied; MakeLeader and MakeFollower
	// replace it whatever its epoch.
	provisional bool
	closed      bool
	// watchers get a non-blocking send when the high watermark or last
	// stable offset moves or the role changes; logEndWatchers (follower
	// fetches) also when the log end moves. A long-polling fetch registers
	// one buffered channel with every partition it waits on, so one
	// wake-up costs a send, not a goroutine.
	watchers       map[chan<- struct{}]struct{}
	logEndWatchers map[chan<- struct{}]struct{}
	// changed is closed (and dropped) when the high watermark, the ISR or
	// the role changes: Commit waits on it. nil until someone waits.
	changed chan struct{}
}

// partitionConfig is what the manager hands a new Partition.
type partitionConfig struct {
	topic        string
	topicID      [16]byte
	partition    int32
	log          *storage.Log
	self         int32
	now          func() time.Time
	lagTimeMaxMs int64
	propose      func(TopicPartition, LeaderAndISR)
	eligible     func(id int32) bool
	// initial is the provisional role: leader of itself (true), or none
	// until the broker applies one.
	selfLeader  bool
	leaderEpoch int32
	// checkpointedHighWatermark is the partition's high watermark in the
	// log directory's checkpoint, or noCheckpointedHighWatermark.
	checkpointedHighWatermark int64
}

func newPartition(cfg partitionConfig) *Partition {
	p := &Partition{Topic: cfg.topic, TopicID: cfg.topicID, Partition: cfg.partition, log: cfg.log,
		self: cfg.self, now: cfg.now, lagTimeMaxMs: cfg.lagTimeMaxMs, propose: cfg.propose, eligible: cfg.eligible,
		provisional: true, watchers: map[chan<- struct{}]struct{}{}, logEndWatchers: map[chan<- struct{}]struct{}{}}
	p.minISR.Store(1)
	p.highWatermark.Store(initialHighWatermark(cfg.log, cfg.checkpointedHighWatermark))
	p.state = LeaderAndISR{Leader: -1, LeaderEpoch: cfg.leaderEpoch}
	if cfg.selfLeader {
		p.leadItselfLocked(cfg.leaderEpoch)
	}
	return p
}

// initialHighWatermark is where a partition's high watermark starts: the
// checkpointed one (replication-offset-checkpoint) clamped to the log's
// bounds, as Kafka's UnifiedLog.updateHighWatermark clamps it, so it never
// lies above the log end (a log that lost a cached tail to a crash, or was
// truncated after the checkpoint) nor below the log start. Without a
// checkpoint it is the log start, as in Kafka: a replica cannot tell which
// of its records the rest of the ISR has, and taking its log end would
// let it, once elected, expose and acknowledge records the ISR lacks. A
// follower then learns the high watermark from its leader, a leader from
// its ISR; a single node leading itself moves it to its durable log end
// at once.
func initialHighWatermark(l *storage.Log, checkpointed int64) int64 {
	return min(max(checkpointed, l.LogStartOffset()), l.LogEndOffset())
}

// leadItselfLocked makes the partition the provisional leader of itself:
// replicas [self], ISR [self], a single node's every partition.
func (p *Partition) leadItselfLocked(leaderEpoch int32) {
	s := SingleReplica(p.self, leaderEpoch)
	leo := p.log.LogEndOffset()
	ls := newLeaderState(LeaderStateConfig{Self: p.self, State: s, LagTimeMaxMs: p.lagTimeMaxMs, Eligible: p.eligible,
		MinInsyncReplicas: p.minISR.Load(), HighWatermark: p.highWatermark.Load(),
		LogEndOffset: leo, DurableOffset: p.durableOffset(), NowMs: p.nowMs()}, nil)
	p.role, p.state, p.leader = RoleLeader, s, ls
	p.publishLocked()
}

// Log exposes the partition's storage for what has no Partition method
// yet (coordinator replay, metrics, config). Request handlers use the
// Partition's methods, which apply the role and the read bounds.
func (p *Partition) Log() *storage.Log { return p.log }

func (p *Partition) nowMs() int64 { return p.now().UnixMilli() }

// durableOffset is the part of the local log that counts toward the high
// watermark: what is fsynced, or with write caching the whole log (Kafka's
// page-cache durability, which the topic asked for).
func (p *Partition) durableOffset() int64 {
	if p.log.WriteCaching() {
		return p.log.LogEndOffset()
	}
	return min(p.log.FlushedOffset(), p.log.LogEndOffset())
}

// LeaderEpoch is the partition's current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.LeaderEpoch
}

// Role is what this broker does for the partition now.
func (p *Partition) Role() Role {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.role
}

// Leader is the partition's leader as last applied, -1 when none.
func (p *Partition) Leader() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Leader
}

// LeaderAndISR is the partition's state as last applied (a leader's
// committed state; a pending ISR proposal is not included).
func (p *Partition) LeaderAndISR() LeaderAndISR {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Clone()
}

// ISRSize is the size of the committed ISR.
func (p *Partition) ISRSize() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.state.ISR)
}

// UnderMinISR reports whether an acks=all produce must be refused before
// the append (NOT_ENOUGH_REPLICAS): the committed ISR is smaller than
// minISR, capped at the replica count as Kafka's effectiveMinIsr does.
func (p *Partition) UnderMinISR(minISR int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.state.ISR) < effectiveMinISR(minISR, len(p.state.Replicas))
}

// SetMinInsyncReplicas applies the topic's min.insync.replicas, used by
// Commit (NOT_ENOUGH_REPLICAS_AFTER_APPEND) and the high watermark rule.
// Until it is called the partition assumes 1.
func (p *Partition) SetMinInsyncReplicas(n int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.minISR.Store(n)
	if p.leader == nil {
		return
	}
	if p.leader.SetMinInsyncReplicas(n, p.nowMs()) {
		p.publishLocked()
	}
	// acks=all waiters re-check the new minimum.
	p.notifyLocked(wakeHighWatermark | wakeState)
}

// HighWatermark is the offset below which records are committed and visible
// to consumers.
func (p *Partition) HighWatermark() int64 { return p.highWatermark.Load() }

// LastStableOffset is the offset below which every transaction has ended
// (committed or aborted) and every record is committed: the first offset
// of the earliest open transaction, or the high watermark when it is
// lower. read_committed fetches and ListOffsets read up to it.
func (p *Partition) LastStableOffset() int64 {
	return p.log.LastStableOffset(p.highWatermark.Load())
}

// publishLocked copies the leader state's high watermark to the atomic
// readers use.
func (p *Partition) publishLocked() {
	if p.leader != nil {
		p.highWatermark.Store(p.leader.HighWatermark())
	}
}

// wake kinds.
const (
	wakeHighWatermark = 1 << iota // high watermark or last stable offset
	wakeLogEnd                    // log end
	wakeState                     // role, epoch or ISR
)

// Watch registers ch (which should have a buffer of one) to receive a
// non-blocking send whenever the high watermark or the last stable offset
// moves, or the partition's role changes. Call the returned function to
// stop watching. Register before checking the condition you wait for, so
// no change is missed.
func (p *Partition) Watch(ch chan<- struct{}) (unwatch func()) { return p.watch(p.watchers, ch) }

// WatchLogEnd is Watch that also wakes when the log end moves: a
// follower's fetch waits for new data, not for it to be committed.
func (p *Partition) WatchLogEnd(ch chan<- struct{}) (unwatch func()) {
	return p.watch(p.logEndWatchers, ch)
}

func (p *Partition) watch(set map[chan<- struct{}]struct{}, ch chan<- struct{}) func() {
	p.mu.Lock()
	set[ch] = struct{}{}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(set, ch)
		p.mu.Unlock()
	}
}

// notifyLocked wakes what waits for the given kinds of change.
func (p *Partition) notifyLocked(kinds int) {
	committed := kinds&(wakeHighWatermark|wakeState) != 0
	if committed {
		if p.changed != nil {
			close(p.changed)
			p.changed = nil
		}
		wakeAll(p.watchers)
	}
	if committed || kinds&wakeLogEnd != 0 {
		wakeAll(p.logEndWatchers)
	}
}

// wakeAll sends to every channel of set without blocking.
func wakeAll(set map[chan<- struct{}]struct{}) {
	for ch := range set {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// changedLocked returns the channel the next high watermark, ISR or role
// change closes.
func (p *Partition) changedLocked() <-chan struct{} {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// wake notifies every watcher (the last stable offset may have moved).
func (p *Partition) wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notifyLocked(wakeHighWatermark | wakeLogEnd)
}

// logMoved tells the leader state where the local log and its durable
// part end now, after an append or an fsync, and wakes whoever that
// concerns.
func (p *Partition) logMoved(appended bool) {
	leo, durable := p.log.LogEndOffset(), p.durableOffset()
	p.mu.Lock()
	defer p.mu.Unlock()
	kinds := 0
	if appended {
		kinds |= wakeLogEnd
	}
	if p.leader != nil && p.leader.SetLeaderOffsets(leo, durable, p.nowMs()) {
		p.publishLocked()
		kinds |= wakeHighWatermark
	}
	if kinds != 0 {
		p.notifyLocked(kinds)
	}
}

// writeEpochLocked is the leader epoch a leader's write is stamped with,
// or ErrNotLeader. Caller holds roleMu (shared or not) and mu.
func (p *Partition) writeEpochLocked() (int32, error) {
	if p.role != RoleLeader || p.closed {
		return 0, fmt.Errorf("write to %s-%d as %s: %w", p.Topic, p.Partition, p.role, ErrNotLeader)
	}
	return p.state.LeaderEpoch, nil
}

// leaderWrite runs write (a log append) under the current leader epoch,
// holding roleMu shared so the role cannot change under it.
func (p *Partition) leaderWrite(write func(leaderEpoch int32) (storage.AppendResult, error)) (storage.AppendResult, error) {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	p.mu.Lock()
	epoch, err := p.writeEpochLocked()
	p.mu.Unlock()
	if err != nil {
		return storage.AppendResult{}, err
	}
	res, err := write(epoch)
	res.LeaderEpoch = epoch
	if errors.Is(err, storage.ErrFencedLeaderEpoch) {
		// The log has seen a newer leader: we are deposed.
		err = fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return res, err
}

// Append writes validated batches under the current leader epoch (a
// coordinator's records). It does not wait for durability: call Commit
// with the result's last offset before acknowledging. A partition that is
// not the leader refuses with ErrNotLeader.
func (p *Partition) Append(batches []byte) (storage.AppendResult, error) {
	res, err := p.leaderWrite(func(epoch int32) (storage.AppendResult, error) { return p.log.Append(batches, epoch) })
	if err != nil {
		return res, fmt.Errorf("append to %s-%d: %w", p.Topic, p.Partition, err)
	}
	p.logMoved(true)
	return res, nil
}

// AppendProduced is Append for a producer's batches: idempotent batches
// are checked against their producer's state first
// (storage.Log.AppendProduced). A retry of a recent batch appends nothing
// and returns the original offsets with Duplicate set; Commit its last
// offset before acknowledging, as for a fresh append, since the original
// may not be durable (or replicated) yet.
func (p *Partition) AppendProduced(batches []byte) (storage.AppendResult, error) {
	res, err := p.leaderWrite(func(epoch int32) (storage.AppendResult, error) { return p.log.AppendProduced(batches, epoch) })
	if err != nil {
		return res, fmt.Errorf("append to %s-%d: %w", p.Topic, p.Partition, err)
	}
	if !res.Duplicate {
		p.logMoved(true)
	}
	return res, nil
}

// AppendTxnMarker writes the commit (commit true) or abort marker that
// ends producerID's transaction in this partition, for the transaction
// coordinator of coordinatorEpoch, and returns once it is committed (as
// Kafka writes markers, with acks=all) with the marker's offset. An abort
// goes into the aborted-transaction index. A marker older than the
// producer's epoch fails with storage.ErrInvalidProducerEpoch, one from a
// deposed coordinator with storage.ErrTransactionCoordinatorFenced, one on
// a partition not led here with ErrNotLeader. Ending the transaction can
// move the last stable offset without the high watermark moving, so
// read_committed fetchers are woken.
func (p *Partition) AppendTxnMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) (offset int64, err error) {
	res, err := p.leaderWrite(func(epoch int32) (storage.AppendResult, error) {
		return p.log.AppendTxnMarker(producerID, producerEpoch, commit, coordinatorEpoch, epoch)
	})
	if err != nil {
		return -1, fmt.Errorf("transaction marker for %s-%d: %w", p.Topic, p.Partition, err)
	}
	p.logMoved(true)
	p.wake()
	if err := p.CommitAppended(context.Background(), res, AcksAll); err != nil {
		return -1, err
	}
	return res.BaseOffset, nil
}

// Commit is CommitAcks with acks=all and no deadline, the form
// coordinators use: it returns once the records up to lastOffset are
// committed, or the partition is no longer led here (ErrNotLeader), or the
// ISR fell below min.insync.replicas (ErrNotEnoughReplicasAfterAppend).
func (p *Partition) Commit(lastOffset int64) error {
	return p.CommitAcks(context.Background(), lastOffset, AcksAll)
}

// CommitAcks waits until the records up to and including lastOffset are
// as safe as acks asks: for acks=0 and acks=1 durable here (an fsync
// shared with concurrent callers, or nothing with write caching); for
// acks=all (-1) also below the high watermark, that is on every member of
// the ISR. An acks=all wait ends with ErrNotLeader if the partition is
// demoted (or led under a new epoch) meanwhile, with
// ErrNotEnoughReplicasAfterAppend if the ISR shrinks below
// min.insync.replicas, and with ctx's error when ctx ends (the request's
// timeout).
func (p *Partition) CommitAcks(ctx context.Context, lastOffset int64, acks int16) error {
	return p.commitAcks(ctx, p.LeaderEpoch(), lastOffset, acks)
}

// CommitAppended is CommitAcks for the records of one append (res from
// Append or AppendProduced): an acks=all wait holds only while the
// partition is led under the epoch of that append, res.LeaderEpoch, not
// the epoch current when the wait starts. A produce's wait may start long
// after its append (behind earlier replies on the connection); if the
// partition was demoted meanwhile, lost the records to a truncation and
// was elected again, the offsets hold other records, and the new epoch's
// high watermark says nothing of the appended ones (ErrNotLeader).
func (p *Partition) CommitAppended(ctx context.Context, res storage.AppendResult, acks int16) error {
	return p.commitAcks(ctx, res.LeaderEpoch, res.LastOffset, acks)
}

func (p *Partition) commitAcks(ctx context.Context, epoch int32, lastOffset int64, acks int16) error {
	if !p.log.WriteCaching() {
		if err := p.log.Sync(lastOffset + 1); err != nil {
			return fmt.Errorf("sync %s-%d: %w", p.Topic, p.Partition, err)
		}
	}
	p.logMoved(false)
	if acks != AcksAll {
		return nil
	}
	for {
		p.mu.Lock()
		done, err := p.replicatedLocked(lastOffset, epoch)
		var changed <-chan struct{}
		if !done {
			changed = p.changedLocked()
		}
		p.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// replicatedLocked reports whether an acks=all wait for lastOffset,
// started under leader epoch, is over, and how it ended.
func (p *Partition) replicatedLocked(lastOffset int64, epoch int32) (bool, error) {
	if p.closed || p.role != RoleLeader || p.state.LeaderEpoch != epoch {
		return true, fmt.Errorf("commit to %s-%d: %w", p.Topic, p.Partition, ErrNotLeader)
	}
	done, err := p.leader.CheckReplicated(lastOffset)
	if err != nil {
		err = fmt.Errorf("commit to %s-%d: %w", p.Topic, p.Partition, err)
	}
	return done, err
}

// close stops the partition serving: waiters and watchers are released
// (Commit with ErrNotLeader). The manager closes or deletes the log.
func (p *Partition) close() {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.role, p.leader = RoleNone, nil
	p.notifyLocked(wakeHighWatermark | wakeLogEnd | wakeState)
}

// resetHighWatermarkLocked caps the high watermark at the log end after
// the log was cut below it (a follower's truncation).
func (p *Partition) resetHighWatermarkLocked() {
	p.highWatermark.Store(min(p.highWatermark.Load(), p.log.LogEndOffset()))
}
