package group

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Members starting together join one generation: the initial delay
// (group.initial.rebalance.delay.ms) is extended while members keep
// arriving (Kafka's InitialDelayedJoin).
func TestMembersJoiningWithinInitialDelayGetOneGeneration(t *testing.T) {
	h := newClassicHarness(t)
	a, b, c := newClassicClient("g", "a", "topic"), newClassicClient("g", "b", "topic"), newClassicClient("g", "c", "topic")

	callA := h.join(a)
	if g := h.group("g"); !g.is(classicPreparingRebalance) {
		t.Fatalf("state %s after first join, want PreparingRebalance", g.state)
	}
	h.advance(2 * time.Second)
	callB := h.join(b)
	h.advance(2 * time.Second) // t=4s: the first delay ended at 3s and was extended
	callC := h.join(c)
	h.advance(2 * time.Second) // t=6s: extended again to 9s
	if callA.answered() || callB.answered() || callC.answered() {
		t.Fatal("a join was answered before the initial delay ran out")
	}
	h.advance(3 * time.Second) // t=9s: no new member since 6s
	ra, rb, rc := a.joined(t, callA), b.joined(t, callB), c.joined(t, callC)

	for _, r := range []*kmsg.JoinGroupResponse{ra, rb, rc} {
		if r.Generation != 1 || r.LeaderID != a.id || r.Protocol == nil || *r.Protocol != "range" {
			t.Fatalf("join response %+v, want generation 1, leader %s, protocol range", r, a.id)
		}
		if r.ProtocolType == nil || *r.ProtocolType != "consumer" || r.Version != 9 {
			t.Fatalf("join response type %v version %d", r.ProtocolType, r.Version)
		}
	}
	if len(ra.Members) != 3 || len(rb.Members) != 0 || len(rc.Members) != 0 {
		t.Fatalf("members in responses: leader %d, followers %d %d; want 3, 0, 0", len(ra.Members), len(rb.Members), len(rc.Members))
	}
	if !bytes.Equal(ra.Members[1].ProtocolMetadata, b.protocols[0].Metadata) {
		t.Fatal("leader did not get the members' metadata")
	}
	if g := h.group("g"); !g.is(classicCompletingRebalance) {
		t.Fatalf("state %s, want CompletingRebalance", g.state)
	}
}

// The initial delay stops growing once the rebalance timeout is used up.
func TestInitialDelayBoundedByRebalanceTimeout(t *testing.T) {
	h := newClassicHarness(t)
	first := newClassicClient("g", "first", "topic")
	first.rebalance = 7_000
	call := h.join(first)
	for i := 0; i < 5; i++ {
		h.advance(time.Second)
		h.join(newClassicClient("g", "late", "topic"))
	}
	// Delay 3s, then extended by min(3s, 4s) and by min(3s, 1s): the
	// phase must end by 3+3+1 = 7s although members keep coming.
	h.advance(2 * time.Second)
	if !call.answered() {
		t.Fatal("initial rebalance still running after the rebalance timeout")
	}
}

// A follower's SyncGroup waits for the leader's; the leader's assignment
// is written, then every member gets its part and the group is Stable.
func TestLeaderAndFollowerSync(t *testing.T) {
	h := newClassicHarness(t)
	leader, follower := newClassicClient("g", "l", "topic"), newClassicClient("g", "f", "topic")
	cl, cf := h.join(leader), h.join(follower)
	h.awaitJoins(cl, cf)
	leader.joined(t, cl)
	follower.joined(t, cf)

	followerSync := h.sync(follower, nil)
	if followerSync.answered() {
		t.Fatal("follower SyncGroup answered before the leader's")
	}
	writtenBefore := len(h.written)
	leaderSync := h.sync(leader, map[string]string{leader.id: "L", follower.id: "F"})

	if got := string(leaderSync.result().MemberAssignment); got != "L" {
		t.Fatalf("leader assignment %q", got)
	}
	fr := followerSync.result()
	if string(fr.MemberAssignment) != "F" || fr.Protocol == nil || *fr.Protocol != "range" || fr.ProtocolType == nil || *fr.ProtocolType != "consumer" {
		t.Fatalf("follower sync response %+v", fr)
	}
	if !h.group("g").is(classicStable) {
		t.Fatal("group not Stable after the leader's sync")
	}
	if len(h.written) != writtenBefore+1 {
		t.Fatalf("leader sync wrote %d records, want 1", len(h.written)-writtenBefore)
	}
	key, value := h.lastGroupRecord()
	if key.Group != "g" || value.Version != 3 || value.Generation != 1 || *value.Leader != leader.id || *value.Protocol != "range" || value.ProtocolType != "consumer" {
		t.Fatalf("group record %+v", value)
	}
	if len(value.Members) != 2 || string(value.Members[0].Assignment) != "L" || string(value.Members[1].Assignment) != "F" {
		t.Fatalf("record members %+v", value.Members)
	}
	if value.Members[1].SessionTimeoutMillis != 10_000 || value.Members[1].RebalanceTimeoutMillis != 60_000 || value.Members[1].ClientHost != "/10.0.0.1" {
		t.Fatalf("record member %+v", value.Members[1])
	}

	// A SyncGroup in Stable returns the stored assignment at once.
	again := h.sync(follower, nil).result()
	if string(again.MemberAssignment) != "F" {
		t.Fatalf("sync in Stable: %q", again.MemberAssignment)
	}
}

// The leader is not answered before its assignment is durable; if the
// write fails, every member is told (NOT_COORDINATOR) and the group
// rebalances.
func TestLeaderSyncWriteFailure(t *testing.T) {
	h := newClassicHarness(t)
	leader, follower := newClassicClient("g", "l", "topic"), newClassicClient("g", "f", "topic")
	cl, cf := h.join(leader), h.join(follower)
	h.awaitJoins(cl, cf)
	leader.joined(t, cl)
	follower.joined(t, cf)
	followerSync := h.sync(follower, nil)

	h.failWrites = kerr.NotLeaderForPartition
	leaderSync := h.sync(leader, map[string]string{leader.id: "L", follower.id: "F"})
	h.failWrites = nil
	wantClassicCode(t, "leader sync", leaderSync.result().ErrorCode, kerr.NotCoordinator.Code)
	wantClassicCode(t, "follower sync", followerSync.result().ErrorCode, kerr.NotCoordinator.Code)
	h.advance(0)
	if g := h.group("g"); !g.is(classicPreparingRebalance) {
		t.Fatalf("state %s after failed assignment write, want PreparingRebalance", g.state)
	}
}

// A member that stops heartbeating is removed after its session timeout;
// the others are told to rejoin and form the next generation.
func TestDeadMemberRemovedAfterSessionTimeout(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a", "b", "c")
	a, b, c := members[0], members[1], members[2]

	for i := 0; i < 2; i++ {
		h.advance(4 * time.Second)
		wantClassicCode(t, "heartbeat a", h.heartbeat(a), 0)
		wantClassicCode(t, "heartbeat b", h.heartbeat(b), 0)
	}
	h.advance(4 * time.Second)
	// c's last contact was its SyncGroup 12s ago: it was removed at 10s.
	g := h.group("g")
	if g.members[c.id] != nil || !g.is(classicPreparingRebalance) {
		t.Fatalf("dead member still there or state %s", g.state)
	}
	wantClassicCode(t, "heartbeat of removed member", h.heartbeat(c), kerr.UnknownMemberID.Code)
	wantClassicCode(t, "heartbeat during rebalance", h.heartbeat(b), kerr.RebalanceInProgress.Code)

	ca := h.join(a)
	if ca.answered() {
		t.Fatal("join answered before every member rejoined")
	}
	cb := h.join(b)
	ra, rb := a.joined(t, ca), b.joined(t, cb)
	if ra.Generation != 2 || rb.Generation != 2 || len(ra.Members) != 2 {
		t.Fatalf("generation %d/%d with %d members, want 2 with 2", ra.Generation, rb.Generation, len(ra.Members))
	}
}

// Members that do not rejoin within the rebalance timeout are removed and
// the rebalance completes without them.
func TestRebalanceTimeoutRemovesMembersThatDoNotRejoin(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a", "b", "c")
	a, b, c := members[0], members[1], members[2]

	// The leader rejoins: a rebalance starts.
	ca := h.join(a)
	cb := h.join(b)
	// c keeps heartbeating (told to rejoin) but never does.
	for i := 0; i < 11; i++ {
		h.advance(5 * time.Second)
		if ca.answered() {
			break
		}
		wantClassicCode(t, "heartbeat c", h.heartbeat(c), kerr.RebalanceInProgress.Code)
	}
	if ca.answered() {
		t.Fatal("rebalance completed before the rebalance timeout")
	}
	h.advance(5 * time.Second) // 60s after the rebalance started
	ra := a.joined(t, ca)
	b.joined(t, cb)
	if ra.Generation != 2 || len(ra.Members) != 2 || h.group("g").members[c.id] != nil {
		t.Fatalf("generation %d, %d members; c still a member: %v", ra.Generation, len(ra.Members), h.group("g").members[c.id] != nil)
	}
	wantClassicCode(t, "heartbeat of removed member", h.heartbeat(c), kerr.UnknownMemberID.Code)
}

// A member that never sends SyncGroup is removed after the rebalance
// timeout and the group rebalances.
func TestMembersThatDoNotSyncAreRemoved(t *testing.T) {
	h := newClassicHarness(t)
	a, b := newClassicClient("g", "a", "topic"), newClassicClient("g", "b", "topic")
	ca, cb := h.join(a), h.join(b)
	h.awaitJoins(ca, cb)
	a.joined(t, ca)
	b.joined(t, cb)
	h.sync(a, map[string]string{a.id: "A", b.id: "B"})
	for i := 0; i < 12; i++ { // heartbeats keep both sessions alive
		h.advance(5 * time.Second)
		h.heartbeat(a)
		h.heartbeat(b)
	}
	g := h.group("g")
	if g.members[b.id] != nil || !g.is(classicPreparingRebalance) {
		t.Fatalf("member that never synced still there (state %s)", g.state)
	}
}

// Cooperative rebalancing: the leader rejoins a Stable group to trigger a
// rebalance; followers learn it from their heartbeat and rejoin.
func TestLeaderRejoinWhileStableStartsRebalance(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a", "b")
	a, b := members[0], members[1]

	ca := h.join(a)
	if ca.answered() || !h.group("g").is(classicPreparingRebalance) {
		t.Fatal("leader rejoin did not start a rebalance")
	}
	wantClassicCode(t, "follower heartbeat", h.heartbeat(b), kerr.RebalanceInProgress.Code)
	b.protocols = consumerProtocols([]string{"range"}, "topic", "other")
	cb := h.join(b)
	ra, rb := a.joined(t, ca), b.joined(t, cb)
	if ra.Generation != 2 || rb.Generation != 2 || len(ra.Members) != 2 {
		t.Fatalf("after rejoin: generations %d/%d, %d members", ra.Generation, rb.Generation, len(ra.Members))
	}
	h.syncAll(members)
	if !h.shard.groupSubscribedTo("g", "other") {
		t.Fatal("new subscription not seen")
	}
}

// A follower rejoining a Stable group with unchanged metadata gets the
// current generation without a rebalance; with changed metadata it
// starts one.
func TestFollowerRejoinWhileStable(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a", "b")
	b := members[1]

	resp := h.join(b).result()
	if resp.ErrorCode != 0 || resp.Generation != 1 || len(resp.Members) != 0 || !h.group("g").is(classicStable) {
		t.Fatalf("unchanged follower rejoin: %+v, state %s", resp, h.group("g").state)
	}
	b.protocols = consumerProtocols([]string{"range"}, "other")
	if call := h.join(b); call.answered() || !h.group("g").is(classicPreparingRebalance) {
		t.Fatal("changed metadata did not start a rebalance")
	}
}

// JoinGroup below v4 adds a member without MEMBER_ID_REQUIRED; v0 uses
// the session timeout as rebalance timeout.
func TestJoinBeforeV4AndV0RebalanceTimeout(t *testing.T) {
	h := newClassicHarness(t)
	m := newClassicClient("g", "old", "topic")
	m.version = 0
	m.rebalance = 1 // ignored by v0
	call := h.join(m)
	h.advance(3 * time.Second)
	resp := m.joined(t, call)
	if resp.Version != 0 || resp.MemberID != "client-uuid1" {
		t.Fatalf("v0 join response %+v", resp)
	}
	if got := h.group("g").members[m.id].rebalanceTimeoutMs; got != m.sessionMs {
		t.Fatalf("v0 rebalance timeout %d, want the session timeout %d", got, m.sessionMs)
	}
}

// A member ID handed out with MEMBER_ID_REQUIRED that is never used
// expires after the session timeout and does not hold up the rebalance.
func TestPendingMemberExpires(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a")
	a := members[0]
	pending := newClassicClient("g", "p", "topic")
	first := h.joinWith(pending.joinRequest()).result()
	wantClassicCode(t, "first join", first.ErrorCode, kerr.MemberIDRequired.Code)
	if !h.group("g").pendingJoin[first.MemberID] {
		t.Fatal("member ID not pending")
	}
	ca := h.join(a) // leader rejoin: rebalance waits for the pending member
	if ca.answered() {
		t.Fatal("rebalance completed while a member ID is pending")
	}
	h.advance(10 * time.Second)
	if resp := a.joined(t, ca); resp.Generation != 2 || len(resp.Members) != 1 {
		t.Fatalf("after pending member expired: %+v", resp)
	}
	wantClassicCode(t, "join with expired ID", h.joinWith(func() *kmsg.JoinGroupRequest {
		pending.id = first.MemberID
		return pending.joinRequest()
	}()).result().ErrorCode, kerr.UnknownMemberID.Code)
}

// A new member parked in JoinGroup cannot heartbeat; it is given up after
// the new-member join timeout (five minutes) with UNKNOWN_MEMBER_ID.
func TestNewMemberJoinTimeout(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a", "b")
	a, b := members[0], members[1]
	a.rebalance = int32((10 * time.Minute).Milliseconds())
	h.join(a) // the leader starts a rebalance with a 10 minute timeout
	n := newClassicClient("g", "n", "topic")
	cn := h.join(n)
	cn2 := h.joinWith(n.joinRequest()) // the client retries; the first request is answered
	wantClassicCode(t, "replaced join", cn.result().ErrorCode, kerr.RebalanceInProgress.Code)
	for elapsed := time.Duration(0); elapsed < 5*time.Minute; elapsed += 5 * time.Second {
		if cn2.answered() {
			t.Fatalf("new member answered after %v", elapsed)
		}
		h.advance(5 * time.Second)
		wantClassicCode(t, "heartbeat b", h.heartbeat(b), kerr.RebalanceInProgress.Code)
	}
	resp := cn2.result()
	wantClassicCode(t, "new member", resp.ErrorCode, kerr.UnknownMemberID.Code)
	if resp.MemberID != "" || h.group("g").members[n.id] != nil {
		t.Fatal("expired new member kept its ID")
	}
}

// All members leaving makes the group Empty; the group record then has
// no members and the next generation.
func TestGroupBecomesEmptyWhenAllLeave(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a", "b")
	resp := h.leave(members...)
	if resp.ErrorCode != 0 || len(resp.Members) != 2 || resp.Members[0].ErrorCode != 0 || resp.Members[1].ErrorCode != 0 {
		t.Fatalf("leave response %+v", resp)
	}
	g := h.group("g")
	if !g.is(classicEmpty) || g.generation != 2 {
		t.Fatalf("state %s generation %d, want Empty 2", g.state, g.generation)
	}
	_, value := h.lastGroupRecord()
	if value.Generation != 2 || len(value.Members) != 0 || value.Protocol != nil || value.Leader != nil || value.ProtocolType != "consumer" {
		t.Fatalf("empty group record %+v", value)
	}
	if value.CurrentStateTimestamp != h.clock.now.UnixMilli() {
		t.Fatalf("state timestamp %d, want %d", value.CurrentStateTimestamp, h.clock.now.UnixMilli())
	}
	if state, _ := h.shard.groupState("g"); state != "Empty" {
		t.Fatalf("groupState %q", state)
	}
}

// LeaveGroup v3+ handles a batch: each member gets its own result; an
// instance ID alone removes a static member (administrative removal).
func TestLeaveGroupBatch(t *testing.T) {
	h := newClassicHarness(t)
	s := newStaticClient("g", "s", "instance-1", "topic")
	d := newClassicClient("g", "d", "topic")
	cs, cd := h.join(s), h.join(d)
	h.awaitJoins(cs, cd)
	s.joined(t, cs)
	d.joined(t, cd)
	h.syncAll([]*classicClient{s, d})

	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = "g"
	req.Members = []kmsg.LeaveGroupRequestMember{
		{InstanceID: kmsg.StringPtr("instance-1")},                     // admin removal by instance
		{MemberID: "nobody"},                                           // unknown
		{MemberID: d.id, InstanceID: kmsg.StringPtr("not-registered")}, // unknown instance
		{InstanceID: kmsg.StringPtr("instance-9")},                     // unknown instance, no member
	}
	resp := h.leaveWith(req)
	want := []int16{0, kerr.UnknownMemberID.Code, kerr.UnknownMemberID.Code, kerr.UnknownMemberID.Code}
	for i, m := range resp.Members {
		wantClassicCode(t, "member "+m.MemberID, m.ErrorCode, want[i])
	}
	g := h.group("g")
	if g.members[s.id] != nil || g.members[d.id] == nil || !g.is(classicPreparingRebalance) {
		t.Fatalf("after leave: static present %v, dynamic present %v, state %s", g.members[s.id] != nil, g.members[d.id] != nil, g.state)
	}
}

// LeaveGroup below v3 names one member and reports its error at the top.
func TestLeaveGroupV0(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a", "b")
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 0
	req.Group = "g"
	req.MemberID = "unknown"
	resp := h.leaveWith(req)
	wantClassicCode(t, "v0 unknown member", resp.ErrorCode, kerr.UnknownMemberID.Code)
	if resp.Members != nil {
		t.Fatal("v0 response has members")
	}
	req.MemberID = members[1].id
	wantClassicCode(t, "v0 leave", h.leaveWith(req).ErrorCode, 0)
	req.Group = "missing"
	wantClassicCode(t, "v0 unknown group", h.leaveWith(req).ErrorCode, kerr.UnknownMemberID.Code)
}

// The rebalance waiting on a member that leaves completes at once.
func TestLeaveDuringRebalanceCompletesJoin(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a", "b")
	ca := h.join(members[0])
	h.leave(members[1])
	if resp := members[0].joined(t, ca); resp.Generation != 2 || len(resp.Members) != 1 {
		t.Fatalf("after leave during rebalance: %+v", resp)
	}
}

// group.max.size: a new member beyond the limit gets
// GROUP_MAX_SIZE_REACHED; existing members may rejoin.
func TestGroupMaxSize(t *testing.T) {
	cfg := classicTestConfig()
	cfg.MaxSize = 2
	h := newClassicHarnessWith(t, cfg)
	members := h.stabilize("g", "a", "b")
	extra := newClassicClient("g", "c", "topic")
	first := h.joinWith(extra.joinRequest()).result() // MEMBER_ID_REQUIRED is handed out
	extra.id = first.MemberID
	resp := h.joinWith(extra.joinRequest()).result()
	wantClassicCode(t, "third member", resp.ErrorCode, kerr.GroupMaxSizeReached.Code)
	if resp.MemberID != "" || h.group("g").pendingJoin[extra.id] {
		t.Fatal("rejected member kept")
	}
	if resp := h.join(members[1]).result(); resp.ErrorCode != 0 {
		t.Fatalf("existing member rejoin: %s", classicErrName(resp.ErrorCode))
	}

	// While rebalancing, the members that rejoined count: one new member
	// fits beside the rejoined leader, a second does not.
	h.join(members[0])
	v3 := newClassicClient("g", "v3", "topic")
	v3.version = 3
	if call := h.join(v3); call.answered() {
		t.Fatalf("second rejoined member refused: %s", classicErrName(call.result().ErrorCode))
	}
	another := newClassicClient("g", "v3b", "topic")
	another.version = 3
	wantClassicCode(t, "third member during rebalance", h.join(another).result().ErrorCode, kerr.GroupMaxSizeReached.Code)
}

// A group loaded with more members than group.max.size rebalances so the
// extra members are turned away.
func TestLoadedGroupOverMaxSizeRebalances(t *testing.T) {
	h := newClassicHarness(t)
	h.stabilize("g", "a", "b", "c")
	cfg := classicTestConfig()
	cfg.MaxSize = 2
	loaded := newClassicHarnessWith(t, cfg, h.written...)
	if g := loaded.group("g"); !g.is(classicPreparingRebalance) {
		t.Fatalf("loaded over-capacity group is %s, want PreparingRebalance", g.state)
	}
}
