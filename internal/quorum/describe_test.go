package quorum

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func threeVoters() []raft.Server {
	return []raft.Server{
		{Suffrage: raft.Voter, ID: "3", Address: "c:9093"},
		{Suffrage: raft.Voter, ID: "1", Address: "a:9093"},
		{Suffrage: raft.Voter, ID: "2", Address: "b:9093"},
	}
}

// The leader reports itself from its log and others from their heartbeats;
// a node outside the configuration is an observer.
func TestDescribeOnLeader(t *testing.T) {
	now := time.Unix(1000, 0)
	beat := now.Add(-200 * time.Millisecond)
	earlier := now.Add(-time.Minute)
	state := raftState{leader: "1", isLeader: true, term: 7, commit: 40, last: 42, servers: threeVoters()}
	progress := []ReplicaProgress{
		{NodeID: 2, Offset: 40, At: beat},                           // at the HW: caught up when it reported
		{NodeID: 3, Offset: 35, At: beat},                           // behind, no caught-up time known
		{NodeID: 4, Offset: 38, At: beat, LastCaughtUp: earlier},    // broker-only, tracked by the controller
		{NodeID: 1, Offset: 12, At: earlier, LastCaughtUp: earlier}, // the leader's own heartbeat is ignored
	}
	got := describe(state, progress, now)
	want := Description{
		LeaderID: 1, LeaderEpoch: 7, HighWatermark: 40, IsLeader: true,
		Voters: []ReplicaDescription{
			{NodeID: 1, Address: "a:9093", LogEndOffset: 42, LastFetch: now, LastCaughtUp: now},
			{NodeID: 2, Address: "b:9093", LogEndOffset: 40, LastFetch: beat, LastCaughtUp: beat},
			{NodeID: 3, Address: "c:9093", LogEndOffset: 35, LastFetch: beat},
		},
		Observers: []ReplicaDescription{{NodeID: 4, LogEndOffset: 38, LastFetch: beat, LastCaughtUp: earlier}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("describe:\n got %+v\nwant %+v", got, want)
	}
}

// A follower knows the leader and the term but nobody's progress.
func TestDescribeOnFollower(t *testing.T) {
	state := raftState{leader: "3", term: 2, commit: 9, last: 9, servers: append(threeVoters(),
		raft.Server{Suffrage: raft.Nonvoter, ID: "5", Address: "e:9093"})}
	got := describe(state, []ReplicaProgress{{NodeID: 2, Offset: 9, At: time.Unix(1, 0)}}, time.Unix(2, 0))
	if got.LeaderID != 3 || got.LeaderEpoch != 2 || got.HighWatermark != 9 || got.IsLeader {
		t.Fatalf("describe on a follower: %+v", got)
	}
	for _, r := range append(got.Voters, got.Observers...) {
		if r.LogEndOffset != -1 || !r.LastFetch.IsZero() || !r.LastCaughtUp.IsZero() {
			t.Errorf("follower claims to know replica %d's progress: %+v", r.NodeID, r)
		}
	}
	if len(got.Voters) != 3 || len(got.Observers) != 1 || got.Observers[0].NodeID != 5 {
		t.Fatalf("voters %+v observers %+v: want 3 voters and the non-voter as observer", got.Voters, got.Observers)
	}
	if none := describe(raftState{}, nil, time.Unix(2, 0)); none.LeaderID != -1 {
		t.Fatalf("no leader known: LeaderID %d, want -1", none.LeaderID)
	}
}
