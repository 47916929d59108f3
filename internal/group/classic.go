package group

// Classic consumer groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup), after
// Kafka's GroupMetadataManager (classicGroup* methods), ClassicGroup,
// ClassicGroupMember and ClassicGroupState.
//
// A group moves through these states:
//
//	Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//	  ▲                 ▲         │                                  │
//	  │                 │         └──no member left──▶ Empty         │ leader's SyncGroup
//	  │                 └──join, leave, member expiry──┬─────────────┤ (record durable)
//	  │                                                │             ▼
//	  └── DeleteGroups removes an Empty group (Dead)   └──────────  Stable
//
// Almost everything about a classic group is soft state: parked JoinGroup
// and SyncGroup requests, pending members, timers. Only the outcome of a
// rebalance is durable: a GroupMetadata record (generation, protocol,
// leader, members with their subscriptions and assignments) written when
// the leader's SyncGroup completes a generation, when a static member is
// replaced without a rebalance, and when the group becomes Empty. A new
// coordinator rebuilds a group from that record as Stable (or Empty) and
// gives every member one session timeout to heartbeat.
//
// Responses are delivered through the callback an operation was given,
// exactly once. Parked requests keep their callback until a later
// operation or timer answers them; where Kafka waits for a record to be
// written before answering (the leader's SyncGroup, a static member's
// replacement, LeaveGroup, Heartbeat), the answer goes through fx.Then.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicNewMemberJoinTimeout bounds how long a member joining for the
// first time may stay parked in JoinGroup: it cannot heartbeat yet, so
// without this a client that gave up would linger in the rebalance
// (Kafka's CLASSIC_GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS).
const classicNewMemberJoinTimeout = 5 * time.Minute

// classicGroupType is the group type ListGroups v5+ reports.
const classicGroupType = "classic"

// consumerProtocolType is the protocol type of Kafka consumers; only its
// subscriptions can be decoded (ConsumerProtocol.PROTOCOL_TYPE).
const consumerProtocolType = "consumer"

// classicGroupState is a classic group's state (ClassicGroupState).
type classicGroupState int8

const (
	// classicEmpty: no members; the group lingers while it has offsets.
	classicEmpty classicGroupState = iota
	// classicPreparingRebalance: members are (re)joining.
	classicPreparingRebalance
	// classicCompletingRebalance: the generation is chosen; waiting for
	// the leader's assignment.
	classicCompletingRebalance
	// classicStable: the generation's assignment is durable.
	classicStable
	// classicDead: the group is being removed.
	classicDead
)

// String returns Kafka's name for the state, as DescribeGroups and
// ListGroups report it.
func (st classicGroupState) String() string {
	switch st {
	case classicEmpty:
		return "Empty"
	case classicPreparingRebalance:
		return "PreparingRebalance"
	case classicCompletingRebalance:
		return "CompletingRebalance"
	case classicStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// canFollow reports whether a group may move to st from prev
// (ClassicGroupState.validPreviousStates).
func (st classicGroupState) canFollow(prev classicGroupState) bool {
	switch st {
	case classicEmpty, classicCompletingRebalance:
		return prev == classicPreparingRebalance
	case classicPreparingRebalance:
		return prev == classicStable || prev == classicCompletingRebalance || prev == classicEmpty
	case classicStable:
		return prev == classicCompletingRebalance
	default:
		return true
	}
}

// joinReply answers one parked JoinGroup request.
type joinReply func(*kmsg.JoinGroupResponse)

// syncReply answers one parked SyncGroup request.
type syncReply func(*kmsg.SyncGroupResponse)

// classicMember is one member of a classic group (ClassicGroupMember).
type classicMember struct {
	id         string
	instanceID *string // group.instance.id of a static member (KIP-345)
	clientID   string
	clientHost string

	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32

	protocolType string
	protocols    []kmsg.JoinGroupRequestProtocol // by preference
	assignment   []byte

	// awaitingJoin and awaitingSync hold the parked request of a member
	// waiting for the join phase or the leader's assignment.
	awaitingJoin joinReply
	awaitingSync syncReply

	// isNew marks a member added in the current join phase: it cannot
	// heartbeat yet, so its session deadline is not satisfied by waiting.
	isNew bool
}

// metadata returns the member's metadata for a protocol, nil if it does
// not support it.
func (m *classicMember) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols equal the member's, in order.
func (m *classicMember) matches(protocols []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b kmsg.JoinGroupRequestProtocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// vote returns the member's most preferred protocol among candidates.
func (m *classicMember) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.Name] {
			return p.Name
		}
	}
	return ""
}

// hasSatisfiedHeartbeat reports whether a session deadline passing is no
// reason to remove the member: an existing member parked in JoinGroup or
// SyncGroup cannot heartbeat, a new one can be expired.
func (m *classicMember) hasSatisfiedHeartbeat() bool {
	if m.isNew {
		return false
	}
	return m.awaitingJoin != nil || m.awaitingSync != nil
}

func (m *classicMember) sessionTimeout() time.Duration {
	return time.Duration(m.sessionTimeoutMs) * time.Millisecond
}

// classicGroup is one classic group (ClassicGroup). Members keep their
// join order so that leader election, protocol votes and responses are
// deterministic.
type classicGroup struct {
	id            string
	state         classicGroupState
	previousState classicGroupState
	// stateTimestamp is when the group entered its state, in Unix
	// milliseconds (-1 if unknown); offsets of an Empty group expire
	// relative to it.
	stateTimestamp int64

	protocolType string  // "" when the group has none (a simple group)
	protocolName *string // selected protocol of the generation
	generation   int32
	leader       string // "" when there is no leader

	members       map[string]*classicMember
	order         []string          // member IDs in join order
	staticMembers map[string]string // instance ID → member ID
	// pendingJoin holds member IDs handed out with MEMBER_ID_REQUIRED
	// (KIP-394) that have not joined with them yet.
	pendingJoin map[string]bool
	// pendingSync holds members of the generation that have not sent
	// SyncGroup yet.
	pendingSync       map[string]bool
	awaitingJoinCount int
	supported         map[string]int // protocol name → members supporting it

	// subscribedTopics is the union of the consumer-protocol members'
	// topics; subscriptionKnown is false when it could not be computed.
	subscribedTopics  map[string]bool
	subscriptionKnown bool

	// newMemberAdded extends the initial rebalance delay
	// (group.initial.rebalance.delay.ms) while members keep arriving.
	newMemberAdded bool
}

func newClassicGroup(id string, state classicGroupState, now time.Time) *classicGroup {
	return &classicGroup{
		id:             id,
		state:          state,
		previousState:  classicDead,
		stateTimestamp: now.UnixMilli(),
		members:        map[string]*classicMember{},
		staticMembers:  map[string]string{},
		pendingJoin:    map[string]bool{},
		pendingSync:    map[string]bool{},
		supported:      map[string]int{},
	}
}

// is reports whether the group is in state st.
func (g *classicGroup) is(st classicGroupState) bool { return g.state == st }

// transition moves the group to st. An invalid transition is a bug in
// this package, never a consequence of input; it is logged by the caller
// through the returned false and the group is left unchanged.
func (g *classicGroup) transition(st classicGroupState, now time.Time) bool {
	if !st.canFollow(g.state) {
		return false
	}
	g.previousState = g.state
	g.state = st
	g.stateTimestamp = now.UnixMilli()
	return true
}

// canRebalance reports whether the group may enter PreparingRebalance.
func (g *classicGroup) canRebalance() bool {
	return classicPreparingRebalance.canFollow(g.state)
}

func (g *classicGroup) isLeader(memberID string) bool {
	return g.leader != "" && g.leader == memberID
}

// protocolNameOrEmpty returns the selected protocol, "" if none.
func (g *classicGroup) protocolNameOrEmpty() string {
	if g.protocolName == nil {
		return ""
	}
	return *g.protocolName
}

// protocolTypeOrNil returns the protocol type for responses, nil if none.
func (g *classicGroup) protocolTypeOrNil() *string {
	if g.protocolType == "" {
		return nil
	}
	return kmsg.StringPtr(g.protocolType)
}

// add puts a member in the group; reply, if not nil, parks its JoinGroup.
func (g *classicGroup) add(m *classicMember, reply joinReply) {
	if m.instanceID != nil {
		g.staticMembers[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	g.countProtocols(m, 1)
	m.awaitingJoin = reply
	if reply != nil {
		g.awaitingJoinCount++
	}
	delete(g.pendingJoin, m.id)
}

// remove drops a member (or pending member) from the group, electing the
// next member in join order as leader if it led. Parked requests Kafka
// would leave unanswered (their connection is gone there) are answered
// with UNKNOWN_MEMBER_ID, so no callback is ever dropped.
func (g *classicGroup) remove(memberID string) {
	if m := g.members[memberID]; m != nil {
		delete(g.members, memberID)
		g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == memberID })
		g.countProtocols(m, -1)
		g.completeJoin(m, joinError("", kerr.UnknownMemberID.Code))
		g.completeSync(m, syncError(kerr.UnknownMemberID.Code))
		if m.instanceID != nil {
			delete(g.staticMembers, *m.instanceID)
		}
	}
	if g.isLeader(memberID) {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	delete(g.pendingJoin, memberID)
	delete(g.pendingSync, memberID)
}

// countProtocols adds delta to the support count of each of m's
// protocols.
func (g *classicGroup) countProtocols(m *classicMember, delta int) {
	for _, p := range m.protocols {
		g.supported[p.Name] += delta
		if g.supported[p.Name] <= 0 {
			delete(g.supported, p.Name)
		}
	}
}

// updateMember replaces a member's protocols and timeouts and parks (or,
// with a nil reply, unparks) its JoinGroup. A JoinGroup that was already
// parked for the member is answered REBALANCE_IN_PROGRESS so it is not
// left waiting forever (Kafka drops it: one request per connection runs
// at a time there, so its sender is gone).
func (g *classicGroup) updateMember(m *classicMember, protocols []kmsg.JoinGroupRequestProtocol, rebalanceTimeoutMs, sessionTimeoutMs int32, reply joinReply) {
	g.countProtocols(m, -1)
	m.protocols = protocols
	g.countProtocols(m, 1)
	m.rebalanceTimeoutMs = rebalanceTimeoutMs
	m.sessionTimeoutMs = sessionTimeoutMs
	switch {
	case reply != nil && m.awaitingJoin == nil:
		g.awaitingJoinCount++
	case reply == nil && m.awaitingJoin != nil:
		g.awaitingJoinCount--
	case reply != nil && m.awaitingJoin != nil:
		m.awaitingJoin(joinError(m.id, kerr.RebalanceInProgress.Code))
	}
	m.awaitingJoin = reply
}

// parkSync parks a member's SyncGroup, answering a request already parked
// for it (see updateMember).
func (g *classicGroup) parkSync(m *classicMember, reply syncReply) {
	if m.awaitingSync != nil {
		m.awaitingSync(syncError(kerr.RebalanceInProgress.Code))
	}
	m.awaitingSync = reply
}

// completeJoin answers a member's parked JoinGroup, if any.
func (g *classicGroup) completeJoin(m *classicMember, resp *kmsg.JoinGroupResponse) bool {
	if m.awaitingJoin == nil {
		return false
	}
	reply := m.awaitingJoin
	m.awaitingJoin = nil
	g.awaitingJoinCount--
	reply(resp)
	return true
}

// completeSync answers a member's parked SyncGroup, if any.
func (g *classicGroup) completeSync(m *classicMember, resp *kmsg.SyncGroupResponse) bool {
	if m.awaitingSync == nil {
		return false
	}
	reply := m.awaitingSync
	m.awaitingSync = nil
	reply(resp)
	return true
}

// replaceStaticMember gives a static member a new member ID, keeping
// everything else (KIP-345). Requests parked under the old ID are fenced.
// A pending SyncGroup of the old ID carries over to the new one.
func (g *classicGroup) replaceStaticMember(instanceID, oldID, newID string) *classicMember {
	old := g.members[oldID]
	fenced := joinError(oldID, kerr.FencedInstanceID.Code)
	g.completeJoin(old, fenced)
	g.completeSync(old, syncError(kerr.FencedInstanceID.Code))

	m := &classicMember{
		id:                 newID,
		instanceID:         old.instanceID,
		clientID:           old.clientID,
		clientHost:         old.clientHost,
		rebalanceTimeoutMs: old.rebalanceTimeoutMs,
		sessionTimeoutMs:   old.sessionTimeoutMs,
		protocolType:       old.protocolType,
		protocols:          old.protocols,
		assignment:         old.assignment,
	}
	delete(g.members, oldID)
	g.members[newID] = m
	g.order[slices.Index(g.order, oldID)] = newID
	if g.isLeader(oldID) {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	g.staticMembers[instanceID] = newID
	return m
}

// hasAllMembersJoined reports whether every member has a parked JoinGroup
// and no member ID handed out is still expected.
func (g *classicGroup) hasAllMembersJoined() bool {
	return len(g.members) == g.awaitingJoinCount && len(g.pendingJoin) == 0
}

// rebalanceTimeout is the largest rebalance timeout of the members (zero
// if none is positive).
func (g *classicGroup) rebalanceTimeout() time.Duration {
	var longest int32
	for _, m := range g.members {
		longest = max(longest, m.rebalanceTimeoutMs)
	}
	return time.Duration(longest) * time.Millisecond
}

// supportsProtocols reports whether a member with this protocol type and
// these protocols may join: any non-empty type and list while Empty,
// otherwise the group's type and at least one protocol every member
// supports.
func (g *classicGroup) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if g.is(classicEmpty) {
		return protocolType != "" && len(protocols) > 0
	}
	if g.protocolType == "" || g.protocolType != protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supported[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol for the next generation: among those
// every member supports, the one most members prefer. Ties go to the
// protocol that received a vote first in join order (Kafka's pick among
// ties follows HashMap order).
func (g *classicGroup) selectProtocol() string {
	candidates := map[string]bool{}
	for name, count := range g.supported {
		if count == len(g.members) {
			candidates[name] = true
		}
	}
	votes := map[string]int{}
	var first []string
	for _, id := range g.order {
		name := g.members[id].vote(candidates)
		if votes[name] == 0 {
			first = append(first, name)
		}
		votes[name]++
	}
	best := ""
	for _, name := range first {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// validateMember checks a request's member ID and instance ID
// (ClassicGroup.validateMember): 0, UNKNOWN_MEMBER_ID or
// FENCED_INSTANCE_ID.
func (g *classicGroup) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		existing, ok := g.staticMembers[*instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if existing != memberID {
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// maybeElectNewJoinedLeader makes sure the leader is a member that
// rejoined; false if no member rejoined (or there is no leader).
func (g *classicGroup) maybeElectNewJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if leader := g.members[g.leader]; leader != nil && leader.awaitingJoin != nil {
		return true
	}
	for _, id := range g.order {
		if g.members[id].awaitingJoin != nil {
			g.leader = id
			return true
		}
	}
	return false
}

// initNextGeneration starts the next generation: CompletingRebalance with
// a selected protocol, or Empty when no member is left.
func (g *classicGroup) initNextGeneration(now time.Time) {
	g.generation++
	if len(g.members) > 0 {
		g.protocolName = kmsg.StringPtr(g.selectProtocol())
		g.computeSubscribedTopics()
		g.transition(classicCompletingRebalance, now)
	} else {
		g.protocolName = nil
		g.computeSubscribedTopics()
		g.transition(classicEmpty, now)
	}
	clear(g.pendingSync)
}

// computeSubscribedTopics decodes the members' consumer-protocol
// subscriptions (the version 0 prefix that every version shares). The
// result is unknown for other protocol types or undecodable metadata.
func (g *classicGroup) computeSubscribedTopics() {
	g.subscribedTopics, g.subscriptionKnown = nil, false
	if g.protocolType != consumerProtocolType {
		return
	}
	topics := map[string]bool{}
	if len(g.members) > 0 {
		if g.protocolName == nil {
			return
		}
		for _, m := range g.members {
			var meta kmsg.ConsumerMemberMetadata
			if err := meta.ReadFrom(m.metadata(*g.protocolName)); err != nil {
				return
			}
			for _, t := range meta.Topics {
				topics[t] = true
			}
		}
	}
	g.subscribedTopics, g.subscriptionKnown = topics, true
}

// currentMembers lists the members with their metadata for the selected
// protocol, as the leader's JoinGroup response carries them.
func (g *classicGroup) currentMembers() []kmsg.JoinGroupResponseMember {
	members := make([]kmsg.JoinGroupResponseMember, 0, len(g.order))
	for _, id := range g.order {
		m := g.members[id]
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID = id
		rm.InstanceID = m.instanceID
		rm.ProtocolMetadata = m.metadata(g.protocolNameOrEmpty())
		members = append(members, rm)
	}
	return members
}

// groupAssignment returns every member's current assignment.
func (g *classicGroup) groupAssignment() map[string][]byte {
	assignment := make(map[string][]byte, len(g.members))
	for id, m := range g.members {
		assignment[id] = m.assignment
	}
	return assignment
}

// joinError is a JoinGroup response carrying only an error.
func joinError(memberID string, code int16) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.MemberID = memberID
	resp.ErrorCode = code
	return resp
}

// syncError is a SyncGroup response carrying only an error.
func syncError(code int16) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ErrorCode = code
	return resp
}

// classicState holds the classic groups of a shard.
type classicState struct {
	groups map[string]*classicGroup
	// live is set once the partition is loaded: from then on the shard's
	// own GroupMetadata records describe state already in memory, and
	// replaying them changes nothing (Kafka does not replay classic group
	// records on its write path either).
	live bool
	// newUUID makes the random part of member IDs; tests replace it.
	newUUID func() string
}

func (c *classicState) init() {
	c.groups = map[string]*classicGroup{}
	c.newUUID = randomUUID
}

// randomUUID returns a random (version 4) UUID in its usual text form.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the process instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// newMemberID makes a member ID: the instance ID of a static member or
// the client ID, a dash and a random UUID, as Kafka does.
func (c *classicState) newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return prefix + "-" + c.newUUID()
}
