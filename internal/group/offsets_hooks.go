package group

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coord"
)

// What committed offsets ask of the groups, beyond groupState,
// groupSubscribedTo, ensureSimpleGroup and validateOffsetCommit: thin
// adapters onto the classic side (classic_admin.go), the one place that
// knows protocol types and state timestamps. A consumer-protocol
// (KIP-848) side would answer here too.

// offsetExpiration is Kafka's Group.offsetExpirationCondition: whether
// the group's offsets may expire now, and from which base.
func (s *Shard) offsetExpiration(groupID string) (offsetExpiration, bool) {
	groupBase, expirable := s.classicOffsetExpiry(groupID)
	if groupBase < 0 {
		groupBase = noTimestamp
	}
	return offsetExpiration{groupBase: groupBase}, expirable
}

// validateOffsetDelete is Kafka's group lookup plus
// Group.validateOffsetDelete (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP).
func (s *Shard) validateOffsetDelete(groupID string) *kerr.Error {
	return s.classicValidateOffsetDelete(groupID)
}

// groupIDs lists every group of the shard for the expiry cycle (Kafka's
// groupMetadataManager.groupIds()), so that Empty groups without offsets
// are deleted too.
func (s *Shard) groupIDs() []string {
	return s.classicGroupIDs()
}

// maybeDeleteGroup is Kafka's GroupMetadataManager.maybeDeleteGroup, called
// by the expiry cycle once a group has no offsets left (their tombstones
// are in fx, not yet replayed): an Empty group is deleted with its
// GroupMetadata tombstone.
func (s *Shard) maybeDeleteGroup(fx *coord.Effects, groupID string) {
	s.deleteEmptyClassicGroup(fx, groupID)
}
