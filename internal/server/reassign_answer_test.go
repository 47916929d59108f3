package server

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// An ISR expansion whose commit also completed a reassignment comes back
// with a new leader epoch (replicas left) and no replica list: the leader
// keeps its state and the proposal pending, so the replicas it knows stay
// consistent, until the metadata brings the committed state; applying the
// answer would keep the replicas being removed under the new epoch.
func TestISRSenderAnswerWithNewLeaderEpoch(t *testing.T) {
	b := &Broker{log: slog.New(slog.DiscardHandler)}
	s := newISRSender(b)
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 1, AwaitRole: true, ISRProposer: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b.partitions = m
	p, err := m.Ensure("t", [16]byte{1}, 0, 4, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Reassigning [1 2] to [1 3]: replicas [1 3 2], 3 being added.
	moving := replica.LeaderAndISR{Leader: 1, LeaderEpoch: 4, PartitionEpoch: 6, Replicas: []int32{1, 3, 2}, ISR: []int32{1, 2}}
	now := time.Now().UnixMilli()
	if err := p.MakeLeader(moving, now); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FollowerFetched(3, 0, now); err != nil {
		t.Fatal(err)
	}
	proposed, ok := p.PendingISRProposal()
	if !ok || !slices.Equal(proposed.ISR, []int32{1, 2, 3}) {
		t.Fatalf("pending proposal %+v %v, want ISR [1 2 3]", proposed, ok)
	}
	committed := kmsg.NewAlterPartitionResponseTopicPartition()
	committed.LeaderID, committed.LeaderEpoch, committed.PartitionEpoch, committed.ISR = 1, 5, 7, []int32{1, 3}
	if retry := s.answer(replica.TopicPartition{Topic: "t", Partition: 0}, proposed, committed); retry {
		t.Fatal("answer asked for a retry")
	}
	if got := p.LeaderAndISR(); !got.Equal(moving) {
		t.Fatalf("state %+v after the answer, want %+v until the metadata arrives", got, moving)
	}
	if _, pending := p.PendingISRProposal(); !pending {
		t.Fatal("the committed expansion was dropped")
	}
	// The metadata's state replaces it.
	done := replica.LeaderAndISR{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 7, Replicas: []int32{1, 3}, ISR: []int32{1, 3}}
	if err := p.MakeLeader(done, now); err != nil {
		t.Fatal(err)
	}
	if got := p.LeaderAndISR(); !got.Equal(done) {
		t.Fatalf("state %+v, want %+v", got, done)
	}
}
