package server

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// isrSenderWithExpansion is an isrSender whose broker (1) leads t-0 with
// ISR [1] and has proposed adding broker 2.
func isrSenderWithExpansion(t *testing.T) (*isrSender, *replica.Partition, replica.LeaderAndISR) {
	t.Helper()
	b := &Broker{log: slog.New(slog.DiscardHandler)}
	s := newISRSender(b)
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 1, AwaitRole: true, ISRProposer: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b.partitions = m
	p, err := m.Ensure("t", [16]byte{1}, 0, 1, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	if err := p.MakeLeader(replica.LeaderAndISR{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FollowerFetched(2, 0, now); err != nil {
		t.Fatal(err)
	}
	proposed, ok := p.PendingISRProposal()
	if !ok || !slices.Equal(proposed.ISR, []int32{1, 2}) {
		t.Fatalf("pending proposal %+v %v, want ISR [1 2]", proposed, ok)
	}
	s.mu.Lock()
	s.pending = map[replica.TopicPartition]replica.LeaderAndISR{} // taken by a send
	s.mu.Unlock()
	return s, p, proposed
}

func refusal(code int16) kmsg.AlterPartitionResponseTopicPartition {
	rp := kmsg.NewAlterPartitionResponseTopicPartition()
	rp.ErrorCode = code
	return rp
}

// A refused ISR expansion stays pending (its new member keeps counting
// toward the high watermark) unless the controller's answer proves the
// change was not made (Kafka's handleAlterPartitionError). An answer that
// is lost, then a retry refused with INVALID_UPDATE_VERSION because the
// first attempt was committed, must not make the leader forget a member
// the committed ISR has: until the metadata arrives its high watermark
// would move past records that member lacks, and the controller may elect
// it.
func TestISRSenderRefusals(t *testing.T) {
	tp := replica.TopicPartition{Topic: "t", Partition: 0}
	for _, code := range []int16{kerr.InvalidUpdateVersion.Code, kerr.FencedLeaderEpoch.Code,
		kerr.NotLeaderForPartition.Code, kerr.NewLeaderElected.Code, kerr.UnknownTopicID.Code} {
		s, p, proposed := isrSenderWithExpansion(t)
		s.answer(tp, proposed, refusal(code))
		if _, pending := p.PendingISRProposal(); !pending || !slices.Equal(p.MaximalISR(), []int32{1, 2}) {
			t.Errorf("%s: pending %v, maximal ISR %v; want the expansion kept", kerr.ErrorForCode(code), pending, p.MaximalISR())
		}
	}
	for _, code := range []int16{kerr.IneligibleReplica.Code, kerr.OperationNotAttempted.Code, kerr.InvalidRequest.Code} {
		s, p, proposed := isrSenderWithExpansion(t)
		s.answer(tp, proposed, refusal(code))
		if _, pending := p.PendingISRProposal(); pending || !slices.Equal(p.MaximalISR(), []int32{1}) {
			t.Errorf("%s: pending %v, maximal ISR %v; want the expansion dropped", kerr.ErrorForCode(code), pending, p.MaximalISR())
		}
	}
	// A controller that is behind (NOT_CONTROLLER), or an unexpected
	// error, gets the proposal again.
	for _, code := range []int16{kerr.NotController.Code, kerr.UnknownServerError.Code} {
		s, p, proposed := isrSenderWithExpansion(t)
		if retry := s.answer(tp, proposed, refusal(code)); !retry {
			t.Errorf("%s: no retry", kerr.ErrorForCode(code))
		}
		s.mu.Lock()
		requeued, ok := s.pending[tp]
		s.mu.Unlock()
		if _, pending := p.PendingISRProposal(); !pending || !ok || !requeued.Equal(proposed) {
			t.Errorf("%s: pending %v, requeued %+v %v", kerr.ErrorForCode(code), pending, requeued, ok)
		}
	}
}
