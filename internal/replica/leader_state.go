package replica

import (
	"fmt"
	"math"
	"slices"
)

// never stands for a moment that has not happened: a follower that has not
// fetched, or not caught up, since this leader started tracking it.
const never = math.MinInt64

// unknownOffset is a follower log end the leader has not learned yet
// (Kafka's UnifiedLog.UnknownOffset): lower than any real offset, so an ISR
// member that has not fetched holds the high watermark where it is.
const unknownOffset = -1

// FollowerState is what the leader knows of one follower (Kafka's
// ReplicaState).
type FollowerState struct {
	// LogEndOffset is the offset of the follower's latest fetch: its log
	// end, which decides whether it is caught up (ISR membership, lag).
	// -1 until it fetches from this leader.
	LogEndOffset int64
	// DurableOffset is the part of LogEndOffset the follower has fsynced,
	// as its latest fetch reported it (a Sluice follower sends its durable
	// log end beside the fetch offset, the fetch offset itself counting
	// as durable when it does not): what the high watermark counts and
	// what ISR expansion requires. -1 until it fetches from this leader.
	DurableOffset int64
	// LastFetchLeaderLogEnd is the largest leader log end seen when a fetch
	// from the follower arrived; -1 before the first.
	LastFetchLeaderLogEnd int64
	// LastFetchMs is when the latest fetch arrived.
	LastFetchMs int64
	// LastCaughtUpMs is the latest time t at which the follower's fetch
	// offset had reached the leader's log end as of t (Kafka's
	// lastCaughtUpTimeMs).
	LastCaughtUpMs int64
}

// caughtUp is Kafka's ReplicaState.isCaughtUp: the follower has everything
// the leader has, or had it no longer than lagMaxMs ago.
func (f FollowerState) caughtUp(leaderLogEnd, nowMs, lagMaxMs int64) bool {
	return f.LogEndOffset == leaderLogEnd || (f.LastCaughtUpMs != never && nowMs-f.LastCaughtUpMs <= lagMaxMs)
}

// fetched applies one fetch at fetchOffset, durable up to durable,
// arriving at nowMs while the leader's log ended at leaderLogEnd (Kafka's
// updateFetchStateOrThrow). Only the log end decides catching up. A
// fetch that reaches the leader's log end as of now makes the follower
// caught up now; one that reaches the leader's log end as of the previous
// fetch makes it caught up as of that fetch. The second rule keeps a
// follower of a busy leader in sync although each fetch trails the log end
// that new produce requests keep moving.
func (f *FollowerState) fetched(fetchOffset, durable, leaderLogEnd, nowMs int64) {
	switch {
	case fetchOffset >= leaderLogEnd:
		f.LastCaughtUpMs = max(f.LastCaughtUpMs, nowMs)
	case f.LastFetchLeaderLogEnd >= 0 && fetchOffset >= f.LastFetchLeaderLogEnd:
		f.LastCaughtUpMs = max(f.LastCaughtUpMs, f.LastFetchMs)
	}
	f.LogEndOffset = fetchOffset
	f.DurableOffset = max(min(durable, fetchOffset), unknownOffset)
	f.LastFetchLeaderLogEnd = max(f.LastFetchLeaderLogEnd, leaderLogEnd)
	f.LastFetchMs = nowMs
}

// forgetCaughtUp drops the follower's caught-up time, as Kafka's
// resetReplicaState does for a follower outside the ISR: until a fetch
// reaches the leader's log end again it does not count as caught up, so
// from outside the ISR it no longer holds the high watermark back (a
// restarted broker, far behind, would otherwise stall every acks=all
// write until it caught up, when it was caught up less than
// replica.lag.time.max.ms before it stopped).
func (f *FollowerState) forgetCaughtUp() { f.LastCaughtUpMs, f.LastFetchMs = never, never }

// LeaderStateConfig starts a LeaderState.
type LeaderStateConfig struct {
	// Self is this broker's node ID; State.Leader must equal it.
	Self int32
	// State is the committed state that made this broker leader.
	State LeaderAndISR
	// LagTimeMaxMs is replica.lag.time.max.ms.
	LagTimeMaxMs int64
	// MinInsyncReplicas is the topic's min.insync.replicas (below 1
	// counts as 1).
	MinInsyncReplicas int32
	// HighWatermark is the high watermark the replica had before it became
	// leader (as a follower, or as leader of the previous epoch): a new
	// leader never moves it back.
	HighWatermark int64
	// LogEndOffset is the local log end now: the start offset of the new
	// leader epoch. DurableOffset is the part of it that is durable.
	LogEndOffset  int64
	DurableOffset int64
	// NowMs is the time the leadership starts.
	NowMs int64
	// Eligible reports whether a replica may join the ISR (its broker is
	// registered, unfenced and not shutting down: KIP-841). A replica
	// that may not is never proposed and never holds the high watermark
	// back from outside the ISR. Nil means every replica is eligible.
	Eligible func(id int32) bool
}

// LeaderState is the leader's side of replication for one partition:
// followers' fetch positions, the ISR (committed and proposed) and the
// high watermark. It is a deterministic core: no locks, clocks, goroutines
// or I/O; time comes in as milliseconds and ISR changes go out as
// proposals the caller sends to the controller (AlterPartition).
//
// Each follower has two positions: its log end (the fetch offset), which
// decides whether it is caught up, and its durable end (what it reported
// fsynced), which is what the high watermark counts. The high watermark
// is the smallest durable log end across the maximal ISR: the committed
// ISR plus a member whose addition is proposed (KIP-497: waiting for more
// replicas is always safe), plus, as in Kafka, any follower that is caught
// up but not in the ISR yet, so that it can reach the high watermark and
// join. The leader counts its own durable offset, not its log end: with
// Sluice's default flush settings a record below the high watermark is
// fsynced on every ISR member. It never moves back, and
// while the committed ISR is smaller than min.insync.replicas (capped at
// the replica count) it does not move at all (Kafka 3.7+, KIP-966).
//
// At most one ISR proposal is pending: while one is, no other is made
// (Kafka's in-flight AlterPartition).
type LeaderState struct {
	self     int32
	state    LeaderAndISR // committed
	lagMaxMs int64
	minISR   int32

	// pending is the proposed state of an in-flight ISR change, nil if
	// none; maximal is the union of the committed and proposed ISRs.
	pending *LeaderAndISR
	maximal []int32

	epochStart    int64 // log end when this leader epoch began
	logEnd        int64 // leader's log end
	durable       int64 // leader's durable log end
	highWatermark int64

	followers map[int32]*FollowerState // every replica but self
	eligible  func(id int32) bool
}

// NewLeaderState starts tracking a partition this broker has just become
// leader of, or leads again under a new leader epoch (previous is then its
// state under the old epoch, else nil; see resetFollower for what carries
// over). Followers in the ISR are given replica.lag.time.max.ms from now
// to fetch before they count as lagging; others start out of sync (Kafka's
// resetReplicaState). The high watermark
// starts where it was and advances at once if the ISR allows it (an ISR of
// the leader alone).
func NewLeaderState(cfg LeaderStateConfig, previous *LeaderState) (*LeaderState, error) {
	if err := cfg.State.validateLeader(cfg.Self); err != nil {
		return nil, err
	}
	return newLeaderState(cfg, previous), nil
}

// newLeaderState is NewLeaderState for a state known to be valid.
func newLeaderState(cfg LeaderStateConfig, previous *LeaderState) *LeaderState {
	s := &LeaderState{
		self: cfg.Self, state: cfg.State.Clone(), lagMaxMs: cfg.LagTimeMaxMs, minISR: cfg.MinInsyncReplicas,
		epochStart: cfg.LogEndOffset, logEnd: cfg.LogEndOffset, durable: min(cfg.DurableOffset, cfg.LogEndOffset),
		highWatermark: cfg.HighWatermark, followers: map[int32]*FollowerState{}, eligible: cfg.Eligible,
	}
	if s.eligible == nil {
		s.eligible = func(int32) bool { return true }
	}
	if previous != nil {
		s.highWatermark = max(s.highWatermark, previous.highWatermark)
	}
	for _, id := range s.state.Replicas {
		if id == s.self {
			continue
		}
		s.followers[id] = s.resetFollower(id, previous, cfg.NowMs)
	}
	s.maximal = slices.Clone(s.state.ISR)
	s.advance(cfg.NowMs)
	return s
}

// resetFollower is a follower's state at the start of a leader epoch.
//
// The follower's position carries over only from the epoch just before
// (previous, led here too: a reassignment's epoch bump), as Kafka keeps a
// re-elected leader's. A larger jump means the epochs in between were
// never applied here and may have been led by another broker, whose log
// the followers followed, truncating and appending: what they had fetched
// from this broker says nothing of their logs now.
func (s *LeaderState) resetFollower(id int32, previous *LeaderState, nowMs int64) *FollowerState {
	inSync := slices.Contains(s.state.ISR, id)
	caughtUp, lastFetch := int64(never), int64(never)
	if inSync {
		caughtUp, lastFetch = nowMs, nowMs
	}
	if previous != nil && previous.state.LeaderEpoch+1 == s.state.LeaderEpoch {
		if old, ok := previous.followers[id]; ok {
			// Re-elected: the follower's position still holds.
			return &FollowerState{LogEndOffset: old.LogEndOffset, DurableOffset: old.DurableOffset,
				LastFetchLeaderLogEnd: s.logEnd, LastFetchMs: lastFetch, LastCaughtUpMs: caughtUp}
		}
	}
	return unknownFollower(caughtUp)
}

// unknownFollower is a follower this leader has not heard from, caught up
// as of caughtUpMs (never, or a grace period for an ISR member).
func unknownFollower(caughtUpMs int64) *FollowerState {
	return &FollowerState{LogEndOffset: unknownOffset, DurableOffset: unknownOffset,
		LastFetchLeaderLogEnd: unknownOffset, LastFetchMs: never, LastCaughtUpMs: caughtUpMs}
}

// HighWatermark is the offset below which every record is on every member
// of the maximal ISR, durably.
func (s *LeaderState) HighWatermark() int64 { return s.highWatermark }

// State is the committed state.
func (s *LeaderState) State() LeaderAndISR { return s.state.Clone() }

// MaximalISR is the committed ISR plus the members a pending proposal adds.
func (s *LeaderState) MaximalISR() []int32 { return slices.Clone(s.maximal) }

// Pending returns the in-flight ISR proposal, if any.
func (s *LeaderState) Pending() (LeaderAndISR, bool) {
	if s.pending == nil {
		return LeaderAndISR{}, false
	}
	return s.pending.Clone(), true
}

// EpochStartOffset is the log end offset when this leader epoch began: a
// follower joins the ISR only once it has everything written before.
func (s *LeaderState) EpochStartOffset() int64 { return s.epochStart }

// Follower returns what the leader knows of follower id.
func (s *LeaderState) Follower(id int32) (FollowerState, bool) {
	f, ok := s.followers[id]
	if !ok {
		return FollowerState{}, false
	}
	return *f, true
}

// EffectiveMinISR is min.insync.replicas capped at the replica count (an
// unsatisfiable setting would otherwise stop every acks=all write; Kafka's
// effectiveMinIsr).
func (s *LeaderState) EffectiveMinISR() int {
	return effectiveMinISR(s.minISR, len(s.state.Replicas))
}

func effectiveMinISR(minISR int32, replicas int) int {
	return max(1, min(int(minISR), replicas))
}

// UnderMinISR reports whether the committed ISR is below the effective
// min.insync.replicas: acks=all produce is then refused before the append
// (NOT_ENOUGH_REPLICAS) and the high watermark stands still.
func (s *LeaderState) UnderMinISR() bool { return len(s.state.ISR) < s.EffectiveMinISR() }

// SetLeaderOffsets records the leader's own log end and durable log end
// (after an append, an fsync, or with write caching both at once) and
// reports whether the high watermark moved. A leader's log never shrinks,
// so values older than the ones recorded (concurrent reporters racing)
// change nothing.
func (s *LeaderState) SetLeaderOffsets(logEnd, durable, nowMs int64) (highWatermarkMoved bool) {
	s.logEnd = max(s.logEnd, logEnd)
	s.durable = max(s.durable, min(durable, s.logEnd))
	return s.advance(nowMs)
}

// SetMinInsyncReplicas applies a changed min.insync.replicas.
func (s *LeaderState) SetMinInsyncReplicas(n int32, nowMs int64) (highWatermarkMoved bool) {
	s.minISR = n
	return s.advance(nowMs)
}

// FollowerFetched is FollowerFetchedDurable for a follower that reports
// no durable end: its fetch offset counts as durable (it fsyncs before it
// fetches).
func (s *LeaderState) FollowerFetched(id int32, fetchOffset, nowMs int64) (highWatermarkMoved bool, proposal *LeaderAndISR, err error) {
	return s.FollowerFetchedDurable(id, fetchOffset, fetchOffset, nowMs)
}

// FollowerFetchedDurable records a fetch from follower id at fetchOffset
// (its log end), of which durable is fsynced (capped at fetchOffset),
// arriving at nowMs. It returns whether the high watermark moved and,
// when the fetch brought an out-of-sync follower's durable end up to the
// high watermark and to the start of this leader epoch, the ISR expansion
// to propose (Kafka's maybeExpandIsr); the proposal is pending from then
// on. A broker that holds no replica gets ErrUnknownReplica.
func (s *LeaderState) FollowerFetchedDurable(id int32, fetchOffset, durable, nowMs int64) (highWatermarkMoved bool, proposal *LeaderAndISR, err error) {
	f, ok := s.followers[id]
	if !ok {
		return false, nil, fmt.Errorf("fetch from broker %d, replicas %v: %w", id, s.state.Replicas, ErrUnknownReplica)
	}
	f.fetched(fetchOffset, durable, s.logEnd, nowMs)
	if !s.eligible(id) && !slices.Contains(s.state.ISR, id) {
		// A broker that may not join the ISR (fenced, in controlled
		// shutdown) earns no caught-up time: a stopping broker keeps
		// fetching after the controller took it out of the ISR, and
		// that must not make it hold the high watermark back when it
		// comes back within replica.lag.time.max.ms, far behind.
		f.forgetCaughtUp()
	}
	proposal = s.maybeExpand(id, f)
	return s.advance(nowMs), proposal, nil
}

// maybeExpand proposes adding follower id to the ISR when nothing else is
// pending and it has caught up with the high watermark and the current
// epoch's start (Kafka's isFollowerInSync), durably: once a member, its
// durable end holds the high watermark, which never moves back, so a
// member that joined below it would have records under the high
// watermark it could lose. The durable end never passes the log end, so
// the log end has caught up too.
func (s *LeaderState) maybeExpand(id int32, f *FollowerState) *LeaderAndISR {
	if s.pending != nil || slices.Contains(s.state.ISR, id) || !s.eligible(id) {
		return nil
	}
	if f.DurableOffset < s.highWatermark || f.DurableOffset < s.epochStart {
		return nil
	}
	next := s.state.Clone()
	next.ISR = append(next.ISR, id)
	return s.propose(next)
}

// CheckShrink runs the ISR shrink rule at nowMs (Kafka's maybeShrinkIsr):
// ISR members other than the leader that are not caught up (no fetch has
// reached the leader's log end for replica.lag.time.max.ms) are proposed
// for removal, unless a proposal is pending. The high watermark is
// recomputed too, since time alone can release it.
func (s *LeaderState) CheckShrink(nowMs int64) (highWatermarkMoved bool, proposal *LeaderAndISR) {
	if s.pending == nil {
		var keep []int32
		for _, id := range s.state.ISR {
			if f, ok := s.followers[id]; id == s.self || (ok && f.caughtUp(s.logEnd, nowMs, s.lagMaxMs)) {
				keep = append(keep, id)
			}
		}
		if len(keep) < len(s.state.ISR) {
			next := s.state.Clone()
			next.ISR = keep
			proposal = s.propose(next)
		}
	}
	return s.advance(nowMs), proposal
}

// propose makes next the pending proposal and returns a copy for the
// caller to send.
func (s *LeaderState) propose(next LeaderAndISR) *LeaderAndISR {
	s.pending = &next
	s.maximal = slices.Clone(s.state.ISR)
	for _, id := range next.ISR {
		if !slices.Contains(s.maximal, id) {
			s.maximal = append(s.maximal, id)
		}
	}
	out := next.Clone()
	return &out
}

// AbortProposal forgets the pending proposal if it is proposed (the
// controller refused it, or the caller gave up), so the rules may propose
// again. It reports whether it did and whether the high watermark moved
// (an abandoned addition no longer holds it).
func (s *LeaderState) AbortProposal(proposed LeaderAndISR, nowMs int64) (aborted, highWatermarkMoved bool) {
	if s.pending == nil || !s.pending.Equal(proposed) {
		return false, false
	}
	s.pending = nil
	s.maximal = slices.Clone(s.state.ISR)
	return true, s.advance(nowMs)
}

// Update applies a newer committed state of the same leader epoch: an ISR
// change (ours or the controller's) or a reassignment. Any pending proposal
// is superseded (a reply to it no longer applies). A state whose partition
// epoch is not newer changes nothing. Followers added to the replicas
// start out of sync; removed ones are forgotten; one that left the ISR
// (fenced, shut down, lagging) loses its caught-up time (forgetCaughtUp).
func (s *LeaderState) Update(next LeaderAndISR, nowMs int64) (highWatermarkMoved bool, err error) {
	if err := next.validateLeader(s.self); err != nil {
		return false, err
	}
	if next.LeaderEpoch != s.state.LeaderEpoch {
		return false, fmt.Errorf("update to leader epoch %d of a leader of epoch %d: %w", next.LeaderEpoch, s.state.LeaderEpoch, ErrInvalidState)
	}
	if next.PartitionEpoch <= s.state.PartitionEpoch {
		return false, nil
	}
	previousISR := s.state.ISR
	s.state = next.Clone()
	for id, f := range s.followers {
		switch {
		case !slices.Contains(s.state.Replicas, id):
			delete(s.followers, id)
		case slices.Contains(previousISR, id) && !slices.Contains(s.state.ISR, id):
			f.forgetCaughtUp()
		}
	}
	for _, id := range s.state.Replicas {
		if _, ok := s.followers[id]; !ok && id != s.self {
			s.followers[id] = unknownFollower(never)
		}
	}
	s.pending = nil
	s.maximal = slices.Clone(s.state.ISR)
	return s.advance(nowMs), nil
}

// CheckReplicated is Kafka's checkEnoughReplicasReachOffset for an
// acks=all write whose last offset is lastOffset: done once the high
// watermark is past it, failing with ErrNotEnoughReplicasAfterAppend when
// the maximal ISR is (or has shrunk) below the effective
// min.insync.replicas, the write is then in fewer replicas than required.
func (s *LeaderState) CheckReplicated(lastOffset int64) (done bool, err error) {
	if len(s.maximal) < s.EffectiveMinISR() {
		return true, fmt.Errorf("ISR %v below min.insync.replicas %d: %w", s.maximal, s.EffectiveMinISR(), ErrNotEnoughReplicasAfterAppend)
	}
	return s.highWatermark > lastOffset, nil
}

// advance recomputes the high watermark (Kafka's maybeIncrementLeaderHW,
// over durable ends instead of log ends) and reports whether it moved.
func (s *LeaderState) advance(nowMs int64) bool {
	if s.UnderMinISR() {
		return false
	}
	candidate := s.durable
	for id, f := range s.followers {
		if f.DurableOffset >= candidate {
			continue
		}
		if slices.Contains(s.maximal, id) || (f.caughtUp(s.logEnd, nowMs, s.lagMaxMs) && s.eligible(id)) {
			candidate = f.DurableOffset
		}
	}
	if candidate <= s.highWatermark {
		return false
	}
	s.highWatermark = candidate
	return true
}
