package group

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/sluice-io/sluice/internal/coord"
)

// Replay of the records a shard wrote rebuilds its consumer groups
// exactly: members with their subscriptions, epochs, states and
// assignments, targets and the partition epochs derived from them.
func TestConsumer848ReplayRebuildsGroups(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 6, "payments", 3)
	instance := "host-1"
	a := h.consumerClient("g", "a", img, "orders", "payments")
	a.instanceID = &instance
	b := h.consumerClient("g", "b", img, "orders")
	c := h.consumerClient("g", "c", img, "payments")
	settle(t, 10, a, b, c)
	c.epoch = leaveEpoch
	c.mustHeartbeat()
	d := h.consumerClient("g", "d", img, "orders")
	d.mustHeartbeat() // mid-rebalance: d waits for partitions others hold
	h.consumerClient("other", "x", img, "payments").mustHeartbeat()

	loaded := newClassicHarnessWith(t, consumerTestConfig(), h.written...)
	for _, id := range []string{"g", "other"} {
		assertSameConsumerGroup(t, h.consumerGroup(id), loaded.consumerGroup(id))
	}
	if loaded.consumerGroup("g").state() == consumerStable {
		t.Fatal("the reloaded group lost its rebalance in progress")
	}
	// After the load every member's session runs again: silence fences
	// them all, and the group is left Empty.
	loaded.advance(46 * time.Second)
	if g := loaded.consumerGroup("g"); len(g.members) != 0 || g.state() != consumerEmpty {
		t.Fatalf("after a session timeout with no heartbeat: %d members, state %s", len(g.members), g.state())
	}
}

func assertSameConsumerGroup(t *testing.T, want, got *consumerGroup) {
	t.Helper()
	if got == nil {
		t.Fatalf("group %s not rebuilt", want.id)
	}
	if got.epoch != want.epoch || got.metadataHash != want.metadataHash || got.assignmentEpoch != want.assignmentEpoch {
		t.Fatalf("group %s: epoch %d/%d hash %d/%d assignment epoch %d/%d", want.id, got.epoch, want.epoch, got.metadataHash, want.metadataHash, got.assignmentEpoch, want.assignmentEpoch)
	}
	if !slices.Equal(got.memberIDs(), want.memberIDs()) || !maps.Equal(got.staticMembers, want.staticMembers) {
		t.Fatalf("group %s: members %v (static %v), want %v (static %v)", want.id, got.memberIDs(), got.staticMembers, want.memberIDs(), want.staticMembers)
	}
	for id, wm := range want.members {
		gm := got.members[id]
		if !gm.sameSubscription(wm) || !gm.sameAssignment(wm) {
			t.Fatalf("group %s member %s: got %+v, want %+v", want.id, id, gm, wm)
		}
	}
	if !maps.EqualFunc(got.target, want.target, partitionSet.equal) {
		t.Fatalf("group %s: targets %v, want %v", want.id, got.target, want.target)
	}
	if !maps.EqualFunc(got.partitionEpochs, want.partitionEpochs, maps.Equal) {
		t.Fatalf("group %s: partition epochs %v, want %v", want.id, got.partitionEpochs, want.partitionEpochs)
	}
}

// The records have Kafka's layouts: spot-check the bytes of the smallest
// ones, including the tagged metadata hash.
func TestConsumer848RecordBytes(t *testing.T) {
	r := groupEpochRecord("g", 7, 0x0102030405060708)
	wantKey := []byte{0, 3, 0, 1, 'g'}
	wantValue := []byte{0, 0, 0, 0, 0, 7, 1, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}
	if !slices.Equal(r.Key, wantKey) || !slices.Equal(r.Value, wantValue) {
		t.Fatalf("ConsumerGroupMetadata: key %v value %v", r.Key, r.Value)
	}
	r = targetEpochRecord("g", 3)
	if !slices.Equal(r.Key, []byte{0, 6, 0, 1, 'g'}) || !slices.Equal(r.Value, []byte{0, 0, 0, 0, 0, 3, 0}) {
		t.Fatalf("ConsumerGroupTargetAssignmentMetadata: key %v value %v", r.Key, r.Value)
	}
	r = targetMemberRecord("g", "m", partitionSet{topicID(1): {0, 2}})
	id := topicID(1)
	value := append([]byte{0, 0, 2}, id[:]...)
	value = append(value, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0)
	if !slices.Equal(r.Key, []byte{0, 7, 0, 1, 'g', 0, 1, 'm'}) || !slices.Equal(r.Value, value) {
		t.Fatalf("ConsumerGroupTargetAssignmentMember: key %v value %v", r.Key, r.Value)
	}
}

// Records written by Kafka carry tagged fields this version does not
// know (4.3's assignment epochs, a creation time): they are skipped.
func TestConsumer848ReplaySkipsUnknownTags(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	v := kbin.AppendInt16(nil, 0)
	v = kbin.AppendInt32(v, 4)
	v = kbin.AppendInt32(v, 3)
	v = kbin.AppendInt8(v, int8(memberStable))
	v = kbin.AppendCompactArrayLen(v, 1)
	v = kbin.AppendUuid(v, topicID(1))
	v = kbin.AppendCompactArrayLen(v, 1)
	v = kbin.AppendInt32(v, 5)
	v = kbin.AppendUvarint(v, 1) // one tagged field: assignment epochs
	v = kbin.AppendUvarint(v, 0)
	v = kbin.AppendUvarint(v, 5)
	v = kbin.AppendCompactArrayLen(v, 1)
	v = kbin.AppendInt32(v, 4)
	v = kbin.AppendCompactArrayLen(v, 0)
	v = kbin.AppendUvarint(v, 1) // a tag of the value
	v = kbin.AppendUvarint(v, 9)
	v = kbin.AppendUvarint(v, 2)
	v = append(v, 0xFF, 0xFF)
	if err := h.shard.Replay(coord.Record{Key: consumerKey(consumerCurrentAssignmentType, "g", "m"), Value: v}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	m := h.consumerGroup("g").members["m"]
	if m.epoch != 4 || m.previousEpoch != 3 || !m.assigned.equal(partitionSet{topicID(1): {5}}) {
		t.Fatalf("member %+v", m)
	}
}

// Malformed records are refused with an error, never a panic.
func TestConsumer848ReplayRefusesMalformedRecords(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	cases := []coord.Record{
		{Key: []byte{0, 3, 0, 9, 'g'}},
		{Key: consumerKey(consumerGroupMetadataType, "g"), Value: []byte{0, 0, 0}},
		{Key: consumerKey(consumerMemberMetadataType, "g", "m"), Value: []byte{0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}},
		{Key: consumerKey(consumerTargetMemberType, "g", "m"), Value: []byte{0, 0, 0x7F}},
		{Key: consumerKey(consumerCurrentAssignmentType, "g", "m"), Value: []byte{0, 0, 0, 0, 0, 1}},
		{Key: consumerKey(consumerTargetMetadataType, "g"), Value: []byte{0xFF, 0xFF, 0, 0, 0, 1, 0}},
	}
	for i, r := range cases {
		if err := h.shard.Replay(r); err == nil {
			t.Errorf("case %d: malformed record accepted", i)
		}
	}
}

// FuzzConsumerRecordReplay replays arbitrary values under every
// consumer-group key: an error is fine, a panic is not.
func FuzzConsumerRecordReplay(f *testing.F) {
	m := newConsumerMember("m")
	m.topics = []string{"orders"}
	m.assigned = partitionSet{topicID(1): {0, 1}}
	for _, r := range []coord.Record{
		groupEpochRecord("g", 3, 99), memberMetadataRecord("g", m), targetMemberRecord("g", "m", m.assigned),
		targetEpochRecord("g", 3), currentAssignmentRecord("g", m),
	} {
		f.Add(int8(r.Key[1]), r.Value)
	}
	f.Fuzz(func(t *testing.T, recordType int8, value []byte) {
		s := NewShard(consumerTestConfig(), &classicClock{timers: map[string]classicTimer{}})
		typ := int16(3 + int(uint8(recordType))%6)
		key := consumerKey(typ, "g")
		if typ == consumerMemberMetadataType || typ == consumerTargetMemberType || typ == consumerCurrentAssignmentType {
			key = consumerKey(typ, "g", "m")
		}
		_ = s.Replay(coord.Record{Key: key, Value: value})
		if g := s.consumer.groups["g"]; g != nil {
			_ = g.state()
		}
	})
}
