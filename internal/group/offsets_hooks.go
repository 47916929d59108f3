package group

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coord"
)

// What committed offsets need to know of groups beyond the classic side's
// groupState, groupSubscribedTo, ensureSimpleGroup and
// validateOffsetCommit. These are provisional bodies built on groupState:
// each belongs with the classic group state machine, which knows the
// protocol type and state timestamps they need.

// offsetExpiration is Kafka's Group.offsetExpirationCondition: whether the
// group's offsets may expire now, and from which base. For a classic group
// Kafka answers: no protocol type (a simple group) → yes, from each commit;
// Empty → yes, from the group's currentStateTimestamp if it has one, else
// from each commit; otherwise → no. A group that does not exist but has
// offsets (only possible before replay created its simple group) expires
// from each commit.
//
// TODO(classic): answer from the group itself; this body cannot see the
// protocol type or the currentStateTimestamp, so an Empty group's offsets
// count from their commits.
func (s *Shard) offsetExpiration(groupID string) (offsetExpiration, bool) {
	state, exists := s.groupState(groupID)
	if !exists || state == "Empty" {
		return offsetExpiration{groupBase: noTimestamp}, true
	}
	return offsetExpiration{}, false
}

// validateOffsetDelete is Kafka's group lookup plus
// ClassicGroup.validateOffsetDelete: an unknown or Dead group is
// GROUP_ID_NOT_FOUND; a Stable, PreparingRebalance or CompletingRebalance
// group whose protocol type is not "consumer" is NON_EMPTY_GROUP (a
// consumer group's subscribed topics are refused per partition instead).
//
// TODO(classic): answer NON_EMPTY_GROUP for active non-"consumer" groups;
// this body cannot see the protocol type.
func (s *Shard) validateOffsetDelete(groupID string) *kerr.Error {
	state, exists := s.groupState(groupID)
	if !exists || state == "Dead" {
		return kerr.GroupIDNotFound
	}
	return nil
}

// groupIDs lists every group of the shard, for the expiry cycle (Kafka's
// groupMetadataManager.groupIds()): Empty groups without offsets are
// deleted by it too.
//
// TODO(classic): list the classic groups; until then the expiry cycle
// sees only groups with offsets.
func (s *Shard) groupIDs() []string {
	return nil
}

// maybeDeleteGroup is Kafka's GroupMetadataManager.maybeDeleteGroup, called
// by the expiry cycle once a group has no offsets left (their tombstones
// are in fx, not yet replayed): if the group is Empty it appends the
// group's GroupMetadata tombstone.
//
// TODO(classic): delete Empty groups; until then they stay.
func (s *Shard) maybeDeleteGroup(fx *coord.Effects, groupID string) {
	_, _ = fx, groupID
}
