package controller

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// AlterPartition handles AlterPartition (API 56, v0-v3; KIP-497, KIP-704's
// leader recovery state in v1+, topic IDs in v2+, KIP-903 broker epochs per
// ISR member in v3): a partition leader proposes a new ISR. The checks and
// error codes are Kafka's ReplicationControlManager.alterPartition and
// validateAlterPartitionData (see planAlterPartition); an accepted change
// bumps the partition epoch (never the leader epoch) and each partition's
// answer is its state as committed. A failed proposal fails the whole
// request (top-level NOT_CONTROLLER, REQUEST_TIMED_OUT, ...).
func (c *Controller) AlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse {
	if c.standby() {
		resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := newPlanner(c.quorum.Image(), &c.cfg)
	resp := p.alterPartition(req)
	if code := c.proposeLocked(ctx, p.records); code != nil {
		failed := req.ResponseKind().(*kmsg.AlterPartitionResponse)
		failed.ErrorCode = code.Code
		return failed
	}
	c.logUnclean(p.unclean)
	return resp
}

// alterPartition plans a whole AlterPartition request. The requester's
// broker epoch must be current (else top-level STALE_BROKER_EPOCH). Topics
// are named (v0-v1) or identified (v2+); an unknown one fails each of its
// partitions with UNKNOWN_TOPIC_OR_PARTITION or UNKNOWN_TOPIC_ID. Each
// partition is then planned on its own, against the state left by the ones
// before it, so a partition named twice cannot produce two changes from
// the same epoch.
func (p *planner) alterPartition(req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	if failure := checkBrokerEpoch(p.img, req.BrokerID, req.BrokerEpoch); failure != nil {
		resp.ErrorCode = failure.errorCode()
		return resp
	}
	for _, t := range req.Topics {
		result := kmsg.NewAlterPartitionResponseTopic()
		result.Topic, result.TopidID = t.Topic, t.TopicID
		topic := p.img.TopicByName(t.Topic)
		unknown := kerr.UnknownTopicOrPartition
		if req.Version > 1 {
			topic, unknown = nil, kerr.UnknownTopicID
			if t.TopicID != ([16]byte{}) {
				topic = p.img.TopicByID(t.TopicID)
			}
		}
		for _, rp := range t.Partitions {
			if topic == nil {
				result.Partitions = append(result.Partitions, alterPartitionError(rp.Partition, unknown))
				continue
			}
			result.Partitions = append(result.Partitions, p.alterOnePartition(req, p.img.TopicByID(topic.ID), rp))
		}
		resp.Topics = append(resp.Topics, result)
	}
	return resp
}

// alterOnePartition validates and plans one partition of an AlterPartition.
func (p *planner) alterOnePartition(req *kmsg.AlterPartitionRequest, topic *metadata.Topic, rp kmsg.AlterPartitionRequestTopicPartition) kmsg.AlterPartitionResponseTopicPartition {
	part := topic.Partition(rp.Partition)
	isr := requestedISR(req.Version, rp)
	if code := p.validateAlterPartition(req, part, rp, isr); code != nil {
		return alterPartitionError(rp.Partition, code)
	}
	pc := newPartitionChange(*part, p.activeBroker)
	if p.uncleanEnabled(topic) {
		pc.election = electUnclean
	}
	pc.targetISR = brokerIDs(isr)
	pc.targetRecovery = metadata.LeaderRecoveryState(rp.LeaderRecoveryState)
	record, result := p.change(topic, pc)
	if record != nil {
		if err := p.step([]metadata.Record{record}); err != nil {
			return alterPartitionError(rp.Partition, kerr.UnknownServerError)
		}
	}
	next := result.next
	if next.Leader != req.BrokerID {
		// Only a reassignment completing can move the leader here (Kafka);
		// the requester must learn the new state before trying again.
		if req.Version > 1 {
			return alterPartitionError(rp.Partition, kerr.NewLeaderElected)
		}
		return alterPartitionError(rp.Partition, kerr.FencedLeaderEpoch)
	}
	out := kmsg.NewAlterPartitionResponseTopicPartition()
	out.Partition = rp.Partition
	out.LeaderID = next.Leader
	out.LeaderEpoch = next.LeaderEpoch
	out.ISR = slices.Clone(next.ISR)
	out.LeaderRecoveryState = int8(next.LeaderRecoveryState)
	out.PartitionEpoch = next.PartitionEpoch
	return out
}

// validateAlterPartition is Kafka's validateAlterPartitionData, in its
// order:
//
//   - an unknown partition: UNKNOWN_TOPIC_OR_PARTITION;
//   - a leader or partition epoch above the controller's: NOT_CONTROLLER
//     (this controller is probably behind, the requester should find the
//     new one);
//   - an older leader epoch: FENCED_LEADER_EPOCH;
//   - a requester that is not the leader: NOT_LEADER_OR_FOLLOWER (Kafka
//     answers INVALID_REQUEST; the cluster contract asks for the code that
//     tells the broker it lost leadership);
//   - an older partition epoch: INVALID_UPDATE_VERSION;
//   - an ISR with a duplicate or a non-replica, or without the leader:
//     INVALID_REQUEST;
//   - RECOVERING with more than one ISR member, RECOVERED going back to
//     RECOVERING, or an unknown recovery state: INVALID_REQUEST;
//   - a member not registered, fenced, in controlled shutdown, or (v3)
//     with a broker epoch other than its registration's:
//     INELIGIBLE_REPLICA (OPERATION_NOT_ATTEMPTED before v2).
func (p *planner) validateAlterPartition(req *kmsg.AlterPartitionRequest, part *metadata.Partition, rp kmsg.AlterPartitionRequestTopicPartition, isr []isrMember) *kerr.Error {
	switch {
	case part == nil:
		return kerr.UnknownTopicOrPartition
	case rp.LeaderEpoch > part.LeaderEpoch, rp.PartitionEpoch > part.PartitionEpoch:
		return kerr.NotController
	case rp.LeaderEpoch < part.LeaderEpoch:
		return kerr.FencedLeaderEpoch
	case req.BrokerID != part.Leader:
		return kerr.NotLeaderForPartition
	case rp.PartitionEpoch < part.PartitionEpoch:
		return kerr.InvalidUpdateVersion
	}
	ids := brokerIDs(isr)
	if !validISR(part.Replicas, ids) || !slices.Contains(ids, part.Leader) {
		return kerr.InvalidRequest
	}
	recovery := metadata.LeaderRecoveryState(rp.LeaderRecoveryState)
	switch {
	case recovery != metadata.LeaderRecovered && recovery != metadata.LeaderRecovering:
		return kerr.InvalidRequest
	case recovery == metadata.LeaderRecovering && len(ids) > 1:
		return kerr.InvalidRequest
	case part.LeaderRecoveryState == metadata.LeaderRecovered && recovery == metadata.LeaderRecovering:
		return kerr.InvalidRequest
	}
	for _, m := range isr {
		if !p.eligibleISRMember(m) {
			if req.Version > 1 {
				return kerr.IneligibleReplica
			}
			return kerr.OperationNotAttempted
		}
	}
	return nil
}

// isrMember is one proposed ISR member; brokerEpoch -1 skips the epoch
// check (v0-v2 carry no epochs).
type isrMember struct {
	brokerID    int32
	brokerEpoch int64
}

// requestedISR reads the proposed ISR: NewISR before v3, NewEpochISR from
// v3 (Kafka's newIsrToSimpleNewIsrWithBrokerEpochs for the old form).
func requestedISR(version int16, rp kmsg.AlterPartitionRequestTopicPartition) []isrMember {
	var isr []isrMember
	if version < 3 {
		for _, id := range rp.NewISR {
			isr = append(isr, isrMember{brokerID: id, brokerEpoch: -1})
		}
		return isr
	}
	for _, m := range rp.NewEpochISR {
		isr = append(isr, isrMember{brokerID: m.BrokerID, brokerEpoch: m.BrokerEpoch})
	}
	return isr
}

func brokerIDs(isr []isrMember) []int32 {
	ids := make([]int32, len(isr))
	for i, m := range isr {
		ids[i] = m.brokerID
	}
	return ids
}

// eligibleISRMember is Kafka's ineligibleReplicasForIsr check for one
// member.
func (p *planner) eligibleISRMember(m isrMember) bool {
	b := p.img.Broker(m.brokerID)
	switch {
	case b == nil, b.InControlledShutdown, b.Fenced:
		return false
	case m.brokerEpoch != -1 && m.brokerEpoch != b.BrokerEpoch:
		return false
	}
	return true
}

// validISR is Kafka's Replicas.validateIsr: no duplicates, every member
// assigned.
func validISR(replicas, isr []int32) bool {
	seen := make(map[int32]bool, len(isr))
	for _, id := range isr {
		if seen[id] || !slices.Contains(replicas, id) {
			return false
		}
		seen[id] = true
	}
	return true
}

func alterPartitionError(partition int32, code *kerr.Error) kmsg.AlterPartitionResponseTopicPartition {
	out := kmsg.NewAlterPartitionResponseTopicPartition()
	out.Partition = partition
	out.ErrorCode = code.Code
	return out
}
