package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/replica"
)

// alterPartitionVersion is the AlterPartition version leaders send: v2
// names topics by ID, v3 carries each ISR member's broker epoch (KIP-903);
// v2 is enough since the controller knows every broker's epoch.
const alterPartitionVersion = 2

// isrSender is the partitions' replica.ISRProposer (Kafka's
// AlterPartitionManager): proposals queue here and one goroutine sends
// them to the active controller in batches. A committed answer is applied
// to the partition at once (MakeLeader with the new state), so the leader
// need not wait for the metadata log; a refusal that proves the change was
// not made aborts the proposal so the partition may propose again (see
// answer).
//
// Threading: mu guards pending; run is the only sender.
type isrSender struct {
	b      *Broker
	log    *slog.Logger
	notify chan struct{} // cap 1

	mu      sync.Mutex
	pending map[replica.TopicPartition]replica.LeaderAndISR
}

func newISRSender(b *Broker) *isrSender {
	return &isrSender{b: b, log: b.log.With("component", "alter-partition"), notify: make(chan struct{}, 1),
		pending: map[replica.TopicPartition]replica.LeaderAndISR{}}
}

// ProposeISR implements replica.ISRProposer; it never blocks.
func (s *isrSender) ProposeISR(tp replica.TopicPartition, proposed replica.LeaderAndISR) {
	s.mu.Lock()
	s.pending[tp] = proposed.Clone()
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *isrSender) run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		select {
		case <-stop:
			return
		case <-s.notify:
		}
		for ctx.Err() == nil && s.sendPending(ctx) {
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// sendPending sends what is queued; it reports whether something must be
// retried (the controller was unreachable).
func (s *isrSender) sendPending(ctx context.Context) (retry bool) {
	s.mu.Lock()
	batch := s.pending
	s.pending = map[replica.TopicPartition]replica.LeaderAndISR{}
	s.mu.Unlock()
	if len(batch) == 0 {
		return false
	}
	req, index := s.request(batch)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := s.b.toController.send(rctx, req)
	var resp *kmsg.AlterPartitionResponse
	if err == nil {
		resp = raw.(*kmsg.AlterPartitionResponse)
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		s.log.Debug("AlterPartition failed, will retry", "partitions", len(batch), "err", err)
		s.requeue(batch)
		return true
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			tp, ok := index[partitionKey{t.TopidID, rp.Partition}]
			if !ok {
				continue
			}
			retry = s.answer(tp, batch[tp], rp) || retry
		}
	}
	return retry
}

type partitionKey struct {
	topicID   [16]byte
	partition int32
}

func (s *isrSender) request(batch map[replica.TopicPartition]replica.LeaderAndISR) (*kmsg.AlterPartitionRequest, map[partitionKey]replica.TopicPartition) {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.SetVersion(alterPartitionVersion)
	req.BrokerID = s.b.cfg.NodeID
	req.BrokerEpoch = s.b.lifecycle.brokerEpoch()
	img := s.b.quorum.Image()
	index := map[partitionKey]replica.TopicPartition{}
	byTopic := map[string]int{}
	for tp, st := range batch {
		topic := img.TopicByName(tp.Topic)
		if topic == nil {
			continue
		}
		i, ok := byTopic[tp.Topic]
		if !ok {
			rt := kmsg.NewAlterPartitionRequestTopic()
			rt.TopicID = topic.ID
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[tp.Topic] = i
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = tp.Partition, st.LeaderEpoch, st.PartitionEpoch
		rp.NewISR = st.ISR
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		index[partitionKey{topic.ID, tp.Partition}] = tp
	}
	return req, index
}

// answer applies the controller's verdict on one proposal; it reports
// whether the proposal was queued again (the controller is behind).
//
// A refusal aborts the proposal only when it proves the change was not
// made, as Kafka's Partition.handleAlterPartitionError: the controller
// checked the leader and partition epochs and found them current, then
// refused (INELIGIBLE_REPLICA, OPERATION_NOT_ATTEMPTED, INVALID_REQUEST).
// The refusals that say the partition moved on (INVALID_UPDATE_VERSION,
// FENCED_LEADER_EPOCH, ...) may answer a retry of a proposal whose first
// attempt was committed (its answer lost): an expansion then stays
// pending, its new member counting toward the high watermark as the
// committed ISR says it must, until the metadata brings the committed
// state (MakeLeader or MakeFollower replaces the proposal). Any other
// refusal (NOT_CONTROLLER: the controller is behind) is sent again.
func (s *isrSender) answer(tp replica.TopicPartition, proposed replica.LeaderAndISR, rp kmsg.AlterPartitionResponseTopicPartition) (retry bool) {
	p, ok := s.b.partitions.Get(tp.Topic, tp.Partition)
	if !ok {
		return false
	}
	if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
		s.log.Info("ISR change refused", "topic", tp.Topic, "partition", tp.Partition, "isr", proposed.ISR, "err", err)
		switch rp.ErrorCode {
		case kerr.IneligibleReplica.Code, kerr.OperationNotAttempted.Code, kerr.InvalidRequest.Code:
			p.AbortISRProposal(proposed)
		case kerr.InvalidUpdateVersion.Code, kerr.FencedLeaderEpoch.Code, kerr.NotLeaderForPartition.Code,
			kerr.NewLeaderElected.Code, kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code:
			// Newer metadata exists and will replace the proposal.
		default:
			// NOT_CONTROLLER (the controller is behind) and the unexpected:
			// send it again, as Kafka retries.
			s.requeue(map[replica.TopicPartition]replica.LeaderAndISR{tp: proposed})
			return true
		}
		return false
	}
	if rp.LeaderEpoch != proposed.LeaderEpoch {
		// The change did more than the ISR: it completed a reassignment,
		// which bumps the leader epoch and changes the replicas, which
		// the answer does not carry. As Kafka's Partition does, leave the
		// proposal pending (its members were committed) until the
		// metadata brings the new state.
		s.log.Debug("ISR change committed with a new leader epoch, waiting for metadata", "topic", tp.Topic, "partition", tp.Partition,
			"leader_epoch", rp.LeaderEpoch)
		return false
	}
	committed := replica.LeaderAndISR{Leader: rp.LeaderID, LeaderEpoch: rp.LeaderEpoch, PartitionEpoch: rp.PartitionEpoch,
		Replicas: proposed.Replicas, ISR: rp.ISR}
	if err := p.MakeLeader(committed, time.Now().UnixMilli()); err != nil {
		s.log.Debug("committed ISR not applied", "topic", tp.Topic, "partition", tp.Partition, "err", err)
	}
	return false
}

// requeue puts back proposals not superseded by newer ones.
func (s *isrSender) requeue(batch map[replica.TopicPartition]replica.LeaderAndISR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, st := range batch {
		if _, newer := s.pending[tp]; !newer {
			s.pending[tp] = st
		}
	}
}
