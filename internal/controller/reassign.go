package controller

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// Partition reassignment (KIP-455), as Kafka's ReplicationControlManager
// does it in KRaft mode:
//
//  1. AlterPartitionReassignments names target replicas. The partition's
//     replicas become the targets followed by the replicas being removed,
//     with the adding replicas (targets that were not replicas) and the
//     removing ones recorded in the partition (metadata.Partition's
//     AddingReplicas and RemovingReplicas). The ISR does not change: new
//     replicas start outside it, open the partition on their broker and
//     catch up by fetching from the leader.
//  2. The leader adds each caught-up replica to the ISR (AlterPartition).
//  3. As soon as the ISR without the removing replicas holds every target
//     replica, the change that made it so also completes the reassignment
//     (partitionChange.completeReassignment, run by every partition change:
//     AlterPartition, fencing, elections): replicas = targets, the ISR
//     loses the removing replicas, the leader moves to a target replica if
//     it was being removed, and the leader epoch is bumped because replicas
//     left. Their brokers stop and delete the partition.
//
// A reassignment that only reorders or removes replicas already satisfies
// step 3 and completes in the same change. Cancelling (null replicas)
// reverts to the original replicas: the adding replicas leave the
// replicas and the ISR.

// Kafka's message for an unclean revert refused.
const uncleanRevertMessage = "Unable to revert partition assignment for %s:%d because it would require an unclean leader election."

// AlterPartitionReassignments handles AlterPartitionReassignments (API 45,
// v0-v1; KIP-455, KIP-860's AllowReplicationFactorChange in v1) as Kafka's
// ReplicationControlManager.alterPartitionReassignments: each partition is
// planned on its own (against the state left by the ones before it) and
// answered with its own error; the records of every successful partition
// are committed as one batch. A failed proposal fails every partition and
// the request with its code, as Kafka's
// AlterPartitionReassignmentsRequest.getErrorResponse does.
func (c *Controller) AlterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	if c.standby() {
		return alterReassignmentsErrorResponse(req, defaultAPIError(kerr.NotController))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := newPlanner(c.quorum.Image(), &c.cfg)
	resp := p.alterPartitionReassignments(req)
	if code := c.proposeLocked(ctx, p.records); code != nil {
		return alterReassignmentsErrorResponse(req, defaultAPIError(code))
	}
	c.cfg.countCapRefusals(p.cap.refused)
	c.logUnclean(p.unclean)
	if len(p.records) > 0 {
		c.cfg.Logger.Info("partition reassignments altered", "partitions", len(p.records))
	}
	return resp
}

// alterPartitionReassignments plans a whole request. More partitions than
// one operation may change fail every partition with POLICY_VIOLATION and
// plan nothing (Kafka's bounded record list).
func (p *planner) alterPartitionReassignments(req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	total := 0
	for _, t := range req.Topics {
		total += len(t.Partitions)
	}
	if total > maxRecordsPerOperation {
		resp := alterReassignmentsErrorResponse(req, newAPIError(kerr.PolicyViolation, excessiveBatchMessage))
		resp.ErrorCode, resp.ErrorMessage = 0, nil
		return resp
	}
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	for _, t := range req.Topics {
		result := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		result.Topic = t.Topic
		for _, rp := range t.Partitions {
			failure := p.alterPartitionReassignment(t.Topic, rp, req.Version < 1 || req.AllowReplicationFactorChange)
			out := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			out.Partition = rp.Partition
			out.ErrorCode, out.ErrorMessage = failure.errorCode(), failure.errorMessage()
			result.Partitions = append(result.Partitions, out)
		}
		resp.Topics = append(resp.Topics, result)
	}
	return resp
}

// alterPartitionReassignment is Kafka's alterPartitionReassignment for one
// partition: an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION;
// null replicas cancel, others reassign. A reassignment whose new replicas
// would put more than sluice.max.partitions on a broker is refused with
// POLICY_VIOLATION (Config.MaxPartitions; Sluice's, Kafka has no cap),
// counting the partitions of the request cumulatively. A planned change
// is stepped at once.
func (p *planner) alterPartitionReassignment(name string, rp kmsg.AlterPartitionAssignmentsRequestTopicPartition, allowRFChange bool) *apiError {
	topic := p.img.TopicByName(name)
	if topic == nil {
		return newAPIError(kerr.UnknownTopicOrPartition, "Unable to find a topic named %s.", name)
	}
	part := topic.Partition(rp.Partition)
	if part == nil {
		return newAPIError(kerr.UnknownTopicOrPartition, "Unable to find partition %s:%d.", name, rp.Partition)
	}
	var pc partitionChange
	var failure *apiError
	if rp.Replicas == nil {
		pc, failure = p.cancelReassignment(topic, *part)
	} else {
		pc, failure = p.changeReassignment(*part, rp.Replicas, allowRFChange)
	}
	if failure != nil {
		return failure
	}
	if failure := p.cap.check(capReassigning, replicaDelta(part.Replicas, pc.targetReplicas)); failure != nil {
		return failure
	}
	record, _ := p.change(topic, pc)
	if record == nil {
		return nil
	}
	if err := p.step([]metadata.Record{record}); err != nil {
		return newAPIError(kerr.UnknownServerError, "%s", err.Error())
	}
	p.cap.apply(replicaDelta(part.Replicas, record.Partition.Replicas))
	return nil
}

// changeReassignment is Kafka's changePartitionReassignment: the target
// must be a valid manual assignment (registered brokers, none twice:
// INVALID_REPLICA_ASSIGNMENT), of the same size as the current target when
// the request forbids replication factor changes (INVALID_REPLICATION_FACTOR,
// Kafka's validatePartitionReplicationFactorUnchanged). The new replicas
// are the target followed by the current replicas not in it (which are
// being removed); adding are the targets not yet replicas. Both are
// computed against the current replicas, so a reassignment replacing one
// in progress starts from everything the partition has now.
//
// Kafka keeps the previous adding or removing list when the new one is
// empty; Sluice always records the new lists, so a second reassignment
// whose target equals the current replicas ends the first one instead of
// later removing replicas the latest target keeps.
func (p *planner) changeReassignment(part metadata.Partition, target []int32, allowRFChange bool) (partitionChange, *apiError) {
	if failure := validateManualAssignment(p.img, target, -1); failure != nil {
		return partitionChange{}, failure
	}
	if !allowRFChange {
		// Kafka counts replicas + adding - removing: the target of the
		// reassignment in progress, or the replicas.
		if current := len(part.TargetReplicas()); current != len(target) {
			return partitionChange{}, newAPIError(kerr.InvalidReplicationFactor, "The replication factor is changed from %d to %d", current, len(target))
		}
	}
	removing := sortedDifference(part.Replicas, target)
	adding := sortedDifference(target, part.Replicas)
	pc := newPartitionChange(part, p.activeBroker)
	pc.targetReplicas = append(slices.Clone(target), removing...)
	pc.targetRemoving, pc.targetAdding = removing, adding
	return pc, nil
}

// cancelReassignment is Kafka's cancelPartitionReassignment with
// PartitionReassignmentRevert: no reassignment in progress is
// NO_REASSIGNMENT_IN_PROGRESS; otherwise the replicas go back to the
// original ones and the adding replicas leave the ISR. When every ISR
// member was an adding replica, the first original replica is put in the
// ISR, which is an unclean election: refused with
// INVALID_REPLICA_ASSIGNMENT unless the topic allows unclean elections.
func (p *planner) cancelReassignment(topic *metadata.Topic, part metadata.Partition) (partitionChange, *apiError) {
	if !part.Reassigning() {
		return partitionChange{}, defaultAPIError(kerr.NoReassignmentInProgress)
	}
	replicas := part.OriginalReplicas()
	isr := withoutAll(part.ISR, part.AddingReplicas)
	unclean := p.uncleanEnabled(topic)
	if len(isr) == 0 {
		if !unclean {
			return partitionChange{}, newAPIError(kerr.InvalidReplicaAssignment, uncleanRevertMessage, topic.Name, part.Index)
		}
		isr = []int32{replicas[0]}
	}
	pc := newPartitionChange(part, p.activeBroker)
	if unclean {
		pc.election = electUnclean
	}
	pc.targetISR, pc.targetReplicas, pc.targetAdding, pc.targetRemoving = isr, replicas, nil, nil
	return pc, nil
}

// sortedDifference is a minus b, ascending and without duplicates (Kafka's
// PartitionReassignmentReplicas.calculateDifference, a TreeSet); nil when
// empty.
func sortedDifference(a, b []int32) []int32 {
	var out []int32
	for _, v := range a {
		if !slices.Contains(b, v) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// alterReassignmentsErrorResponse fails the request: the top-level code and
// every requested partition.
func alterReassignmentsErrorResponse(req *kmsg.AlterPartitionAssignmentsRequest, failure *apiError) *kmsg.AlterPartitionAssignmentsResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	resp.ErrorCode, resp.ErrorMessage = failure.errorCode(), failure.errorMessage()
	for _, t := range req.Topics {
		result := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		result.Topic = t.Topic
		for _, rp := range t.Partitions {
			out := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			out.Partition = rp.Partition
			out.ErrorCode, out.ErrorMessage = failure.errorCode(), failure.errorMessage()
			result.Partitions = append(result.Partitions, out)
		}
		resp.Topics = append(resp.Topics, result)
	}
	return resp
}

// ListPartitionReassignments handles ListPartitionReassignments (API 46,
// v0) as Kafka's ReplicationControlManager.listPartitionReassignments: null
// topics list every partition being reassigned (topics by name, partitions
// by index); named topics list the named partitions that are being
// reassigned, leaving out unknown topics and partitions and topics with
// nothing to list. Each entry has the replicas with the adding and
// removing ones. It reads the committed image and writes nothing.
func (c *Controller) ListPartitionReassignments(_ context.Context, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if c.standby() {
		resp.ErrorCode = kerr.NotController.Code
		resp.ErrorMessage = kmsg.StringPtr(kerr.NotController.Description)
		return resp
	}
	return listPartitionReassignments(c.quorum.Image(), req)
}

func listPartitionReassignments(img *metadata.Image, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	list := func(topic *metadata.Topic, indexes []int32) {
		result := kmsg.NewListPartitionReassignmentsResponseTopic()
		result.Topic = topic.Name
		for _, index := range indexes {
			part := topic.Partition(index)
			if part == nil || !part.Reassigning() {
				continue
			}
			ongoing := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			ongoing.Partition = index
			ongoing.Replicas = slices.Clone(part.Replicas)
			ongoing.AddingReplicas = nonNilInt32s(part.AddingReplicas)
			ongoing.RemovingReplicas = nonNilInt32s(part.RemovingReplicas)
			result.Partitions = append(result.Partitions, ongoing)
		}
		if len(result.Partitions) > 0 {
			resp.Topics = append(resp.Topics, result)
		}
	}
	if req.Topics == nil {
		for _, topic := range img.Topics() {
			indexes := make([]int32, len(topic.Partitions))
			for i := range indexes {
				indexes[i] = int32(i)
			}
			list(topic, indexes)
		}
		return resp
	}
	for _, t := range req.Topics {
		if topic := img.TopicByName(t.Topic); topic != nil {
			list(topic, t.Partitions)
		}
	}
	return resp
}

// nonNilInt32s makes an empty list encode and compare as [] rather than
// null in tests (the wire form is the same).
func nonNilInt32s(values []int32) []int32 {
	if values == nil {
		return []int32{}
	}
	return slices.Clone(values)
}
