package group

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// Every JoinGroup error Kafka returns from the group coordinator, against
// a Stable "consumer" group "g" of members a (leader) and b using "range".
func TestJoinGroupErrors(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(req *kmsg.JoinGroupRequest, a, b *classicClient)
		want       int16
		wantMember string // "" unless the response echoes the request's ID
	}{
		{"empty group ID", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) { r.Group = "" }, kerr.InvalidGroupID.Code, ""},
		{"session timeout below min", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) { r.SessionTimeoutMillis = 5_999 }, kerr.InvalidSessionTimeout.Code, ""},
		{"session timeout above max", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) {
			r.SessionTimeoutMillis = int32((30*time.Minute + time.Millisecond).Milliseconds())
		}, kerr.InvalidSessionTimeout.Code, ""},
		{"member ID for unknown group", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) { r.Group, r.MemberID = "other", "m-1" }, kerr.UnknownMemberID.Code, "m-1"},
		{"new group without protocol type", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) { r.Group, r.ProtocolType = "other", "" }, kerr.InconsistentGroupProtocol.Code, ""},
		{"new group without protocols", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) { r.Group, r.Protocols = "other", nil }, kerr.InconsistentGroupProtocol.Code, ""},
		{"other protocol type", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) { r.ProtocolType = "connect" }, kerr.InconsistentGroupProtocol.Code, ""},
		{"no common protocol", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) {
			r.Protocols = consumerProtocols([]string{"roundrobin"}, "topic")
		}, kerr.InconsistentGroupProtocol.Code, ""},
		{"existing member, no common protocol", func(r *kmsg.JoinGroupRequest, _, b *classicClient) {
			r.MemberID = b.id
			r.Protocols = consumerProtocols([]string{"roundrobin"}, "topic")
		}, kerr.InconsistentGroupProtocol.Code, "b"},
		{"unknown member ID", func(r *kmsg.JoinGroupRequest, _, _ *classicClient) { r.MemberID = "ghost" }, kerr.UnknownMemberID.Code, "ghost"},
		{"unregistered instance ID", func(r *kmsg.JoinGroupRequest, _, b *classicClient) {
			r.MemberID, r.InstanceID = b.id, kmsg.StringPtr("i-unknown")
		}, kerr.UnknownMemberID.Code, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newClassicHarness(t)
			members := h.stabilize("g", "a", "b")
			req := members[0].joinRequest()
			req.MemberID = ""
			tt.edit(req, members[0], members[1])
			resp := h.joinWith(req).result()
			wantClassicCode(t, tt.name, resp.ErrorCode, tt.want)
			wantMember := tt.wantMember
			if wantMember == "b" {
				wantMember = members[1].id
			}
			if resp.MemberID != wantMember || resp.Generation != -1 {
				t.Fatalf("member %q generation %d, want %q and -1", resp.MemberID, resp.Generation, wantMember)
			}
			if g := h.group("g"); !g.is(classicStable) || g.generation != 1 {
				t.Fatalf("a refused join changed the group: %s generation %d", g.state, g.generation)
			}
		})
	}
}

// A member ID presented to a group that has become Empty is unknown.
func TestJoinEmptyGroupWithOldMemberID(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a")
	old := *members[0]
	h.leave(members[0])
	wantClassicCode(t, "join with old ID", h.join(&old).result().ErrorCode, kerr.UnknownMemberID.Code)
	wantClassicCode(t, "sync of Empty group", h.sync(&old, nil).result().ErrorCode, kerr.UnknownMemberID.Code)
}

// A static member's instance ID held by another member ID is fenced.
func TestJoinFencedInstance(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")
	req := members[1].joinRequest()
	req.MemberID = members[0].id // a's ID with b's instance
	wantClassicCode(t, "join", h.joinWith(req).result().ErrorCode, kerr.FencedInstanceID.Code)
}

func TestSyncGroupErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(req *kmsg.SyncGroupRequest)
		want int16
	}{
		{"empty group ID", func(r *kmsg.SyncGroupRequest) { r.Group = "" }, kerr.InvalidGroupID.Code},
		{"unknown group", func(r *kmsg.SyncGroupRequest) { r.Group = "other" }, kerr.UnknownMemberID.Code},
		{"unknown member", func(r *kmsg.SyncGroupRequest) { r.MemberID, r.InstanceID = "ghost", nil }, kerr.UnknownMemberID.Code},
		{"fenced instance", func(r *kmsg.SyncGroupRequest) { r.MemberID = "ghost"; r.InstanceID = kmsg.StringPtr("i-a") }, kerr.FencedInstanceID.Code},
		{"unknown instance", func(r *kmsg.SyncGroupRequest) { r.InstanceID = kmsg.StringPtr("i-unknown") }, kerr.UnknownMemberID.Code},
		{"old generation", func(r *kmsg.SyncGroupRequest) { r.Generation = 0 }, kerr.IllegalGeneration.Code},
		{"other protocol type", func(r *kmsg.SyncGroupRequest) { r.ProtocolType = kmsg.StringPtr("connect") }, kerr.InconsistentGroupProtocol.Code},
		{"other protocol", func(r *kmsg.SyncGroupRequest) { r.Protocol = kmsg.StringPtr("roundrobin") }, kerr.InconsistentGroupProtocol.Code},
		{"no protocol given (v4)", func(r *kmsg.SyncGroupRequest) { r.Version, r.ProtocolType, r.Protocol = 4, nil, nil }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newClassicHarness(t)
			members := h.stabilizeStatic("g", "a", "b")
			req := members[0].syncRequest(nil)
			tt.edit(req)
			resp := h.syncWith(req).result()
			wantClassicCode(t, tt.name, resp.ErrorCode, tt.want)
			if resp.Version != req.Version {
				t.Fatalf("response version %d, want %d", resp.Version, req.Version)
			}
			if tt.want != 0 && (resp.Protocol != nil || resp.ProtocolType != nil || len(resp.MemberAssignment) != 0) {
				t.Fatalf("error response carries protocol or assignment: %+v", resp)
			}
		})
	}
}

// SyncGroup during PreparingRebalance is REBALANCE_IN_PROGRESS, and a
// rebalance starting while a follower waits for its assignment answers it
// with REBALANCE_IN_PROGRESS.
func TestSyncDuringRebalance(t *testing.T) {
	h := newClassicHarness(t)
	a, b := newClassicClient("g", "a", "topic"), newClassicClient("g", "b", "topic")
	ca, cb := h.join(a), h.join(b)
	h.awaitJoins(ca, cb)
	a.joined(t, ca)
	b.joined(t, cb)
	waiting := h.sync(b, nil)
	c := newClassicClient("g", "c", "topic")
	h.join(c) // a new member: rebalance
	wantClassicCode(t, "parked follower sync", waiting.result().ErrorCode, kerr.RebalanceInProgress.Code)
	wantClassicCode(t, "sync while preparing", h.sync(a, nil).result().ErrorCode, kerr.RebalanceInProgress.Code)
	wantClassicCode(t, "heartbeat while preparing", h.heartbeat(b), kerr.RebalanceInProgress.Code)
}

func TestHeartbeatErrors(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")
	a := members[0]
	base := func() *kmsg.HeartbeatRequest {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = 4
		req.Group, req.Generation, req.MemberID, req.InstanceID = "g", a.generation, a.id, a.instanceID
		return req
	}
	tests := []struct {
		name string
		edit func(req *kmsg.HeartbeatRequest)
		want int16
	}{
		{"valid", func(*kmsg.HeartbeatRequest) {}, 0},
		{"empty group ID", func(r *kmsg.HeartbeatRequest) { r.Group = "" }, kerr.InvalidGroupID.Code},
		{"unknown group", func(r *kmsg.HeartbeatRequest) { r.Group = "other" }, kerr.UnknownMemberID.Code},
		{"unknown member", func(r *kmsg.HeartbeatRequest) { r.MemberID, r.InstanceID = "ghost", nil }, kerr.UnknownMemberID.Code},
		{"fenced instance", func(r *kmsg.HeartbeatRequest) { r.MemberID = members[1].id }, kerr.FencedInstanceID.Code},
		{"old generation", func(r *kmsg.HeartbeatRequest) { r.Generation = 0 }, kerr.IllegalGeneration.Code},
		{"v0", func(r *kmsg.HeartbeatRequest) { r.Version, r.InstanceID = 0, nil }, 0},
	}
	for _, tt := range tests {
		req := base()
		tt.edit(req)
		wantClassicCode(t, tt.name, h.heartbeatWith(req), tt.want)
	}
}

// Heartbeats are valid while the leader computes the assignment.
func TestHeartbeatInCompletingRebalance(t *testing.T) {
	h := newClassicHarness(t)
	a := newClassicClient("g", "a", "topic")
	ca := h.join(a)
	h.awaitJoins(ca)
	a.joined(t, ca)
	wantClassicCode(t, "heartbeat", h.heartbeat(a), 0)
}

func TestLeaveGroupErrors(t *testing.T) {
	h := newClassicHarness(t)
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 3
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	wantClassicCode(t, "empty group ID", h.leaveWith(req).ErrorCode, kerr.InvalidGroupID.Code)
	req.Group = "missing"
	resp := h.leaveWith(req)
	wantClassicCode(t, "unknown group", resp.ErrorCode, 0)
	wantClassicCode(t, "unknown group member", resp.Members[0].ErrorCode, kerr.UnknownMemberID.Code)
}

// A failed write of the records a LeaveGroup caused is the response's
// error, mapped as Kafka maps coordinator write failures.
func TestLeaveGroupWriteFailure(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a")
	h.failWrites = errors.New("disk on fire")
	resp := h.leave(members[0])
	h.failWrites = nil
	wantClassicCode(t, "leave", resp.ErrorCode, kerr.NotCoordinator.Code)
}

func TestClassicWriteErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want int16
	}{
		{kerr.UnknownTopicOrPartition, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{fmt.Errorf("append: %w", kerr.RequestTimedOut), kerr.CoordinatorNotAvailable.Code},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{kerr.KafkaStorageError, kerr.NotCoordinator.Code},
		{kerr.MessageTooLarge, kerr.UnknownServerError.Code},
		{kerr.RecordListTooLarge, kerr.UnknownServerError.Code},
		{kerr.InvalidFetchSize, kerr.UnknownServerError.Code},
		{kerr.CorruptMessage, kerr.CorruptMessage.Code},
		{coord.ErrNotCoordinator, kerr.NotCoordinator.Code},
		{errors.New("input/output error"), kerr.NotCoordinator.Code},
	}
	for _, tt := range tests {
		wantClassicCode(t, tt.err.Error(), writeFailure(tt.err).Code, tt.want)
	}
}

// A new group whose creation cannot be written is dropped and the join
// gets the error.
func TestNewGroupWriteFailure(t *testing.T) {
	h := newClassicHarness(t)
	h.failWrites = kerr.NotEnoughReplicas
	first := h.joinWith(newClassicClient("g", "a", "topic").joinRequest())
	h.failWrites = nil
	resp := first.result()
	wantClassicCode(t, "first join", resp.ErrorCode, kerr.MemberIDRequired.Code)
	if h.group("g") != nil {
		t.Fatal("group kept although its creation was not written")
	}
	// A v3 member is parked in the new group: it gets the write error.
	m := newClassicClient("g", "a", "topic")
	m.version = 3
	h.failWrites = kerr.NotEnoughReplicas
	call := h.join(m)
	h.failWrites = nil
	wantClassicCode(t, "v3 join", call.result().ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if h.group("g") != nil || len(h.clock.timers) != 1 { // only the offsets expiry timer remains
		t.Fatalf("group or timers left behind: %v", h.clock.timers)
	}
}
