package group

// Records of consumer groups (KIP-848) with Kafka's schemas
// (group-coordinator/src/main/resources/common/message/ConsumerGroup*.json)
// and their replay (GroupMetadataManager.replay). kmsg has no types for
// them, so they are encoded here with kbin.
//
// Keys are not flexible: the key version (the record type) then strings as
// int16 length + bytes. Values are version 0 and flexible: compact strings
// (uvarint length+1), compact arrays (uvarint count+1, 0 for null), UUIDs as
// 16 bytes, and a tagged-field section (uvarint count, then tag, size,
// bytes) after every struct.
//
//	3 ConsumerGroupMetadata            key: group
//	  value: epoch int32 | tags {0: metadata_hash int64, 1: creation_time_ms int64}
//	4 ConsumerGroupPartitionMetadata   key: group (Kafka < 4.1; read, never written
//	  except as a tombstone)
//	5 ConsumerGroupMemberMetadata      key: group | member
//	  value: instance_id nullable | rack_id nullable | client_id | client_host |
//	         subscribed_topic_names []string | subscribed_topic_regex nullable |
//	         rebalance_timeout_ms int32 | server_assignor nullable |
//	         tags {0: classic member metadata (not produced here)}
//	6 ConsumerGroupTargetAssignmentMetadata  key: group
//	  value: assignment_epoch int32 | tags {0: assignment timestamp}
//	7 ConsumerGroupTargetAssignmentMember    key: group | member
//	  value: topic_partitions []{topic_id uuid | partitions []int32}
//	8 ConsumerGroupCurrentMemberAssignment   key: group | member
//	  value: member_epoch int32 | previous_member_epoch int32 | state int8 |
//	         assigned []{topic_id | partitions} | pending_revocation []{...}

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/sluice-io/sluice/internal/coord"
)

// Record types (key versions) of consumer groups.
const (
	consumerGroupMetadataType          = 3
	consumerGroupPartitionMetadataType = 4
	consumerMemberMetadataType         = 5
	consumerTargetMetadataType         = 6
	consumerTargetMemberType           = 7
	consumerCurrentAssignmentType      = 8
)

// errConsumerRecord marks a consumer-group record that does not decode.
var errConsumerRecord = errors.New("malformed consumer group record")

// consumerKey encodes a key: the record type, the group and, for member
// records, the member.
func consumerKey(recordType int16, groupID string, memberID ...string) []byte {
	key := kbin.AppendInt16(nil, recordType)
	key = kbin.AppendString(key, groupID)
	for _, m := range memberID {
		key = kbin.AppendString(key, m)
	}
	return key
}

// decodeConsumerKey reads a key's group and, with member, its member.
func decodeConsumerKey(data []byte, member bool) (groupID, memberID string, err error) {
	b := kbin.Reader{Src: data[2:]}
	groupID = b.String()
	if member {
		memberID = b.String()
	}
	if err := b.Complete(); err != nil {
		return "", "", fmt.Errorf("%w: key: %v", errConsumerRecord, err)
	}
	return groupID, memberID, nil
}

// valueHeader starts a version 0 value.
func valueHeader() []byte { return kbin.AppendInt16(nil, 0) }

// appendNoTags ends a flexible struct without tagged fields.
func appendNoTags(dst []byte) []byte { return kbin.AppendUvarint(dst, 0) }

// appendPartitionSet encodes a []TopicPartitions array.
func appendPartitionSet(dst []byte, ps partitionSet) []byte {
	topics := sortedTopicIDs(ps)
	dst = kbin.AppendCompactArrayLen(dst, len(topics))
	for _, topic := range topics {
		dst = kbin.AppendUuid(dst, topic)
		dst = kbin.AppendCompactArrayLen(dst, len(ps[topic]))
		for _, p := range ps[topic] {
			dst = kbin.AppendInt32(dst, p)
		}
		dst = appendNoTags(dst)
	}
	return dst
}

// readPartitionSet decodes a []TopicPartitions array (tagged fields of its
// elements, such as Kafka 4.3's assignment epochs, are skipped).
func readPartitionSet(b *kbin.Reader) partitionSet {
	ps := partitionSet{}
	n := b.CompactArrayLen()
	for range max(n, 0) {
		topic := b.Uuid()
		count := b.CompactArrayLen()
		for range max(count, 0) {
			ps.add(topic, b.Int32())
		}
		skipTags(b, nil)
		if !b.Ok() {
			break
		}
	}
	return ps
}

// skipTags reads a tagged-field section, handing each field's bytes to
// fn (if not nil).
func skipTags(b *kbin.Reader, fn func(tag uint32, data []byte)) {
	n := b.Uvarint()
	for i := uint32(0); i < n && b.Ok(); i++ {
		tag := b.Uvarint()
		data := b.Span(int(b.Uvarint()))
		if fn != nil && b.Ok() {
			fn(tag, data)
		}
	}
}

// groupEpochRecord is ConsumerGroupMetadata: the group epoch and the
// metadata hash it was computed with (newConsumerGroupEpochRecord).
func groupEpochRecord(groupID string, epoch int32, hash int64) coord.Record {
	v := kbin.AppendInt32(valueHeader(), epoch)
	if hash == 0 {
		v = appendNoTags(v)
	} else {
		v = kbin.AppendUvarint(v, 1)
		v = kbin.AppendUvarint(v, 0)
		v = kbin.AppendUvarint(v, 8)
		v = kbin.AppendInt64(v, hash)
	}
	return coord.Record{Key: consumerKey(consumerGroupMetadataType, groupID), Value: v}
}

// memberMetadataRecord is ConsumerGroupMemberMetadata.
func memberMetadataRecord(groupID string, m *consumerMember) coord.Record {
	v := valueHeader()
	v = kbin.AppendCompactNullableString(v, m.instanceID)
	v = kbin.AppendCompactNullableString(v, m.rackID)
	v = kbin.AppendCompactString(v, m.clientID)
	v = kbin.AppendCompactString(v, m.clientHost)
	v = kbin.AppendCompactArrayLen(v, len(m.topics))
	for _, t := range m.topics {
		v = kbin.AppendCompactString(v, t)
	}
	v = kbin.AppendCompactNullableString(v, m.topicRegex)
	v = kbin.AppendInt32(v, m.rebalanceTimeoutMs)
	v = kbin.AppendCompactNullableString(v, m.serverAssignor)
	v = appendNoTags(v)
	return coord.Record{Key: consumerKey(consumerMemberMetadataType, groupID, m.id), Value: v}
}

// targetMemberRecord is ConsumerGroupTargetAssignmentMember.
func targetMemberRecord(groupID, memberID string, target partitionSet) coord.Record {
	v := appendPartitionSet(valueHeader(), target)
	v = appendNoTags(v)
	return coord.Record{Key: consumerKey(consumerTargetMemberType, groupID, memberID), Value: v}
}

// targetEpochRecord is ConsumerGroupTargetAssignmentMetadata.
func targetEpochRecord(groupID string, epoch int32) coord.Record {
	v := kbin.AppendInt32(valueHeader(), epoch)
	v = appendNoTags(v)
	return coord.Record{Key: consumerKey(consumerTargetMetadataType, groupID), Value: v}
}

// currentAssignmentRecord is ConsumerGroupCurrentMemberAssignment.
func currentAssignmentRecord(groupID string, m *consumerMember) coord.Record {
	v := valueHeader()
	v = kbin.AppendInt32(v, m.epoch)
	v = kbin.AppendInt32(v, m.previousEpoch)
	v = kbin.AppendInt8(v, int8(m.state))
	v = appendPartitionSet(v, m.assigned)
	v = appendPartitionSet(v, m.revoking)
	v = appendNoTags(v)
	return coord.Record{Key: consumerKey(consumerCurrentAssignmentType, groupID, m.id), Value: v}
}

// memberTombstones remove a member, in Kafka's order: its current
// assignment, its target, then its subscription (removeMember).
func memberTombstones(groupID, memberID string) []coord.Record {
	return []coord.Record{
		{Key: consumerKey(consumerCurrentAssignmentType, groupID, memberID)},
		{Key: consumerKey(consumerTargetMemberType, groupID, memberID)},
		{Key: consumerKey(consumerMemberMetadataType, groupID, memberID)},
	}
}

// groupTombstones delete a consumer group with its members
// (ConsumerGroup.createGroupTombstoneRecords).
func groupTombstones(g *consumerGroup) []coord.Record {
	var records []coord.Record
	ids := g.memberIDs()
	for _, id := range ids {
		records = append(records, coord.Record{Key: consumerKey(consumerCurrentAssignmentType, g.id, id)})
	}
	for _, id := range ids {
		records = append(records, coord.Record{Key: consumerKey(consumerTargetMemberType, g.id, id)})
	}
	records = append(records, coord.Record{Key: consumerKey(consumerTargetMetadataType, g.id)})
	for _, id := range ids {
		records = append(records, coord.Record{Key: consumerKey(consumerMemberMetadataType, g.id, id)})
	}
	records = append(records,
		coord.Record{Key: consumerKey(consumerGroupPartitionMetadataType, g.id)},
		coord.Record{Key: consumerKey(consumerGroupMetadataType, g.id)})
	return records
}

// replayConsumer applies one consumer-group record (key version 3-8).
func (s *Shard) replayConsumer(recordType int16, r coord.Record) error {
	member := recordType == consumerMemberMetadataType || recordType == consumerTargetMemberType || recordType == consumerCurrentAssignmentType
	groupID, memberID, err := decodeConsumerKey(r.Key, member)
	if err != nil {
		return err
	}
	switch recordType {
	case consumerGroupMetadataType:
		return s.replayGroupEpoch(groupID, r.Value)
	case consumerGroupPartitionMetadataType:
		if r.Value != nil {
			s.persistedConsumerGroup(groupID)
		}
		return nil
	case consumerMemberMetadataType:
		return s.replayMemberMetadata(groupID, memberID, r.Value)
	case consumerTargetMetadataType:
		return s.replayTargetEpoch(groupID, r.Value)
	case consumerTargetMemberType:
		return s.replayTargetMember(groupID, memberID, r.Value)
	default:
		return s.replayCurrentAssignment(groupID, memberID, r.Value)
	}
}

// persistedConsumerGroup returns the consumer group a record names,
// creating it (getOrMaybeCreatePersistedConsumerGroup). A classic group of
// the same ID that has no members (a simple group holding offsets, or an
// Empty group whose tombstone the consumer group's first records follow)
// gives way to it.
func (s *Shard) persistedConsumerGroup(groupID string) *consumerGroup {
	if g := s.consumer.groups[groupID]; g != nil {
		return g
	}
	if classic := s.classic.groups[groupID]; classic != nil {
		if len(classic.members) > 0 {
			s.log.Warn("consumer group record for a classic group with members; replacing it", "group", groupID)
		}
		s.dropClassicGroup(classic)
	}
	g := newConsumerGroup(groupID)
	s.consumer.groups[groupID] = g
	return g
}

func (s *Shard) replayGroupEpoch(groupID string, value []byte) error {
	if value == nil {
		g := s.consumer.groups[groupID]
		if g == nil {
			return nil
		}
		if len(g.members) > 0 || len(g.target) > 0 {
			s.log.Warn("consumer group tombstone while it has members", "group", groupID, "members", len(g.members))
		}
		s.dropConsumerGroup(g)
		return nil
	}
	b := kbin.Reader{Src: value}
	if err := readValueVersion(&b); err != nil {
		return err
	}
	epoch := b.Int32()
	var hash int64
	skipTags(&b, func(tag uint32, data []byte) {
		if tag == 0 && len(data) == 8 {
			hash = int64(binary.BigEndian.Uint64(data))
		}
	})
	if err := b.Complete(); err != nil {
		return fmt.Errorf("%w: group %q epoch: %v", errConsumerRecord, groupID, err)
	}
	g := s.persistedConsumerGroup(groupID)
	g.epoch, g.metadataHash = epoch, hash
	return nil
}

// readValueVersion checks a value's version: 0 is the only one written;
// later versions of these flexible schemas only add tagged fields.
func readValueVersion(b *kbin.Reader) error {
	if version := b.Int16(); version < 0 {
		return fmt.Errorf("%w: value version %d", errConsumerRecord, version)
	}
	return nil
}

func (s *Shard) replayMemberMetadata(groupID, memberID string, value []byte) error {
	if value == nil {
		g := s.consumer.groups[groupID]
		if g == nil || g.members[memberID] == nil {
			return nil
		}
		if g.members[memberID].epoch != leaveEpoch || g.target[memberID] != nil {
			s.log.Warn("consumer member tombstone before its assignment tombstones", "group", groupID, "member", memberID)
		}
		g.removeMember(memberID)
		return nil
	}
	b := kbin.Reader{Src: value}
	if err := readValueVersion(&b); err != nil {
		return err
	}
	next := consumerMember{
		instanceID: b.CompactNullableString(),
		rackID:     b.CompactNullableString(),
		clientID:   b.CompactString(),
		clientHost: b.CompactString(),
	}
	for range max(b.CompactArrayLen(), 0) {
		next.topics = append(next.topics, b.CompactString())
	}
	next.topics = sortedDistinct(next.topics)
	next.topicRegex = b.CompactNullableString()
	next.rebalanceTimeoutMs = b.Int32()
	next.serverAssignor = b.CompactNullableString()
	skipTags(&b, nil)
	if err := b.Complete(); err != nil {
		return fmt.Errorf("%w: group %q member %q metadata: %v", errConsumerRecord, groupID, memberID, err)
	}
	g := s.persistedConsumerGroup(groupID)
	m := newConsumerMember(memberID)
	if old := g.members[memberID]; old != nil {
		m = old.clone()
		if old.instanceID != nil && !equalStringPtr(old.instanceID, next.instanceID) && g.staticMembers[*old.instanceID] == memberID {
			delete(g.staticMembers, *old.instanceID)
		}
	}
	m.instanceID, m.rackID = next.instanceID, next.rackID
	m.clientID, m.clientHost = next.clientID, next.clientHost
	m.topics, m.topicRegex = next.topics, next.topicRegex
	m.rebalanceTimeoutMs, m.serverAssignor = next.rebalanceTimeoutMs, next.serverAssignor
	g.putMember(m)
	return nil
}

func (s *Shard) replayTargetEpoch(groupID string, value []byte) error {
	if value == nil {
		if g := s.consumer.groups[groupID]; g != nil {
			g.assignmentEpoch = -1
		}
		return nil
	}
	b := kbin.Reader{Src: value}
	if err := readValueVersion(&b); err != nil {
		return err
	}
	epoch := b.Int32()
	skipTags(&b, nil)
	if err := b.Complete(); err != nil {
		return fmt.Errorf("%w: group %q target epoch: %v", errConsumerRecord, groupID, err)
	}
	s.persistedConsumerGroup(groupID).assignmentEpoch = epoch
	return nil
}

func (s *Shard) replayTargetMember(groupID, memberID string, value []byte) error {
	if value == nil {
		if g := s.consumer.groups[groupID]; g != nil {
			delete(g.target, memberID)
		}
		return nil
	}
	b := kbin.Reader{Src: value}
	if err := readValueVersion(&b); err != nil {
		return err
	}
	target := readPartitionSet(&b)
	skipTags(&b, nil)
	if err := b.Complete(); err != nil {
		return fmt.Errorf("%w: group %q member %q target: %v", errConsumerRecord, groupID, memberID, err)
	}
	s.persistedConsumerGroup(groupID).target[memberID] = target
	return nil
}

func (s *Shard) replayCurrentAssignment(groupID, memberID string, value []byte) error {
	if value == nil {
		g := s.consumer.groups[groupID]
		if g == nil || g.members[memberID] == nil {
			return nil
		}
		m := g.members[memberID].clone()
		m.epoch, m.previousEpoch = leaveEpoch, leaveEpoch
		m.assigned, m.revoking = partitionSet{}, partitionSet{}
		g.putMember(m)
		return nil
	}
	b := kbin.Reader{Src: value}
	if err := readValueVersion(&b); err != nil {
		return err
	}
	epoch, previous := b.Int32(), b.Int32()
	state := memberStateOf(b.Int8())
	assigned := readPartitionSet(&b)
	revoking := readPartitionSet(&b)
	skipTags(&b, nil)
	if err := b.Complete(); err != nil {
		return fmt.Errorf("%w: group %q member %q assignment: %v", errConsumerRecord, groupID, memberID, err)
	}
	g := s.persistedConsumerGroup(groupID)
	m := newConsumerMember(memberID)
	if old := g.members[memberID]; old != nil {
		m = old.clone()
	}
	m.epoch, m.previousEpoch, m.state = epoch, previous, state
	m.assigned, m.revoking = assigned, revoking
	g.putMember(m)
	return nil
}

// dropConsumerGroup removes a consumer group from the shard and stops
// its members' timers.
func (s *Shard) dropConsumerGroup(g *consumerGroup) {
	for id := range g.members {
		s.cancelConsumerTimers(g.id, id)
	}
	delete(s.consumer.groups, g.id)
}
