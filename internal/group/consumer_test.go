package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848: the first member gets every partition at epoch 1.
func TestConsumer848FirstMemberGetsEverything(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 6)
	a := h.consumerClient("g", "a", img, "orders")
	resp := a.mustHeartbeat()
	if resp.MemberEpoch != 1 || a.owned.size() != 6 {
		t.Fatalf("epoch %d owned %d, want epoch 1 with 6 partitions", resp.MemberEpoch, a.owned.size())
	}
	if resp.HeartbeatIntervalMillis != 5000 || derefString(resp.MemberID) != "a" {
		t.Fatalf("interval %d member %v", resp.HeartbeatIntervalMillis, derefString(resp.MemberID))
	}
	g := h.consumerGroup("g")
	if g.state() != consumerStable || g.epoch != 1 || g.assignmentEpoch != 1 {
		t.Fatalf("group %s epoch %d assignment epoch %d", g.state(), g.epoch, g.assignmentEpoch)
	}
	// A heartbeat that changes nothing writes nothing and carries no assignment.
	before := len(h.written)
	req := a.request()
	req.RebalanceTimeoutMillis, req.SubscribedTopicNames, req.Topics = -1, nil, nil
	resp = h.consumerHeartbeat(req, img)
	if resp.ErrorCode != 0 || resp.Assignment != nil || len(h.written) != before {
		t.Fatalf("idle heartbeat: error %d assignment %v, %d new records", resp.ErrorCode, resp.Assignment, len(h.written)-before)
	}
}

// KIP-848 incremental rebalance: a partition moves to a new member only
// after its previous owner stopped reporting it.
func TestConsumer848PartitionMovesOnlyAfterRevocation(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 6)
	a := h.consumerClient("g", "a", img, "orders")
	a.mustHeartbeat()
	b := h.consumerClient("g", "b", img, "orders")
	resp := b.mustHeartbeat()
	if resp.MemberEpoch != 2 || b.owned.size() != 0 {
		t.Fatalf("b joined at epoch %d owning %d, want epoch 2 owning nothing yet (a holds all)", resp.MemberEpoch, b.owned.size())
	}
	if got := h.consumerGroup("g").members["b"].state; got != memberUnreleasedPartitions {
		t.Fatalf("b is %d, want UNRELEASED_PARTITIONS", got)
	}
	// a is told to give up three partitions, still at epoch 1.
	resp = a.mustHeartbeat()
	if resp.MemberEpoch != 1 || a.owned.size() != 3 {
		t.Fatalf("a: epoch %d owned %d, want epoch 1 keeping 3", resp.MemberEpoch, a.owned.size())
	}
	// b still cannot have them: a has not reported the revocation yet.
	b.mustHeartbeat()
	if b.owned.size() != 0 {
		t.Fatalf("b got%s before a revoked", describePartitions(b.owned))
	}
	// a reports it owns only three now: it moves to epoch 2.
	if resp = a.mustHeartbeat(); resp.MemberEpoch != 2 {
		t.Fatalf("a after revoking: epoch %d, want 2", resp.MemberEpoch)
	}
	b.mustHeartbeat()
	checkExclusive(t, a, b)
	if b.owned.size() != 3 || h.consumerGroup("g").state() != consumerStable {
		t.Fatalf("b owns %d, group %s; want 3 and Stable", b.owned.size(), h.consumerGroup("g").state())
	}
}

// Three members over twelve partitions: each gets four, every partition
// exactly once.
func TestConsumer848ThreeMembersTwelvePartitions(t *testing.T) {
	for _, assignor := range []string{"uniform", "range"} {
		t.Run(assignor, func(t *testing.T) {
			h := newClassicHarnessWith(t, consumerTestConfig())
			img := testImage(t, "orders", 12)
			var clients []*consumerClient
			for _, id := range []string{"a", "b", "c"} {
				c := h.consumerClient("g", id, img, "orders")
				c.assignor = &assignor
				clients = append(clients, c)
			}
			settle(t, 10, clients...)
			for _, c := range clients {
				if c.owned.size() != 4 {
					t.Fatalf("%s owns %d: %s", c.id, c.owned.size(), describePartitions(c.owned))
				}
			}
			if ownedCount(clients...) != 12 {
				t.Fatalf("%d partitions owned, want 12", ownedCount(clients...))
			}
		})
	}
}

// A member that stops heartbeating is fenced after
// group.consumer.session.timeout.ms and its partitions move.
func TestConsumer848SessionTimeoutFencesMember(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 4)
	a := h.consumerClient("g", "a", img, "orders")
	b := h.consumerClient("g", "b", img, "orders")
	settle(t, 10, a, b)
	for range 3 {
		h.advance(20 * time.Second)
		a.mustHeartbeat()
	}
	g := h.consumerGroup("g")
	if g.members["b"] != nil {
		t.Fatal("b still a member after 60s of silence")
	}
	settle(t, 5, a)
	if a.owned.size() != 4 {
		t.Fatalf("a owns %d after b was fenced, want 4", a.owned.size())
	}
	// b comes back with its old epoch: it is unknown now.
	if resp := b.heartbeat(); resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("fenced member heartbeat: error %d, want UNKNOWN_MEMBER_ID", resp.ErrorCode)
	}
}

// A member that does not revoke within its rebalance timeout is fenced.
func TestConsumer848RebalanceTimeoutFencesMember(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 4)
	a := h.consumerClient("g", "a", img, "orders")
	a.rebalance = 10_000
	a.mustHeartbeat()
	b := h.consumerClient("g", "b", img, "orders")
	b.mustHeartbeat()
	// a is asked to revoke, but keeps reporting everything it had.
	req := a.request()
	resp := h.consumerHeartbeat(req, img)
	if resp.ErrorCode != 0 || h.consumerGroup("g").members["a"].state != memberUnrevokedPartitions {
		t.Fatalf("a: error %d state %d, want UNREVOKED_PARTITIONS", resp.ErrorCode, h.consumerGroup("g").members["a"].state)
	}
	for range 3 {
		h.advance(4 * time.Second)
		h.consumerHeartbeat(req, img) // still owns the revoked partitions
		b.mustHeartbeat()
	}
	if h.consumerGroup("g").members["a"] != nil {
		t.Fatal("a still a member after its rebalance timeout")
	}
	settle(t, 5, b)
	if b.owned.size() != 4 {
		t.Fatalf("b owns %d, want 4", b.owned.size())
	}
}

// Leaving with epoch -1 removes the member and bumps the group epoch.
func TestConsumer848LeaveGroup(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 4)
	a := h.consumerClient("g", "a", img, "orders")
	b := h.consumerClient("g", "b", img, "orders")
	settle(t, 10, a, b)
	epoch := h.consumerGroup("g").epoch
	b.epoch = leaveEpoch
	resp := b.heartbeat()
	if resp.ErrorCode != 0 || resp.MemberEpoch != leaveEpoch || derefString(resp.MemberID) != "b" {
		t.Fatalf("leave: error %d epoch %d member %s", resp.ErrorCode, resp.MemberEpoch, derefString(resp.MemberID))
	}
	g := h.consumerGroup("g")
	if g.members["b"] != nil || g.target["b"] != nil || g.epoch != epoch+1 {
		t.Fatalf("after leave: member %v target %v epoch %d (was %d)", g.members["b"] != nil, g.target["b"], g.epoch, epoch)
	}
	settle(t, 5, a)
	if a.owned.size() != 4 {
		t.Fatalf("a owns %d, want 4", a.owned.size())
	}
	// The last member leaving leaves an Empty group that keeps its epoch.
	a.epoch = leaveEpoch
	a.mustHeartbeat()
	if h.consumerGroup("g").state() != consumerEmpty {
		t.Fatalf("group %s, want Empty", h.consumerGroup("g").state())
	}
	if resp := b.heartbeat(); resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("second leave: error %d, want UNKNOWN_MEMBER_ID", resp.ErrorCode)
	}
}

// KIP-848 static membership: epoch -2 keeps the partitions for the session
// timeout; the instance rejoins with a new member ID and gets them back.
func TestConsumer848StaticMemberLeavesAndReturns(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 4)
	instance := "host-1"
	a := h.consumerClient("g", "a", img, "orders")
	a.instanceID = &instance
	b := h.consumerClient("g", "b", img, "orders")
	settle(t, 10, a, b)
	kept := a.owned.clone()
	epoch := h.consumerGroup("g").epoch

	a.epoch = staticLeaveEpoch
	if resp := a.heartbeat(); resp.ErrorCode != 0 || resp.MemberEpoch != staticLeaveEpoch {
		t.Fatalf("static leave: error %d epoch %d", resp.ErrorCode, resp.MemberEpoch)
	}
	g := h.consumerGroup("g")
	if g.epoch != epoch || g.members["a"] == nil || !g.members["a"].assigned.equal(kept) {
		t.Fatal("a static member leaving for now must keep its partitions without a rebalance")
	}
	b.mustHeartbeat()

	back := h.consumerClient("g", "a2", img, "orders")
	back.instanceID = &instance
	back.mustHeartbeat()
	if !back.owned.equal(kept) || h.consumerGroup("g").members["a"] != nil {
		t.Fatalf("returning instance owns%s, want%s; old member still there: %v", describePartitions(back.owned), describePartitions(kept), h.consumerGroup("g").members["a"] != nil)
	}
	if h.consumerGroup("g").epoch != epoch {
		t.Fatalf("static rejoin bumped the epoch to %d", h.consumerGroup("g").epoch)
	}
	intruder := h.consumerClient("g", "a3", img, "orders")
	intruder.instanceID = &instance
	if resp := intruder.heartbeat(); resp.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("second holder of the instance ID: error %d, want UNRELEASED_INSTANCE_ID", resp.ErrorCode)
	}
	// The old member ID is fenced for this instance.
	old := h.consumerClient("g", "a", img, "orders")
	old.instanceID, old.epoch = &instance, back.epoch
	if resp := old.heartbeat(); resp.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("replaced member heartbeat: error %d, want FENCED_INSTANCE_ID", resp.ErrorCode)
	}
}

// Epoch checks: ahead is fenced, the previous epoch with a subset of the
// assignment is accepted (a lost response), and rejoining at 0 is fine.
func TestConsumer848MemberEpochValidation(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 4)
	a := h.consumerClient("g", "a", img, "orders")
	b := h.consumerClient("g", "b", img, "orders")
	settle(t, 10, a, b)
	ahead := a.request()
	ahead.MemberEpoch = a.epoch + 5
	if resp := h.consumerHeartbeat(ahead, img); resp.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("epoch ahead: error %d, want FENCED_MEMBER_EPOCH", resp.ErrorCode)
	}
	m := h.consumerGroup("g").members["a"]
	if m.previousEpoch >= m.epoch {
		t.Fatalf("a at epoch %d, previous %d: want a bumped member", m.epoch, m.previousEpoch)
	}
	previous := a.request()
	previous.MemberEpoch = m.previousEpoch
	if resp := h.consumerHeartbeat(previous, img); resp.ErrorCode != 0 {
		t.Fatalf("previous epoch with owned ⊆ assigned: error %d, want accepted", resp.ErrorCode)
	}
	tooOld := a.request()
	tooOld.MemberEpoch = m.previousEpoch
	tooOld.Topics = ownedTopics(partitionSet{topicID(1): {0, 1, 2, 3}})
	if resp := h.consumerHeartbeat(tooOld, img); resp.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("previous epoch owning more than assigned: error %d, want FENCED_MEMBER_EPOCH", resp.ErrorCode)
	}
	stale := a.request()
	stale.MemberEpoch = 0
	stale.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if resp := h.consumerHeartbeat(stale, img); resp.ErrorCode != 0 || resp.MemberEpoch != a.epoch || resp.Assignment == nil {
		t.Fatalf("rejoin at epoch 0: error %d epoch %d assignment %v", resp.ErrorCode, resp.MemberEpoch, resp.Assignment != nil)
	}
}

// Request validation errors, as GroupCoordinatorService checks them.
func TestConsumer848RequestValidation(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 4)
	base := func() *kmsg.ConsumerGroupHeartbeatRequest {
		return h.consumerClient("g", "m", img, "orders").request()
	}
	empty := ""
	regex := "ord.*"
	unknown := "sticky"
	cases := []struct {
		name   string
		change func(*kmsg.ConsumerGroupHeartbeatRequest)
		want   int16
	}{
		{"v1 empty member ID", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest.Code},
		{"empty instance ID", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = &empty }, kerr.InvalidRequest.Code},
		{"empty rack", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RackID = &empty }, kerr.InvalidRequest.Code},
		{"join without rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, kerr.InvalidRequest.Code},
		{"join with owned partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.Topics = ownedTopics(partitionSet{topicID(1): {0}})
		}, kerr.InvalidRequest.Code},
		{"join with null owned partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Topics = nil }, kerr.InvalidRequest.Code},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest.Code},
		{"static leave without instance", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = staticLeaveEpoch }, kerr.InvalidRequest.Code},
		{"epoch below -2", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest.Code},
		{"regex subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = &regex }, kerr.InvalidRequest.Code},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = &unknown }, kerr.UnsupportedAssignor.Code},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group, r.MemberEpoch = "other", 3 }, kerr.GroupIDNotFound.Code},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := base()
			tc.change(req)
			before := len(h.written)
			resp := h.consumerHeartbeat(req, img)
			if resp.ErrorCode != tc.want || resp.ErrorMessage == nil {
				t.Fatalf("error %d (%s), want %d with a message", resp.ErrorCode, derefString(resp.ErrorMessage), tc.want)
			}
			if len(h.written) != before {
				t.Fatal("a refused heartbeat wrote records")
			}
		})
	}
	// v0 may join without a member ID: the coordinator makes one.
	req := base()
	req.Version, req.MemberID = 0, ""
	if resp := h.consumerHeartbeat(req, img); resp.ErrorCode != 0 || derefString(resp.MemberID) == "" {
		t.Fatalf("v0 join without member ID: error %d member %q", resp.ErrorCode, derefString(resp.MemberID))
	}
	// An existing group: an unknown member with an epoch.
	req = base()
	req.MemberID, req.MemberEpoch = "ghost", 4
	if resp := h.consumerHeartbeat(req, img); resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: error %d, want UNKNOWN_MEMBER_ID", resp.ErrorCode)
	}
}

// group.consumer.max.size turns away new members, not existing ones.
func TestConsumer848GroupMaxSize(t *testing.T) {
	cfg := consumerTestConfig()
	cfg.ConsumerMaxSize = 2
	h := newClassicHarnessWith(t, cfg)
	img := testImage(t, "orders", 4)
	a := h.consumerClient("g", "a", img, "orders")
	b := h.consumerClient("g", "b", img, "orders")
	settle(t, 10, a, b)
	c := h.consumerClient("g", "c", img, "orders")
	if resp := c.heartbeat(); resp.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("third member: error %d, want GROUP_MAX_SIZE_REACHED", resp.ErrorCode)
	}
	a.mustHeartbeat()
}

// New partitions (a metadata change) bump the group epoch and are assigned.
func TestConsumer848MetadataChangeReassigns(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	a := h.consumerClient("g", "a", testImage(t, "orders", 2), "orders", "later")
	a.mustHeartbeat()
	epoch := h.consumerGroup("g").epoch
	a.image = testImage(t, "orders", 4, "later", 2)
	settle(t, 5, a)
	if h.consumerGroup("g").epoch != epoch+1 || a.owned.size() != 6 {
		t.Fatalf("after metadata change: epoch %d (was %d), owned %d want 6", h.consumerGroup("g").epoch, epoch, a.owned.size())
	}
	// The same image again does not bump anything.
	epoch = h.consumerGroup("g").epoch
	a.mustHeartbeat()
	if h.consumerGroup("g").epoch != epoch {
		t.Fatal("unchanged metadata bumped the epoch")
	}
}

// Changing the subscription bumps the epoch and revokes what is no longer
// subscribed.
func TestConsumer848SubscriptionChange(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	img := testImage(t, "orders", 2, "payments", 2)
	a := h.consumerClient("g", "a", img, "orders", "payments")
	settle(t, 5, a)
	if a.owned.size() != 4 {
		t.Fatalf("a owns %d, want 4", a.owned.size())
	}
	a.topics = []string{"payments"}
	settle(t, 5, a)
	if a.owned.size() != 2 || a.owned[topicID(2)] == nil {
		t.Fatalf("a owns%s after unsubscribing orders", describePartitions(a.owned))
	}
}

// A deleted topic leaves the target assignment: its partitions are revoked.
func TestConsumer848DeletedTopicIsRevoked(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	a := h.consumerClient("g", "a", testImage(t, "orders", 2, "payments", 3), "orders", "payments")
	settle(t, 5, a)
	if a.owned.size() != 5 {
		t.Fatalf("a owns %d, want 5", a.owned.size())
	}
	a.image = testImage(t, "orders", 2)
	settle(t, 5, a)
	if a.owned.size() != 2 || a.owned[topicID(2)] != nil {
		t.Fatalf("a owns%s after payments was deleted", describePartitions(a.owned))
	}
}
