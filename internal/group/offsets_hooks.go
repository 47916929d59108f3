package group

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coord"
)

// What committed offsets ask of the groups, beyond groupState,
// groupSubscribedTo, ensureSimpleGroup and validateOffsetCommit: thin
// adapters onto the classic side (classic_admin.go), the one place that
// knows protocol types and state timestamps, and the consumer-protocol
// (KIP-848) side (consumer_admin.go).

// offsetExpiration is Kafka's Group.offsetExpirationCondition: whether
// the group's offsets may expire now, and from which base.
func (s *Shard) offsetExpiration(groupID string) (offsetExpiration, bool) {
	if s.consumer.groups[groupID] != nil {
		// ConsumerGroup: each offset expires from its own commit.
		return offsetExpiration{groupBase: noTimestamp}, true
	}
	groupBase, expirable := s.classicOffsetExpiry(groupID)
	if groupBase < 0 {
		groupBase = noTimestamp
	}
	return offsetExpiration{groupBase: groupBase}, expirable
}

// validateOffsetDelete is Kafka's group lookup plus
// Group.validateOffsetDelete (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP).
func (s *Shard) validateOffsetDelete(groupID string) *kerr.Error {
	if s.consumer.groups[groupID] != nil {
		return nil // ConsumerGroup.validateOffsetDelete accepts
	}
	return s.classicValidateOffsetDelete(groupID)
}

// groupIDs lists every group of the shard for the expiry cycle (Kafka's
// groupMetadataManager.groupIds()), so that Empty groups without offsets
// are deleted too.
func (s *Shard) groupIDs() []string {
	return append(s.classicGroupIDs(), s.consumerGroupIDs()...)
}

// maybeDeleteGroup is Kafka's GroupMetadataManager.maybeDeleteGroup, called
// by the expiry cycle once a group has no offsets left (their tombstones
// are in fx, not yet replayed): an Empty group is deleted with its
// GroupMetadata tombstone.
func (s *Shard) maybeDeleteGroup(fx *coord.Effects, groupID string) {
	if s.maybeDeleteEmptyConsumerGroup(fx, groupID) {
		return
	}
	s.deleteEmptyClassicGroup(fx, groupID)
}
