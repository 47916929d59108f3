package group

// Administrative views of classic groups — DescribeGroups (API key 15),
// ListGroups (16, v4 states filter KIP-518, v5 types filter KIP-848),
// DeleteGroups (42) — and the checks the committed-offsets side needs
// (Kafka's ClassicGroup.validateOffsetCommit, isSubscribedToTopic, the
// simple group of getOrMaybeCreateClassicGroup).

import (
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// DescribeGroup describes one group for DescribeGroups. A Stable group
// reports its protocol and each member's metadata for it; other states
// report members without metadata. An unknown group is "Dead" with
// GROUP_ID_NOT_FOUND and a message: Kafka sends that error from v6 on,
// so the caller clears ErrorCode and ErrorMessage below v6. The caller
// also fills AuthorizedOperations (left at kmsg's "not requested").
func (s *Shard) DescribeGroup(groupID string) kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group = groupID
	if s.consumer.groups[groupID] != nil {
		// A consumer group (KIP-848) is not described by this API.
		d.State = classicDead.String()
		d.ErrorCode = kerr.GroupIDNotFound.Code
		d.ErrorMessage = kmsg.StringPtr("Group " + groupID + " is not a classic group.")
		return d
	}
	g := s.classic.groups[groupID]
	if g == nil || g.is(classicDead) {
		d.State = classicDead.String()
		d.ErrorCode = kerr.GroupIDNotFound.Code
		d.ErrorMessage = kmsg.StringPtr("Group " + groupID + " not found.")
		return d
	}
	d.State = g.state.String()
	d.ProtocolType = g.protocolType
	stable := g.is(classicStable)
	if stable {
		d.Protocol = g.protocolNameOrEmpty()
	}
	for _, id := range g.order {
		m := g.members[id]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		dm.MemberAssignment = nonNil(m.assignment)
		if stable {
			dm.ProtocolMetadata = nonNil(m.metadata(d.Protocol))
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// ListGroups lists the shard's groups, sorted by ID. statesFilter (v4+)
// keeps groups in one of the named states, compared case-insensitively
// after trimming; typesFilter (v5+) keeps groups of the named types
// ("classic" or "consumer"). An empty filter keeps everything.
func (s *Shard) ListGroups(statesFilter, typesFilter []string) []kmsg.ListGroupsResponseGroup {
	states := map[string]bool{}
	for _, st := range statesFilter {
		states[strings.ToLower(strings.TrimSpace(st))] = true
	}
	listed := append(s.listClassicGroups(states, typesFilter), s.listConsumerGroups(states, typesFilter)...)
	sort.Slice(listed, func(i, j int) bool { return listed[i].Group < listed[j].Group })
	return listed
}

// listClassicGroups lists the classic groups passing ListGroups' filters.
func (s *Shard) listClassicGroups(states map[string]bool, typesFilter []string) []kmsg.ListGroupsResponseGroup {
	if !typesMatch(typesFilter, classicGroupType) {
		return nil
	}
	var listed []kmsg.ListGroupsResponseGroup
	for _, id := range s.classicGroupIDs() {
		g := s.classic.groups[id]
		if len(states) > 0 && !states[strings.ToLower(g.state.String())] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = id
		lg.ProtocolType = g.protocolType
		lg.GroupState = g.state.String()
		lg.GroupType = classicGroupType
		listed = append(listed, lg)
	}
	return listed
}

// typesMatch reports whether groupType passes a ListGroups types filter
// (Kafka's GroupType.parse lowercases the names).
func typesMatch(typesFilter []string, groupType string) bool {
	if len(typesFilter) == 0 {
		return true
	}
	for _, t := range typesFilter {
		if strings.ToLower(t) == groupType {
			return true
		}
	}
	return false
}

// classicGroupIDs returns the IDs of the shard's classic groups, sorted.
func (s *Shard) classicGroupIDs() []string {
	ids := make([]string, 0, len(s.classic.groups))
	for id := range s.classic.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// DeleteGroup deletes an Empty group with its committed offsets
// (DeleteGroups): GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP
// for one with members. respond gets the error code (0 on success) once
// the tombstones are durable.
func (s *Shard) DeleteGroup(fx *coord.Effects, groupID string, respond func(errorCode int16)) {
	code := s.deleteGroup(fx, groupID)
	fx.Then(func(err error) {
		if err != nil && code == 0 {
			code = writeFailure(err).Code
		}
		respond(code)
	})
}

func (s *Shard) deleteGroup(fx *coord.Effects, groupID string) int16 {
	if code, ok := s.deleteConsumerGroup(fx, groupID); ok {
		return code
	}
	g := s.classic.groups[groupID]
	switch {
	case g == nil || g.is(classicDead):
		return kerr.GroupIDNotFound.Code
	case !g.is(classicEmpty):
		return kerr.NonEmptyGroup.Code
	}
	s.deleteGroupOffsets(fx, groupID)
	fx.Append(coord.Record{Key: groupMetadataKey(groupID)})
	s.dropClassicGroup(g)
	s.log.Info("deleted group", "group", groupID)
	return 0
}

// deleteEmptyClassicGroup deletes a group if it is Empty, writing its
// tombstone, and reports whether it did. The offsets expiry calls it once
// a group has no offsets left (Kafka's cleanupGroupMetadata →
// GroupMetadataManager.maybeDeleteGroup).
func (s *Shard) deleteEmptyClassicGroup(fx *coord.Effects, groupID string) bool {
	g := s.classic.groups[groupID]
	if g == nil || !g.is(classicEmpty) {
		return false
	}
	fx.Append(coord.Record{Key: groupMetadataKey(groupID)})
	s.dropClassicGroup(g)
	s.log.Info("deleted empty group without offsets", "group", groupID)
	return true
}

// classicOffsetExpiry is Kafka's ClassicGroup.offsetExpirationCondition
// for the offsets expiry: whether the group's offsets may expire at all,
// and from which base. groupBase is the time (Unix ms) an Empty group
// with a protocol type became Empty, or -1 when each offset counts from
// its own commit: a simple group (no protocol type), an Empty group whose
// state time is unknown, or a Stable "consumer" group whose subscriptions
// are known (its subscribed topics never expire). Other groups keep their
// offsets. An unknown group expires from each commit.
func (s *Shard) classicOffsetExpiry(groupID string) (groupBase int64, expirable bool) {
	g := s.classic.groups[groupID]
	switch {
	case g == nil || g.protocolType == "":
		return -1, true
	case g.is(classicEmpty):
		return g.stateTimestamp, true
	case g.protocolType == consumerProtocolType && g.subscriptionKnown && g.is(classicStable):
		return -1, true
	default:
		return -1, false
	}
}

// classicValidateOffsetDelete is Kafka's ClassicGroup.validateOffsetDelete
// with the group lookup: GROUP_ID_NOT_FOUND for an unknown group,
// NON_EMPTY_GROUP for an active group not of the "consumer" protocol
// type (a consumer group's subscribed topics are refused per partition,
// GROUP_SUBSCRIBED_TO_TOPIC, instead).
func (s *Shard) classicValidateOffsetDelete(groupID string) *kerr.Error {
	g := s.classic.groups[groupID]
	switch {
	case g == nil || g.is(classicDead):
		return kerr.GroupIDNotFound
	case g.is(classicEmpty) || g.protocolType == consumerProtocolType:
		return nil
	default:
		return kerr.NonEmptyGroup
	}
}

// validateOffsetCommit checks an OffsetCommit (isTxn false) or
// TxnOffsetCommit (isTxn true) against the classic group
// (ClassicGroup.validateOffsetCommit). A commit with a negative
// generation is allowed to an unknown or Empty group: it comes from the
// admin client or a consumer that manages its own partitions, and the
// caller then creates the group with ensureSimpleGroup. A commit with a
// generation to an unknown group is ILLEGAL_GENERATION (Kafka answers
// GROUP_ID_NOT_FOUND instead for OffsetCommit v9+; the caller maps).
//
// As in Kafka's commitOffset, a valid OffsetCommit from a member of a
// Stable or PreparingRebalance group also restarts the member's session.
func (s *Shard) validateOffsetCommit(groupID, memberID string, instanceID *string, generation int32, isTxn bool) *kerr.Error {
	if cg := s.consumer.groups[groupID]; cg != nil {
		// A TxnOffsetCommit without member, instance or generation (before
		// KIP-447, or a producer outside the group) is not checked, as in
		// Kafka's ConsumerGroup.validateOffsetCommit.
		if isTxn && generation == -1 && memberID == "" && instanceID == nil {
			return nil
		}
		// KIP-848: the generation field carries the member epoch.
		return cg.validateOffsetCommit(memberID, generation)
	}
	g := s.classic.groups[groupID]
	if g == nil {
		if generation < 0 {
			return nil
		}
		return kerr.IllegalGeneration
	}
	if err := g.validateOffsetCommit(memberID, instanceID, generation, isTxn); err != nil {
		return err
	}
	if m := g.members[memberID]; m != nil && !isTxn && (g.is(classicStable) || g.is(classicPreparingRebalance)) {
		s.scheduleSession(g.id, m.id, m.sessionTimeout())
	}
	return nil
}

func (g *classicGroup) validateOffsetCommit(memberID string, instanceID *string, generation int32, isTxn bool) *kerr.Error {
	if g.is(classicDead) {
		return kerr.CoordinatorNotAvailable
	}
	if generation < 0 && g.is(classicEmpty) {
		return nil
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if code := g.validateMember(memberID, instanceID); code != 0 {
			if code == kerr.FencedInstanceID.Code {
				return kerr.FencedInstanceID
			}
			return kerr.UnknownMemberID
		}
		if generation != g.generation {
			return kerr.IllegalGeneration
		}
	} else if !isTxn && !g.is(classicEmpty) {
		// Without a member and generation (OffsetCommit v0), commits
		// are accepted only while the group is Empty.
		return kerr.UnknownMemberID
	}
	if !isTxn && g.is(classicCompletingRebalance) {
		// The member has its generation but not yet its assignment.
		return kerr.RebalanceInProgress
	}
	return nil
}

// ensureSimpleGroup creates an Empty group without a protocol type for a
// group that only commits offsets (a "simple" group), if it does not
// exist. It is idempotent and safe during replay.
func (s *Shard) ensureSimpleGroup(groupID string) {
	if s.classic.groups[groupID] != nil || s.consumer.groups[groupID] != nil {
		return
	}
	g := newClassicGroup(groupID, classicEmpty, time.Time{})
	g.stateTimestamp = -1 // no time here; a simple group's offsets expire by commit time
	s.classic.groups[groupID] = g
}

// groupSubscribedTo reports whether a group consumes a topic, for
// OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC: known from its members'
// consumer-protocol subscriptions, else assumed for "consumer" groups.
func (s *Shard) groupSubscribedTo(groupID, topic string) bool {
	if cg := s.consumer.groups[groupID]; cg != nil {
		return cg.subscribedTo(topic)
	}
	g := s.classic.groups[groupID]
	if g == nil {
		return false
	}
	if g.subscriptionKnown {
		return g.subscribedTopics[topic]
	}
	return g.protocolType == consumerProtocolType
}

// groupState returns a group's state as Kafka names it ("Empty",
// "PreparingRebalance", "CompletingRebalance", "Stable"; for consumer
// groups "Empty", "Assigning", "Reconciling", "Stable").
func (s *Shard) groupState(groupID string) (state string, exists bool) {
	if cg := s.consumer.groups[groupID]; cg != nil {
		return cg.state().String(), true
	}
	g := s.classic.groups[groupID]
	if g == nil {
		return "", false
	}
	return g.state.String(), true
}
