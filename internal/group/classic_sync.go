package group

// SyncGroup (API key 14) v0-v5, Heartbeat (API key 12) v0-v4 and
// LeaveGroup (API key 13) v0-v5 for classic groups: KIP-345 (instance IDs,
// SyncGroup/Heartbeat v3+, batched LeaveGroup v3+), KIP-559 (protocol
// type and name in SyncGroup v5+), KIP-800 (leave reason, v5+), after
// Kafka's GroupMetadataManager.classicGroupSync/Heartbeat/Leave.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// SyncGroup handles a SyncGroup request (v0-v5). respond is called
// exactly once: a follower's SyncGroup is parked until the leader's
// assignment is durable; the leader's is answered once its assignment
// record is written.
func (s *Shard) SyncGroup(fx *coord.Effects, req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	reply := onceSyncReply(req.Version, respond)
	if req.Group == "" {
		reply(syncError(kerr.InvalidGroupID.Code))
		return
	}
	g := s.classic.groups[req.Group]
	if g == nil || g.is(classicEmpty) {
		reply(syncError(kerr.UnknownMemberID.Code))
		return
	}
	if code := validateSync(g, req); code != 0 {
		reply(syncError(code))
		return
	}
	switch g.state {
	case classicPreparingRebalance:
		reply(syncError(kerr.RebalanceInProgress.Code))
	case classicCompletingRebalance:
		g.parkSync(g.members[req.MemberID], reply)
		s.removePendingSyncMember(g, req.MemberID)
		if g.isLeader(req.MemberID) {
			s.storeAssignment(fx, g, req)
		}
	case classicStable:
		s.removePendingSyncMember(g, req.MemberID)
		reply(g.syncResponse(g.members[req.MemberID], 0))
	}
}

// onceSyncReply wraps respond so that it runs at most once and stamps the
// response with the request's version.
func onceSyncReply(version int16, respond func(*kmsg.SyncGroupResponse)) syncReply {
	answered := false
	return func(resp *kmsg.SyncGroupResponse) {
		if answered {
			return
		}
		answered = true
		resp.Version = version
		respond(resp)
	}
}

// validateSync checks a SyncGroup's member, generation and (v5+)
// protocol type and name against the group.
func validateSync(g *classicGroup, req *kmsg.SyncGroupRequest) int16 {
	if g.is(classicDead) {
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	if protocolInconsistent(req.ProtocolType, g.protocolTypeOrNil()) || protocolInconsistent(req.Protocol, g.protocolName) {
		return kerr.InconsistentGroupProtocol.Code
	}
	return 0
}

// protocolInconsistent reports whether a protocol type or name given in a
// request differs from the group's (either may be absent).
func protocolInconsistent(requested, current *string) bool {
	return requested != nil && current != nil && *requested != *current
}

// syncResponse is a member's SyncGroup answer: its assignment with the
// group's protocol, or an error with an empty assignment.
func (g *classicGroup) syncResponse(m *classicMember, code int16) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ErrorCode = code
	resp.MemberAssignment = m.assignment
	if code == 0 {
		resp.ProtocolType = g.protocolTypeOrNil()
		resp.Protocol = g.protocolName
	}
	return resp
}

// storeAssignment writes the leader's assignment (members it left out
// get an empty one) and, once it is durable, hands every member its part
// and makes the group Stable. If the write fails the members are told to
// rejoin and the group rebalances.
func (s *Shard) storeAssignment(fx *coord.Effects, g *classicGroup, req *kmsg.SyncGroupRequest) {
	assignment := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		assignment[a.MemberID] = slices.Clone(a.MemberAssignment)
	}
	var missing []string
	for _, id := range g.order {
		if _, ok := assignment[id]; !ok {
			assignment[id] = []byte{}
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		s.log.Warn("leader left members without assignment", "group", g.id, "generation", g.generation, "members", missing)
	}
	s.log.Info("assignment received from leader", "group", g.id, "leader", req.MemberID, "generation", g.generation, "members", len(g.members))
	s.writeGroupMetadata(fx, g, assignment)
	generation := req.Generation
	fx.Then(func(err error) {
		if s.classic.groups[g.id] != g || !g.is(classicCompletingRebalance) || g.generation != generation {
			return
		}
		if err != nil {
			s.log.Warn("failed to write group assignment", "group", g.id, "generation", generation, "err", err)
			s.resetAndPropagateAssignmentWithError(g, writeFailure(err).Code)
			s.scheduleRebalanceAfterWriteFailure(g, generation)
			return
		}
		for _, m := range g.members {
			m.assignment = assignment[m.id]
		}
		s.propagateAssignment(g, 0)
		g.transition(classicStable, fx.Now)
	})
}

// scheduleRebalanceAfterWriteFailure rebalances a group whose assignment
// could not be written. It runs as its own operation: a completion runs
// after its operation's records were written and cannot add more.
func (s *Shard) scheduleRebalanceAfterWriteFailure(g *classicGroup, generation int32) {
	groupID := g.id
	s.timers.Schedule(classicRetryKey(groupID), 0, func(fx *coord.Effects) {
		g := s.classic.groups[groupID]
		if g == nil || g.generation != generation || !g.is(classicCompletingRebalance) {
			return
		}
		s.maybePrepareRebalanceOrCompleteJoin(fx, g, "storing the group assignment failed")
	})
}

// resetAndPropagateAssignmentWithError clears every assignment and
// answers parked SyncGroups with code.
func (s *Shard) resetAndPropagateAssignmentWithError(g *classicGroup, code int16) {
	for _, m := range g.members {
		m.assignment = []byte{}
	}
	s.propagateAssignment(g, code)
}

// propagateAssignment answers every parked SyncGroup and restarts the
// session of each member answered (its deadline may have passed while it
// waited, and an expiry then is ignored).
func (s *Shard) propagateAssignment(g *classicGroup, code int16) {
	for _, id := range g.order {
		m := g.members[id]
		if code == 0 && len(m.assignment) == 0 {
			s.log.Warn("sending empty assignment", "group", g.id, "member", id, "generation", g.generation)
		}
		if g.completeSync(m, g.syncResponse(m, code)) {
			s.scheduleSession(g.id, id, m.sessionTimeout())
		}
	}
}

// schedulePendingSync gives the members the rebalance timeout to send
// SyncGroup; those that do not are removed and the group rebalances.
func (s *Shard) schedulePendingSync(g *classicGroup) {
	groupID, generation := g.id, g.generation
	s.timers.Schedule(classicSyncKey(groupID), g.rebalanceTimeout(), func(fx *coord.Effects) {
		s.expirePendingSync(fx, groupID, generation)
	})
}

// expirePendingSync removes the members that did not sync in time.
func (s *Shard) expirePendingSync(fx *coord.Effects, groupID string, generation int32) {
	g := s.classic.groups[groupID]
	if g == nil || g.generation != generation || len(g.pendingSync) == 0 {
		return
	}
	if !g.is(classicCompletingRebalance) && !g.is(classicStable) {
		return
	}
	var removed []string
	for _, id := range slices.Clone(g.order) {
		if g.pendingSync[id] {
			g.remove(id)
			s.timers.Cancel(classicSessionKey(groupID, id))
			removed = append(removed, id)
		}
	}
	s.prepareRebalance(fx, g, "members did not sync in time", "members", removed)
}

// removeSyncExpiration stops waiting for SyncGroups (a new rebalance
// starts).
func (s *Shard) removeSyncExpiration(g *classicGroup) {
	clear(g.pendingSync)
	s.timers.Cancel(classicSyncKey(g.id))
}

// removePendingSyncMember notes a member's SyncGroup; the sync deadline
// goes once every member synced.
func (s *Shard) removePendingSyncMember(g *classicGroup, memberID string) {
	delete(g.pendingSync, memberID)
	if len(g.pendingSync) == 0 || !(g.is(classicCompletingRebalance) || g.is(classicStable)) {
		s.timers.Cancel(classicSyncKey(g.id))
	}
}

// Heartbeat handles a Heartbeat request (v0-v4): it keeps a member's
// session alive and tells it when to rejoin (REBALANCE_IN_PROGRESS).
func (s *Shard) Heartbeat(fx *coord.Effects, req *kmsg.HeartbeatRequest, respond func(*kmsg.HeartbeatResponse)) {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	resp.ErrorCode = s.heartbeat(req)
	fx.Then(func(error) { respond(resp) })
}

func (s *Shard) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := s.classic.groups[req.Group]
	switch {
	case g == nil:
		return kerr.UnknownMemberID.Code
	case g.is(classicDead):
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case classicPreparingRebalance:
		s.scheduleSession(g.id, m.id, m.sessionTimeout())
		return kerr.RebalanceInProgress.Code
	case classicCompletingRebalance, classicStable:
		// Members may heartbeat as soon as they have their JoinGroup
		// answer, before the group is Stable.
		s.scheduleSession(g.id, m.id, m.sessionTimeout())
		return 0
	default:
		return kerr.UnknownMemberID.Code
	}
}

// LeaveGroup handles a LeaveGroup request: one member by ID (v0-v2) or a
// batch of members by ID or instance ID (v3+, KIP-345; an instance ID
// with an empty member ID removes a static member administratively).
// Below v3 the single member's error is the response's error.
func (s *Shard) LeaveGroup(fx *coord.Effects, req *kmsg.LeaveGroupRequest, respond func(*kmsg.LeaveGroupResponse)) {
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	switch g := s.classic.groups[req.Group]; {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case g == nil:
		for _, l := range leaving {
			resp.Members = append(resp.Members, leaveResult(l, kerr.UnknownMemberID.Code))
		}
	case g.is(classicDead):
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	default:
		resp.Members = s.leave(fx, g, leaving)
	}
	fx.Then(func(err error) {
		if err != nil {
			resp.ErrorCode = writeFailure(err).Code
			resp.Members = nil
		}
		if req.Version < 3 {
			foldLeaveErrors(resp)
		}
		respond(resp)
	})
}

// leave removes the leaving members it can and rebalances the group if
// any left (classicGroupLeaveToClassicGroup).
func (s *Shard) leave(fx *coord.Effects, g *classicGroup, leaving []kmsg.LeaveGroupRequestMember) []kmsg.LeaveGroupResponseMember {
	results := make([]kmsg.LeaveGroupResponseMember, 0, len(leaving))
	var left []string
	for _, l := range leaving {
		code := s.leaveOne(g, l)
		results = append(results, leaveResult(l, code))
		if code == 0 {
			left = append(left, l.MemberID)
		}
	}
	if len(left) == 0 {
		return results
	}
	switch g.state {
	case classicStable, classicCompletingRebalance:
		s.maybePrepareRebalanceOrCompleteJoin(fx, g, "members left the group", "members", left)
	case classicPreparingRebalance:
		s.maybeCompleteJoinPhase(fx, g)
	}
	return results
}

// leaveOne removes one leaving member; it returns the member's error.
func (s *Shard) leaveOne(g *classicGroup, l kmsg.LeaveGroupRequestMember) int16 {
	reason := "not provided"
	if l.Reason != nil {
		reason = *l.Reason
	}
	switch {
	case l.MemberID == "":
		if l.InstanceID == nil {
			return kerr.UnknownMemberID.Code
		}
		memberID, ok := g.staticMembers[*l.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		s.removeLeavingMember(g, memberID, reason)
	case g.pendingJoin[l.MemberID]:
		g.remove(l.MemberID)
		s.timers.Cancel(classicSessionKey(g.id, l.MemberID))
		s.log.Info("pending member left the group", "group", g.id, "member", l.MemberID, "client_reason", reason)
	default:
		if code := g.validateMember(l.MemberID, l.InstanceID); code != 0 {
			return code
		}
		s.removeLeavingMember(g, l.MemberID, reason)
	}
	return 0
}

// removeLeavingMember removes a member that asked to leave; a JoinGroup
// it has parked gets UNKNOWN_MEMBER_ID.
func (s *Shard) removeLeavingMember(g *classicGroup, memberID, reason string) {
	s.timers.Cancel(classicSessionKey(g.id, memberID))
	s.log.Info("member left the group", "group", g.id, "member", memberID, "client_reason", reason)
	g.completeJoin(g.members[memberID], joinError("", kerr.UnknownMemberID.Code))
	g.remove(memberID)
}

func leaveResult(l kmsg.LeaveGroupRequestMember, code int16) kmsg.LeaveGroupResponseMember {
	r := kmsg.NewLeaveGroupResponseMember()
	r.MemberID = l.MemberID
	r.InstanceID = l.InstanceID
	r.ErrorCode = code
	return r
}

// foldLeaveErrors shapes a response for LeaveGroup v0-v2, which has no
// member list: the top-level error, else the first member error.
func foldLeaveErrors(resp *kmsg.LeaveGroupResponse) {
	if resp.ErrorCode == 0 {
		for _, m := range resp.Members {
			if m.ErrorCode != 0 {
				resp.ErrorCode = m.ErrorCode
				break
			}
		}
	}
	resp.Members = nil
}
