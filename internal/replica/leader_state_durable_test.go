package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// fetchDurable is a follower fetch at log end logEnd that reports durable
// as its durable end (DurableEndTag).
func fetchDurable(id int32, logEnd, durable, now int64) func(*testing.T, *LeaderState) (bool, *LeaderAndISR) {
	return func(t *testing.T, s *LeaderState) (bool, *LeaderAndISR) {
		t.Helper()
		moved, p, err := s.FollowerFetchedDurable(id, logEnd, durable, now)
		if err != nil {
			t.Fatalf("FollowerFetchedDurable(%d, %d, %d): %v", id, logEnd, durable, err)
		}
		return moved, p
	}
}

// A follower's log end and durable end play different parts: the high
// watermark counts durable ends only; catching up (ISR shrink) goes by the
// log end; joining the ISR needs the durable end at the high watermark and
// the epoch start. A follower that reports no durable end counts its fetch
// offset as durable (mixed versions).
func TestLeaderStateDurableEnds(t *testing.T) {
	all := []int32{1, 2, 3}
	cases := []struct {
		name         string
		isr          []int32
		hw, leo, now int64
		ops          []op
	}{
		{name: "the high watermark counts durable ends, not log ends", isr: all, hw: 10, leo: 10, ops: []op{
			{name: "leader appends and fsyncs", apply: leaderAt(20, 20, 1), hw: 10},
			{name: "2 has it, 10 durable", apply: fetchDurable(2, 20, 10, 2), hw: 10},
			{name: "3 has it, 15 durable", apply: fetchDurable(3, 20, 15, 2), hw: 10},
			{name: "2's fsync ends", apply: fetchDurable(2, 20, 20, 3), hw: 15},
			{name: "3's fsync ends", apply: fetchDurable(3, 20, 20, 3), hw: 20},
		}},
		{name: "a durable end above the fetch offset is capped", isr: []int32{1, 2}, hw: 10, leo: 10, ops: []op{
			{name: "leader at 30", apply: leaderAt(30, 30, 1), hw: 10},
			{name: "2 claims more durable than it has", apply: fetchDurable(2, 12, 50, 2), hw: 12},
		}},
		{name: "a follower without the tag counts its fetch offset", isr: all, hw: 10, leo: 10, ops: []op{
			{name: "leader at 20", apply: leaderAt(20, 20, 1), hw: 10},
			{name: "2, pipelined, 12 durable", apply: fetchDurable(2, 20, 12, 2), hw: 10},
			{name: "3, an older broker", apply: fetch(3, 20, 2), hw: 12},
		}},
		{name: "caught up by log end stays in the ISR while its fsync trails", isr: all, hw: 10, leo: 10, ops: []op{
			{name: "leader at 20", apply: leaderAt(20, 20, 0), hw: 10},
			{name: "2 at the log end, 10 durable", apply: fetchDurable(2, 20, 10, 0), hw: 10},
			{name: "3 at the log end, 10 durable", apply: fetchDurable(3, 20, 10, 0), hw: 10},
			{name: "long after: no shrink", apply: shrinkAt(10 * testLagMs), hw: 10},
		}},
		{name: "joining needs the durable end at the high watermark", isr: []int32{1, 2}, hw: 10, leo: 10, ops: []op{
			{name: "3 at the log end, 5 durable: not proposed", apply: fetchDurable(3, 10, 5, 1), hw: 10},
			{name: "3's fsync ends: proposed", apply: fetchDurable(3, 10, 10, 2), hw: 10, proposal: all},
		}},
		{name: "joining needs the durable end at the epoch start", isr: []int32{1, 2}, hw: 4, leo: 10, ops: []op{
			// Epoch starts at 10; 2 has not fetched, so the high watermark stays at 4.
			{name: "3's log end at the epoch start, 6 durable: not proposed", apply: fetchDurable(3, 10, 6, 1), hw: 4},
			{name: "3 durable at the epoch start: proposed", apply: fetchDurable(3, 10, 10, 2), hw: 4, proposal: all},
		}},
		{name: "a caught-up outsider holds the high watermark at its durable end", isr: []int32{1, 2}, hw: 10, leo: 10, ops: []op{
			{name: "shrink of 2 pending", apply: shrinkAt(testLagMs + 1), hw: 10, proposal: []int32{1}},
			{name: "leader at 20", apply: leaderAt(20, 20, testLagMs+2), hw: 10},
			{name: "3 at the log end, 14 durable", apply: fetchDurable(3, 20, 14, testLagMs+3), hw: 10},
			{name: "shrink commits: 3 holds at 14", apply: commit([]int32{1}, 8, testLagMs+4), hw: 14},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newLeader(t, all, tc.isr, 1, tc.hw, tc.leo, tc.now)
			runOps(t, s, tc.ops)
		})
	}
}

// followerSim is one follower's real log in TestLeaderStateDurableInvariants.
type followerSim struct {
	logEnd, durable int64
	tagless         bool // reports no durable end: fsyncs before it fetches
}

// Random runs of fetches, appends, fsyncs, shrinks, commits and aborts
// keep the two safety rules: whenever the high watermark moves it is at
// most the leader's durable offset and every maximal-ISR member's durable
// end, and a follower is proposed for the ISR only with its durable end
// at the high watermark and the epoch start (so it cannot hold records
// below the high watermark it may lose). The high watermark never moves
// back.
func TestLeaderStateDurableInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runDurableInvariants(t, rand.New(rand.NewPCG(seed, 7)))
		})
	}
}

func runDurableInvariants(t *testing.T, rng *rand.Rand) {
	replicas := []int32{1, 2, 3, 4}
	s := newLeader(t, replicas, []int32{1, 2, 3}, 2, 0, 10, 0)
	leaderEnd, leaderDurable, now := int64(10), int64(10), int64(0)
	sims := map[int32]*followerSim{2: {}, 3: {}, 4: {tagless: rng.IntN(2) == 0}}
	for step := range 2000 {
		before := s.HighWatermark()
		now += rng.Int64N(testLagMs / 4)
		var moved bool
		var proposal *LeaderAndISR
		var what string
		switch k := rng.IntN(10); {
		case k < 2:
			leaderEnd += rng.Int64N(5)
			leaderDurable += rng.Int64N(leaderEnd - leaderDurable + 1)
			moved, what = s.SetLeaderOffsets(leaderEnd, leaderDurable, now), "leader offsets"
		case k < 7:
			id := int32(2 + rng.IntN(3))
			f := sims[id]
			// The fetch reports the last fsync's end, then the fsync of
			// what this fetch brings starts (a pipelined follower).
			f.durable += rng.Int64N(f.logEnd - f.durable + 1)
			f.logEnd += rng.Int64N(leaderEnd - f.logEnd + 1)
			if f.tagless {
				f.durable = f.logEnd
				moved, proposal, _ = s.FollowerFetched(id, f.logEnd, now)
			} else {
				moved, proposal, _ = s.FollowerFetchedDurable(id, f.logEnd, f.durable, now)
			}
			what = fmt.Sprintf("fetch from %d at %d, %d durable", id, f.logEnd, f.durable)
		case k < 8:
			moved, proposal = s.CheckShrink(now)
			what = "shrink check"
		case k < 9:
			pending, ok := s.Pending()
			if !ok {
				continue
			}
			pending.PartitionEpoch = s.State().PartitionEpoch + 1
			var err error
			if moved, err = s.Update(pending, now); err != nil {
				t.Fatalf("step %d: commit %+v: %v", step, pending, err)
			}
			what = fmt.Sprintf("commit ISR %v", pending.ISR)
		default:
			pending, ok := s.Pending()
			if !ok {
				continue
			}
			_, moved = s.AbortProposal(pending, now)
			what = "abort"
		}
		hw := s.HighWatermark()
		if hw < before {
			t.Fatalf("step %d (%s): high watermark moved back %d -> %d", step, what, before, hw)
		}
		if moved {
			checkHighWatermarkDurable(t, step, what, s, leaderDurable)
		}
		if proposal != nil {
			checkProposalDurable(t, step, what, s, proposal)
		}
	}
}

func checkHighWatermarkDurable(t *testing.T, step int, what string, s *LeaderState, leaderDurable int64) {
	t.Helper()
	hw := s.HighWatermark()
	if hw > leaderDurable {
		t.Fatalf("step %d (%s): high watermark %d past the leader's durable offset %d", step, what, hw, leaderDurable)
	}
	for _, id := range s.MaximalISR() {
		if f, ok := s.Follower(id); ok && hw > f.DurableOffset {
			t.Fatalf("step %d (%s): high watermark %d past member %d's durable end %d (log end %d)",
				step, what, hw, id, f.DurableOffset, f.LogEndOffset)
		}
	}
}

func checkProposalDurable(t *testing.T, step int, what string, s *LeaderState, proposal *LeaderAndISR) {
	t.Helper()
	for _, id := range proposal.ISR {
		if slices.Contains(s.State().ISR, id) {
			continue
		}
		f, _ := s.Follower(id)
		if f.DurableOffset < s.HighWatermark() || f.DurableOffset < s.EpochStartOffset() {
			t.Fatalf("step %d (%s): %d proposed with durable end %d, high watermark %d, epoch start %d",
				step, what, id, f.DurableOffset, s.HighWatermark(), s.EpochStartOffset())
		}
	}
}
