package group

// JoinGroup (API key 11) v0-v9 and the join phase of classic rebalances:
// KIP-62 (rebalance timeout, v1+), KIP-345 (static membership, v5+),
// KIP-394 (MEMBER_ID_REQUIRED, v4+), KIP-559 (protocol type in the
// response, v7+), KIP-800 (join reason, v8+), KIP-814 (SkipAssignment,
// v9+), after Kafka's GroupMetadataManager.classicGroupJoin*.

import (
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// joinParams is a JoinGroup request as the join logic needs it, with its
// byte slices copied (the request's buffer may be reused once the
// operation returns) and v0's rebalance timeout filled in.
type joinParams struct {
	version            int16
	group              string
	memberID           string
	instanceID         *string
	protocolType       string
	protocols          []kmsg.JoinGroupRequestProtocol
	sessionTimeoutMs   int32
	rebalanceTimeoutMs int32
	client             ClientInfo
	reason             string
}

func newJoinParams(req *kmsg.JoinGroupRequest, client ClientInfo) *joinParams {
	p := &joinParams{
		version:            req.Version,
		group:              req.Group,
		memberID:           req.MemberID,
		instanceID:         cloneStringPtr(req.InstanceID),
		protocolType:       req.ProtocolType,
		sessionTimeoutMs:   req.SessionTimeoutMillis,
		rebalanceTimeoutMs: req.RebalanceTimeoutMillis,
		client:             client,
	}
	if req.Version == 0 {
		// v0 has no rebalance timeout; Kafka uses the session timeout.
		p.rebalanceTimeoutMs = req.SessionTimeoutMillis
	}
	if req.Reason != nil {
		p.reason = *req.Reason
	}
	p.protocols = make([]kmsg.JoinGroupRequestProtocol, len(req.Protocols))
	for i, proto := range req.Protocols {
		p.protocols[i] = kmsg.JoinGroupRequestProtocol{Name: proto.Name, Metadata: slices.Clone(proto.Metadata)}
	}
	return p
}

func cloneStringPtr(s *string) *string {
	if s == nil {
		return nil
	}
	return kmsg.StringPtr(*s)
}

// JoinGroup handles a JoinGroup request (v0-v9) for a classic group.
// respond is called exactly once, possibly much later: a join is parked
// until the rebalance's join phase completes. Empty group IDs get
// INVALID_GROUP_ID and session timeouts outside
// [MinSessionTimeout, MaxSessionTimeout] INVALID_SESSION_TIMEOUT, as
// Kafka's GroupCoordinatorService checks before the shard.
func (s *Shard) JoinGroup(fx *coord.Effects, req *kmsg.JoinGroupRequest, client ClientInfo, respond func(*kmsg.JoinGroupResponse)) {
	reply := onceJoinReply(req.Version, respond)
	if req.Group == "" {
		reply(joinError(req.MemberID, kerr.InvalidGroupID.Code))
		return
	}
	if !s.validSessionTimeout(req.SessionTimeoutMillis) {
		reply(joinError(req.MemberID, kerr.InvalidSessionTimeout.Code))
		return
	}
	if s.joinToConsumerGroup(fx, req.Group) {
		reply(joinError("", kerr.InconsistentGroupProtocol.Code))
		return
	}
	s.classicJoin(fx, newJoinParams(req, client), reply)
}

// onceJoinReply wraps respond so that it runs at most once and stamps the
// response with the request's version.
func onceJoinReply(version int16, respond func(*kmsg.JoinGroupResponse)) joinReply {
	answered := false
	return func(resp *kmsg.JoinGroupResponse) {
		if answered {
			return
		}
		answered = true
		resp.Version = version
		respond(resp)
	}
}

// validSessionTimeout checks group.min/max.session.timeout.ms; a zero
// maximum means no upper bound.
func (s *Shard) validSessionTimeout(ms int32) bool {
	timeout := time.Duration(ms) * time.Millisecond
	if timeout < s.cfg.MinSessionTimeout {
		return false
	}
	return s.cfg.MaxSessionTimeout <= 0 || timeout <= s.cfg.MaxSessionTimeout
}

// classicJoin creates the group for a member without an ID and routes
// the join (classicGroupJoinToClassicGroup).
func (s *Shard) classicJoin(fx *coord.Effects, p *joinParams, reply joinReply) {
	g := s.classic.groups[p.group]
	isNew := g == nil
	if isNew {
		if p.memberID != "" {
			reply(joinError(p.memberID, kerr.UnknownMemberID.Code))
			return
		}
		g = newClassicGroup(p.group, classicEmpty, fx.Now)
		s.classic.groups[p.group] = g
	}
	before := len(fx.Records())
	switch {
	case !s.acceptJoiningMember(g, p.memberID):
		g.remove(p.memberID)
		reply(joinError("", kerr.GroupMaxSizeReached.Code))
	case p.memberID == "":
		s.joinNewMember(fx, g, p, reply)
	default:
		s.joinExistingMember(fx, g, p, reply)
	}
	if isNew && len(fx.Records()) == before {
		s.writeNewGroup(fx, g, reply)
	}
}

// writeNewGroup records a newly created group, as Kafka does, so the
// group exists in `__consumer_offsets`. If the write fails the group is
// dropped again and the join answered with the write's error.
func (s *Shard) writeNewGroup(fx *coord.Effects, g *classicGroup, reply joinReply) {
	fx.Append(emptyGroupRecord(g))
	fx.Then(func(err error) {
		if err == nil {
			return
		}
		s.log.Warn("failed to write new classic group", "group", g.id, "err", err)
		reply(joinError("", writeFailure(err).Code))
		if s.classic.groups[g.id] == g {
			s.dropClassicGroup(g)
		}
	})
}

// maxSize returns group.max.size; zero or less means no limit.
func (s *Shard) maxSize() int {
	if s.cfg.MaxSize <= 0 {
		return int(^uint(0) >> 1)
	}
	return int(s.cfg.MaxSize)
}

// acceptJoiningMember applies group.max.size: existing members are
// accepted, new ones while the group has room. While rebalancing, the
// members already rejoined count, so that a lowered limit evicts the last
// members to rejoin.
func (s *Shard) acceptJoiningMember(g *classicGroup, memberID string) bool {
	switch g.state {
	case classicPreparingRebalance:
		if m := g.members[memberID]; m != nil && m.awaitingJoin != nil {
			return true
		}
		return g.awaitingJoinCount < s.maxSize()
	case classicCompletingRebalance, classicStable:
		return g.members[memberID] != nil || len(g.members) < s.maxSize()
	default:
		return true
	}
}

// joinNewMember handles a JoinGroup without a member ID.
func (s *Shard) joinNewMember(fx *coord.Effects, g *classicGroup, p *joinParams, reply joinReply) {
	switch {
	case g.is(classicDead):
		reply(joinError("", kerr.CoordinatorNotAvailable.Code))
	case !g.supportsProtocols(p.protocolType, p.protocols):
		reply(joinError("", kerr.InconsistentGroupProtocol.Code))
	case p.instanceID != nil:
		s.joinNewStaticMember(fx, g, p, reply)
	case p.version >= 4:
		// KIP-394: hand out an ID and expect the member back with it,
		// so that a client retrying a lost response cannot leave
		// phantom members behind.
		memberID := s.classic.newMemberID(p.client.ClientID, nil)
		g.pendingJoin[memberID] = true
		s.scheduleSession(g.id, memberID, time.Duration(p.sessionTimeoutMs)*time.Millisecond)
		s.log.Info("dynamic member needs an ID to join", "group", g.id, "member", memberID, "state", g.state.String())
		reply(joinError(memberID, kerr.MemberIDRequired.Code))
	default:
		s.addMemberAndRebalance(fx, g, p, s.classic.newMemberID(p.client.ClientID, nil), reply)
	}
}

// joinNewStaticMember replaces the member holding the instance ID, if
// any, or adds a new member.
func (s *Shard) joinNewStaticMember(fx *coord.Effects, g *classicGroup, p *joinParams, reply joinReply) {
	newID := s.classic.newMemberID(p.client.ClientID, p.instanceID)
	if oldID, ok := g.staticMembers[*p.instanceID]; ok {
		s.log.Info("static member rejoins with a new member ID", "group", g.id, "instance", *p.instanceID, "old_member", oldID, "member", newID, "state", g.state.String())
		s.replaceStaticMemberAndRebalance(fx, g, p, oldID, newID, reply)
		return
	}
	s.addMemberAndRebalance(fx, g, p, newID, reply)
}

// joinExistingMember handles a JoinGroup carrying a member ID.
func (s *Shard) joinExistingMember(fx *coord.Effects, g *classicGroup, p *joinParams, reply joinReply) {
	switch {
	case g.is(classicDead):
		reply(joinError(p.memberID, kerr.CoordinatorNotAvailable.Code))
		return
	case !g.supportsProtocols(p.protocolType, p.protocols):
		reply(joinError(p.memberID, kerr.InconsistentGroupProtocol.Code))
		return
	case g.pendingJoin[p.memberID]:
		if p.instanceID != nil {
			// A pending member is always dynamic; Kafka fails the
			// request with an internal error.
			reply(joinError(p.memberID, kerr.UnknownServerError.Code))
			return
		}
		s.addMemberAndRebalance(fx, g, p, p.memberID, reply)
		return
	}
	if code := g.validateMember(p.memberID, p.instanceID); code != 0 {
		reply(joinError(p.memberID, code))
		return
	}
	m := g.members[p.memberID]
	switch g.state {
	case classicPreparingRebalance:
		s.updateMemberAndRebalance(fx, g, m, p, reply, "member joins during rebalance")
	case classicCompletingRebalance:
		if !m.matches(p.protocols) {
			s.updateMemberAndRebalance(fx, g, m, p, reply, "member metadata changed")
			return
		}
		// Same metadata: the member most likely lost the response;
		// return this generation again.
		reply(g.currentJoinResponse(m.id, g.isLeader(m.id)))
	case classicStable:
		if g.isLeader(m.id) {
			// The leader rejoins to have assignments recomputed
			// (topic metadata changed, cooperative rebalancing).
			s.updateMemberAndRebalance(fx, g, m, p, reply, "leader rejoins")
			return
		}
		if !m.matches(p.protocols) {
			s.updateMemberAndRebalance(fx, g, m, p, reply, "member metadata changed")
			return
		}
		reply(g.currentJoinResponse(m.id, false))
	default:
		s.log.Warn("member rejoins a group in an unexpected state", "group", g.id, "member", m.id, "state", g.state.String())
		reply(joinError(p.memberID, kerr.UnknownMemberID.Code))
	}
}

// currentJoinResponse describes the current generation to a member; the
// leader also gets the members and their metadata.
func (g *classicGroup) currentJoinResponse(memberID string, withMembers bool) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	if withMembers {
		resp.Members = g.currentMembers()
	}
	resp.MemberID = memberID
	resp.Generation = g.generation
	resp.Protocol = g.protocolName
	resp.ProtocolType = g.protocolTypeOrNil()
	resp.LeaderID = g.leader
	return resp
}

// updateMemberAndRebalance records an existing member's new join and
// rebalances (updateMemberThenRebalanceOrCompleteJoin).
func (s *Shard) updateMemberAndRebalance(fx *coord.Effects, g *classicGroup, m *classicMember, p *joinParams, reply joinReply, reason string) {
	g.updateMember(m, p.protocols, p.rebalanceTimeoutMs, p.sessionTimeoutMs, reply)
	s.maybePrepareRebalanceOrCompleteJoin(fx, g, reason, "member", m.id, "client_reason", p.reason)
}

// addMemberAndRebalance adds a member and rebalances
// (addMemberThenRebalanceOrCompleteJoin).
func (s *Shard) addMemberAndRebalance(fx *coord.Effects, g *classicGroup, p *joinParams, memberID string, reply joinReply) {
	m := &classicMember{
		id:                 memberID,
		instanceID:         p.instanceID,
		clientID:           p.client.ClientID,
		clientHost:         p.client.ClientHost,
		rebalanceTimeoutMs: p.rebalanceTimeoutMs,
		sessionTimeoutMs:   p.sessionTimeoutMs,
		protocolType:       p.protocolType,
		protocols:          p.protocols,
		isNew:              true,
	}
	if g.is(classicPreparingRebalance) && g.previousState == classicEmpty {
		g.newMemberAdded = true
	}
	g.add(m, reply)
	// A new member cannot heartbeat while parked; give up on it after
	// the new-member join timeout rather than its session timeout.
	s.scheduleSession(g.id, m.id, classicNewMemberJoinTimeout)
	s.maybePrepareRebalanceOrCompleteJoin(fx, g, "new member joins", "member", m.id, "client_reason", p.reason)
}

// replaceStaticMemberAndRebalance hands a static member's place to its
// new member ID (updateStaticMemberThenRebalanceOrCompleteJoin). In a
// Stable group whose protocol would not change, there is no rebalance:
// the new ID is written and the member gets the current generation back.
func (s *Shard) replaceStaticMemberAndRebalance(fx *coord.Effects, g *classicGroup, p *joinParams, oldID, newID string, reply joinReply) {
	previousLeader := g.leader
	m := g.replaceStaticMember(*p.instanceID, oldID, newID)
	s.timers.Cancel(classicSessionKey(g.id, oldID))
	s.scheduleSession(g.id, newID, m.sessionTimeout())
	old := staticSnapshot{protocols: m.protocols, rebalanceTimeoutMs: m.rebalanceTimeoutMs, sessionTimeoutMs: m.sessionTimeoutMs}
	g.updateMember(m, p.protocols, p.rebalanceTimeoutMs, p.sessionTimeoutMs, reply)

	switch g.state {
	case classicStable:
		if g.protocolNameOrEmpty() != g.selectProtocol() {
			s.maybePrepareRebalanceOrCompleteJoin(fx, g, "static member changes the group's protocol", "member", newID)
			return
		}
		s.persistStaticReplacement(fx, g, p, m, oldID, previousLeader, old)
	case classicCompletingRebalance:
		// The leader may be computing an assignment for the old ID.
		s.prepareRebalance(fx, g, "static member rejoins while the leader assigns", "member", newID)
	default:
		s.maybeCompleteJoinPhase(fx, g)
	}
}

// staticSnapshot is what a static member's replacement changed, to put
// back if the replacement cannot be written.
type staticSnapshot struct {
	protocols          []kmsg.JoinGroupRequestProtocol
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
}

// persistStaticReplacement writes the group with the static member's new
// ID and answers the member once it is durable. A leader on v9+ gets the
// members with SkipAssignment (KIP-814); older leaders are told the
// previous leader ID so that they do not compute a new assignment.
func (s *Shard) persistStaticReplacement(fx *coord.Effects, g *classicGroup, p *joinParams, m *classicMember, oldID, previousLeader string, old staticSnapshot) {
	s.writeGroupMetadata(fx, g, g.groupAssignment())
	fx.Then(func(err error) {
		if g.members[m.id] != m {
			return
		}
		if err != nil {
			s.log.Warn("failed to write static member replacement; reverting", "group", g.id, "member", m.id, "old_member", oldID, "err", err)
			reply := m.awaitingJoin
			g.updateMember(m, old.protocols, old.rebalanceTimeoutMs, old.sessionTimeoutMs, nil)
			reverted := g.replaceStaticMember(*m.instanceID, m.id, oldID)
			s.timers.Cancel(classicSessionKey(g.id, m.id))
			s.scheduleSession(g.id, oldID, reverted.sessionTimeout())
			resp := g.currentJoinResponse("", false)
			resp.LeaderID = previousLeader
			resp.ErrorCode = writeFailure(err).Code
			if reply != nil {
				reply(resp)
			}
			return
		}
		if p.version >= 9 {
			isLeader := g.isLeader(m.id)
			resp := g.currentJoinResponse(m.id, isLeader)
			resp.SkipAssignment = isLeader
			g.completeJoin(m, resp)
			return
		}
		resp := g.currentJoinResponse(m.id, false)
		resp.LeaderID = previousLeader
		g.completeJoin(m, resp)
	})
}

// maybePrepareRebalanceOrCompleteJoin starts a rebalance if the group can,
// or else checks whether the running join phase is complete.
func (s *Shard) maybePrepareRebalanceOrCompleteJoin(fx *coord.Effects, g *classicGroup, reason string, fields ...any) {
	if g.canRebalance() {
		s.prepareRebalance(fx, g, reason, fields...)
		return
	}
	s.maybeCompleteJoinPhase(fx, g)
}

// prepareRebalance moves the group to PreparingRebalance. Members waiting
// for an assignment are told to rejoin. The first rebalance of an Empty
// group waits group.initial.rebalance.delay.ms for more members;
// otherwise the join phase ends when every member rejoined or after the
// rebalance timeout.
func (s *Shard) prepareRebalance(fx *coord.Effects, g *classicGroup, reason string, fields ...any) {
	if g.is(classicCompletingRebalance) {
		s.resetAndPropagateAssignmentWithError(g, kerr.RebalanceInProgress.Code)
	}
	s.removeSyncExpiration(g)
	initial := g.is(classicEmpty)
	if initial {
		delay := s.cfg.InitialRebalanceDelay
		s.scheduleInitialRebalance(g.id, delay, max(g.rebalanceTimeout()-delay, 0))
	}
	g.transition(classicPreparingRebalance, fx.Now)
	s.log.Info("preparing to rebalance group", append([]any{"group", g.id, "generation", g.generation, "reason", reason}, fields...)...)
	if !initial {
		s.maybeCompleteJoinElseSchedule(fx, g)
	}
}

// maybeCompleteJoinElseSchedule completes the join phase if everyone is
// in, or else gives the members the rebalance timeout to rejoin.
func (s *Shard) maybeCompleteJoinElseSchedule(fx *coord.Effects, g *classicGroup) {
	if g.hasAllMembersJoined() {
		s.completeJoinPhase(fx, g)
		return
	}
	s.scheduleJoinDeadline(g)
}

// scheduleJoinDeadline ends the join phase after the rebalance timeout.
func (s *Shard) scheduleJoinDeadline(g *classicGroup) {
	groupID := g.id
	s.timers.Schedule(classicJoinKey(groupID), g.rebalanceTimeout(), func(fx *coord.Effects) {
		if g := s.classic.groups[groupID]; g != nil {
			s.completeJoinPhase(fx, g)
		}
	})
}

// classicMinJoinRetry spaces the checks of a join phase that no member
// rejoined, so that members with a zero rebalance timeout (Kafka does not
// validate it) cannot make the check spin until their sessions expire.
const classicMinJoinRetry = time.Second

// scheduleJoinRetry checks again after the rebalance timeout (at least
// classicMinJoinRetry) whether members rejoined.
func (s *Shard) scheduleJoinRetry(g *classicGroup) {
	groupID := g.id
	s.timers.Schedule(classicJoinKey(groupID), max(g.rebalanceTimeout(), classicMinJoinRetry), func(fx *coord.Effects) {
		if g := s.classic.groups[groupID]; g != nil {
			s.completeJoinPhase(fx, g)
		}
	})
}

// scheduleInitialRebalance runs the initial delay (Kafka's
// InitialDelayedJoin): each time it ends with a new member having joined,
// it is extended, until the rebalance timeout is used up.
func (s *Shard) scheduleInitialRebalance(groupID string, delay, remaining time.Duration) {
	s.timers.Schedule(classicJoinKey(groupID), delay, func(fx *coord.Effects) {
		g := s.classic.groups[groupID]
		if g == nil {
			return
		}
		if g.newMemberAdded && remaining != 0 {
			g.newMemberAdded = false
			s.scheduleInitialRebalance(groupID, min(s.cfg.InitialRebalanceDelay, remaining), max(remaining-delay, 0))
			return
		}
		s.completeJoinPhase(fx, g)
	})
}

// maybeCompleteJoinPhase completes the join phase of a rebalance (not the
// initial one, which waits for its delay) once every member rejoined.
func (s *Shard) maybeCompleteJoinPhase(fx *coord.Effects, g *classicGroup) {
	if !g.is(classicPreparingRebalance) || g.previousState == classicEmpty || !g.hasAllMembersJoined() {
		return
	}
	s.completeJoinPhase(fx, g)
}

// completeJoinPhase ends the join phase (completeClassicGroupJoin):
// dynamic members that did not rejoin are removed, the next generation
// starts, and every parked JoinGroup is answered; the leader's answer
// lists the members. A group left without members becomes Empty and is
// written as such.
func (s *Shard) completeJoinPhase(fx *coord.Effects, g *classicGroup) {
	s.timers.Cancel(classicJoinKey(g.id))
	s.removeNotRejoinedDynamicMembers(g)
	if g.is(classicDead) {
		return
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait
		// for them (or for their sessions to expire).
		s.log.Warn("group could not complete rebalance because no members rejoined", "group", g.id)
		s.scheduleJoinRetry(g)
		return
	}
	g.initNextGeneration(fx.Now)
	if g.is(classicEmpty) {
		s.log.Info("group is now empty", "group", g.id, "generation", g.generation)
		s.writeGroupMetadata(fx, g, nil)
		fx.Then(func(err error) {
			if err != nil {
				s.log.Warn("failed to write empty classic group", "group", g.id, "err", err)
			}
		})
		return
	}
	s.log.Info("stabilized group", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", g.protocolNameOrEmpty())
	for _, id := range g.order {
		m := g.members[id]
		g.completeJoin(m, g.currentJoinResponse(id, g.isLeader(id)))
		s.scheduleSession(g.id, id, m.sessionTimeout())
		m.isNew = false
		g.pendingSync[id] = true
	}
	s.schedulePendingSync(g)
}

// removeNotRejoinedDynamicMembers drops the dynamic members that did not
// rejoin in time; static members keep their place until their session
// expires.
func (s *Shard) removeNotRejoinedDynamicMembers(g *classicGroup) {
	var removed []string
	for _, id := range slices.Clone(g.order) {
		m := g.members[id]
		if m.awaitingJoin != nil || m.instanceID != nil {
			continue
		}
		g.remove(id)
		s.timers.Cancel(classicSessionKey(g.id, id))
		removed = append(removed, id)
	}
	if len(removed) > 0 {
		s.log.Info("removed dynamic members that did not rejoin", "group", g.id, "members", removed)
	}
}

// scheduleSession (re)starts a member's session deadline.
func (s *Shard) scheduleSession(groupID, memberID string, timeout time.Duration) {
	s.timers.Schedule(classicSessionKey(groupID, memberID), timeout, func(fx *coord.Effects) {
		s.expireSession(fx, groupID, memberID)
	})
}

// expireSession handles a member's session deadline passing
// (expireClassicGroupMemberHeartbeat).
func (s *Shard) expireSession(fx *coord.Effects, groupID, memberID string) {
	g := s.classic.groups[groupID]
	if g == nil || g.is(classicDead) {
		return
	}
	if g.pendingJoin[memberID] {
		s.log.Info("pending member expired", "group", groupID, "member", memberID)
		g.remove(memberID)
		if g.is(classicPreparingRebalance) && g.hasAllMembersJoined() {
			s.completeJoinPhase(fx, g)
		}
		return
	}
	m := g.members[memberID]
	if m == nil || m.hasSatisfiedHeartbeat() {
		return
	}
	s.log.Info("member session expired; removing it", "group", groupID, "member", memberID)
	s.removeMemberAndRebalance(fx, g, m, "member session expired")
}

// removeMemberAndRebalance removes a failed member and rebalances
// (removeMemberAndUpdateClassicGroup).
func (s *Shard) removeMemberAndRebalance(fx *coord.Effects, g *classicGroup, m *classicMember, reason string) {
	g.completeJoin(m, joinError("", kerr.UnknownMemberID.Code))
	g.remove(m.id)
	switch {
	case g.is(classicStable) || g.is(classicCompletingRebalance):
		s.maybePrepareRebalanceOrCompleteJoin(fx, g, reason, "member", m.id)
	case g.is(classicPreparingRebalance) && g.hasAllMembersJoined():
		s.completeJoinPhase(fx, g)
	}
}

// Timer keys. A member timer's key carries the group ID's length so that
// no pair of group and member IDs can collide with another.

func classicSessionKey(groupID, memberID string) string {
	return "session/" + strconv.Itoa(len(groupID)) + "/" + groupID + "/" + memberID
}

func classicJoinKey(groupID string) string { return "join/" + groupID }

func classicSyncKey(groupID string) string { return "sync/" + groupID }

func classicRetryKey(groupID string) string { return "rebalance/" + groupID }
