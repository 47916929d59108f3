package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// consumerCommit commits offset 10 of orders-0 for a consumer group
// member at epoch, with OffsetCommit v9.
func (h *classicHarness) consumerCommit(group, memberID string, epoch int32) int16 {
	h.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation = group, memberID, epoch
	topic := kmsg.NewOffsetCommitRequestTopic()
	topic.Topic = "orders"
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset = 0, 10
	topic.Partitions = append(topic.Partitions, p)
	req.Topics = append(req.Topics, topic)
	var code int16 = -1
	h.run(func(fx *coord.Effects) {
		h.shard.CommitOffsets(fx, req, func(resp *kmsg.OffsetCommitResponse) {
			code = resp.Topics[0].Partitions[0].ErrorCode
		})
	})
	return code
}

// KIP-848 OffsetCommit: the generation field is the member epoch, checked
// exactly (STALE_MEMBER_EPOCH); the member must exist; an admin commit
// (epoch -1) is taken only while the group has no members.
func TestConsumer848OffsetCommitChecksMemberEpoch(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 2)
	a := h.consumerClient("g", "a", img, "orders")
	a.mustHeartbeat()
	cases := []struct {
		name   string
		member string
		epoch  int32
		want   int16
	}{
		{"current epoch", "a", a.epoch, 0},
		{"stale epoch", "a", a.epoch - 1, kerr.StaleMemberEpoch.Code},
		{"future epoch", "a", a.epoch + 1, kerr.StaleMemberEpoch.Code},
		{"unknown member", "ghost", a.epoch, kerr.UnknownMemberID.Code},
		{"admin while members", "", -1, kerr.UnknownMemberID.Code},
	}
	for _, tc := range cases {
		if got := h.consumerCommit("g", tc.member, tc.epoch); got != tc.want {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.want)
		}
	}
	a.epoch = leaveEpoch
	a.mustHeartbeat()
	if got := h.consumerCommit("g", "", -1); got != 0 {
		t.Errorf("admin commit to an Empty consumer group: error %d, want 0", got)
	}
	if h.shard.classic.groups["g"] != nil {
		t.Error("an admin commit to a consumer group created a simple classic group")
	}
}

// OffsetFetch v9+ with a member of a consumer group checks its epoch.
func TestConsumer848ValidateOffsetFetch(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	a := h.consumerClient("g", "a", testImage(t, "orders", 2), "orders")
	a.mustHeartbeat()
	id, ghost := "a", "ghost"
	cases := []struct {
		member *string
		epoch  int32
		want   int16
	}{
		{nil, -1, 0},
		{&id, a.epoch, 0},
		{&id, a.epoch + 1, kerr.StaleMemberEpoch.Code},
		{&ghost, a.epoch, kerr.UnknownMemberID.Code},
	}
	for _, tc := range cases {
		if got := h.shard.ValidateOffsetFetch("g", tc.member, tc.epoch); got != tc.want {
			t.Errorf("member %v epoch %d: %d, want %d", derefString(tc.member), tc.epoch, got, tc.want)
		}
	}
	if got := h.shard.ValidateOffsetFetch("classic-or-unknown", &id, 3); got != 0 {
		t.Errorf("group that is not a consumer group: %d, want 0", got)
	}
}

// ListGroups reports consumer groups with their type and state, filtered
// by type and state; DescribeGroups (the classic API) does not describe
// them; ConsumerGroupDescribe does.
func TestConsumer848AdminViews(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 4)
	a := h.consumerClient("modern", "a", img, "orders")
	a.mustHeartbeat()
	classic := newClassicClient("old", "c1", "orders")
	h.join(classic)

	all := h.shard.ListGroups(nil, nil)
	if len(all) != 2 || all[0].Group != "modern" || all[0].GroupType != "consumer" || all[0].ProtocolType != "consumer" || all[0].GroupState != "Stable" {
		t.Fatalf("ListGroups: %+v", all)
	}
	if got := h.shard.ListGroups(nil, []string{"Consumer"}); len(got) != 1 || got[0].Group != "modern" {
		t.Fatalf("ListGroups of type consumer: %+v", got)
	}
	if got := h.shard.ListGroups([]string{" stable "}, []string{"classic"}); len(got) != 0 {
		t.Fatalf("ListGroups of Stable classic groups: %+v", got)
	}
	d := h.shard.DescribeGroup("modern")
	if d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" {
		t.Fatalf("DescribeGroups of a consumer group: %+v", d)
	}

	cd := h.shard.DescribeConsumerGroup("modern", img)
	if cd.ErrorCode != 0 || cd.State != "Stable" || cd.Epoch != 1 || cd.AssignmentEpoch != 1 || cd.AssignorName != "uniform" || len(cd.Members) != 1 {
		t.Fatalf("ConsumerGroupDescribe: %+v", cd)
	}
	m := cd.Members[0]
	if m.MemberID != "a" || m.MemberEpoch != 1 || m.ClientID != "client" || m.MemberType != 1 || len(m.SubscribedTopics) != 1 ||
		len(m.Assignment.TopicPartitions) != 1 || m.Assignment.TopicPartitions[0].Topic != "orders" || len(m.TargetAssignment.TopicPartitions[0].Partitions) != 4 {
		t.Fatalf("ConsumerGroupDescribe member: %+v", m)
	}
	for group, want := range map[string]string{"old": "Group old is not a consumer group.", "nope": "Group nope not found."} {
		cd := h.shard.DescribeConsumerGroup(group, img)
		if cd.ErrorCode != kerr.GroupIDNotFound.Code || derefString(cd.ErrorMessage) != want {
			t.Errorf("ConsumerGroupDescribe %s: error %d %q, want GROUP_ID_NOT_FOUND %q", group, cd.ErrorCode, derefString(cd.ErrorMessage), want)
		}
	}
}

// DeleteGroups refuses a consumer group with members and deletes an Empty
// one with its offsets; a reload finds neither.
func TestConsumer848DeleteGroup(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	a := h.consumerClient("g", "a", testImage(t, "orders", 2), "orders")
	a.mustHeartbeat()
	if code := h.consumerCommit("g", "a", a.epoch); code != 0 {
		t.Fatalf("commit: %d", code)
	}
	if code, _ := h.deleteGroup("g"); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete with a member: %d, want NON_EMPTY_GROUP", code)
	}
	a.epoch = leaveEpoch
	a.mustHeartbeat()
	if code, records := h.deleteGroup("g"); code != 0 || len(records) != 4 {
		t.Fatalf("delete Empty group: error %d, %d records (want 1 offset and 3 group tombstones)", code, len(records))
	}
	if h.consumerGroup("g") != nil || h.shard.hasOffsets("g") {
		t.Fatal("group or offsets left after DeleteGroups")
	}
	loaded := newClassicHarnessWith(t, consumerTestConfig(), h.written...)
	if loaded.consumerGroup("g") != nil || loaded.shard.hasOffsets("g") || loaded.shard.classic.groups["g"] != nil {
		t.Fatal("a reload brought the deleted group back")
	}
}

// Offsets of a consumer group expire from their commit time unless the
// group subscribes to the topic; an Empty group left without offsets is
// deleted by the expiry.
func TestConsumer848OffsetExpiry(t *testing.T) {
	cfg := consumerTestConfig()
	cfg.OffsetsRetention = time.Hour
	cfg.OffsetsRetentionCheckInterval = 10 * time.Minute
	cfg.ConsumerSessionTimeout = 24 * time.Hour
	h := newClassicHarnessWith(t, cfg)
	a := h.consumerClient("g", "a", testImage(t, "orders", 2), "orders")
	a.mustHeartbeat()
	if code := h.consumerCommit("g", "a", a.epoch); code != 0 {
		t.Fatalf("commit: %d", code)
	}
	h.advance(2 * time.Hour)
	if !h.shard.hasOffsets("g") {
		t.Fatal("offsets of a subscribed topic expired")
	}
	a.epoch = leaveEpoch
	a.mustHeartbeat()
	h.advance(20 * time.Minute)
	if h.shard.hasOffsets("g") || h.consumerGroup("g") != nil {
		t.Fatalf("after the member left: offsets %v, group %v; want both gone", h.shard.hasOffsets("g"), h.consumerGroup("g") != nil)
	}
}

// OffsetDelete refuses the topics a consumer group subscribes to.
func TestConsumer848OffsetDeleteRefusesSubscribedTopics(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	a := h.consumerClient("g", "a", testImage(t, "orders", 2), "orders")
	a.mustHeartbeat()
	h.consumerCommit("g", "a", a.epoch)
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	topic := kmsg.NewOffsetDeleteRequestTopic()
	topic.Topic = "orders"
	topic.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	req.Topics = append(req.Topics, topic)
	var resp *kmsg.OffsetDeleteResponse
	h.run(func(fx *coord.Effects) {
		h.shard.DeleteOffsets(fx, req, func(r *kmsg.OffsetDeleteResponse) { resp = r })
	})
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("OffsetDelete: %+v", resp)
	}
}

// A classic and a consumer group never share an ID: JoinGroup into a
// consumer group with members is INCONSISTENT_GROUP_PROTOCOL, into an
// Empty one replaces it; a consumer heartbeat into a classic group with
// members is GROUP_ID_NOT_FOUND, into an Empty or simple one replaces it
// (keeping its offsets).
func TestConsumer848ClassicAndConsumerGroupsShareNoID(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 2)
	a := h.consumerClient("g", "a", img, "orders")
	a.mustHeartbeat()
	if resp := h.joinWith(newClassicClient("g", "c1", "orders").joinRequest()).result(); resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("JoinGroup into a consumer group: error %d, want INCONSISTENT_GROUP_PROTOCOL", resp.ErrorCode)
	}
	a.epoch = leaveEpoch
	a.mustHeartbeat()
	c := newClassicClient("g", "c1", "orders")
	h.join(c)
	if h.consumerGroup("g") != nil || h.shard.classic.groups["g"] == nil {
		t.Fatal("JoinGroup did not replace the Empty consumer group")
	}
	b := h.consumerClient("g", "b", img, "orders")
	if resp := b.heartbeat(); resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("heartbeat into a classic group with members: error %d, want GROUP_ID_NOT_FOUND", resp.ErrorCode)
	}

	// A simple group (offsets only) becomes a consumer group, offsets kept.
	if code := h.consumerCommit("simple", "", -1); code != 0 {
		t.Fatalf("admin commit: %d", code)
	}
	s := h.consumerClient("simple", "s", img, "orders")
	s.mustHeartbeat()
	if h.shard.classic.groups["simple"] != nil || h.consumerGroup("simple") == nil || !h.shard.hasOffsets("simple") {
		t.Fatal("simple group not converted with its offsets")
	}
	loaded := newClassicHarnessWith(t, consumerTestConfig(), h.written...)
	if loaded.shard.classic.groups["simple"] != nil || loaded.consumerGroup("simple") == nil || loaded.shard.classic.groups["g"] == nil || loaded.consumerGroup("g") != nil {
		t.Fatal("reload does not give each ID its one group type")
	}
}
