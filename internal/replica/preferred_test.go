package replica

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/storage"
)

// Kafka's RackAwareReplicaSelector, then the leader's "not the leader"
// filter: a follower in the client's rack, the most caught up of them,
// unless the leader is in that rack.
func TestSelectRackAware(t *testing.T) {
	leader := ReadReplica{ID: 1, Rack: "a", LogEndOffset: 100}
	f := func(id int32, rack string, logEnd, sinceCaughtUp int64) ReadReplica {
		return ReadReplica{ID: id, Rack: rack, LogEndOffset: logEnd, SinceCaughtUpMs: sinceCaughtUp}
	}
	tests := []struct {
		name       string
		clientRack string
		leader     ReadReplica
		followers  []ReadReplica
		want       int32
	}{
		{"no client rack", "", leader, []ReadReplica{f(2, "", 100, 0)}, NoPreferredReplica},
		{"client in the leader's rack", "a", leader, []ReadReplica{f(2, "a", 100, 0)}, NoPreferredReplica},
		{"no replica in the client's rack", "c", leader, []ReadReplica{f(2, "b", 100, 0)}, NoPreferredReplica},
		{"no follower at all", "b", leader, nil, NoPreferredReplica},
		{"the follower in the client's rack", "b", leader, []ReadReplica{f(2, "b", 90, 0), f(3, "c", 100, 0)}, 2},
		{"racks are case-sensitive", "B", leader, []ReadReplica{f(2, "b", 100, 0)}, NoPreferredReplica},
		{"largest log end first", "b", leader, []ReadReplica{f(2, "b", 100, 0), f(3, "b", 99, 0), f(4, "b", 98, 0)}, 2},
		{"then most recently caught up", "b", leader, []ReadReplica{f(2, "b", 100, 50), f(3, "b", 100, 10), f(4, "b", 100, 30)}, 3},
		{"then the largest broker ID", "b", leader, []ReadReplica{f(4, "b", 100, 10), f(2, "b", 100, 10), f(3, "b", 100, 10)}, 4},
		{"a leader without an endpoint is in no rack", "a", ReadReplica{ID: 1, LogEndOffset: 100},
			[]ReadReplica{f(2, "a", 100, 0)}, 2},
	}
	for _, tc := range tests {
		followers := slices.Clone(tc.followers)
		if got := SelectRackAware(tc.clientRack, tc.leader, tc.followers); got != tc.want {
			t.Errorf("%s: selected %d, want %d", tc.name, got, tc.want)
		}
		if !slices.Equal(followers, tc.followers) {
			t.Errorf("%s: the candidates were modified", tc.name)
		}
	}
}

// replicateTo copies everything the leader has past the follower's log
// end to the follower, fsyncs it, and reports the follower's fetch to the
// leader at that durable end: one round of a replica fetcher.
func replicateTo(t *testing.T, leader, follower *Partition, followerID, epoch int32, nowMs int64) {
	t.Helper()
	got, err := leader.Read(nil, followerRead(follower.LogEndOffset(), epoch, NoEpoch))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) > 0 {
		if err := follower.AppendAsFollower(got.Records); err != nil {
			t.Fatal(err)
		}
	}
	if err := follower.SyncFollower(); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.FollowerFetched(followerID, follower.DurableLogEnd(), nowMs); err != nil {
		t.Fatal(err)
	}
}

// The leader's candidates for a consumer at an offset: itself, and the
// followers of the committed ISR whose last fetch reached the offset.
func TestReadReplicas(t *testing.T) {
	leaderNode := newClusterNode(t, 1)
	leader := leaderNode.open(t)
	state := leaderState(1, 1, []int32{1, 2, 3}, []int32{1, 2})
	if err := leader.MakeLeader(state, leaderNode.now()); err != nil {
		t.Fatal(err)
	}
	res, err := leader.AppendProduced(batch(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.CommitAcks(context.Background(), res.LastOffset, AcksLeader); err != nil {
		t.Fatal(err)
	}
	now := leaderNode.now()
	// 2 (in the ISR) fetched up to 3, 3 (outside it) up to the log end.
	for _, fetch := range []struct {
		id     int32
		offset int64
	}{{2, 3}, {3, 4}} {
		if _, err := leader.FollowerFetched(fetch.id, fetch.offset, now); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(followers []ReadReplica) []int32 {
		var out []int32
		for _, f := range followers {
			out = append(out, f.ID)
		}
		return out
	}
	self, followers, ok := leader.ReadReplicas(3, now+40)
	if !ok || self.ID != 1 || self.LogEndOffset != 4 || self.SinceCaughtUpMs != 0 {
		t.Fatalf("leader view %+v, ok %v", self, ok)
	}
	if !slices.Equal(ids(followers), []int32{2}) || followers[0].LogEndOffset != 3 || followers[0].Rack != "" {
		t.Fatalf("candidates at 3: %+v; want follower 2 only (3 is not in the ISR), no rack", followers)
	}
	if followers[0].SinceCaughtUpMs != 40 {
		// MakeLeader gave the ISR member a caught-up time of now.
		t.Fatalf("follower 2 caught up %d ms ago, want 40", followers[0].SinceCaughtUpMs)
	}
	if _, followers, _ := leader.ReadReplicas(4, now); len(followers) != 0 {
		t.Fatalf("candidates at 4: %+v; no ISR follower has fetched that far", followers)
	}
	// Below the log start no follower is named: the leader answers
	// OFFSET_OUT_OF_RANGE itself.
	if _, err := leader.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	if _, followers, ok := leader.ReadReplicas(1, now); !ok || len(followers) != 0 {
		t.Fatalf("candidates below the log start: %+v, ok %v", followers, ok)
	}
	if _, followers, _ := leader.ReadReplicas(2, now); !slices.Equal(ids(followers), []int32{2}) {
		t.Fatalf("candidates at the log start: %+v", followers)
	}
	followerNode := newClusterNode(t, 2)
	follower := followerNode.open(t)
	if err := follower.MakeFollower(state); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := follower.ReadReplicas(0, now); ok {
		t.Fatal("a follower named read replicas: only the leader picks")
	}
}

// servedRead is a consumer's read that a follower may serve (Fetch v11+).
func servedRead(offset int64, isolation FetchIsolation, currentLeaderEpoch int32) ReadOptions {
	opts := consumerRead(offset)
	opts.Isolation, opts.CurrentLeaderEpoch, opts.FollowerMayServe = isolation, currentLeaderEpoch, true
	return opts
}

// A follower serves consumers up to its own high watermark (learned from
// the leader), or its own last stable offset for read_committed: never a
// record the leader has not committed. Between that bound and its log end
// it reads nothing; past its log end the offset is out of range. The
// reader's leader epoch is checked against the epoch it follows.
func TestFollowerServesConsumers(t *testing.T) {
	leaderNode, followerNode := newClusterNode(t, 1), newClusterNode(t, 2)
	leader, follower := leaderNode.open(t), followerNode.open(t)
	state := leaderState(1, 1, []int32{1, 2}, []int32{1, 2})
	if err := leader.MakeLeader(state, leaderNode.now()); err != nil {
		t.Fatal(err)
	}
	if err := follower.MakeFollower(state); err != nil {
		t.Fatal(err)
	}
	res, err := leader.AppendProduced(batch(t, 3)) // 0..2
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.CommitAcks(context.Background(), res.LastOffset, AcksLeader); err != nil {
		t.Fatal(err)
	}
	replicateTo(t, leader, follower, 2, 1, leaderNode.now())
	if leader.HighWatermark() != 3 || follower.HighWatermark() != 0 || follower.LogEndOffset() != 3 {
		t.Fatalf("leader hw %d, follower hw %d and log end %d; want 3, 0 (not told yet), 3",
			leader.HighWatermark(), follower.HighWatermark(), follower.LogEndOffset())
	}
	read := func(opts ReadOptions) (ReadResult, error) {
		t.Helper()
		return follower.Read(nil, opts)
	}
	// The leader has committed 0..2, but the follower does not know yet.
	for _, offset := range []int64{0, 2, 3} {
		got, err := read(servedRead(offset, IsolationHighWatermark, 1))
		if err != nil || len(got.Records) != 0 || got.HighWatermark != 0 || got.LogEndOffset != 3 {
			t.Fatalf("read at %d before the follower learns the high watermark: %d bytes, hw %d, log end %d, %v",
				offset, len(got.Records), got.HighWatermark, got.LogEndOffset, err)
		}
	}
	if _, err := read(servedRead(4, IsolationHighWatermark, 1)); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("read past the follower's log end: %v, want offset out of range", err)
	}
	if _, err := read(consumerRead(0)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("consumer read without client metadata on a follower: %v, want ErrNotLeader", err)
	}
	follower.SetFollowerHighWatermark(leader.HighWatermark())
	got, err := read(servedRead(0, IsolationHighWatermark, NoEpoch))
	if err != nil || batchCount(t, got.Records) != 1 || got.HighWatermark != 3 {
		t.Fatalf("read once the follower knows hw 3: %d bytes, hw %d, %v", len(got.Records), got.HighWatermark, err)
	}

	// An open transaction (3) and a plain batch after it (4..5) reach the
	// follower and are committed, but the follower has learned only the
	// high watermark 4: 4..5 stay hidden, and read_committed stops at the
	// transaction.
	if _, err := leader.AppendProduced(txnBatch(t, 7, 0)); err != nil {
		t.Fatal(err)
	}
	res, err = leader.AppendProduced(batch(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.CommitAcks(context.Background(), res.LastOffset, AcksLeader); err != nil {
		t.Fatal(err)
	}
	replicateTo(t, leader, follower, 2, 1, leaderNode.now())
	follower.SetFollowerHighWatermark(4)
	if leader.HighWatermark() != 6 || follower.LogEndOffset() != 6 || follower.HighWatermark() != 4 {
		t.Fatalf("leader hw %d, follower log end %d and hw %d; want 6, 6, 4",
			leader.HighWatermark(), follower.LogEndOffset(), follower.HighWatermark())
	}
	got, err = read(servedRead(0, IsolationHighWatermark, 1))
	if err != nil || batchCount(t, got.Records) != 2 || got.HighWatermark != 4 {
		t.Fatalf("read_uncommitted: %d batches, hw %d, %v; want the batches below 4", batchCount(t, got.Records), got.HighWatermark, err)
	}
	if got, err := read(servedRead(4, IsolationHighWatermark, 1)); err != nil || len(got.Records) != 0 {
		t.Fatalf("read at the follower's high watermark: %d bytes, %v; want none", len(got.Records), err)
	}
	got, err = read(servedRead(0, IsolationCommitted, 1))
	if err != nil || batchCount(t, got.Records) != 1 || got.LastStableOffset != 3 {
		t.Fatalf("read_committed: %d batches, last stable %d, %v; want the batch below 3", batchCount(t, got.Records), got.LastStableOffset, err)
	}

	// Epochs are checked on followers too (KIP-320).
	if _, err := read(servedRead(0, IsolationHighWatermark, 0)); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("older leader epoch: %v, want fenced", err)
	}
	if _, err := read(servedRead(0, IsolationHighWatermark, 2)); !errors.Is(err, ErrUnknownLeaderEpoch) {
		t.Fatalf("newer leader epoch: %v, want unknown", err)
	}

	// A replica waiting for its role serves nobody.
	waiting := newClusterNode(t, 3).open(t)
	if _, err := waiting.Read(nil, servedRead(0, IsolationHighWatermark, NoEpoch)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("read on a replica without a role: %v, want ErrNotLeader", err)
	}
}
