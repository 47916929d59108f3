package group

// Administrative views of consumer groups — ConsumerGroupDescribe (API key
// 69) v0-v1, their entries in ListGroups and DeleteGroups — and what the
// committed-offsets side asks of them (ConsumerGroup.validateOffsetCommit,
// validateOffsetFetch, offsetExpirationCondition, isSubscribedToTopic).

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/metadata"
)

// consumerMemberType is ConsumerGroupDescribe v1's member type of members
// using the consumer protocol (KIP-1099; 0 would be a classic member).
const consumerMemberType = 1

// DescribeConsumerGroup describes one group for ConsumerGroupDescribe,
// naming topics with image. An unknown group, or one of another type, is
// GROUP_ID_NOT_FOUND with Kafka's message. The caller fills
// AuthorizedOperations.
func (s *Shard) DescribeConsumerGroup(groupID string, image *metadata.Image) kmsg.ConsumerGroupDescribeResponseGroup {
	d := kmsg.NewConsumerGroupDescribeResponseGroup()
	d.Group = groupID
	g, err := s.existingConsumerGroup(groupID)
	var ge *groupError
	if errors.As(err, &ge) {
		d.ErrorCode, d.ErrorMessage = ge.err.Code, kmsg.StringPtr(ge.message)
		return d
	}
	if image == nil {
		image = metadata.NewImage()
	}
	d.State = g.state().String()
	d.Epoch = g.epoch
	d.AssignmentEpoch = g.assignmentEpoch
	d.AssignorName = s.preferredAssignor(g.members)
	for _, id := range g.memberIDs() {
		d.Members = append(d.Members, describeConsumerMember(g.members[id], g.targetOf(id), image))
	}
	return d
}

func describeConsumerMember(m *consumerMember, target partitionSet, image *metadata.Image) kmsg.ConsumerGroupDescribeResponseGroupMember {
	dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
	dm.MemberID = m.id
	dm.InstanceID = cloneStringPtr(m.instanceID)
	dm.RackID = cloneStringPtr(m.rackID)
	dm.MemberEpoch = m.epoch
	dm.ClientID = m.clientID
	dm.ClientHost = m.clientHost
	dm.SubscribedTopics = append([]string{}, m.topics...)
	dm.SubscribedTopicRegex = cloneStringPtr(m.topicRegex)
	dm.Assignment = describeAssignment(m.assigned, image)
	dm.TargetAssignment = describeAssignment(target, image)
	dm.MemberType = consumerMemberType
	return dm
}

// describeAssignment names an assignment's topics; topics that no longer
// exist are left out, as Kafka does.
func describeAssignment(ps partitionSet, image *metadata.Image) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, topic := range sortedTopicIDs(ps) {
		t := image.TopicByID(topic)
		if t == nil {
			continue
		}
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic, tp.Partitions = topic, t.Name, append([]int32{}, ps[topic]...)
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return a
}

// listConsumerGroups lists the consumer groups passing ListGroups'
// filters (states already lowercased; an empty map keeps all).
func (s *Shard) listConsumerGroups(states map[string]bool, typesFilter []string) []kmsg.ListGroupsResponseGroup {
	if !typesMatch(typesFilter, consumerGroupType) {
		return nil
	}
	var listed []kmsg.ListGroupsResponseGroup
	for _, id := range s.consumerGroupIDs() {
		state := s.consumer.groups[id].state().String()
		if len(states) > 0 && !states[strings.ToLower(state)] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = id
		lg.ProtocolType = consumerProtocolType
		lg.GroupState = state
		lg.GroupType = consumerGroupType
		listed = append(listed, lg)
	}
	return listed
}

// deleteConsumerGroup deletes an Empty consumer group with its offsets
// (DeleteGroups: ConsumerGroup.validateDeleteGroup, NON_EMPTY_GROUP
// otherwise); ok is false if the group is not a consumer group.
func (s *Shard) deleteConsumerGroup(fx *coord.Effects, groupID string) (code int16, ok bool) {
	g := s.consumer.groups[groupID]
	if g == nil {
		return 0, false
	}
	if g.state() != consumerEmpty {
		return kerr.NonEmptyGroup.Code, true
	}
	s.deleteGroupOffsets(fx, groupID)
	for _, r := range groupTombstones(g) {
		fx.Append(r)
	}
	s.log.Info("deleted consumer group", "group", groupID)
	return 0, true
}

// maybeDeleteEmptyConsumerGroup writes the tombstones of an Empty consumer
// group once its offsets expired (GroupMetadataManager.maybeDeleteGroup);
// false if it is not an Empty consumer group.
func (s *Shard) maybeDeleteEmptyConsumerGroup(fx *coord.Effects, groupID string) bool {
	g := s.consumer.groups[groupID]
	if g == nil || g.state() != consumerEmpty {
		return false
	}
	for _, r := range groupTombstones(g) {
		fx.Append(r)
	}
	s.log.Info("deleted empty consumer group without offsets", "group", groupID)
	return true
}

// validateConsumerOffsetCommit is ConsumerGroup.validateOffsetCommit: a
// negative epoch commits only to a group without members (admin tools,
// consumers not using the group); otherwise the member must exist
// (UNKNOWN_MEMBER_ID) at exactly that epoch (STALE_MEMBER_EPOCH). Kafka
// also refuses OffsetCommit below v9 from consumer-protocol members with
// UNSUPPORTED_VERSION; the version does not reach this check here.
func (g *consumerGroup) validateOffsetCommit(memberID string, epoch int32) *kerr.Error {
	if epoch < 0 && len(g.members) == 0 {
		return nil
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if epoch != m.epoch {
		return kerr.StaleMemberEpoch
	}
	return nil
}

// ValidateOffsetFetch checks an OffsetFetch v9+ that names a member of a
// consumer group (ConsumerGroup.validateOffsetFetch): a request without a
// member ID and with a negative epoch (admin tools) passes; otherwise the
// member must exist (UNKNOWN_MEMBER_ID) at that epoch (STALE_MEMBER_EPOCH).
// Groups that are not consumer groups pass (0).
func (s *Shard) ValidateOffsetFetch(groupID string, memberID *string, memberEpoch int32) int16 {
	g := s.consumer.groups[groupID]
	if g == nil || (memberID == nil && memberEpoch < 0) {
		return 0
	}
	id := ""
	if memberID != nil {
		id = *memberID
	}
	m := g.members[id]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case m.epoch != memberEpoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// joinToConsumerGroup decides a JoinGroup for the ID of a consumer group
// (classicGroupJoin): an Empty consumer group is deleted (its offsets
// stay) so that a classic group takes its place; one with members refuses
// the classic member (true; the caller answers INCONSISTENT_GROUP_PROTOCOL).
// Kafka would let a classic member join a consumer group (online
// migration, group.consumer.migration.policy); Sluice does not yet.
func (s *Shard) joinToConsumerGroup(fx *coord.Effects, groupID string) (refused bool) {
	g := s.consumer.groups[groupID]
	if g == nil {
		return false
	}
	if g.state() != consumerEmpty {
		s.log.Info("classic member refused by a consumer group", "group", groupID)
		return true
	}
	for _, r := range groupTombstones(g) {
		fx.Append(r)
	}
	s.dropConsumerGroup(g)
	s.log.Info("converting the empty consumer group to a classic group", "group", groupID)
	return false
}
