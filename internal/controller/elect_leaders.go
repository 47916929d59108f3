package controller

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// Kafka's messages (Errors.message()) for the election results, which carry
// a final period that kerr's descriptions lack.
const (
	electionNotNeededMessage     = "Leader election not needed for topic partition."
	preferredNotAvailableMessage = "The preferred leader was not available."
	eligibleNotAvailableMessage  = "Eligible topic partition leaders are not available."
)

// ElectLeaders election types (Kafka's ElectionType).
const (
	electionTypePreferred int8 = 0
	electionTypeUnclean   int8 = 1
)

// ElectLeaders handles ElectLeaders v0-v2 (KIP-183 preferred elections,
// KIP-460 unclean ones in v1+), as Kafka's
// ReplicationControlManager.electLeaders: per partition, an unknown topic
// or partition is UNKNOWN_TOPIC_OR_PARTITION; a preferred election for a
// partition its preferred replica already leads, or an unclean one for a
// partition that has a leader, is ELECTION_NOT_NEEDED; an election that
// changes nothing is PREFERRED_LEADER_NOT_AVAILABLE or
// ELIGIBLE_LEADERS_NOT_AVAILABLE. Null topics mean every partition, and
// then ELECTION_NOT_NEEDED results are left out. An unknown election type
// fails the request with INVALID_REQUEST, a failed proposal with its code.
func (c *Controller) ElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := newPlanner(c.quorum.Image(), &c.cfg)
	resp := p.electLeaders(req)
	if code := c.proposeLocked(ctx, p.records); code != nil {
		return electLeadersErrorResponse(req, defaultAPIError(code))
	}
	c.logUnclean(p.unclean)
	return resp
}

func (p *planner) electLeaders(req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	if req.ElectionType != electionTypePreferred && req.ElectionType != electionTypeUnclean {
		return electLeadersErrorResponse(req, newAPIError(kerr.InvalidRequest, "Unknown election type %d", req.ElectionType))
	}
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if req.Topics == nil {
		for _, topic := range p.img.Topics() {
			result := kmsg.NewElectLeadersResponseTopic()
			result.Topic = topic.Name
			for _, part := range topic.Partitions {
				if failure := p.electLeader(topic.Name, part.Index, req.ElectionType); failure == nil || failure.code != kerr.ElectionNotNeeded {
					result.Partitions = append(result.Partitions, electionResult(part.Index, failure))
				}
			}
			resp.Topics = append(resp.Topics, result)
		}
		return resp
	}
	for _, t := range req.Topics {
		result := kmsg.NewElectLeadersResponseTopic()
		result.Topic = t.Topic
		for _, partition := range t.Partitions {
			result.Partitions = append(result.Partitions, electionResult(partition, p.electLeader(t.Topic, partition, req.ElectionType)))
		}
		resp.Topics = append(resp.Topics, result)
	}
	return resp
}

// electLeader is Kafka's ReplicationControlManager.electLeader for one
// partition; a planned election is stepped at once so a partition named
// twice sees the first election.
func (p *planner) electLeader(name string, index int32, electionType int8) *apiError {
	topic := p.img.TopicByName(name)
	if topic == nil {
		return newAPIError(kerr.UnknownTopicOrPartition, "No such topic as %s", name)
	}
	part := topic.Partition(index)
	if part == nil {
		return newAPIError(kerr.UnknownTopicOrPartition, "No such partition as %s-%d", name, index)
	}
	preferred := electionType == electionTypePreferred
	if preferred && len(part.Replicas) > 0 && part.Leader == part.Replicas[0] || !preferred && part.Leader != noLeader {
		return newAPIError(kerr.ElectionNotNeeded, electionNotNeededMessage)
	}
	pc := newPartitionChange(*part, p.activeBroker)
	pc.election = electUnclean
	if preferred {
		pc.election = electPreferred
	}
	record, _ := p.change(topic, pc)
	if record == nil {
		if preferred {
			return newAPIError(kerr.PreferredLeaderNotAvailable, preferredNotAvailableMessage)
		}
		return newAPIError(kerr.EligibleLeadersNotAvailable, eligibleNotAvailableMessage)
	}
	if err := p.step([]metadata.Record{record}); err != nil {
		return newAPIError(kerr.UnknownServerError, "%s", err.Error())
	}
	return nil
}

func electionResult(partition int32, failure *apiError) kmsg.ElectLeadersResponseTopicPartition {
	result := kmsg.NewElectLeadersResponseTopicPartition()
	result.Partition = partition
	result.ErrorCode = failure.errorCode()
	result.ErrorMessage = failure.errorMessage()
	return result
}

// electLeadersErrorResponse fails the request as Kafka's
// ElectLeadersRequest.getErrorResponse does: the top-level code (v1+) and
// every requested partition.
func electLeadersErrorResponse(req *kmsg.ElectLeadersRequest, failure *apiError) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	resp.ErrorCode = failure.errorCode()
	for _, t := range req.Topics {
		result := kmsg.NewElectLeadersResponseTopic()
		result.Topic = t.Topic
		for _, partition := range t.Partitions {
			result.Partitions = append(result.Partitions, electionResult(partition, failure))
		}
		resp.Topics = append(resp.Topics, result)
	}
	return resp
}
