package replica

import (
	"errors"
	"slices"
	"testing"
)

const testLagMs = 30000

// op is one event applied to a LeaderState in a scenario, with what it
// must produce: the high watermark after it and the ISR of the proposal
// it makes (nil: none).
type op struct {
	name     string
	apply    func(t *testing.T, s *LeaderState) (moved bool, proposal *LeaderAndISR)
	hw       int64
	proposal []int32
}

func fetch(id int32, offset, now int64) func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
	return func(t *testing.T, s *LeaderState) (bool, *LeaderAndISR) {
		t.Helper()
		moved, p, err := s.FollowerFetched(id, offset, now)
		if err != nil {
			t.Fatalf("FollowerFetched(%d, %d): %v", id, offset, err)
		}
		return moved, p
	}
}

func leaderAt(leo, durable, now int64) func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
	return func(_ *testing.T, s *LeaderState) (bool, *LeaderAndISR) {
		return s.SetLeaderOffsets(leo, durable, now), nil
	}
}

func shrinkAt(now int64) func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
	return func(_ *testing.T, s *LeaderState) (bool, *LeaderAndISR) { return s.CheckShrink(now) }
}

func commit(isr []int32, partitionEpoch int32, now int64) func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
	return func(t *testing.T, s *LeaderState) (bool, *LeaderAndISR) {
		t.Helper()
		next := s.State()
		next.ISR, next.PartitionEpoch = isr, partitionEpoch
		moved, err := s.Update(next, now)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		return moved, nil
	}
}

func abortPending(now int64) func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
	return func(t *testing.T, s *LeaderState) (bool, *LeaderAndISR) {
		t.Helper()
		pending, ok := s.Pending()
		if !ok {
			t.Fatal("no pending proposal to abort")
		}
		aborted, moved := s.AbortProposal(pending, now)
		if !aborted {
			t.Fatal("AbortProposal refused the pending proposal")
		}
		return moved, nil
	}
}

// newLeader builds a LeaderState for leader 1 of replicas with isr, at
// log end leo (all durable), high watermark hw, time now.
func newLeader(t *testing.T, replicas, isr []int32, minISR int32, hw, leo, now int64) *LeaderState {
	t.Helper()
	s, err := NewLeaderState(LeaderStateConfig{Self: 1, State: LeaderAndISR{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 7,
		Replicas: replicas, ISR: isr}, LagTimeMaxMs: testLagMs, MinInsyncReplicas: minISR,
		HighWatermark: hw, LogEndOffset: leo, DurableOffset: leo, NowMs: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runOps(t *testing.T, s *LeaderState, ops []op) {
	t.Helper()
	for i, o := range ops {
		before := s.HighWatermark()
		moved, proposal := o.apply(t, s)
		if got := s.HighWatermark(); got != o.hw {
			t.Fatalf("step %d (%s): high watermark %d, want %d", i, o.name, got, o.hw)
		}
		if moved != (s.HighWatermark() != before) {
			t.Fatalf("step %d (%s): moved=%v but high watermark went %d -> %d", i, o.name, moved, before, s.HighWatermark())
		}
		switch {
		case o.proposal == nil && proposal != nil:
			t.Fatalf("step %d (%s): unexpected proposal ISR %v", i, o.name, proposal.ISR)
		case o.proposal != nil && proposal == nil:
			t.Fatalf("step %d (%s): no proposal, want ISR %v", i, o.name, o.proposal)
		case proposal != nil && !slices.Equal(proposal.ISR, o.proposal):
			t.Fatalf("step %d (%s): proposal ISR %v, want %v", i, o.name, proposal.ISR, o.proposal)
		case proposal != nil && (proposal.LeaderEpoch != 5 || proposal.Leader != 1):
			t.Fatalf("step %d (%s): proposal %+v does not carry the leader and its epoch", i, o.name, *proposal)
		}
	}
}

// The high watermark rule (Kafka's maybeIncrementLeaderHW with Sluice's
// durable offsets): minimum over the maximal ISR, never backwards, frozen
// under min.insync.replicas, waiting for caught-up followers outside the
// ISR.
func TestLeaderStateHighWatermark(t *testing.T) {
	all := []int32{1, 2, 3}
	cases := []struct {
		name     string
		replicas []int32
		isr      []int32
		minISR   int32
		hw, leo  int64
		startHW  int64 // high watermark right after the leadership starts
		ops      []op
	}{
		{name: "leader alone advances to its durable offset at once", replicas: []int32{1}, isr: []int32{1},
			hw: 3, leo: 10, startHW: 10, ops: []op{
				{name: "append not yet durable", apply: leaderAt(15, 10, 1), hw: 10},
				{name: "fsync", apply: leaderAt(15, 15, 2), hw: 15},
			}},
		{name: "new leader keeps its high watermark until the whole ISR fetched", replicas: all, isr: all,
			hw: 4, leo: 10, startHW: 4, ops: []op{
				{name: "2 fetches", apply: fetch(2, 10, 1), hw: 4},
				{name: "3 fetches behind", apply: fetch(3, 8, 1), hw: 8},
				{name: "3 catches up", apply: fetch(3, 10, 2), hw: 10},
			}},
		{name: "high watermark is the smallest durable offset, leader's included", replicas: all, isr: all,
			hw: 10, leo: 10, startHW: 10, ops: []op{
				{name: "append, not durable", apply: leaderAt(20, 10, 1), hw: 10},
				{name: "followers have it durably", apply: fetch(2, 20, 2), hw: 10},
				{name: "followers have it durably", apply: fetch(3, 20, 2), hw: 10},
				{name: "leader fsyncs", apply: leaderAt(20, 20, 3), hw: 20},
			}},
		{name: "never moves back", replicas: all, isr: all, hw: 10, leo: 10, startHW: 10, ops: []op{
			{name: "2 at 10", apply: fetch(2, 10, 1), hw: 10},
			{name: "3 at 10", apply: fetch(3, 10, 1), hw: 10},
			{name: "2 reports less (truncated)", apply: fetch(2, 6, 2), hw: 10},
			{name: "leader grows", apply: leaderAt(30, 30, 3), hw: 10},
			{name: "2 comes back", apply: fetch(2, 30, 4), hw: 10},
			{name: "3 too", apply: fetch(3, 25, 4), hw: 25},
		}},
		{name: "frozen while the ISR is below min.insync.replicas", replicas: all, isr: []int32{1}, minISR: 2,
			hw: 5, leo: 10, startHW: 5, ops: []op{
				{name: "leader fsyncs more", apply: leaderAt(20, 20, 1), hw: 5},
				{name: "a follower catches up, proposed", apply: fetch(2, 10, 2), hw: 5, proposal: []int32{1, 2}},
				{name: "the expansion commits", apply: commit([]int32{1, 2}, 8, 3), hw: 10},
				{name: "now the ISR counts", apply: fetch(2, 20, 4), hw: 20},
			}},
		{name: "min.insync.replicas above the replica count is capped", replicas: []int32{1}, isr: []int32{1}, minISR: 3,
			hw: 0, leo: 10, startHW: 10},
		{name: "a member whose addition is pending holds the high watermark", replicas: all, isr: []int32{1, 2},
			hw: 10, leo: 10, startHW: 10, ops: []op{
				{name: "2 in sync", apply: fetch(2, 10, 1), hw: 10},
				{name: "3 reaches the log end: proposed", apply: fetch(3, 10, 1), hw: 10, proposal: all},
				{name: "leader moves on", apply: leaderAt(20, 20, 2), hw: 10},
				{name: "2 follows", apply: fetch(2, 20, 3), hw: 10},
				{name: "3 follows, pending member counts", apply: fetch(3, 20, 3), hw: 20},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newLeader(t, tc.replicas, tc.isr, tc.minISR, tc.hw, tc.leo, 0)
			if got := s.HighWatermark(); got != tc.startHW {
				t.Fatalf("high watermark at start %d, want %d", got, tc.startHW)
			}
			runOps(t, s, tc.ops)
		})
	}
}

// A follower outside the ISR that is caught up (within the lag time) but
// cannot join while another change is pending holds the high watermark
// (Kafka's shouldWaitForReplicaToJoinIsr), so it can reach it; once it
// stops fetching for longer than the lag time it no longer does.
func TestLeaderStateCaughtUpOutsiderHoldsHighWatermark(t *testing.T) {
	lag := int64(testLagMs)
	// 2 lags and is shrunk out; 3, outside the ISR, reaches the log end
	// while that shrink is pending, so it cannot be proposed yet.
	prefix := []op{
		{name: "leader appends", apply: leaderAt(20, 20, 1), hw: 10},
		{name: "2 trails", apply: fetch(2, 10, 1), hw: 10},
		{name: "2 lags: shrink proposed", apply: shrinkAt(lag + 2), hw: 10, proposal: []int32{1}},
		{name: "3 reaches the log end: no proposal while one is pending", apply: fetch(3, 20, lag+3), hw: 10},
		{name: "leader appends again", apply: leaderAt(30, 30, lag+4), hw: 10},
		{name: "shrink commits: 3, caught up, holds at its offset", apply: commit([]int32{1}, 8, lag+5), hw: 20},
	}
	t.Run("until it joins", func(t *testing.T) {
		s := newLeader(t, []int32{1, 2, 3}, []int32{1, 2}, 1, 10, 10, 0)
		runOps(t, s, append(prefix,
			op{name: "3 fetches on: proposed, and counted", apply: fetch(3, 25, lag+6), hw: 25, proposal: []int32{1, 3}}))
	})
	t.Run("until it lags", func(t *testing.T) {
		s := newLeader(t, []int32{1, 2, 3}, []int32{1, 2}, 1, 10, 10, 0)
		runOps(t, s, append(prefix,
			op{name: "exactly the lag time after it caught up", apply: shrinkAt(2*lag + 3), hw: 20},
			op{name: "one ms more: released", apply: shrinkAt(2*lag + 4), hw: 30}))
	})
}

// Kafka's lastCaughtUpTimeMs rule (Replica.updateFetchStateOrThrow and
// ReplicaTest): a fetch reaching the leader's log end as of now makes the
// follower caught up now; one reaching the leader's log end as of the
// previous fetch makes it caught up as of that fetch; otherwise nothing
// changes.
func TestFollowerLastCaughtUp(t *testing.T) {
	cases := []struct {
		name         string
		fetches      [][3]int64 // fetch offset, leader log end, time
		wantCaughtUp int64
	}{
		{"never caught up", [][3]int64{{5, 10, 100}}, never},
		{"reaches the log end", [][3]int64{{10, 10, 100}}, 100},
		{"past the log end", [][3]int64{{12, 10, 100}}, 100},
		{"reaches the previous fetch's log end", [][3]int64{{5, 10, 100}, {10, 15, 200}}, 100},
		{"behind the previous fetch's log end too", [][3]int64{{5, 10, 100}, {8, 15, 200}}, never},
		{"busy leader: always trailing, always caught up as of the last fetch",
			[][3]int64{{10, 10, 100}, {12, 14, 200}, {14, 18, 300}, {18, 22, 400}}, 300},
		{"caught-up time never moves back", [][3]int64{{10, 10, 500}, {10, 12, 400}}, 500},
		{"largest leader log end is remembered", [][3]int64{{5, 20, 100}, {10, 12, 200}, {15, 25, 300}}, never},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := FollowerState{LogEndOffset: unknownOffset, LastFetchLeaderLogEnd: unknownOffset, LastFetchMs: never, LastCaughtUpMs: never}
			for _, fe := range tc.fetches {
				f.fetched(fe[0], fe[0], fe[1], fe[2])
			}
			if f.LastCaughtUpMs != tc.wantCaughtUp {
				t.Fatalf("last caught up %d, want %d (state %+v)", f.LastCaughtUpMs, tc.wantCaughtUp, f)
			}
		})
	}
}

// The re-check after a previous fetch: the second rule uses that fetch's
// time, as Kafka's ReplicaTest.testUpdateFetchStateWithLaggingFollower.
func TestFollowerCaughtUpPredicate(t *testing.T) {
	f := FollowerState{LogEndOffset: 10, LastCaughtUpMs: 1000}
	cases := []struct {
		leaderLogEnd, now int64
		want              bool
	}{
		{10, 1_000_000, true}, // same log end: in sync however long ago
		{11, 1000 + testLagMs, true},
		{11, 1000 + testLagMs + 1, false},
	}
	for _, tc := range cases {
		if got := f.caughtUp(tc.leaderLogEnd, tc.now, testLagMs); got != tc.want {
			t.Errorf("caughtUp(leader %d, now %d) = %v, want %v", tc.leaderLogEnd, tc.now, got, tc.want)
		}
	}
	fresh := FollowerState{LogEndOffset: unknownOffset, LastCaughtUpMs: never}
	if fresh.caughtUp(0, 0, testLagMs) {
		t.Error("a follower that never fetched counts as caught up")
	}
}

// ISR expansion (Kafka's maybeExpandIsr): a follower outside the ISR is
// proposed once its fetch offset reaches both the high watermark and the
// start of the leader epoch; one proposal at a time; an abort or the
// committed state lets the rules propose again.
func TestLeaderStateExpand(t *testing.T) {
	all := []int32{1, 2, 3}
	t.Run("needs the high watermark and the epoch start", func(t *testing.T) {
		// Epoch starts at 10; high watermark 4 (a new leader's).
		s := newLeader(t, all, []int32{1, 2}, 1, 4, 10, 0)
		runOps(t, s, []op{
			{name: "3 below the high watermark", apply: fetch(3, 3, 1), hw: 4},
			{name: "3 at the high watermark, below the epoch start", apply: fetch(3, 6, 2), hw: 4},
			{name: "2 fetches; 3 never caught up, so does not hold", apply: fetch(2, 10, 3), hw: 10},
			{name: "3 at the epoch start", apply: fetch(3, 10, 4), hw: 10, proposal: all},
		})
		if isr := s.MaximalISR(); !slices.Equal(isr, all) {
			t.Fatalf("maximal ISR %v, want %v", isr, all)
		}
		if st := s.State(); !slices.Equal(st.ISR, []int32{1, 2}) {
			t.Fatalf("committed ISR %v changed before the controller answered", st.ISR)
		}
	})
	t.Run("one pending proposal at a time", func(t *testing.T) {
		s := newLeader(t, []int32{1, 2, 3, 4}, []int32{1}, 1, 10, 10, 0)
		runOps(t, s, []op{
			{name: "2 caught up: proposed", apply: fetch(2, 10, 1), hw: 10, proposal: []int32{1, 2}},
			{name: "3 caught up: waits", apply: fetch(3, 10, 1), hw: 10},
			{name: "no shrink while pending", apply: shrinkAt(10 * testLagMs), hw: 10},
			{name: "controller refuses", apply: abortPending(2), hw: 10},
			{name: "3 again: proposed", apply: fetch(3, 10, 3), hw: 10, proposal: []int32{1, 3}},
			{name: "committed", apply: commit([]int32{1, 3}, 8, 4), hw: 10},
			{name: "2 again: proposed on top of the committed ISR", apply: fetch(2, 10, 5), hw: 10, proposal: []int32{1, 3, 2}},
		})
	})
	t.Run("an ISR member is never proposed again", func(t *testing.T) {
		s := newLeader(t, all, all, 1, 10, 10, 0)
		runOps(t, s, []op{{name: "2 fetches", apply: fetch(2, 10, 1), hw: 10}})
	})
	t.Run("an aborted addition no longer holds the high watermark", func(t *testing.T) {
		s := newLeader(t, []int32{1, 2}, []int32{1}, 1, 10, 10, 0)
		runOps(t, s, []op{
			{name: "2 proposed", apply: fetch(2, 10, 1), hw: 10, proposal: []int32{1, 2}},
			{name: "leader moves", apply: leaderAt(20, 20, 2), hw: 10},
			{name: "abort: 2 is caught up still, holds", apply: abortPending(3), hw: 10},
			{name: "lag time passes", apply: shrinkAt(testLagMs + 2), hw: 20},
		})
	})
	t.Run("a stale abort changes nothing", func(t *testing.T) {
		s := newLeader(t, []int32{1, 2}, []int32{1}, 1, 10, 10, 0)
		if _, p, _ := s.FollowerFetched(2, 10, 1); p == nil {
			t.Fatal("no proposal")
		}
		other := s.State()
		other.ISR = []int32{1, 9}
		if aborted, _ := s.AbortProposal(other, 2); aborted {
			t.Fatal("aborted a proposal that is not the pending one")
		}
		if _, ok := s.Pending(); !ok {
			t.Fatal("pending proposal lost")
		}
	})
}

// ISR shrink (Kafka's maybeShrinkIsr / getOutOfSyncReplicas): an ISR
// member not caught up for more than replica.lag.time.max.ms is proposed
// for removal; the leader never is; while the shrink is pending the old
// ISR still holds the high watermark.
func TestLeaderStateShrink(t *testing.T) {
	all := []int32{1, 2, 3}
	t.Run("lag boundary", func(t *testing.T) {
		s := newLeader(t, all, all, 1, 10, 10, 0)
		runOps(t, s, []op{
			{name: "leader appends", apply: leaderAt(20, 20, 0), hw: 10},
			{name: "2 caught up at 0", apply: fetch(2, 20, 0), hw: 10},
			{name: "3 caught up at 0", apply: fetch(3, 20, 0), hw: 20},
			{name: "leader appends more", apply: leaderAt(30, 30, 1), hw: 20},
			{name: "exactly the lag: in sync", apply: shrinkAt(testLagMs), hw: 20},
			{name: "2 catches up", apply: fetch(2, 30, testLagMs), hw: 20},
			{name: "one more ms: 3 out", apply: shrinkAt(testLagMs + 1), hw: 20, proposal: []int32{1, 2}},
			{name: "shrink pending: 3 still holds", apply: leaderAt(30, 30, testLagMs+2), hw: 20},
			{name: "shrink committed", apply: commit([]int32{1, 2}, 8, testLagMs+3), hw: 30},
		})
	})
	t.Run("a follower with the leader's log end stays in sync however old its fetch", func(t *testing.T) {
		s := newLeader(t, all, all, 1, 10, 10, 0)
		runOps(t, s, []op{
			{name: "2 at the end", apply: fetch(2, 10, 0), hw: 10},
			{name: "3 at the end", apply: fetch(3, 10, 0), hw: 10},
			{name: "idle partition, long after", apply: shrinkAt(100 * testLagMs), hw: 10},
		})
	})
	t.Run("new leader gives ISR followers the lag time to fetch", func(t *testing.T) {
		s := newLeader(t, all, all, 1, 10, 10, 1000)
		runOps(t, s, []op{
			{name: "leader appends", apply: leaderAt(11, 11, 1000), hw: 10},
			{name: "within the grace", apply: shrinkAt(1000 + testLagMs), hw: 10},
			{name: "past it: both out", apply: shrinkAt(1001 + testLagMs), hw: 10, proposal: []int32{1}},
			{name: "committed: leader alone", apply: commit([]int32{1}, 8, 1002+testLagMs), hw: 11},
		})
	})
	t.Run("leader alone never shrinks", func(t *testing.T) {
		s := newLeader(t, []int32{1}, []int32{1}, 1, 0, 10, 0)
		runOps(t, s, []op{{name: "much later", apply: shrinkAt(100 * testLagMs), hw: 10}})
	})
}

// acks=all completion (Kafka's checkEnoughReplicasReachOffset).
func TestLeaderStateCheckReplicated(t *testing.T) {
	s := newLeader(t, []int32{1, 2, 3}, []int32{1, 2, 3}, 2, 10, 10, 0)
	s.SetLeaderOffsets(20, 20, 1)
	if done, err := s.CheckReplicated(15); done || err != nil {
		t.Fatalf("before replication: done=%v err=%v", done, err)
	}
	s.FollowerFetched(2, 20, 2)
	s.FollowerFetched(3, 16, 2)
	if done, err := s.CheckReplicated(15); !done || err != nil {
		t.Fatalf("replicated past 15: done=%v err=%v", done, err)
	}
	if done, _ := s.CheckReplicated(16); done {
		t.Fatal("16 is not below the high watermark")
	}
	s.CheckShrink(testLagMs + 10) // 3 lags
	s.Update(LeaderAndISR{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 8, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}}, testLagMs+11)
	if done, err := s.CheckReplicated(19); !done || err != nil {
		t.Fatalf("ISR of 2 with min 2: done=%v err=%v", done, err)
	}
	s.Update(LeaderAndISR{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 9, Replicas: []int32{1, 2, 3}, ISR: []int32{1}}, testLagMs+12)
	if done, err := s.CheckReplicated(30); !done || !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("ISR below min: done=%v err=%v", done, err)
	}
	if !s.UnderMinISR() {
		t.Fatal("UnderMinISR false with ISR [1] and min 2")
	}
}

// Leadership under a new epoch: a re-elected leader keeps what it knew
// of its followers' logs; a new one starts from nothing; a follower
// outside the ISR starts out of sync.
func TestLeaderStateNewEpoch(t *testing.T) {
	state := func(epoch int32, isr []int32) LeaderAndISR {
		return LeaderAndISR{Leader: 1, LeaderEpoch: epoch, PartitionEpoch: epoch, Replicas: []int32{1, 2, 3}, ISR: isr}
	}
	first, err := NewLeaderState(LeaderStateConfig{Self: 1, State: state(1, []int32{1, 2, 3}), LagTimeMaxMs: testLagMs,
		HighWatermark: 0, LogEndOffset: 10, DurableOffset: 10, NowMs: 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first.FollowerFetched(2, 10, 1)
	first.FollowerFetched(3, 10, 1)
	again, err := NewLeaderState(LeaderStateConfig{Self: 1, State: state(2, []int32{1, 2}), LagTimeMaxMs: testLagMs,
		HighWatermark: 0, LogEndOffset: 10, DurableOffset: 10, NowMs: 5}, first)
	if err != nil {
		t.Fatal(err)
	}
	if hw := again.HighWatermark(); hw != 10 {
		t.Fatalf("re-elected leader high watermark %d, want 10 (kept)", hw)
	}
	if f, _ := again.Follower(2); f.LogEndOffset != 10 || f.LastCaughtUpMs != 5 || f.LastFetchLeaderLogEnd != 10 {
		t.Fatalf("re-elected: ISR follower state %+v", f)
	}
	if f, _ := again.Follower(3); f.LogEndOffset != 10 || f.LastCaughtUpMs != never || f.LastFetchMs != never {
		t.Fatalf("re-elected: non-ISR follower state %+v", f)
	}
	fresh, err := NewLeaderState(LeaderStateConfig{Self: 1, State: state(2, []int32{1, 2}), LagTimeMaxMs: testLagMs,
		HighWatermark: 3, LogEndOffset: 10, DurableOffset: 10, NowMs: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := fresh.Follower(2); f.LogEndOffset != unknownOffset || f.LastCaughtUpMs != 5 {
		t.Fatalf("new leader: ISR follower state %+v", f)
	}
	if hw := fresh.HighWatermark(); hw != 3 {
		t.Fatalf("new leader moved its high watermark to %d before the ISR fetched", hw)
	}
	if got := fresh.EpochStartOffset(); got != 10 {
		t.Fatalf("epoch start %d, want 10", got)
	}
}

// Update: stale partition epochs are ignored, replicas come and go, a
// different leader epoch is refused.
func TestLeaderStateUpdate(t *testing.T) {
	s := newLeader(t, []int32{1, 2}, []int32{1, 2}, 1, 10, 10, 0)
	s.FollowerFetched(2, 10, 1)
	stale := s.State()
	stale.ISR, stale.PartitionEpoch = []int32{1}, 7
	if moved, err := s.Update(stale, 2); moved || err != nil {
		t.Fatalf("stale update: moved=%v err=%v", moved, err)
	}
	if st := s.State(); !slices.Equal(st.ISR, []int32{1, 2}) {
		t.Fatalf("stale update applied: ISR %v", st.ISR)
	}
	reassigned := s.State()
	reassigned.Replicas, reassigned.ISR, reassigned.PartitionEpoch = []int32{1, 3}, []int32{1}, 8
	if _, err := s.Update(reassigned, 3); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Follower(2); ok {
		t.Fatal("removed replica still tracked")
	}
	if f, ok := s.Follower(3); !ok || f.LogEndOffset != unknownOffset || f.LastCaughtUpMs != never {
		t.Fatalf("added replica state %+v, %v", f, ok)
	}
	if _, _, err := s.FollowerFetched(2, 10, 4); !errors.Is(err, ErrUnknownReplica) {
		t.Fatalf("fetch from a removed replica: %v", err)
	}
	other := s.State()
	other.LeaderEpoch, other.PartitionEpoch = 6, 9
	if _, err := s.Update(other, 5); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("update to another leader epoch: %v", err)
	}
}

// Invalid leadership states are refused.
func TestLeaderStateValidation(t *testing.T) {
	cases := map[string]LeaderAndISR{
		"another leader":         {Leader: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}},
		"leader not a replica":   {Leader: 1, Replicas: []int32{2}, ISR: []int32{1, 2}},
		"leader outside the ISR": {Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{2}},
		"ISR member not replica": {Leader: 1, Replicas: []int32{1}, ISR: []int32{1, 3}},
		"negative leader epoch":  {Leader: 1, LeaderEpoch: -1, Replicas: []int32{1}, ISR: []int32{1}},
	}
	for name, st := range cases {
		if _, err := NewLeaderState(LeaderStateConfig{Self: 1, State: st}, nil); !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s: err = %v, want ErrInvalidState", name, err)
		}
	}
}

// A leader that leads again under an epoch more than one above its last
// missed the epochs between (the applier applies the newest image):
// another broker may have led them, and the followers followed it,
// truncating and appending as its log said. What they had fetched from
// this broker under the old epoch says nothing of their logs now, so it
// must not count toward the new epoch's high watermark; only the old high
// watermark, committed then, is kept. (The next epoch, a reassignment's
// bump, keeps the positions: TestLeaderStateNewEpoch.)
func TestLeaderStateReElectedForgetsFollowerPositions(t *testing.T) {
	replicas := []int32{1, 2, 3}
	first, err := NewLeaderState(LeaderStateConfig{Self: 1, LagTimeMaxMs: testLagMs,
		State:        LeaderAndISR{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 5, Replicas: replicas, ISR: replicas},
		LogEndOffset: 100, DurableOffset: 100, NowMs: 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first.FollowerFetched(2, 100, 1)
	first.FollowerFetched(3, 90, 1)
	if hw := first.HighWatermark(); hw != 90 {
		t.Fatalf("high watermark %d, want 90", hw)
	}
	// Epoch 6 (broker 3 led with its 90 records; broker 2 truncated to
	// them) was never applied here; epoch 7 elects this broker again with
	// ISR [1, 2].
	again, err := NewLeaderState(LeaderStateConfig{Self: 1, LagTimeMaxMs: testLagMs,
		State:         LeaderAndISR{Leader: 1, LeaderEpoch: 7, PartitionEpoch: 7, Replicas: replicas, ISR: []int32{1, 2}},
		HighWatermark: 90, LogEndOffset: 100, DurableOffset: 100, NowMs: 5}, first)
	if err != nil {
		t.Fatal(err)
	}
	if hw := again.HighWatermark(); hw != 90 {
		t.Fatalf("re-elected leader's high watermark %d, want 90 until broker 2 fetches under epoch 7", hw)
	}
	if f, _ := again.Follower(2); f.LogEndOffset != unknownOffset {
		t.Fatalf("re-elected: follower 2 at %d, want unknown", f.LogEndOffset)
	}
}
