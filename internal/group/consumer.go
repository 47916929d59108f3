package group

// Consumer groups of the consumer rebalance protocol (KIP-848), after
// Kafka's ConsumerGroup, ConsumerGroupMember and ModernGroup.
//
// A consumer group lives entirely in records: its epoch (ConsumerGroupMetadata),
// each member's subscription (ConsumerGroupMemberMetadata), the target
// assignment the assignor computed (ConsumerGroupTargetAssignmentMember and
// ...Metadata) and each member's current assignment with its epoch and
// reconciliation state (ConsumerGroupCurrentMemberAssignment). Operations
// never change a consumer group in memory: they compute the records of the
// change, and replaying those records (now, or when the partition is loaded
// again) is what changes the group. So what a member was told is exactly
// what a new coordinator rebuilds. Soft state is limited to timers and the
// metadata image last checked against the group's metadata hash.
//
// Epochs: the group epoch moves when a subscription or the subscribed
// topics' metadata changes; the target assignment epoch catches up when
// the assignor has run for that epoch; each member's epoch catches up with
// the target epoch once it has revoked what the new target takes away
// (incremental, cooperative rebalancing: a partition is assigned to its new
// owner only after the previous owner stopped reporting it).

import (
	"maps"
	"slices"

	"github.com/sluice-io/sluice/internal/metadata"
)

// consumerGroupType is the group type ListGroups v5+ reports for these
// groups; their protocol type is "consumer" too.
const consumerGroupType = "consumer"

// Member epochs with a meaning (ConsumerGroupHeartbeatRequest).
const (
	// joinEpoch is sent by a member joining or rejoining.
	joinEpoch = 0
	// leaveEpoch is sent by a member leaving; tombstoned members have it.
	leaveEpoch = -1
	// staticLeaveEpoch is sent by a static member leaving temporarily:
	// it keeps its partitions until its session expires.
	staticLeaveEpoch = -2
)

// consumerGroupState is a consumer group's state as ListGroups and
// ConsumerGroupDescribe report it (ConsumerGroup.ConsumerGroupState).
type consumerGroupState int8

const (
	consumerEmpty consumerGroupState = iota
	consumerAssigning
	consumerReconciling
	consumerStable
)

func (st consumerGroupState) String() string {
	switch st {
	case consumerEmpty:
		return "Empty"
	case consumerAssigning:
		return "Assigning"
	case consumerReconciling:
		return "Reconciling"
	default:
		return "Stable"
	}
}

// memberState is where a member is in reconciling its assignment with
// the target (MemberState); the values are those of the record.
type memberState int8

const (
	// memberStable: the member owns exactly its target at the target epoch.
	memberStable memberState = 0
	// memberUnrevokedPartitions: the member must revoke partitions before
	// moving to the next epoch.
	memberUnrevokedPartitions memberState = 1
	// memberUnreleasedPartitions: the member is at the target epoch but
	// waits for partitions their previous owners still hold.
	memberUnreleasedPartitions memberState = 2
	// memberUnknown is a state a later version wrote.
	memberUnknown memberState = 127
)

func memberStateOf(v int8) memberState {
	switch st := memberState(v); st {
	case memberStable, memberUnrevokedPartitions, memberUnreleasedPartitions:
		return st
	}
	return memberUnknown
}

// partitionSet maps topic IDs to sorted, distinct partitions. Empty topics
// are not kept, so two equal sets compare equal with equal.
type partitionSet map[[16]byte][]int32

// contains reports whether the set holds the partition.
func (ps partitionSet) contains(topic [16]byte, partition int32) bool {
	_, found := slices.BinarySearch(ps[topic], partition)
	return found
}

// add puts a partition in the set.
func (ps partitionSet) add(topic [16]byte, partition int32) {
	partitions := ps[topic]
	i, found := slices.BinarySearch(partitions, partition)
	if !found {
		ps[topic] = slices.Insert(partitions, i, partition)
	}
}

// remove takes a partition out of the set.
func (ps partitionSet) remove(topic [16]byte, partition int32) {
	partitions := ps[topic]
	i, found := slices.BinarySearch(partitions, partition)
	if !found {
		return
	}
	partitions = slices.Delete(partitions, i, i+1)
	if len(partitions) == 0 {
		delete(ps, topic)
		return
	}
	ps[topic] = partitions
}

// size counts the partitions of the set.
func (ps partitionSet) size() int {
	n := 0
	for _, partitions := range ps {
		n += len(partitions)
	}
	return n
}

// equal reports whether two sets hold the same partitions.
func (ps partitionSet) equal(other partitionSet) bool {
	return maps.EqualFunc(ps, other, slices.Equal)
}

// clone copies the set.
func (ps partitionSet) clone() partitionSet {
	out := make(partitionSet, len(ps))
	for topic, partitions := range ps {
		out[topic] = slices.Clone(partitions)
	}
	return out
}

// each calls fn for every partition, topics in ID order.
func (ps partitionSet) each(fn func(topic [16]byte, partition int32)) {
	for _, topic := range sortedTopicIDs(ps) {
		for _, partition := range ps[topic] {
			fn(topic, partition)
		}
	}
}

// newPartitionSet builds a set from unsorted partitions, dropping
// duplicates and empty topics.
func newPartitionSet(topics map[[16]byte][]int32) partitionSet {
	ps := partitionSet{}
	for topic, partitions := range topics {
		for _, p := range partitions {
			ps.add(topic, p)
		}
	}
	return ps
}

// sortedTopicIDs returns a set's topic IDs in byte order.
func sortedTopicIDs[V any](m map[[16]byte]V) [][16]byte {
	ids := slices.Collect(maps.Keys(m))
	slices.SortFunc(ids, func(a, b [16]byte) int { return compareIDs(a, b) })
	return ids
}

func compareIDs(a, b [16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// consumerMember is one member of a consumer group (ConsumerGroupMember):
// its subscription from ConsumerGroupMemberMetadata and its assignment
// from ConsumerGroupCurrentMemberAssignment.
type consumerMember struct {
	id         string
	instanceID *string
	rackID     *string
	clientID   string
	clientHost string
	// topics is the sorted list of subscribed topic names.
	topics             []string
	topicRegex         *string
	rebalanceTimeoutMs int32
	serverAssignor     *string

	epoch         int32
	previousEpoch int32
	state         memberState
	assigned      partitionSet
	revoking      partitionSet
}

// newConsumerMember is a member before its first record: epoch 0, Stable,
// nothing assigned (ConsumerGroupMember.Builder defaults).
func newConsumerMember(id string) *consumerMember {
	return &consumerMember{id: id, rebalanceTimeoutMs: -1, assigned: partitionSet{}, revoking: partitionSet{}}
}

// clone copies a member so an operation can change the copy.
func (m *consumerMember) clone() *consumerMember {
	c := *m
	c.topics = slices.Clone(m.topics)
	c.assigned = m.assigned.clone()
	c.revoking = m.revoking.clone()
	return &c
}

// sameSubscription reports whether the ConsumerGroupMemberMetadata of two
// members would be the same record.
func (m *consumerMember) sameSubscription(other *consumerMember) bool {
	return m.id == other.id &&
		equalStringPtr(m.instanceID, other.instanceID) &&
		equalStringPtr(m.rackID, other.rackID) &&
		m.clientID == other.clientID &&
		m.clientHost == other.clientHost &&
		slices.Equal(m.topics, other.topics) &&
		equalStringPtr(m.topicRegex, other.topicRegex) &&
		m.rebalanceTimeoutMs == other.rebalanceTimeoutMs &&
		equalStringPtr(m.serverAssignor, other.serverAssignor)
}

// sameAssignment reports whether the ConsumerGroupCurrentMemberAssignment
// of two members would be the same record.
func (m *consumerMember) sameAssignment(other *consumerMember) bool {
	return m.epoch == other.epoch &&
		m.previousEpoch == other.previousEpoch &&
		m.state == other.state &&
		m.assigned.equal(other.assigned) &&
		m.revoking.equal(other.revoking)
}

// reconciledTo reports whether the member owns its target at epoch
// (ModernGroupMember.isReconciledTo).
func (m *consumerMember) reconciledTo(epoch int32) bool {
	return m.state == memberStable && m.epoch == epoch
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// consumerGroup is one consumer group as its records describe it.
type consumerGroup struct {
	id string
	// epoch is the group epoch; 0 for a group not yet written.
	epoch int32
	// metadataHash summarises the subscribed topics' metadata when the
	// epoch was last bumped (KIP-1101).
	metadataHash int64
	// assignmentEpoch is the epoch of the target assignment; -1 once its
	// record was tombstoned.
	assignmentEpoch int32
	members         map[string]*consumerMember
	// staticMembers maps instance IDs to member IDs.
	staticMembers map[string]string
	// target is each member's target assignment.
	target map[string]partitionSet
	// partitionEpochs holds, for every partition a member owns or is
	// revoking, the epoch of that member: a partition with an epoch is
	// not free for another member yet.
	partitionEpochs map[[16]byte]map[int32]int32

	// checkedImage and checkedEpoch are soft state: the metadata image
	// last hashed against the group's subscriptions while the group was at
	// checkedEpoch, so a heartbeat with the same image need not hash again.
	// A failed write leaves the epoch behind checkedEpoch, which forces a
	// new check.
	checkedImage *metadata.Image
	checkedEpoch int32
}

func newConsumerGroup(id string) *consumerGroup {
	return &consumerGroup{
		id:              id,
		members:         map[string]*consumerMember{},
		staticMembers:   map[string]string{},
		target:          map[string]partitionSet{},
		partitionEpochs: map[[16]byte]map[int32]int32{},
	}
}

// state derives the group's state (ConsumerGroup.maybeUpdateGroupState).
func (g *consumerGroup) state() consumerGroupState {
	switch {
	case len(g.members) == 0:
		return consumerEmpty
	case g.epoch > g.assignmentEpoch:
		return consumerAssigning
	}
	for _, m := range g.members {
		if !m.reconciledTo(g.assignmentEpoch) {
			return consumerReconciling
		}
	}
	return consumerStable
}

// memberIDs returns the member IDs in order.
func (g *consumerGroup) memberIDs() []string {
	return slices.Sorted(maps.Keys(g.members))
}

// staticMember returns the member holding an instance ID, nil if none.
func (g *consumerGroup) staticMember(instanceID string) *consumerMember {
	id, ok := g.staticMembers[instanceID]
	if !ok {
		return nil
	}
	return g.members[id]
}

// targetOf returns a member's target assignment (empty if none).
func (g *consumerGroup) targetOf(memberID string) partitionSet {
	if t := g.target[memberID]; t != nil {
		return t
	}
	return partitionSet{}
}

// partitionEpoch returns the epoch of the member owning a partition, -1
// if the partition is free (ModernGroup.currentPartitionEpoch).
func (g *consumerGroup) partitionEpoch(topic [16]byte, partition int32) int32 {
	if epoch, ok := g.partitionEpochs[topic][partition]; ok {
		return epoch
	}
	return -1
}

// subscribedTopicNames counts the members subscribed to each topic name.
func (g *consumerGroup) subscribedTopicNames() map[string]int {
	counts := map[string]int{}
	for _, m := range g.members {
		for _, t := range m.topics {
			counts[t]++
		}
	}
	return counts
}

// subscribedTo reports whether a member subscribes to the topic.
func (g *consumerGroup) subscribedTo(topic string) bool {
	for _, m := range g.members {
		if _, found := slices.BinarySearch(m.topics, topic); found {
			return true
		}
	}
	return false
}

// putMember stores a member and keeps the static-member index and the
// partition epochs in step (ConsumerGroup.updateMember).
func (g *consumerGroup) putMember(m *consumerMember) {
	if old := g.members[m.id]; old != nil {
		g.removePartitionEpochs(old)
	}
	g.members[m.id] = m
	if m.instanceID != nil {
		g.staticMembers[*m.instanceID] = m.id
	}
	g.addPartitionEpochs(m)
}

// removeMember drops a member (ConsumerGroup.removeMember).
func (g *consumerGroup) removeMember(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	g.removePartitionEpochs(m)
	delete(g.members, id)
	if m.instanceID != nil && g.staticMembers[*m.instanceID] == id {
		delete(g.staticMembers, *m.instanceID)
	}
}

func (g *consumerGroup) addPartitionEpochs(m *consumerMember) {
	for _, ps := range []partitionSet{m.assigned, m.revoking} {
		ps.each(func(topic [16]byte, partition int32) {
			epochs := g.partitionEpochs[topic]
			if epochs == nil {
				epochs = map[int32]int32{}
				g.partitionEpochs[topic] = epochs
			}
			epochs[partition] = m.epoch
		})
	}
}

// removePartitionEpochs frees the partitions a member held, unless a
// record already gave them to another member at another epoch.
func (g *consumerGroup) removePartitionEpochs(m *consumerMember) {
	for _, ps := range []partitionSet{m.assigned, m.revoking} {
		ps.each(func(topic [16]byte, partition int32) {
			epochs := g.partitionEpochs[topic]
			if epoch, ok := epochs[partition]; ok && epoch == m.epoch {
				delete(epochs, partition)
			}
			if len(epochs) == 0 {
				delete(g.partitionEpochs, topic)
			}
		})
	}
}

// consumerState holds the consumer groups of a shard.
type consumerState struct {
	groups map[string]*consumerGroup
	// image is the metadata image the last heartbeat brought: timers
	// (session expiry) use it to hash the subscribed topics.
	image *metadata.Image
}

func (c *consumerState) init() {
	c.groups = map[string]*consumerGroup{}
}

// consumerGroupIDs returns the IDs of the shard's consumer groups, sorted.
func (s *Shard) consumerGroupIDs() []string {
	return slices.Sorted(maps.Keys(s.consumer.groups))
}
