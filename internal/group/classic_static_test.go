package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stabilizeStatic forms a Stable group of static members (instance IDs
// "i-<client>"), the first one leading.
func (h *classicHarness) stabilizeStatic(group string, clientIDs ...string) []*classicClient {
	h.t.Helper()
	var members []*classicClient
	var calls []*joinCall
	for _, id := range clientIDs {
		m := newStaticClient(group, id, "i-"+id, "topic")
		members = append(members, m)
		calls = append(calls, h.join(m))
	}
	h.awaitJoins(calls...)
	for i, m := range members {
		m.joined(h.t, calls[i])
	}
	h.syncAll(members)
	return members
}

// restart is the same static member coming back without its member ID.
func restart(m *classicClient) *classicClient {
	again := *m
	again.id = ""
	return &again
}

// KIP-345: a static member restarting (new member ID, same instance ID)
// takes its place back without a rebalance; its old ID is fenced.
func TestStaticMemberRestartWithoutRebalance(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")
	a, oldB := members[0], members[1]
	newB := restart(oldB)
	written := len(h.written)

	resp := newB.joined(t, h.join(newB))
	if resp.MemberID == oldB.id || resp.Generation != 1 || resp.LeaderID != a.id || len(resp.Members) != 0 || resp.SkipAssignment {
		t.Fatalf("restart response %+v", resp)
	}
	g := h.group("g")
	if !g.is(classicStable) || g.generation != 1 || g.staticMembers["i-b"] != newB.id {
		t.Fatalf("after restart: state %s generation %d static %q", g.state, g.generation, g.staticMembers["i-b"])
	}
	if len(h.written) != written+1 {
		t.Fatalf("restart wrote %d records, want 1", len(h.written)-written)
	}
	_, value := h.lastGroupRecord()
	if value.Members[1].MemberID != newB.id || *value.Members[1].InstanceID != "i-b" || string(value.Members[1].Assignment) != "b" {
		t.Fatalf("record after restart %+v", value.Members[1])
	}

	wantClassicCode(t, "old ID heartbeat", h.heartbeat(oldB), kerr.FencedInstanceID.Code)
	wantClassicCode(t, "old ID sync", h.sync(oldB, nil).result().ErrorCode, kerr.FencedInstanceID.Code)
	wantClassicCode(t, "old ID join", h.join(oldB).result().ErrorCode, kerr.FencedInstanceID.Code)
	wantClassicCode(t, "new ID heartbeat", h.heartbeat(newB), 0)
	if got := h.sync(newB, nil).result(); string(got.MemberAssignment) != "b" {
		t.Fatalf("restarted member's assignment %q, want its old one", got.MemberAssignment)
	}
	wantClassicCode(t, "leader heartbeat", h.heartbeat(a), 0)
}

// A restarting static leader on JoinGroup v9 gets the members with
// SkipAssignment (KIP-814); before v9 it is told the old leader ID so
// that it does not compute an assignment.
func TestStaticLeaderRestart(t *testing.T) {
	for _, version := range []int16{8, 9} {
		h := newClassicHarness(t)
		members := h.stabilizeStatic("g", "a", "b")
		oldA := members[0]
		newA := restart(oldA)
		newA.version = version
		resp := newA.joined(t, h.join(newA))
		switch version {
		case 9:
			if resp.LeaderID != newA.id || !resp.SkipAssignment || len(resp.Members) != 2 {
				t.Fatalf("v9 leader restart: %+v", resp)
			}
		default:
			if resp.LeaderID != oldA.id || resp.SkipAssignment || len(resp.Members) != 0 {
				t.Fatalf("v8 leader restart: %+v", resp)
			}
		}
		if g := h.group("g"); g.leader != newA.id || !g.is(classicStable) {
			t.Fatalf("v%d: leader %q state %s", version, g.leader, g.state)
		}
	}
}

// If the replacement cannot be written, the old member ID is restored
// and the restarting member gets the write's error.
func TestStaticRestartWriteFailureReverts(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")
	oldB := members[1]
	h.failWrites = kerr.RequestTimedOut
	resp := h.join(restart(oldB)).result()
	h.failWrites = nil
	wantClassicCode(t, "restart", resp.ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if resp.MemberID != "" || resp.Generation != 1 || resp.LeaderID != members[0].id {
		t.Fatalf("failed restart response %+v", resp)
	}
	if g := h.group("g"); g.staticMembers["i-b"] != oldB.id || g.members[oldB.id] == nil || len(g.members) != 2 {
		t.Fatal("old static member not restored")
	}
	wantClassicCode(t, "old ID heartbeat", h.heartbeat(oldB), 0)
}

// A static member changing its protocols on restart rebalances the group;
// a parked request of its old ID is fenced.
func TestStaticRestartWithNewProtocolRebalances(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")
	a, b := members[0], members[1]
	// Only b supports "sticky"; the group keeps "range".
	b2 := restart(b)
	b2.protocols = consumerProtocols([]string{"sticky", "range"}, "topic")
	if resp := b2.joined(t, h.join(b2)); resp.Generation != 1 {
		t.Fatalf("restart keeping the protocol: %+v", resp)
	}
	// Now every member prefers "sticky": the selected protocol would
	// change, so a restart rebalances.
	ca := h.join(func() *classicClient { a.protocols = consumerProtocols([]string{"sticky", "range"}, "topic"); return a }())
	cb := h.join(b2)
	a.joined(t, ca)
	if resp := b2.joined(t, cb); resp.Generation != 2 || *resp.Protocol != "sticky" {
		t.Fatalf("protocol change: %+v", resp)
	}
	parked := h.join(b2) // b2 is in CompletingRebalance with the same metadata: answered at once
	if parked.result().Generation != 2 {
		t.Fatal("rejoin in CompletingRebalance not answered with the generation")
	}
	b3 := restart(b2)
	cb3 := h.join(b3) // restart during CompletingRebalance: rebalance
	if cb3.answered() || !h.group("g").is(classicPreparingRebalance) {
		t.Fatal("static restart during CompletingRebalance did not rebalance")
	}
	wantClassicCode(t, "fenced old ID", h.heartbeat(b2), kerr.FencedInstanceID.Code)
}

// A static member parked in JoinGroup is fenced when its instance ID
// joins again with a new member ID.
func TestParkedStaticJoinIsFenced(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")
	a, b := members[0], members[1]
	if resp := h.join(b).result(); resp.Generation != 1 { // an unchanged follower is answered at once
		t.Fatalf("follower rejoin: %+v", resp)
	}
	ca := h.join(a) // the leader's rejoin starts a rebalance and is parked
	if ca.answered() {
		t.Fatal("rebalance completed early")
	}
	h.join(restart(a))
	resp := ca.result()
	wantClassicCode(t, "parked old ID", resp.ErrorCode, kerr.FencedInstanceID.Code)
	if resp.MemberID != a.id {
		t.Fatalf("fenced response member %q, want %q", resp.MemberID, a.id)
	}
}

// Static members that do not rejoin in time keep their place (their
// session decides); dynamic ones are removed.
func TestStaticMembersSurviveRebalanceTimeout(t *testing.T) {
	h := newClassicHarness(t)
	leader := newClassicClient("g", "leader", "topic")
	s := newStaticClient("g", "s", "i-s", "topic")
	s.sessionMs = int32((5 * time.Minute).Milliseconds())
	d := newClassicClient("g", "d", "topic")
	cl, cs, cd := h.join(leader), h.join(s), h.join(d)
	h.awaitJoins(cl, cs, cd)
	leader.joined(t, cl)
	s.joined(t, cs)
	d.joined(t, cd)
	h.syncAll([]*classicClient{leader, s, d})

	cl = h.join(leader) // neither s nor d rejoins
	for i := 0; i < 6; i++ {
		h.advance(10 * time.Second)
		h.heartbeat(d)
	}
	resp := leader.joined(t, cl)
	g := h.group("g")
	if g.members[s.id] == nil || len(resp.Members) != 2 {
		t.Fatal("static member removed by the rebalance timeout")
	}
	if g.members[d.id] != nil {
		t.Fatal("dynamic member kept after the rebalance timeout")
	}
}

// LeaveGroup with an instance ID and the wrong member ID is fenced.
func TestLeaveFencedInstance(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 4
	req.Group = "g"
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "someone-else", InstanceID: members[1].instanceID}}
	resp := h.leaveWith(req)
	wantClassicCode(t, "leave", resp.Members[0].ErrorCode, kerr.FencedInstanceID.Code)
	if !h.group("g").is(classicStable) {
		t.Fatal("a fenced leave changed the group")
	}
}
