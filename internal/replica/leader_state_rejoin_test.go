package replica

import "testing"

// newLeaderEligible is newLeader with an eligibility the test changes (a
// broker fenced, in controlled shutdown, unfenced again).
func newLeaderEligible(t *testing.T, replicas, isr []int32, hw, leo int64, eligible map[int32]bool) *LeaderState {
	t.Helper()
	s, err := NewLeaderState(LeaderStateConfig{Self: 1, State: LeaderAndISR{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 7,
		Replicas: replicas, ISR: isr}, LagTimeMaxMs: testLagMs, MinInsyncReplicas: 2,
		HighWatermark: hw, LogEndOffset: leo, DurableOffset: leo, NowMs: 0,
		Eligible: func(id int32) bool { return eligible[id] }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func setEligible(eligible map[int32]bool, id int32, ok bool) func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
	return func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
		eligible[id] = ok
		return false, nil
	}
}

// A rolling restart: broker 2 is taken out of the ISR by its controlled
// shutdown, keeps fetching (caught up) until it exits, and comes back
// within replica.lag.time.max.ms far behind. Its caught-up time from
// before must not make it hold the high watermark back once it is
// unfenced: the ISR [1 3] keeps acknowledging until 2 has really caught
// up (then it is proposed and counts, as any joining follower).
func TestLeaderStateRestartedFollowerDoesNotHoldHighWatermark(t *testing.T) {
	eligible := map[int32]bool{2: true, 3: true}
	s := newLeaderEligible(t, []int32{1, 2, 3}, []int32{1, 2, 3}, 10, 10, eligible)
	runOps(t, s, []op{
		{name: "2 in sync", apply: fetch(2, 10, 1), hw: 10},
		{name: "3 in sync", apply: fetch(3, 10, 1), hw: 10},
		{name: "2 enters controlled shutdown", apply: setEligible(eligible, 2, false), hw: 10},
		{name: "the controller takes 2 out of the ISR", apply: commit([]int32{1, 3}, 8, 2), hw: 10},
		{name: "leader appends", apply: leaderAt(20, 20, 3), hw: 10},
		{name: "2, stopping, still fetches to the log end", apply: fetch(2, 20, 4), hw: 10},
		{name: "3 follows", apply: fetch(3, 20, 4), hw: 20},
		{name: "2 restarted and unfenced", apply: setEligible(eligible, 2, true), hw: 20},
		{name: "leader appends", apply: leaderAt(40, 40, 100), hw: 20},
		{name: "3 follows: 2 does not hold it", apply: fetch(3, 40, 101), hw: 40},
		{name: "2's first fetch, behind", apply: fetch(2, 20, 102), hw: 40},
		{name: "leader appends", apply: leaderAt(50, 50, 103), hw: 40},
		{name: "3 follows: 2 still not caught up", apply: fetch(3, 50, 104), hw: 50},
		{name: "2 reaches the log end: proposed", apply: fetch(2, 50, 105), hw: 50, proposal: []int32{1, 3, 2}},
	})
}

// A follower killed (no controlled shutdown) is fenced after its session
// and leaves the ISR without fetching again; the ISR change alone must
// drop its caught-up time (Kafka's resetReplicaState for a follower
// outside the ISR).
func TestLeaderStateFollowerLeavingISRForgetsCaughtUp(t *testing.T) {
	eligible := map[int32]bool{2: true, 3: true}
	s := newLeaderEligible(t, []int32{1, 2, 3}, []int32{1, 2, 3}, 10, 10, eligible)
	runOps(t, s, []op{
		{name: "2 in sync", apply: fetch(2, 10, 1), hw: 10},
		{name: "3 in sync", apply: fetch(3, 10, 1), hw: 10},
		{name: "2 dies and is fenced", apply: setEligible(eligible, 2, false), hw: 10},
		{name: "the controller takes 2 out of the ISR", apply: commit([]int32{1, 3}, 8, 1600), hw: 10},
		{name: "2 restarts and is unfenced", apply: setEligible(eligible, 2, true), hw: 10},
		{name: "leader appends", apply: leaderAt(20, 20, 2000), hw: 10},
		{name: "3 follows: 2 does not hold it", apply: fetch(3, 20, 2001), hw: 20},
	})
	if f, _ := s.Follower(2); f.LastCaughtUpMs != never || f.LogEndOffset != 10 {
		t.Fatalf("follower 2 after leaving the ISR: %+v, want its position kept and no caught-up time", f)
	}
}
