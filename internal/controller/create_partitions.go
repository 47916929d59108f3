package controller

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// CreatePartitions handles CreatePartitions v0-v3: grows topics to the
// requested partition count, with explicit assignments or by placement.
// validate_only answers the same and writes nothing.
func (c *Controller) CreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	if req.ValidateOnly {
		_, resp, refused := planCreatePartitions(c.quorum.Image(), req, &c.cfg)
		c.cfg.countCapRefusals(refused)
		return resp
	}
	var resp *kmsg.CreatePartitionsResponse
	var refused int
	code := c.write(ctx, func(img *metadata.Image) []metadata.Record {
		records, planned, n := planCreatePartitions(img, req, &c.cfg)
		resp, refused = planned, n
		return records
	})
	if code != nil {
		return createPartitionsErrorResponse(req, defaultAPIError(code))
	}
	c.cfg.countCapRefusals(refused)
	return resp
}

// planCreatePartitions is the pure core of CreatePartitions, following
// Kafka's ControllerApis.createPartitions (names given twice:
// INVALID_REQUEST "Duplicate topic name.", listed first) and
// ReplicationControlManager.createPartitions: unknown topic
// UNKNOWN_TOPIC_OR_PARTITION; a count that is not an increase
// INVALID_PARTITIONS; assignments that do not match the increase, name an
// unregistered broker, repeat a broker or differ from the topic's
// replication factor INVALID_REPLICA_ASSIGNMENT. More than 10000 new
// partitions in all fail every topic with POLICY_VIOLATION before anything
// is allocated. Last, a topic whose new replicas would put more than
// sluice.max.partitions on a broker is refused with POLICY_VIOLATION
// (Config.MaxPartitions), counting the topics of the request cumulatively
// in request order as CreateTopics does; the third result is how many.
func planCreatePartitions(img *metadata.Image, req *kmsg.CreatePartitionsRequest, cfg *Config) ([]metadata.Record, *kmsg.CreatePartitionsResponse, int) {
	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		names[i] = t.Topic
	}
	dups := duplicates(names)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	reported := make(map[string]bool)
	for _, name := range names {
		if dups[name] && !reported[name] {
			reported[name] = true
			resp.Topics = append(resp.Topics, createPartitionsResult(name, newAPIError(kerr.InvalidRequest, "Duplicate topic name.")))
		}
	}
	var records []metadata.Record
	budget := maxRecordsPerOperation
	limit := newPartitionCap(img, cfg.MaxPartitions)
	for _, t := range req.Topics {
		if dups[t.Topic] {
			continue
		}
		added, failure, exceeded := growTopic(img, t, cfg, budget, limit)
		if exceeded {
			return nil, createPartitionsErrorResponse(req, newAPIError(kerr.PolicyViolation, excessiveBatchMessage)), 0
		}
		budget -= len(added)
		records = append(records, added...)
		resp.Topics = append(resp.Topics, createPartitionsResult(t.Topic, failure))
	}
	if req.ValidateOnly {
		return nil, resp, limit.refused
	}
	return records, resp, limit.refused
}

// growTopic plans the partitions one topic gains. exceeded reports that they
// would not fit in the records left in budget; limit admits their replicas.
func growTopic(img *metadata.Image, t kmsg.CreatePartitionsRequestTopic, cfg *Config, budget int, limit *partitionCap) (records []metadata.Record, failure *apiError, exceeded bool) {
	topic := img.TopicByName(t.Topic)
	if topic == nil {
		return nil, bareAPIError(kerr.UnknownTopicOrPartition), false
	}
	current := int32(len(topic.Partitions))
	switch {
	case t.Count == current:
		return nil, newAPIError(kerr.InvalidPartitions, "Topic already has %d partition(s).", current), false
	case t.Count < current:
		return nil, newAPIError(kerr.InvalidPartitions, "The topic %s currently has %d partition(s); %d would not be an increase.",
			t.Topic, current, t.Count), false
	}
	additional := t.Count - current
	if t.Assignment != nil && len(t.Assignment) != int(additional) {
		return nil, newAPIError(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.",
			additional, len(t.Assignment)), false
	}
	if int64(additional) > int64(budget) {
		return nil, nil, true
	}
	assignments, failure := newAssignments(img, topic, t, additional, cfg)
	if failure != nil {
		return nil, failure, false
	}
	for i, replicas := range assignments {
		partition := newPartition(current+int32(i), replicas)
		if t.Assignment != nil {
			if partition, failure = newManualPartition(img, current+int32(i), replicas); failure != nil {
				return nil, failure, false
			}
		}
		records = append(records, &metadata.PartitionRecord{TopicID: topic.ID, Partition: partition})
	}
	if failure := limit.admit(capCreating, assignmentsPerBroker(assignments)); failure != nil {
		return nil, failure, false
	}
	return records, nil, false
}

// newAssignments validates the explicit assignments or places the new
// partitions with the topic's current replication factor.
func newAssignments(img *metadata.Image, topic *metadata.Topic, t kmsg.CreatePartitionsRequestTopic, additional int32, cfg *Config) ([][]int32, *apiError) {
	if len(topic.Partitions) == 0 {
		return nil, newAPIError(kerr.UnknownServerError, "Invalid state: topic %s appears to have no partitions.", topic.Name)
	}
	// A partition being reassigned counts its target replicas, not the
	// ones it is about to drop.
	factor := len(topic.Partitions[0].TargetReplicas())
	if t.Assignment == nil {
		return placeReplicas(img, additional, int16(factor), cfg.Rand)
	}
	assignments := make([][]int32, len(t.Assignment))
	for i, a := range t.Assignment {
		if failure := validateManualAssignment(img, a.Replicas, factor); failure != nil {
			return nil, failure
		}
		assignments[i] = append([]int32(nil), a.Replicas...)
	}
	return assignments, nil
}

func createPartitionsResult(name string, failure *apiError) kmsg.CreatePartitionsResponseTopic {
	result := kmsg.NewCreatePartitionsResponseTopic()
	result.Topic = name
	result.ErrorCode = failure.errorCode()
	result.ErrorMessage = failure.errorMessage()
	return result
}

// createPartitionsErrorResponse fails every topic of the request alike.
func createPartitionsErrorResponse(req *kmsg.CreatePartitionsRequest, failure *apiError) *kmsg.CreatePartitionsResponse {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, t := range req.Topics {
		resp.Topics = append(resp.Topics, createPartitionsResult(t.Topic, failure))
	}
	return resp
}
