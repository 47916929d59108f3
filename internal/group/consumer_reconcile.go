package group

// Member reconciliation, after Kafka's CurrentAssignmentBuilder: given a
// member, the target assignment and its epoch, and what the member said it
// owns, the next state of the member.
//
//	STABLE ──target epoch moved──▶ compute next
//	UNREVOKED_PARTITIONS ──member stopped reporting the revoked ones──▶ compute next
//	UNRELEASED_PARTITIONS ──every heartbeat──▶ compute next
//
// Computing the next state: the member keeps assigned ∩ target; what it
// loses must be revoked first (UNREVOKED_PARTITIONS, member epoch kept);
// otherwise it moves to the target epoch and gets the target partitions
// no other member still holds (UNRELEASED_PARTITIONS while some are held,
// else STABLE). A partition thus never has two owners.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reconcile returns the member's next state (a new member, or m itself if
// nothing changes). owned is what the heartbeat reported, nil if it did
// not say. fenced is true when the member is in a state this version does
// not know and still owns partitions: it must rejoin.
func (g *consumerGroup) reconcile(m *consumerMember, targetEpoch int32, target partitionSet, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) (next *consumerMember, fenced bool) {
	switch m.state {
	case memberStable:
		if m.epoch == targetEpoch {
			return m, false
		}
		return g.nextAssignment(m, m.epoch, targetEpoch, target), false
	case memberUnrevokedPartitions:
		if ownsAny(owned, m.revoking) {
			return m, false
		}
		return g.nextAssignment(m, m.epoch, targetEpoch, target), false
	case memberUnreleasedPartitions:
		return g.nextAssignment(m, m.epoch, targetEpoch, target), false
	default:
		if owned == nil || len(owned) > 0 {
			return m, true
		}
		return g.nextAssignment(m, targetEpoch, targetEpoch, target), false
	}
}

// ownsAny reports whether the member still reports one of the partitions;
// a heartbeat that did not say what it owns is taken to own them all.
func ownsAny(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, ps partitionSet) bool {
	if owned == nil {
		return true
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if ps.contains(t.TopicID, p) {
				return true
			}
		}
	}
	return false
}

// nextAssignment is CurrentAssignmentBuilder.computeNextAssignment.
func (g *consumerGroup) nextAssignment(m *consumerMember, memberEpoch, targetEpoch int32, target partitionSet) *consumerMember {
	assigned, revoking, pending := partitionSet{}, partitionSet{}, partitionSet{}
	unreleased := false
	topics := map[[16]byte]bool{}
	for t := range target {
		topics[t] = true
	}
	for t := range m.assigned {
		topics[t] = true
	}
	for _, topic := range sortedTopicIDs(topics) {
		for _, p := range m.assigned[topic] {
			if target.contains(topic, p) {
				assigned.add(topic, p)
			} else {
				revoking.add(topic, p)
			}
		}
		for _, p := range target[topic] {
			if assigned.contains(topic, p) {
				continue
			}
			if g.partitionEpoch(topic, p) != -1 && !m.revoking.contains(topic, p) {
				unreleased = true
				continue
			}
			pending.add(topic, p)
		}
	}
	next := m.clone()
	next.assigned = assigned
	switch {
	case len(revoking) > 0:
		next.state, next.revoking = memberUnrevokedPartitions, revoking
		next.setEpoch(memberEpoch)
	default:
		pending.each(assigned.add)
		next.state, next.revoking = memberStable, partitionSet{}
		if unreleased {
			next.state = memberUnreleasedPartitions
		}
		next.setEpoch(targetEpoch)
	}
	return next
}

// setEpoch moves the member to epoch, remembering the one it had (even
// when they are equal, as ConsumerGroupMember.Builder.updateMemberEpoch).
func (m *consumerMember) setEpoch(epoch int32) {
	m.previousEpoch, m.epoch = m.epoch, epoch
}
