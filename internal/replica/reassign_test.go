package replica

import (
	"context"
	"slices"
	"testing"
)

// reassignTo is a committed state of the same leader epoch with new
// replicas (a reassignment starting or completing).
func reassignTo(replicas, isr []int32, partitionEpoch int32, now int64) func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
	return func(t *testing.T, s *LeaderState) (bool, *LeaderAndISR) {
		t.Helper()
		next := s.State()
		next.Replicas, next.ISR, next.PartitionEpoch = replicas, isr, partitionEpoch
		moved, err := s.Update(next, now)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		return moved, nil
	}
}

// A replica a reassignment adds (Update with more replicas, same leader
// epoch) starts out of sync and does not hold the high watermark while it
// copies the log; once its fetches reach the high watermark and the start
// of the leader epoch the leader proposes it for the ISR, and from then on
// the high watermark waits for it (KIP-497: the maximal ISR). The
// reassignment completing later (same leader, fewer replicas) forgets the
// removed follower.
func TestLeaderStateAddedReplicaCatchesUp(t *testing.T) {
	s := newLeader(t, []int32{1, 2}, []int32{1, 2}, 2, 100, 100, 0)
	runOps(t, s, []op{
		{name: "2 fetches to the end", apply: fetch(2, 100, 1), hw: 100},
		{name: "reassignment adds 3", apply: reassignTo([]int32{2, 3, 1}, []int32{1, 2}, 8, 2), hw: 100},
		{name: "leader appends", apply: leaderAt(120, 120, 3), hw: 100},
		{name: "2 follows", apply: fetch(2, 120, 4), hw: 120},
		{name: "3 fetches from the start: not in sync, holds nothing", apply: fetch(3, 0, 5), hw: 120},
		{name: "3 halfway", apply: fetch(3, 60, 6), hw: 120},
		{name: "leader appends more", apply: leaderAt(130, 130, 7), hw: 120},
		{name: "2 follows again", apply: fetch(2, 130, 8), hw: 130},
		{name: "3 reaches the high watermark: proposed", apply: fetch(3, 130, 9), hw: 130, proposal: []int32{1, 2, 3}},
		{name: "leader appends while the proposal is pending", apply: leaderAt(140, 140, 10), hw: 130},
		{name: "2 follows, 3 holds the high watermark", apply: fetch(2, 140, 11), hw: 130},
		{name: "3 follows", apply: fetch(3, 140, 12), hw: 140},
		{name: "the reassignment completes: 1 leads [2 3 1] -> [1 3]", apply: reassignTo([]int32{1, 3}, []int32{1, 3}, 10, 13), hw: 140},
	})
	if _, ok := s.Follower(2); ok {
		t.Fatal("removed replica 2 still tracked")
	}
	if f, ok := s.Follower(3); !ok || f.LogEndOffset != 140 {
		t.Fatalf("follower 3 = %+v, %v: its position must survive the update", f, ok)
	}
	if st := s.State(); !slices.Equal(st.Replicas, []int32{1, 3}) || !slices.Equal(st.ISR, []int32{1, 3}) {
		t.Fatalf("state %+v", st)
	}
}

// An added replica that is not eligible (its broker fenced or shutting
// down, KIP-841) is never proposed however far it gets.
func TestLeaderStateAddedIneligibleReplicaNotProposed(t *testing.T) {
	s, err := NewLeaderState(LeaderStateConfig{Self: 1, State: LeaderAndISR{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 7,
		Replicas: []int32{1}, ISR: []int32{1}}, LagTimeMaxMs: testLagMs, MinInsyncReplicas: 1,
		HighWatermark: 10, LogEndOffset: 10, DurableOffset: 10, Eligible: func(id int32) bool { return id != 3 }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runOps(t, s, []op{
		{name: "reassignment adds 3", apply: reassignTo([]int32{3, 1}, []int32{1}, 8, 1), hw: 10},
		{name: "3 catches up", apply: fetch(3, 10, 2), hw: 10},
	})
}

// The broker's path: MakeLeader with the same leader epoch and a newer
// partition epoch (the applier applying a reassignment's first change)
// gives the added replica a follower state, so its fetches are accepted
// and, once it has caught up, propose it for the ISR.
func TestPartitionReassignmentAddsFollower(t *testing.T) {
	n := newClusterNode(t, 1)
	p := n.open(t)
	if err := p.MakeLeader(leaderState(3, 5, []int32{1, 2}, []int32{1, 2}), n.now()); err != nil {
		t.Fatal(err)
	}
	res, err := p.AppendProduced(batch(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CommitAcks(context.Background(), res.LastOffset, AcksLeader); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FollowerFetched(3, 0, n.now()); err == nil {
		t.Fatal("a fetch from broker 3 before the reassignment was accepted")
	}
	if err := p.MakeLeader(leaderState(3, 6, []int32{2, 3, 1}, []int32{1, 2}), n.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FollowerFetched(2, res.LastOffset+1, n.now()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d, want 4", hw)
	}
	if _, err := p.FollowerFetched(3, 0, n.now()); err != nil {
		t.Fatalf("fetch from the added replica: %v", err)
	}
	if got := n.proposer.all(); len(got) != 0 {
		t.Fatalf("proposed %+v before 3 caught up", got)
	}
	if _, err := p.FollowerFetched(3, res.LastOffset+1, n.now()); err != nil {
		t.Fatal(err)
	}
	got := n.proposer.all()
	if len(got) != 1 || !slices.Equal(got[0].ISR, []int32{1, 2, 3}) || got[0].PartitionEpoch != 6 || !slices.Equal(got[0].Replicas, []int32{2, 3, 1}) {
		t.Fatalf("proposals %+v, want ISR [1 2 3] at partition epoch 6", got)
	}
}
