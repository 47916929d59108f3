package group

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// classicClock is a manual clock and coord.Timers: timers fire only when
// a test advances time, in deadline order (then scheduling order).
type classicClock struct {
	now    time.Time
	seq    int
	timers map[string]classicTimer
}

type classicTimer struct {
	at  time.Time
	seq int
	op  func(fx *coord.Effects)
}

func (c *classicClock) Schedule(key string, delay time.Duration, op func(fx *coord.Effects)) {
	c.seq++
	c.timers[key] = classicTimer{at: c.now.Add(delay), seq: c.seq, op: op}
}

func (c *classicClock) Cancel(key string) { delete(c.timers, key) }

// classicHarness plays the coord runtime for one shard: every operation
// (and every timer) runs with fresh Effects; its records are written (kept
// in written), replayed into the shard, then its completions run.
type classicHarness struct {
	t       testing.TB
	clock   *classicClock
	shard   *Shard
	written []coord.Record
	// failWrites, when set, fails the writes of every operation.
	failWrites error
	uuids      int
}

var classicEpoch = time.UnixMilli(1_700_000_000_000)

func classicTestConfig() Config {
	return Config{
		Partition:                     3,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		MaxSize:                       100,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 24 * time.Hour,
		OffsetMetadataMaxBytes:        4096,
	}
}

func newClassicHarness(t testing.TB) *classicHarness {
	return newClassicHarnessWith(t, classicTestConfig())
}

// newClassicHarnessWith loads a shard from preload (the partition's
// records) and runs Loaded, as the runtime does.
func newClassicHarnessWith(t testing.TB, cfg Config, preload ...coord.Record) *classicHarness {
	t.Helper()
	clock := &classicClock{now: classicEpoch, timers: map[string]classicTimer{}}
	h := &classicHarness{t: t, clock: clock, shard: NewShard(cfg, clock)}
	h.shard.classic.newUUID = func() string {
		h.uuids++
		return fmt.Sprintf("uuid%d", h.uuids)
	}
	for _, r := range preload {
		if err := h.shard.Replay(r); err != nil {
			t.Fatalf("preload: %v", err)
		}
	}
	h.written = append(h.written, preload...)
	h.run(h.shard.Loaded)
	return h
}

// run runs op as the runtime does and returns the records it wrote.
func (h *classicHarness) run(op func(fx *coord.Effects)) []coord.Record {
	h.t.Helper()
	fx := &coord.Effects{Now: h.clock.now}
	op(fx)
	records := fx.Records()
	if h.failWrites != nil {
		fx.Complete(h.failWrites)
		return records
	}
	for _, r := range records {
		if err := h.shard.Replay(r); err != nil {
			h.t.Fatalf("replay own record: %v", err)
		}
	}
	h.written = append(h.written, records...)
	fx.Complete(nil)
	return records
}

// advance moves the clock by d, running due timers in order.
func (h *classicHarness) advance(d time.Duration) {
	h.t.Helper()
	target := h.clock.now.Add(d)
	for {
		key, ok := h.nextTimer(target)
		if !ok {
			break
		}
		timer := h.clock.timers[key]
		delete(h.clock.timers, key)
		h.clock.now = timer.at
		h.run(timer.op)
	}
	h.clock.now = target
}

func (h *classicHarness) nextTimer(until time.Time) (string, bool) {
	var keys []string
	for key, timer := range h.clock.timers {
		if !timer.at.After(until) {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := h.clock.timers[keys[i]], h.clock.timers[keys[j]]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		return a.seq < b.seq
	})
	return keys[0], true
}

func (h *classicHarness) group(id string) *classicGroup { return h.shard.classic.groups[id] }

// classicClient describes a test client of a group.
type classicClient struct {
	group      string
	clientID   string
	instanceID *string
	id         string
	generation int32
	version    int16
	sessionMs  int32
	rebalance  int32
	protocols  []kmsg.JoinGroupRequestProtocol
}

// newClassicClient is a dynamic "consumer" member on JoinGroup v9, subscribed to
// topics with the "range" assignor.
func newClassicClient(group, clientID string, topics ...string) *classicClient {
	return &classicClient{
		group:     group,
		clientID:  clientID,
		version:   9,
		sessionMs: 10_000,
		rebalance: 60_000,
		protocols: consumerProtocols([]string{"range"}, topics...),
	}
}

func newStaticClient(group, clientID, instanceID string, topics ...string) *classicClient {
	m := newClassicClient(group, clientID, topics...)
	m.instanceID = kmsg.StringPtr(instanceID)
	return m
}

// consumerProtocols builds consumer-protocol JoinGroup protocols, one per
// assignor name, each subscribing to topics.
func consumerProtocols(names []string, topics ...string) []kmsg.JoinGroupRequestProtocol {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 1
	meta.Topics = topics
	var protocols []kmsg.JoinGroupRequestProtocol
	for _, name := range names {
		protocols = append(protocols, kmsg.JoinGroupRequestProtocol{Name: name, Metadata: meta.AppendTo(nil)})
	}
	return protocols
}

func (m *classicClient) joinRequest() *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = m.version
	req.Group = m.group
	req.SessionTimeoutMillis = m.sessionMs
	req.RebalanceTimeoutMillis = m.rebalance
	req.MemberID = m.id
	req.InstanceID = m.instanceID
	req.ProtocolType = "consumer"
	req.Protocols = m.protocols
	return req
}

// joinCall records the answers of one JoinGroup (there must be at most one).
type joinCall struct {
	t     testing.TB
	resp  *kmsg.JoinGroupResponse
	calls int
}

func (c *joinCall) answered() bool { return c.calls > 0 }

// result returns the one answer, failing the test if there is not exactly one.
func (c *joinCall) result() *kmsg.JoinGroupResponse {
	c.t.Helper()
	if c.calls != 1 {
		c.t.Fatalf("JoinGroup answered %d times, want 1", c.calls)
	}
	return c.resp
}

func (h *classicHarness) joinWith(req *kmsg.JoinGroupRequest) *joinCall {
	h.t.Helper()
	call := &joinCall{t: h.t}
	h.run(func(fx *coord.Effects) {
		h.shard.JoinGroup(fx, req, ClientInfo{ClientID: "client", ClientHost: "/10.0.0.1"}, func(r *kmsg.JoinGroupResponse) {
			call.resp, call.calls = r, call.calls+1
		})
	})
	return call
}

// join sends m's JoinGroup; a member without an ID on v4+ first gets one
// with MEMBER_ID_REQUIRED and rejoins with it (KIP-394).
func (h *classicHarness) join(m *classicClient) *joinCall {
	h.t.Helper()
	call := h.joinWith(m.joinRequest())
	if m.id == "" && m.instanceID == nil && m.version >= 4 {
		resp := call.result()
		if resp.ErrorCode != kerr.MemberIDRequired.Code {
			h.t.Fatalf("first JoinGroup: error %d, want MEMBER_ID_REQUIRED", resp.ErrorCode)
		}
		m.id = resp.MemberID
		call = h.joinWith(m.joinRequest())
	}
	return call
}

// joined takes a member's successful join answer.
func (m *classicClient) joined(t testing.TB, call *joinCall) *kmsg.JoinGroupResponse {
	t.Helper()
	resp := call.result()
	if resp.ErrorCode != 0 {
		t.Fatalf("%s: JoinGroup error %s", m.clientID, classicErrName(resp.ErrorCode))
	}
	m.id, m.generation = resp.MemberID, resp.Generation
	return resp
}

type syncCall struct {
	t     testing.TB
	resp  *kmsg.SyncGroupResponse
	calls int
}

func (c *syncCall) answered() bool { return c.calls > 0 }

func (c *syncCall) result() *kmsg.SyncGroupResponse {
	c.t.Helper()
	if c.calls != 1 {
		c.t.Fatalf("SyncGroup answered %d times, want 1", c.calls)
	}
	return c.resp
}

func (m *classicClient) syncRequest(assignments map[string]string) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group = m.group
	req.Generation = m.generation
	req.MemberID = m.id
	req.InstanceID = m.instanceID
	req.ProtocolType = kmsg.StringPtr("consumer")
	req.Protocol = kmsg.StringPtr("range")
	for id, a := range assignments {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	sort.Slice(req.GroupAssignment, func(i, j int) bool { return req.GroupAssignment[i].MemberID < req.GroupAssignment[j].MemberID })
	return req
}

func (h *classicHarness) syncWith(req *kmsg.SyncGroupRequest) *syncCall {
	h.t.Helper()
	call := &syncCall{t: h.t}
	h.run(func(fx *coord.Effects) {
		h.shard.SyncGroup(fx, req, func(r *kmsg.SyncGroupResponse) { call.resp, call.calls = r, call.calls+1 })
	})
	return call
}

func (h *classicHarness) sync(m *classicClient, assignments map[string]string) *syncCall {
	h.t.Helper()
	return h.syncWith(m.syncRequest(assignments))
}

func (h *classicHarness) heartbeatWith(req *kmsg.HeartbeatRequest) int16 {
	h.t.Helper()
	var resp *kmsg.HeartbeatResponse
	calls := 0
	h.run(func(fx *coord.Effects) {
		h.shard.Heartbeat(fx, req, func(r *kmsg.HeartbeatResponse) { resp, calls = r, calls+1 })
	})
	if calls != 1 {
		h.t.Fatalf("Heartbeat answered %d times, want 1", calls)
	}
	if resp.Version != req.Version {
		h.t.Fatalf("Heartbeat response version %d, want %d", resp.Version, req.Version)
	}
	return resp.ErrorCode
}

func (h *classicHarness) heartbeat(m *classicClient) int16 {
	h.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group = m.group
	req.Generation = m.generation
	req.MemberID = m.id
	req.InstanceID = m.instanceID
	return h.heartbeatWith(req)
}

func (h *classicHarness) leaveWith(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	h.t.Helper()
	var resp *kmsg.LeaveGroupResponse
	calls := 0
	h.run(func(fx *coord.Effects) {
		h.shard.LeaveGroup(fx, req, func(r *kmsg.LeaveGroupResponse) { resp, calls = r, calls+1 })
	})
	if calls != 1 {
		h.t.Fatalf("LeaveGroup answered %d times, want 1", calls)
	}
	return resp
}

func (h *classicHarness) leave(members ...*classicClient) *kmsg.LeaveGroupResponse {
	h.t.Helper()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = members[0].group
	for _, m := range members {
		req.Members = append(req.Members, kmsg.LeaveGroupRequestMember{MemberID: m.id, InstanceID: m.instanceID})
	}
	return h.leaveWith(req)
}

func (h *classicHarness) deleteGroup(groupID string) (int16, []coord.Record) {
	h.t.Helper()
	code, calls := int16(0), 0
	records := h.run(func(fx *coord.Effects) {
		h.shard.DeleteGroup(fx, groupID, func(c int16) { code, calls = c, calls+1 })
	})
	if calls != 1 {
		h.t.Fatalf("DeleteGroup answered %d times, want 1", calls)
	}
	return code, records
}

// stabilize runs a full rebalance of fresh dynamic members: they join
// within the initial delay, the first is the leader and assigns each
// member its own client ID, and everyone syncs. It returns the members.
func (h *classicHarness) stabilize(group string, clientIDs ...string) []*classicClient {
	h.t.Helper()
	var members []*classicClient
	var calls []*joinCall
	for _, id := range clientIDs {
		m := newClassicClient(group, id, "topic")
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

// awaitJoins advances the clock a second at a time until every call is
// answered (at most a minute: the initial delay extends while members
// arrive).
func (h *classicHarness) awaitJoins(calls ...*joinCall) {
	h.t.Helper()
	for i := 0; i < 60; i++ {
		done := true
		for _, c := range calls {
			done = done && c.answered()
		}
		if done {
			return
		}
		h.advance(time.Second)
	}
	h.t.Fatal("joins not answered within a minute")
}

// syncAll has the leader (the member the group elected) assign every
// member its client ID, then syncs the others, and checks every member
// got its assignment.
func (h *classicHarness) syncAll(members []*classicClient) {
	h.t.Helper()
	g := h.group(members[0].group)
	assignments := map[string]string{}
	var leader *classicClient
	for _, m := range members {
		assignments[m.id] = m.clientID
		if g.isLeader(m.id) {
			leader = m
		}
	}
	if leader == nil {
		h.t.Fatalf("no member is the leader %q", g.leader)
	}
	var calls []*syncCall
	for _, m := range members {
		if m != leader {
			calls = append(calls, h.sync(m, nil))
		}
	}
	calls = append(calls, h.sync(leader, assignments))
	for _, c := range calls {
		resp := c.result()
		if resp.ErrorCode != 0 {
			h.t.Fatalf("SyncGroup error %s", classicErrName(resp.ErrorCode))
		}
	}
	if !g.is(classicStable) {
		h.t.Fatalf("group %s after sync, want Stable", g.state)
	}
}

func classicErrName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	var ke *kerr.Error
	if err := kerr.ErrorForCode(code); errors.As(err, &ke) {
		return ke.Message
	}
	return fmt.Sprint(code)
}

// wantCode fails the test if got is not want, naming both.
func wantClassicCode(t testing.TB, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: error %s, want %s", what, classicErrName(got), classicErrName(want))
	}
}

// decodeGroupRecord decodes a GroupMetadata record (nil value: tombstone).
func decodeGroupRecord(t testing.TB, r coord.Record) (kmsg.GroupMetadataKey, *kmsg.GroupMetadataValue) {
	t.Helper()
	key := kmsg.NewGroupMetadataKey()
	if err := key.ReadFrom(r.Key); err != nil {
		t.Fatalf("decode key: %v", err)
	}
	if key.Version != 2 {
		t.Fatalf("key version %d, want 2", key.Version)
	}
	if r.Value == nil {
		return key, nil
	}
	value := kmsg.NewGroupMetadataValue()
	if err := value.ReadFrom(r.Value); err != nil {
		t.Fatalf("decode value: %v", err)
	}
	return key, &value
}

// lastGroupRecord returns the last GroupMetadata record written.
func (h *classicHarness) lastGroupRecord() (kmsg.GroupMetadataKey, *kmsg.GroupMetadataValue) {
	h.t.Helper()
	for i := len(h.written) - 1; i >= 0; i-- {
		if len(h.written[i].Key) >= 2 && h.written[i].Key[1] == 2 && h.written[i].Key[0] == 0 {
			return decodeGroupRecord(h.t, h.written[i])
		}
	}
	h.t.Fatal("no GroupMetadata record written")
	return kmsg.GroupMetadataKey{}, nil
}
