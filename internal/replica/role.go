package replica

import (
	"errors"
	"fmt"

	"github.com/sluice-io/sluice/internal/storage"
)

// ISRProposer sends a leader's ISR change to the controller (Kafka's
// AlterPartitionManager, AlterPartition API 56). ProposeISR must not block
// and must not call back into the partition synchronously: it queues the
// proposal and sends it in the background. proposed carries the leader,
// its leader epoch, the partition epoch the change is based on, the
// replicas and the new ISR. The outcome comes back through the partition:
// the committed state through MakeLeader (from AlterPartition's answer or
// from the metadata log, whichever is first), a refusal that proves the
// change was not made through AbortISRProposal (any other refusal leaves
// it pending until the metadata replaces it: an earlier attempt may have
// been committed). While a proposal is pending the partition proposes
// nothing else.
type ISRProposer interface {
	ProposeISR(tp TopicPartition, proposed LeaderAndISR)
}

// MakeLeader makes this broker the partition's leader under s (s.Leader
// must be this broker, and in s.ISR). A new leader epoch starts a new
// LeaderState: followers must fetch again before they count toward the
// high watermark, which therefore stays where it was until the whole ISR
// has (at once, if the ISR is this broker alone); the epoch is recorded
// in the log's leader-epoch cache at the current log end (Kafka's
// makeLeader). The same leader epoch with a newer partition epoch is an
// ISR or replica change and keeps what the leader knows of its
// followers; an older partition epoch changes nothing. An older leader
// epoch fails with ErrStaleState.
func (p *Partition) MakeLeader(s LeaderAndISR, nowMs int64) error {
	if err := s.validateLeader(p.self); err != nil {
		return fmt.Errorf("make %s-%d leader: %w", p.Topic, p.Partition, err)
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	role, cur, provisional, closed := p.role, p.state, p.provisional, p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("make %s-%d leader: partition closed: %w", p.Topic, p.Partition, ErrInvalidState)
	case !provisional && s.LeaderEpoch < cur.LeaderEpoch:
		return fmt.Errorf("make %s-%d leader at epoch %d, already at %d: %w", p.Topic, p.Partition, s.LeaderEpoch, cur.LeaderEpoch, ErrStaleState)
	case !provisional && role == RoleLeader && s.LeaderEpoch == cur.LeaderEpoch:
		return p.updateLeader(s, nowMs)
	}
	if err := p.log.AssignLeaderEpoch(s.LeaderEpoch); err != nil {
		if errors.Is(err, storage.ErrFencedLeaderEpoch) {
			err = fmt.Errorf("%w: %w", ErrStaleState, err)
		}
		return fmt.Errorf("make %s-%d leader at epoch %d: %w", p.Topic, p.Partition, s.LeaderEpoch, err)
	}
	leo, durable := p.log.LogEndOffset(), p.durableOffset()
	p.mu.Lock()
	defer p.mu.Unlock()
	var previous *LeaderState
	if role == RoleLeader && !provisional {
		previous = p.leader
	}
	p.leader = newLeaderState(LeaderStateConfig{Self: p.self, State: s, LagTimeMaxMs: p.lagTimeMaxMs, Eligible: p.eligible,
		MinInsyncReplicas: p.minISR.Load(), HighWatermark: p.highWatermark.Load(),
		LogEndOffset: leo, DurableOffset: durable, NowMs: nowMs}, previous)
	p.role, p.state, p.provisional = RoleLeader, s.Clone(), false
	p.publishLocked()
	p.notifyLocked(wakeHighWatermark | wakeLogEnd | wakeState)
	return nil
}

// updateLeader applies a newer committed state of the current leader
// epoch. Caller holds roleMu.
func (p *Partition) updateLeader(s LeaderAndISR, nowMs int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	moved, err := p.leader.Update(s, nowMs)
	if err != nil {
		return fmt.Errorf("update %s-%d: %w", p.Topic, p.Partition, err)
	}
	p.state = p.leader.State()
	if moved {
		p.publishLocked()
	}
	p.notifyLocked(wakeHighWatermark | wakeState)
	return nil
}

// MakeFollower makes this broker a follower under s (s.Leader is another
// broker, or -1 while the partition has none): produce and consumer reads
// are refused from now on, acks=all waits end with ErrNotLeader, and the
// leader's state is dropped. The high watermark stays; the fetcher lowers
// the log (TruncateTo) where it diverges from the new leader. The same
// leader epoch as the current follower state only updates the replicas
// and ISR; an older one fails with ErrStaleState.
func (p *Partition) MakeFollower(s LeaderAndISR) error {
	if s.Leader == p.self {
		return fmt.Errorf("make %s-%d follower of itself: %w", p.Topic, p.Partition, ErrInvalidState)
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return fmt.Errorf("make %s-%d follower: partition closed: %w", p.Topic, p.Partition, ErrInvalidState)
	case !p.provisional && s.LeaderEpoch < p.state.LeaderEpoch:
		return fmt.Errorf("make %s-%d follower at epoch %d, already at %d: %w", p.Topic, p.Partition, s.LeaderEpoch, p.state.LeaderEpoch, ErrStaleState)
	case !p.provisional && p.role == RoleFollower && s.LeaderEpoch == p.state.LeaderEpoch:
		if s.PartitionEpoch > p.state.PartitionEpoch {
			p.state = s.Clone()
		}
		return nil
	}
	p.role, p.state, p.leader, p.provisional = RoleFollower, s.Clone(), nil, false
	p.resetHighWatermarkLocked()
	p.notifyLocked(wakeHighWatermark | wakeLogEnd | wakeState)
	return nil
}

// AbortISRProposal forgets the pending ISR proposal if it is proposed:
// the controller refused it with an answer that proves it was not
// committed (INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED, INVALID_REQUEST:
// refusals made after the epochs were found current).
// The rules may then propose again. It reports whether it did.
func (p *Partition) AbortISRProposal(proposed LeaderAndISR) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader == nil {
		return false
	}
	aborted, moved := p.leader.AbortProposal(proposed, p.nowMs())
	if moved {
		p.publishLocked()
	}
	if aborted {
		// The maximal ISR shrank: acks=all waiters re-check min.insync.
		p.notifyLocked(wakeHighWatermark | wakeState)
	}
	return aborted
}

// PendingISRProposal returns the in-flight ISR proposal, if any.
func (p *Partition) PendingISRProposal() (LeaderAndISR, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader == nil {
		return LeaderAndISR{}, false
	}
	return p.leader.Pending()
}

// MaximalISR is the committed ISR plus the members a pending proposal
// adds; nil when not the leader.
func (p *Partition) MaximalISR() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader == nil {
		return nil
	}
	return p.leader.MaximalISR()
}

// FollowerFetched is FollowerFetchedDurable for a fetch that reports no
// durable end: the fetch offset counts as durable on the follower.
func (p *Partition) FollowerFetched(replicaID int32, fetchOffset int64, nowMs int64) (highWatermarkMoved bool, err error) {
	return p.FollowerFetchedDurable(replicaID, fetchOffset, fetchOffset, nowMs)
}

// FollowerFetchedDurable records, on the leader, a fetch from follower
// replicaID at fetchOffset (its log end), durable on the follower up to
// durable, arriving at nowMs, after the read succeeded. It returns
// whether the high watermark moved; an ISR expansion it makes due goes to
// the ISRProposer. A partition not led here answers ErrNotLeader, a
// broker without a replica ErrUnknownReplica.
func (p *Partition) FollowerFetchedDurable(replicaID int32, fetchOffset, durable, nowMs int64) (highWatermarkMoved bool, err error) {
	p.mu.Lock()
	if p.leader == nil {
		p.mu.Unlock()
		return false, fmt.Errorf("follower fetch of %s-%d: %w", p.Topic, p.Partition, ErrNotLeader)
	}
	moved, proposal, err := p.leader.FollowerFetchedDurable(replicaID, fetchOffset, durable, nowMs)
	if moved {
		p.publishLocked()
		p.notifyLocked(wakeHighWatermark)
	}
	p.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("follower fetch of %s-%d: %w", p.Topic, p.Partition, err)
	}
	p.sendProposal(proposal)
	return moved, nil
}

// checkISR runs the ISR shrink rule and re-evaluates the high watermark
// at nowMs; a shrink goes to the ISRProposer.
func (p *Partition) checkISR(nowMs int64) {
	p.mu.Lock()
	if p.leader == nil {
		p.mu.Unlock()
		return
	}
	moved, proposal := p.leader.CheckShrink(nowMs)
	if moved {
		p.publishLocked()
		p.notifyLocked(wakeHighWatermark)
	}
	p.mu.Unlock()
	p.sendProposal(proposal)
}

// sendProposal hands a proposal to the proposer, outside the partition's
// lock. Without a proposer (a single node never proposes) the proposal
// stays pending: nothing would ever answer it.
func (p *Partition) sendProposal(proposal *LeaderAndISR) {
	if proposal != nil && p.propose != nil {
		p.propose(TopicPartition{p.Topic, p.Partition}, *proposal)
	}
}

// provisionalEpoch moves a partition still in Ensure's provisional
// self-leadership to a newer leader epoch; a role the broker applied is
// left alone.
func (p *Partition) provisionalEpoch(leaderEpoch int32) {
	if !p.takesProvisionalEpoch(leaderEpoch) {
		return // the common case: nothing to do, and no wait for appends
	}
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.takesProvisionalEpochLocked(leaderEpoch) {
		return
	}
	if p.role != RoleLeader {
		p.state.LeaderEpoch = leaderEpoch
		return
	}
	p.leadItselfLocked(leaderEpoch)
	p.notifyLocked(wakeHighWatermark | wakeLogEnd | wakeState)
}

func (p *Partition) takesProvisionalEpoch(leaderEpoch int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takesProvisionalEpochLocked(leaderEpoch)
}

func (p *Partition) takesProvisionalEpochLocked(leaderEpoch int32) bool {
	return p.provisional && !p.closed && leaderEpoch > p.state.LeaderEpoch
}
