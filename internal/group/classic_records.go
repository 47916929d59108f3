package group

// GroupMetadata records of classic groups: writing them (Kafka's
// GroupCoordinatorRecordHelpers.newGroupMetadataRecord,
// newEmptyGroupMetadataRecord, newGroupMetadataTombstoneRecord), replaying
// them at load (GroupMetadataManager.replay) and restarting member
// sessions once loaded (onLoaded).
//
// Key (version 2) and value (version 3, as Kafka 4 writes it), big-endian,
// strings as int16 length + bytes, nullable strings with length -1 for
// null, bytes as int32 length + bytes:
//
//	key:   version int16 (=2) | group string
//	value: version int16 (=3) | protocol_type string | generation int32 |
//	       protocol nullable string | leader nullable string |
//	       current_state_timestamp int64 | members int32 count, each:
//	         member_id string | group_instance_id nullable string |
//	         client_id string | client_host string |
//	         rebalance_timeout int32 | session_timeout int32 |
//	         subscription bytes | assignment bytes

import (
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// groupMetadataKeyVersion and groupMetadataValueVersion are the record
// versions Kafka 4 writes for classic groups.
const (
	groupMetadataKeyVersion   = 2
	groupMetadataValueVersion = 3
)

func groupMetadataKey(groupID string) []byte {
	key := kmsg.NewGroupMetadataKey()
	key.Version = groupMetadataKeyVersion
	key.Group = groupID
	return key.AppendTo(nil)
}

// writeGroupMetadata appends the group's record with its members and the
// given assignments (a member missing from assignment is written with an
// empty one).
func (s *Shard) writeGroupMetadata(fx *coord.Effects, g *classicGroup, assignment map[string][]byte) {
	value := kmsg.NewGroupMetadataValue()
	value.Version = groupMetadataValueVersion
	value.ProtocolType = g.protocolType
	value.Generation = g.generation
	value.Protocol = g.protocolName
	if g.leader != "" {
		value.Leader = kmsg.StringPtr(g.leader)
	}
	value.CurrentStateTimestamp = g.stateTimestamp
	for _, id := range g.order {
		m := g.members[id]
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = id
		mv.InstanceID = m.instanceID
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = m.rebalanceTimeoutMs
		mv.SessionTimeoutMillis = m.sessionTimeoutMs
		mv.Subscription = nonNil(m.metadata(g.protocolNameOrEmpty()))
		mv.Assignment = nonNil(assignment[id])
		value.Members = append(value.Members, mv)
	}
	fx.Append(coord.Record{Key: groupMetadataKey(g.id), Value: value.AppendTo(nil)})
}

// emptyGroupRecord is the record of a group just created by a join: no
// protocol, generation 0, no members.
func emptyGroupRecord(g *classicGroup) coord.Record {
	value := kmsg.NewGroupMetadataValue()
	value.Version = groupMetadataValueVersion
	value.CurrentStateTimestamp = g.stateTimestamp
	return coord.Record{Key: groupMetadataKey(g.id), Value: value.AppendTo(nil)}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// replayGroupMetadata applies a GroupMetadata record (a nil value is a
// tombstone). While the partition loads, the record replaces the group:
// Stable with its members, or Empty. Once loaded, the shard's own records
// describe what its operations already hold in memory, so they are not
// applied again.
func (s *Shard) replayGroupMetadata(key *kmsg.GroupMetadataKey, value *kmsg.GroupMetadataValue) {
	if s.classic.live {
		return
	}
	if value == nil {
		delete(s.classic.groups, key.Group)
		return
	}
	s.classic.groups[key.Group] = s.loadClassicGroup(key.Group, value)
}

// loadClassicGroup rebuilds a group from its record. A member repeated in
// the record (by member or instance ID) is loaded once, and a leader that
// is not a member is replaced by the first member: Kafka never writes
// either, and the group must stay consistent whatever the log holds.
func (s *Shard) loadClassicGroup(groupID string, value *kmsg.GroupMetadataValue) *classicGroup {
	state := classicStable
	if len(value.Members) == 0 {
		state = classicEmpty
	}
	g := &classicGroup{
		id:             groupID,
		state:          state,
		previousState:  classicDead,
		stateTimestamp: value.CurrentStateTimestamp,
		protocolType:   value.ProtocolType,
		protocolName:   cloneStringPtr(value.Protocol),
		generation:     value.Generation,
		members:        map[string]*classicMember{},
		staticMembers:  map[string]string{},
		pendingJoin:    map[string]bool{},
		pendingSync:    map[string]bool{},
		supported:      map[string]int{},
	}
	if value.Leader != nil {
		g.leader = *value.Leader
	}
	protocol := g.protocolNameOrEmpty()
	for _, mv := range value.Members {
		if g.members[mv.MemberID] != nil || (mv.InstanceID != nil && g.staticMembers[*mv.InstanceID] != "") {
			s.log.Warn("skipping repeated member in group record", "group", groupID, "member", mv.MemberID)
			continue
		}
		rebalance := mv.RebalanceTimeoutMillis
		if rebalance == -1 {
			rebalance = mv.SessionTimeoutMillis
		}
		g.add(&classicMember{
			id:                 mv.MemberID,
			instanceID:         cloneStringPtr(mv.InstanceID),
			clientID:           mv.ClientID,
			clientHost:         mv.ClientHost,
			rebalanceTimeoutMs: rebalance,
			sessionTimeoutMs:   mv.SessionTimeoutMillis,
			protocolType:       value.ProtocolType,
			protocols:          []kmsg.JoinGroupRequestProtocol{{Name: protocol, Metadata: slices.Clone(mv.Subscription)}},
			assignment:         slices.Clone(mv.Assignment),
		}, nil)
	}
	if g.members[g.leader] == nil {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	g.computeSubscribedTopics()
	return g
}

// classicLoaded runs once the partition is replayed: every loaded member
// gets one session timeout to heartbeat, and a group larger than
// group.max.size (lowered since it was written) rebalances so that the
// extra members are turned away.
func (s *Shard) classicLoaded(fx *coord.Effects) {
	s.classic.live = true
	ids := make([]string, 0, len(s.classic.groups))
	for id := range s.classic.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := s.classic.groups[id]
		s.log.Debug("loaded classic group", "group", id, "members", len(g.members), "generation", g.generation)
		for _, memberID := range g.order {
			s.scheduleSession(id, memberID, g.members[memberID].sessionTimeout())
		}
		if len(g.members) > s.maxSize() {
			s.prepareRebalance(fx, g, "loaded group is over group.max.size", "members", len(g.members))
		}
	}
}

// dropClassicGroup removes a group from the shard (DeleteGroups, or a
// new group whose creation could not be written) and stops its timers.
func (s *Shard) dropClassicGroup(g *classicGroup) {
	g.previousState, g.state = g.state, classicDead
	s.timers.Cancel(classicJoinKey(g.id))
	s.timers.Cancel(classicSyncKey(g.id))
	s.timers.Cancel(classicRetryKey(g.id))
	for id := range g.pendingJoin {
		s.timers.Cancel(classicSessionKey(g.id, id))
	}
	for _, id := range slices.Clone(g.order) {
		s.timers.Cancel(classicSessionKey(g.id, id))
		g.remove(id)
	}
	delete(s.classic.groups, g.id)
}
