package replica

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/storage"
)

func consumerRead(offset int64) ReadOptions {
	return ReadOptions{Offset: offset, MaxBytes: 1 << 20, MinOneBatch: true, Isolation: IsolationHighWatermark,
		CurrentLeaderEpoch: NoEpoch, LastFetchedEpoch: NoEpoch}
}

func followerRead(offset int64, leaderEpoch, lastFetchedEpoch int32) ReadOptions {
	return ReadOptions{Offset: offset, MaxBytes: 1 << 20, MinOneBatch: true, Isolation: IsolationLogEnd,
		CurrentLeaderEpoch: leaderEpoch, LastFetchedEpoch: lastFetchedEpoch}
}

// batchCount counts the record batches in b.
func batchCount(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		b = b[h.Size():]
		n++
	}
	return n
}

// A follower replicates what the leader wrote, byte for byte: it reads to
// the log end, reports its durable offset, and takes the leader's high
// watermark capped at what it has durably.
func TestReplicateLeaderToFollower(t *testing.T) {
	leaderNode, followerNode := newClusterNode(t, 1), newClusterNode(t, 2)
	leader, follower := leaderNode.open(t), followerNode.open(t)
	state := leaderState(1, 1, []int32{1, 2}, []int32{1, 2})
	if err := leader.MakeLeader(state, leaderNode.now()); err != nil {
		t.Fatal(err)
	}
	if err := follower.MakeFollower(state); err != nil {
		t.Fatal(err)
	}
	res, err := leader.AppendProduced(batch(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.CommitAcks(context.Background(), res.LastOffset, AcksLeader); err != nil {
		t.Fatal(err)
	}
	if got, err := leader.Read(nil, consumerRead(0)); err != nil || len(got.Records) != 0 || got.HighWatermark != 0 {
		t.Fatalf("consumer read before replication: %d bytes, hw %d, %v", len(got.Records), got.HighWatermark, err)
	}
	fetch := func(offset int64) ReadResult {
		t.Helper()
		got, err := leader.Read(nil, followerRead(offset, 1, NoEpoch))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leader.FollowerFetched(2, offset, leaderNode.now()); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := fetch(follower.LogEndOffset())
	if got.LogEndOffset != 3 || batchCount(t, got.Records) != 1 {
		t.Fatalf("follower read: log end %d, %d batches", got.LogEndOffset, batchCount(t, got.Records))
	}
	if err := follower.AppendAsFollower(got.Records); err != nil {
		t.Fatal(err)
	}
	follower.SetFollowerHighWatermark(3) // not durable yet: capped
	if hw := follower.HighWatermark(); hw != 0 {
		t.Fatalf("follower high watermark %d above its durable offset", hw)
	}
	if err := follower.SyncFollower(); err != nil {
		t.Fatal(err)
	}
	if d := follower.DurableLogEnd(); d != 3 {
		t.Fatalf("durable log end %d, want 3", d)
	}
	got = fetch(follower.DurableLogEnd())
	if leader.HighWatermark() != 3 {
		t.Fatalf("leader high watermark %d after the follower reported 3", leader.HighWatermark())
	}
	follower.SetFollowerHighWatermark(leader.HighWatermark())
	if hw := follower.HighWatermark(); hw != 3 {
		t.Fatalf("follower high watermark %d, want 3", hw)
	}
	leaderBytes, _ := leader.Log().Read(0, 1<<20, 3, true)
	followerBytes, _ := follower.Log().Read(0, 1<<20, 3, true)
	if !bytes.Equal(leaderBytes, followerBytes) {
		t.Fatal("follower's log differs from the leader's")
	}
	if _, err := follower.Read(nil, consumerRead(0)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("consumer read on a follower: %v", err)
	}
	debug := consumerRead(0)
	debug.AllowFollower = true
	if got, err := follower.Read(nil, debug); err != nil || len(got.Records) == 0 {
		t.Fatalf("debug read on a follower: %d bytes, %v", len(got.Records), err)
	}
	// Follower-only operations refuse on the leader, and the reverse.
	if err := leader.AppendAsFollower(got.Records); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("replicated append on the leader: %v", err)
	}
	if err := leader.TruncateTo(0); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("truncation on the leader: %v", err)
	}
	if _, err := follower.FollowerFetched(1, 0, 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower fetch served by a follower: %v", err)
	}
	// A truncation lowers the follower's high watermark with its log.
	if err := follower.TruncateTo(1); err != nil {
		t.Fatal(err)
	}
	if hw, leo := follower.HighWatermark(), follower.LogEndOffset(); leo != 0 || hw != 0 {
		// The only batch holds offsets 0..2: cutting at 1 drops it whole.
		t.Fatalf("after truncating to 1: log end %d, high watermark %d", leo, hw)
	}
	if err := follower.TruncateFullyAndStartAt(10); err != nil {
		t.Fatal(err)
	}
	if hw, start := follower.HighWatermark(), follower.LogStartOffset(); hw != 10 || start != 10 {
		t.Fatalf("after restarting at 10: log start %d, high watermark %d", start, hw)
	}
}

// Reads check the reader's leader epoch (KIP-320) and bound consumers by
// the high watermark, followers by the log end.
func TestReadBoundsAndEpochChecks(t *testing.T) {
	n := newClusterNode(t, 1)
	p := n.open(t)
	if err := p.MakeLeader(leaderState(3, 1, []int32{1, 2}, []int32{1, 2}), n.now()); err != nil {
		t.Fatal(err)
	}
	res, _ := p.AppendProduced(batch(t, 2))
	p.CommitAcks(context.Background(), res.LastOffset, AcksLeader)
	p.FollowerFetched(2, 0, n.now())
	cases := []struct {
		name    string
		opts    ReadOptions
		err     error
		batches int
	}{
		{"consumer below the high watermark", consumerRead(0), nil, 0},
		{"follower to the log end", followerRead(0, 3, NoEpoch), nil, 1},
		{"older leader epoch", func() ReadOptions { o := consumerRead(0); o.CurrentLeaderEpoch = 2; return o }(), ErrFencedLeaderEpoch, 0},
		{"newer leader epoch", func() ReadOptions { o := consumerRead(0); o.CurrentLeaderEpoch = 4; return o }(), ErrUnknownLeaderEpoch, 0},
		{"past the log end", followerRead(5, 3, NoEpoch), storage.ErrOffsetOutOfRange, 0},
	}
	for _, tc := range cases {
		got, err := p.Read(nil, tc.opts)
		if !errors.Is(err, tc.err) || (err == nil && batchCount(t, got.Records) != tc.batches) {
			t.Errorf("%s: %d batches, err %v; want %d, %v", tc.name, batchCount(t, got.Records), err, tc.batches, tc.err)
		}
	}
}

// A follower's last fetched epoch is checked against the leader's epoch
// cache: where its log diverges it gets the diverging epoch and end
// offset, not records.
func TestReadDivergingEpoch(t *testing.T) {
	n := newClusterNode(t, 1)
	p := n.open(t)
	replicas, isr := []int32{1, 2}, []int32{1}
	if err := p.MakeLeader(leaderState(1, 1, replicas, isr), n.now()); err != nil {
		t.Fatal(err)
	}
	p.AppendProduced(batch(t, 3)) // epoch 1: 0..2
	if err := p.MakeLeader(leaderState(3, 2, replicas, isr), n.now()); err != nil {
		t.Fatal(err)
	}
	p.AppendProduced(batch(t, 2)) // epoch 3: 3..4
	cases := []struct {
		name              string
		offset            int64
		lastFetched       int32
		wantEpoch         int32
		wantEnd           int64
		wantBatches       int
		wantErrOutOfRange bool
	}{
		{"same epoch", 5, 3, -1, -1, 0, false},
		{"previous epoch, at its end", 3, 1, -1, -1, 1, false},
		{"previous epoch, past its end", 4, 1, 1, 3, 0, false},
		{"an epoch the leader never had", 5, 2, 1, 3, 0, false},
	}
	for _, tc := range cases {
		got, err := p.Read(nil, followerRead(tc.offset, 3, tc.lastFetched))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.DivergingEpoch != tc.wantEpoch || got.DivergingEndOffset != tc.wantEnd || batchCount(t, got.Records) != tc.wantBatches {
			t.Errorf("%s: diverging (%d, %d), %d batches; want (%d, %d), %d", tc.name,
				got.DivergingEpoch, got.DivergingEndOffset, batchCount(t, got.Records), tc.wantEpoch, tc.wantEnd, tc.wantBatches)
		}
	}
	if e, end, err := p.EndOffsetForEpoch(3, 1); err != nil || e != 1 || end != 3 {
		t.Fatalf("EndOffsetForEpoch(1) = %d, %d, %v; want 1, 3", e, end, err)
	}
	if e, end, err := p.EndOffsetForEpoch(NoEpoch, 3); err != nil || e != 3 || end != 5 {
		t.Fatalf("EndOffsetForEpoch(3) = %d, %d, %v; want 3, 5", e, end, err)
	}
	if _, _, err := p.EndOffsetForEpoch(2, 1); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("EndOffsetForEpoch with an older current epoch: %v", err)
	}
}

// A log with no recorded epoch (never appended to since epochs were kept)
// has lived in the current epoch: it ends at the log end.
func TestEndOffsetForEpochWithoutEpochHistory(t *testing.T) {
	p := openPartition(t, storage.DefaultConfig())
	if e, end, err := p.EndOffsetForEpoch(NoEpoch, 0); err != nil || e != 0 || end != 0 {
		t.Fatalf("EndOffsetForEpoch(0) = %d, %d, %v; want 0, 0", e, end, err)
	}
}

// A follower's fetch waits for the log end to move, a consumer's for the
// high watermark.
func TestWatchLogEnd(t *testing.T) {
	p := openPartition(t, storage.DefaultConfig())
	logEnd, committed := make(chan struct{}, 1), make(chan struct{}, 1)
	defer p.WatchLogEnd(logEnd)()
	defer p.Watch(committed)()
	res, err := p.AppendProduced(batch(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-logEnd:
	default:
		t.Fatal("log end watcher not woken by the append")
	}
	select {
	case <-committed:
		t.Fatal("high watermark watcher woken before the record was durable")
	default:
	}
	if err := p.Commit(res.LastOffset); err != nil {
		t.Fatal(err)
	}
	select {
	case <-committed:
	default:
		t.Fatal("high watermark watcher not woken by the commit")
	}
}

// DeleteRecords is the leader's, up to its high watermark.
func TestDeleteRecordsBefore(t *testing.T) {
	p := openPartition(t, storage.DefaultConfig())
	res, _ := p.AppendProduced(batch(t, 1))
	p.Commit(res.LastOffset)
	p.AppendProduced(batch(t, 1)) // not committed
	if _, err := p.DeleteRecordsBefore(2); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("delete past the high watermark: %v", err)
	}
	if start, err := p.DeleteRecordsBefore(-1); err != nil || start != 1 {
		t.Fatalf("delete up to the high watermark: start %d, %v", start, err)
	}
	n := newClusterNode(t, 1)
	f := n.open(t)
	if err := f.MakeFollower(LeaderAndISR{Leader: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DeleteRecordsBefore(0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("delete on a follower: %v", err)
	}
}
