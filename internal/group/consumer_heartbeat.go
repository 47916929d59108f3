package group

// ConsumerGroupHeartbeat (API key 68) v0-v1, the consumer rebalance
// protocol (KIP-848; v1: the client generates its member ID, KIP-1082),
// after Kafka's GroupCoordinatorService and
// GroupMetadataManager.consumerGroupHeartbeat / consumerGroupLeave.
//
// One heartbeat: (1) create or update the member; a changed subscription,
// or a change in the subscribed topics' metadata, bumps the group epoch;
// (2) if the group epoch is ahead of the target assignment, run the
// assignor; (3) reconcile the member towards its target. Each step adds
// records; nothing changes in memory until they are durable and replayed.
// An error discards the records of the heartbeat, as Kafka does.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/metadata"
)

// groupError is a Kafka error with the message the response carries.
type groupError struct {
	err     *kerr.Error
	message string
}

func (e *groupError) Error() string { return e.err.Message + ": " + e.message }

func newGroupError(err *kerr.Error, format string, args ...any) error {
	return &groupError{err: err, message: fmt.Sprintf(format, args...)}
}

// heartbeat is one ConsumerGroupHeartbeat in progress: the request, the
// records it will write and the timers it will set once they are written.
type heartbeat struct {
	req     *kmsg.ConsumerGroupHeartbeatRequest
	client  ClientInfo
	image   *metadata.Image
	records []coord.Record
}

func (h *heartbeat) add(records ...coord.Record) { h.records = append(h.records, records...) }

// ConsumerGroupHeartbeat handles a ConsumerGroupHeartbeat request (v0-v1)
// with the metadata image the API layer read when it arrived; the image is
// an argument so that the shard stays deterministic. respond is called
// once, after the heartbeat's records are durable.
func (s *Shard) ConsumerGroupHeartbeat(fx *coord.Effects, req *kmsg.ConsumerGroupHeartbeatRequest, client ClientInfo, image *metadata.Image, respond func(*kmsg.ConsumerGroupHeartbeatResponse)) {
	if image == nil {
		image = metadata.NewImage()
	}
	s.consumer.image = image
	h := &heartbeat{req: req, client: client, image: image}
	resp, err := s.consumerHeartbeat(fx, h)
	if err != nil {
		resp = heartbeatError(req.Version, err)
		fx.Then(func(error) { respond(resp) })
		return
	}
	for _, r := range h.records {
		fx.Append(r)
	}
	fx.Then(func(werr error) {
		if werr != nil {
			s.log.Warn("consumer group heartbeat not written", "group", req.Group, "err", werr)
			respond(heartbeatError(req.Version, werr))
			return
		}
		respond(resp)
	})
}

// heartbeatError is the response for an error: a Kafka error with its
// message, or a failed write mapped as Kafka maps it.
func heartbeatError(version int16, err error) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = version
	var ge *groupError
	if errors.As(err, &ge) {
		resp.ErrorCode = ge.err.Code
		resp.ErrorMessage = kmsg.StringPtr(ge.message)
		return resp
	}
	resp.ErrorCode = writeFailure(err).Code
	return resp
}

func (s *Shard) consumerHeartbeat(fx *coord.Effects, h *heartbeat) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	if err := s.validateHeartbeat(h.req); err != nil {
		return nil, err
	}
	if h.req.MemberEpoch == leaveEpoch || h.req.MemberEpoch == staticLeaveEpoch {
		return s.consumerLeave(h)
	}
	return s.consumerJoinOrHeartbeat(fx, h)
}

// validateHeartbeat is GroupCoordinatorService's request validation
// (INVALID_REQUEST, UNSUPPORTED_ASSIGNOR).
func (s *Shard) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) error {
	invalid := func(msg string) error { return newGroupError(kerr.InvalidRequest, "%s", msg) }
	if (req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == leaveEpoch) && req.MemberID == "" {
		return invalid("MemberId can't be empty.")
	}
	switch {
	case req.Group == "":
		return invalid("GroupId can't be empty.")
	case req.InstanceID != nil && *req.InstanceID == "":
		return invalid("InstanceId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return invalid("RackId can't be empty.")
	}
	switch {
	case req.MemberEpoch == joinEpoch:
		if err := validateJoin(req); err != nil {
			return err
		}
	case req.MemberEpoch == staticLeaveEpoch && req.InstanceID == nil:
		return invalid("InstanceId can't be null.")
	case req.MemberEpoch < staticLeaveEpoch:
		return invalid("MemberEpoch is invalid.")
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		return invalid("SubscribedTopicRegex is not supported by this broker yet; subscribe by topic names.")
	}
	if req.ServerAssignor != nil && !slices.Contains(s.consumerAssignors(), *req.ServerAssignor) {
		return newGroupError(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: %s.",
			*req.ServerAssignor, strings.Join(s.consumerAssignors(), ", "))
	}
	return nil
}

func validateJoin(req *kmsg.ConsumerGroupHeartbeatRequest) error {
	switch {
	case req.RebalanceTimeoutMillis == -1:
		return newGroupError(kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request.")
	case req.Topics == nil || len(req.Topics) > 0:
		return newGroupError(kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining.")
	case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return newGroupError(kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
	}
	return nil
}

// consumerJoinOrHeartbeat is GroupMetadataManager.consumerGroupHeartbeat.
func (s *Shard) consumerJoinOrHeartbeat(fx *coord.Effects, h *heartbeat) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	req := h.req
	joining := req.MemberEpoch == joinEpoch
	g, err := s.consumerGroupFor(h, joining)
	if err != nil {
		return nil, err
	}
	if len(g.members) >= s.consumerMaxSize() && (req.MemberID == "" || g.members[req.MemberID] == nil) {
		return nil, newGroupError(kerr.GroupMaxSizeReached, "The consumer group has reached its maximum capacity of %d members.", s.consumerMaxSize())
	}
	memberID := req.MemberID
	if memberID == "" {
		memberID = s.classic.newUUID()
	}
	member, replaced, err := s.heartbeatMember(h, g, memberID, joining)
	if err != nil {
		return nil, err
	}
	updated := h.updatedMember(member)
	subscriptionChanged := false
	isNew := g.members[member.id] == nil && replaced == ""
	if isNew || !updated.sameSubscription(member) {
		h.add(memberMetadataRecord(g.id, updated))
		subscriptionChanged = !slices.Equal(updated.topics, member.topics)
	}
	groupEpoch := s.maybeBumpGroupEpoch(h, g, updated, replaced, subscriptionChanged)
	targetEpoch, target := g.assignmentEpoch, g.targetFor(updated)
	if groupEpoch > g.assignmentEpoch {
		target = s.updateTarget(h, g, groupEpoch, updated, replaced)
		targetEpoch = groupEpoch
	}
	updated, err = s.maybeReconcile(h, g, updated, targetEpoch, target)
	if err != nil {
		return nil, err
	}
	s.scheduleConsumerSession(g.id, updated.id)
	return s.heartbeatResponse(req, member, updated), nil
}

// heartbeatResponse carries the member's assignment when it (re)joined,
// sent a full request, or its assignment changed.
func (s *Shard) heartbeatResponse(req *kmsg.ConsumerGroupHeartbeatRequest, before, after *consumerMember) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.MemberID = kmsg.StringPtr(after.id)
	resp.MemberEpoch = after.epoch
	resp.HeartbeatIntervalMillis = int32(s.consumerHeartbeatInterval().Milliseconds())
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if req.MemberEpoch == joinEpoch || full || !after.assigned.equal(before.assigned) {
		resp.Assignment = heartbeatAssignment(after.assigned)
	}
	return resp
}

func heartbeatAssignment(ps partitionSet) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, topic := range sortedTopicIDs(ps) {
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = topic, slices.Clone(ps[topic])
		a.Topics = append(a.Topics, t)
	}
	return &a
}

// consumerGroupFor finds the heartbeat's group (getOrMaybeCreateConsumerGroup).
// A joining member creates it: a new group exists in memory only once its
// records are replayed. A classic group of the same ID without members is
// deleted to make room (its offsets stay); one with members makes the
// heartbeat fail with GROUP_ID_NOT_FOUND (online migration of classic
// groups, group.consumer.migration.policy, is not supported).
func (s *Shard) consumerGroupFor(h *heartbeat, create bool) (*consumerGroup, error) {
	groupID := h.req.Group
	if g := s.consumer.groups[groupID]; g != nil {
		return g, nil
	}
	classic := s.classic.groups[groupID]
	switch {
	case classic != nil && (!create || !classic.is(classicEmpty) || len(classic.members) > 0):
		return nil, newGroupError(kerr.GroupIDNotFound, "Group %s is not a consumer group.", groupID)
	case !create:
		return nil, newGroupError(kerr.GroupIDNotFound, "Consumer group %s not found.", groupID)
	case classic != nil:
		h.add(coord.Record{Key: groupMetadataKey(groupID)})
		s.log.Info("converting the empty classic group to a consumer group", "group", groupID)
	}
	return newConsumerGroup(groupID), nil
}

// heartbeatMember finds or creates the member the heartbeat is for
// (getOrMaybeSubscribeDynamic/StaticConsumerGroupMember). replaced is the
// ID of a static member the heartbeat's member takes over from, "" if none.
func (s *Shard) heartbeatMember(h *heartbeat, g *consumerGroup, memberID string, joining bool) (member *consumerMember, replaced string, err error) {
	req := h.req
	if req.InstanceID == nil {
		member = g.members[memberID]
		if member == nil {
			if !joining {
				return nil, "", newGroupError(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, g.id)
			}
			s.log.Info("member joins the consumer group", "group", g.id, "member", memberID)
			return newConsumerMember(memberID), "", nil
		}
		return member, "", validateMemberEpoch(member, req.MemberEpoch, req.Topics)
	}
	instanceID := *req.InstanceID
	existing := g.staticMember(instanceID)
	if !joining {
		switch {
		case existing == nil:
			return nil, "", newGroupError(kerr.UnknownMemberID, "Instance id %s is unknown.", instanceID)
		case existing.id != memberID:
			return nil, "", newGroupError(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", memberID, instanceID, existing.id)
		}
		return existing, "", validateMemberEpoch(existing, req.MemberEpoch, req.Topics)
	}
	if existing == nil {
		s.log.Info("static member joins the consumer group", "group", g.id, "member", memberID, "instance", instanceID)
		if m := g.members[memberID]; m != nil {
			return m, "", nil
		}
		return newConsumerMember(memberID), "", nil
	}
	if existing.epoch != staticLeaveEpoch {
		return nil, "", newGroupError(kerr.UnreleasedInstanceID, "Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.", memberID, instanceID, existing.id)
	}
	return s.replaceStaticMember(h, g, existing, memberID), existing.id, nil
}

// replaceStaticMember hands a departed static member's subscription and
// assignment to the member that rejoined with its instance ID, at epoch 0
// (replaceMember).
func (s *Shard) replaceStaticMember(h *heartbeat, g *consumerGroup, old *consumerMember, newID string) *consumerMember {
	m := old.clone()
	m.id, m.epoch, m.previousEpoch = newID, 0, 0
	h.add(memberTombstones(g.id, old.id)...)
	h.add(memberMetadataRecord(g.id, m), targetMemberRecord(g.id, newID, g.targetOf(old.id)), currentAssignmentRecord(g.id, m))
	s.log.Info("static member rejoins the consumer group", "group", g.id, "member", newID, "replaced", old.id, "instance", *old.instanceID)
	return m
}

// validateMemberEpoch checks the epoch a member sent
// (throwIfConsumerGroupMemberEpochIsInvalid): 0 (rejoin) is always valid;
// a greater epoch is fenced; a smaller one is accepted only if it is the
// previous epoch and the member owns no more than its assignment (the
// response that bumped it was lost).
func validateMemberEpoch(m *consumerMember, epoch int32, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) error {
	if epoch == joinEpoch {
		return nil
	}
	const abandon = "The member must abandon all its partitions and rejoin."
	if epoch > m.epoch {
		return newGroupError(kerr.FencedMemberEpoch, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). %s", epoch, m.epoch, abandon)
	}
	if epoch < m.epoch && (epoch != m.previousEpoch || !ownsOnly(owned, m.assigned)) {
		return newGroupError(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). %s", epoch, m.epoch, abandon)
	}
	return nil
}

// ownsOnly reports whether every reported partition is in ps (isSubset);
// a heartbeat that did not report is not.
func ownsOnly(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, ps partitionSet) bool {
	if owned == nil {
		return false
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !ps.contains(t.TopicID, p) {
				return false
			}
		}
	}
	return true
}

// updatedMember applies what the request sets to a copy of the member.
func (h *heartbeat) updatedMember(m *consumerMember) *consumerMember {
	req := h.req
	u := m.clone()
	if req.InstanceID != nil {
		u.instanceID = cloneStringPtr(req.InstanceID)
	}
	if req.RackID != nil {
		u.rackID = cloneStringPtr(req.RackID)
	}
	if req.RebalanceTimeoutMillis != -1 {
		u.rebalanceTimeoutMs = req.RebalanceTimeoutMillis
	}
	if req.ServerAssignor != nil {
		u.serverAssignor = cloneStringPtr(req.ServerAssignor)
	}
	if req.SubscribedTopicNames != nil {
		u.topics = sortedDistinct(req.SubscribedTopicNames)
	}
	u.clientID, u.clientHost = h.client.ClientID, h.client.ClientHost
	return u
}

// sortedDistinct copies names, sorted and without repeats.
func sortedDistinct(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

// maybeBumpGroupEpoch bumps the group epoch when the group is new, the
// member's subscription changed, or the subscribed topics' metadata hash
// moved; it returns the (new) group epoch.
func (s *Shard) maybeBumpGroupEpoch(h *heartbeat, g *consumerGroup, updated *consumerMember, replaced string, subscriptionChanged bool) int32 {
	bump := g.epoch == 0 || subscriptionChanged
	if !bump && g.checkedImage == h.image && g.checkedEpoch == g.epoch {
		return g.epoch
	}
	hash := metadataHash(h.image, g.subscribedNamesWith(updated, replaced))
	g.checkedImage, g.checkedEpoch = h.image, g.epoch
	if !bump && hash == g.metadataHash {
		return g.epoch
	}
	epoch := g.epoch + 1
	h.add(groupEpochRecord(g.id, epoch, hash))
	g.checkedEpoch = epoch
	s.log.Info("bumped consumer group epoch", "group", g.id, "epoch", epoch, "subscription_changed", subscriptionChanged)
	return epoch
}

// subscribedNamesWith lists the topic names the group subscribes to, with
// updated (if not nil) in place of its old self and without the members
// in skip, sorted.
func (g *consumerGroup) subscribedNamesWith(updated *consumerMember, skip ...string) []string {
	var names []string
	for id, m := range g.members {
		if (updated != nil && id == updated.id) || slices.Contains(skip, id) {
			continue
		}
		names = append(names, m.topics...)
	}
	if updated != nil {
		names = append(names, updated.topics...)
	}
	return sortedDistinct(names)
}

// targetFor is a member's target, or for a static member that just
// replaced another, the target of the member it replaced.
func (g *consumerGroup) targetFor(m *consumerMember) partitionSet {
	if t := g.target[m.id]; t != nil {
		return t
	}
	if m.instanceID != nil {
		if previous, ok := g.staticMembers[*m.instanceID]; ok {
			return g.targetOf(previous)
		}
	}
	return partitionSet{}
}

// updateTarget runs the group's assignor for groupEpoch with updated in
// the group, adds the records of the targets that changed and of the new
// target epoch, and returns updated's target (updateTargetAssignment).
func (s *Shard) updateTarget(h *heartbeat, g *consumerGroup, groupEpoch int32, updated *consumerMember, replaced string) partitionSet {
	members := map[string]*consumerMember{}
	for id, m := range g.members {
		if id != replaced {
			members[id] = m
		}
	}
	members[updated.id] = updated
	assignor := s.preferredAssignor(members)
	spec := &assignSpec{}
	var names []string
	for _, m := range members {
		names = append(names, m.topics...)
	}
	spec.topics = resolveTopics(h.image, sortedDistinct(names))
	for _, id := range sortedMemberIDs(members) {
		m := members[id]
		current := g.target[id]
		if id == updated.id {
			current = g.targetFor(updated)
		}
		spec.members = append(spec.members, assignMember{id: id, topics: topicIDSet(h.image, m.topics), current: current})
	}
	targets := assign(assignor, spec)
	for _, am := range spec.members {
		if old, ok := g.target[am.id]; !ok || !old.equal(targets[am.id]) {
			h.add(targetMemberRecord(g.id, am.id, targets[am.id]))
		}
	}
	h.add(targetEpochRecord(g.id, groupEpoch))
	s.log.Info("computed a new target assignment", "group", g.id, "epoch", groupEpoch, "assignor", assignor, "members", len(members))
	return targets[updated.id]
}

func sortedMemberIDs(members map[string]*consumerMember) []string {
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// topicIDSet resolves subscribed topic names to the IDs of those that exist.
func topicIDSet(image *metadata.Image, names []string) map[[16]byte]bool {
	ids := map[[16]byte]bool{}
	for _, t := range resolveTopics(image, names) {
		ids[t.id] = true
	}
	return ids
}

// preferredAssignor is the server assignor most members asked for (ties
// go to the one configured first), or the first configured one
// (computePreferredServerAssignor).
func (s *Shard) preferredAssignor(members map[string]*consumerMember) string {
	counts := map[string]int{}
	for _, m := range members {
		if m.serverAssignor != nil {
			counts[*m.serverAssignor]++
		}
	}
	configured := s.consumerAssignors()
	best := configured[0]
	for _, name := range configured {
		if counts[name] > counts[best] {
			best = name
		}
	}
	return best
}

// maybeReconcile moves the member towards its target and records the new
// state (maybeReconcile): a member left revoking gets a rebalance
// deadline, other states cancel it.
func (s *Shard) maybeReconcile(h *heartbeat, g *consumerGroup, m *consumerMember, targetEpoch int32, target partitionSet) (*consumerMember, error) {
	if m.reconciledTo(targetEpoch) {
		return m, nil
	}
	next, fenced := g.reconcile(m, targetEpoch, target, h.req.Topics)
	if fenced {
		return nil, newGroupError(kerr.FencedMemberEpoch, "The consumer group member is in a unknown state. The member must abandon all its partitions and rejoin.")
	}
	if next == m || next.sameAssignment(m) {
		return m, nil
	}
	h.add(currentAssignmentRecord(g.id, next))
	if next.state == memberUnrevokedPartitions {
		s.scheduleConsumerRebalance(g.id, next.id, next.epoch, next.rebalanceTimeoutMs)
	} else {
		s.timers.Cancel(consumerRebalanceKey(g.id, next.id))
	}
	return next, nil
}

// consumerLeave handles epochs -1 (leave) and -2 (a static member leaving
// for now) (consumerGroupLeave).
func (s *Shard) consumerLeave(h *heartbeat) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	req := h.req
	g, err := s.existingConsumerGroup(req.Group)
	if err != nil {
		return nil, err
	}
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.MemberID, resp.MemberEpoch = kmsg.StringPtr(req.MemberID), req.MemberEpoch
	var m *consumerMember
	if req.InstanceID == nil {
		if m = g.members[req.MemberID]; m == nil {
			return nil, newGroupError(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, g.id)
		}
	} else {
		if m = g.staticMember(*req.InstanceID); m == nil {
			return nil, newGroupError(kerr.UnknownMemberID, "Instance id %s is unknown.", *req.InstanceID)
		}
		if m.id != req.MemberID {
			return nil, newGroupError(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", req.MemberID, *req.InstanceID, m.id)
		}
		if req.MemberEpoch == staticLeaveEpoch {
			left := m.clone()
			left.epoch, left.revoking = staticLeaveEpoch, partitionSet{}
			h.add(currentAssignmentRecord(g.id, left))
			s.log.Info("static member left the consumer group for now", "group", g.id, "member", m.id, "instance", *req.InstanceID)
			return resp, nil
		}
	}
	s.log.Info("member left the consumer group", "group", g.id, "member", m.id)
	h.add(s.fenceRecords(g, m)...)
	return resp, nil
}

// existingConsumerGroup returns a consumer group or the GROUP_ID_NOT_FOUND
// error Kafka gives (consumerGroup(groupId)).
func (s *Shard) existingConsumerGroup(groupID string) (*consumerGroup, error) {
	if g := s.consumer.groups[groupID]; g != nil {
		return g, nil
	}
	if s.classic.groups[groupID] != nil {
		return nil, newGroupError(kerr.GroupIDNotFound, "Group %s is not a consumer group.", groupID)
	}
	return nil, newGroupError(kerr.GroupIDNotFound, "Group %s not found.", groupID)
}

// fenceRecords remove a member and bump the group epoch so the others are
// reassigned its partitions (consumerGroupFenceMember); its timers stop.
func (s *Shard) fenceRecords(g *consumerGroup, m *consumerMember) []coord.Record {
	records := memberTombstones(g.id, m.id)
	hash := g.metadataHash
	if s.consumer.image != nil {
		hash = metadataHash(s.consumer.image, g.subscribedNamesWith(nil, m.id))
	}
	records = append(records, groupEpochRecord(g.id, g.epoch+1, hash))
	s.cancelConsumerTimers(g.id, m.id)
	return records
}

// scheduleConsumerSession (re)starts a member's session: if it does not
// heartbeat within group.consumer.session.timeout.ms it is fenced.
func (s *Shard) scheduleConsumerSession(groupID, memberID string) {
	s.timers.Schedule(consumerSessionKey(groupID, memberID), s.consumerSessionTimeout(), func(fx *coord.Effects) {
		s.fenceExpired(fx, groupID, memberID, -1, "the member session expired")
	})
}

// scheduleConsumerRebalance gives a member revoking partitions its
// rebalance timeout to finish; if it is still at epoch by then, it is
// fenced.
func (s *Shard) scheduleConsumerRebalance(groupID, memberID string, epoch, timeoutMs int32) {
	timeout := time.Duration(max(timeoutMs, 0)) * time.Millisecond
	s.timers.Schedule(consumerRebalanceKey(groupID, memberID), timeout, func(fx *coord.Effects) {
		s.fenceExpired(fx, groupID, memberID, epoch, "it failed to revoke its partitions within the rebalance timeout")
	})
}

// fenceExpired fences a member whose timer fired, if it is still there
// (and, with epoch >= 0, still at that epoch).
func (s *Shard) fenceExpired(fx *coord.Effects, groupID, memberID string, epoch int32, reason string) {
	g := s.consumer.groups[groupID]
	if g == nil || g.members[memberID] == nil {
		return
	}
	m := g.members[memberID]
	if epoch >= 0 && m.epoch != epoch {
		return
	}
	s.log.Info("member fenced from the consumer group", "group", groupID, "member", memberID, "reason", reason)
	for _, r := range s.fenceRecords(g, m) {
		fx.Append(r)
	}
}

func (s *Shard) cancelConsumerTimers(groupID, memberID string) {
	s.timers.Cancel(consumerSessionKey(groupID, memberID))
	s.timers.Cancel(consumerRebalanceKey(groupID, memberID))
}

func consumerSessionKey(groupID, memberID string) string {
	return "consumer-session/" + strconv.Itoa(len(groupID)) + "/" + groupID + "/" + memberID
}

func consumerRebalanceKey(groupID, memberID string) string {
	return "consumer-rebalance/" + strconv.Itoa(len(groupID)) + "/" + groupID + "/" + memberID
}

// consumerLoaded restarts, after the partition was replayed, every
// member's session and the rebalance deadline of members revoking
// partitions (GroupMetadataManager.onLoaded).
func (s *Shard) consumerLoaded() {
	for _, groupID := range s.consumerGroupIDs() {
		g := s.consumer.groups[groupID]
		s.log.Debug("loaded consumer group", "group", groupID, "members", len(g.members), "epoch", g.epoch)
		for _, id := range g.memberIDs() {
			m := g.members[id]
			s.scheduleConsumerSession(groupID, id)
			if m.state == memberUnrevokedPartitions {
				s.scheduleConsumerRebalance(groupID, id, m.epoch, m.rebalanceTimeoutMs)
			}
		}
	}
}

// Consumer-group settings with Kafka's defaults for a zero Config.
func (s *Shard) consumerSessionTimeout() time.Duration {
	if s.cfg.ConsumerSessionTimeout <= 0 {
		return 45 * time.Second
	}
	return s.cfg.ConsumerSessionTimeout
}

func (s *Shard) consumerHeartbeatInterval() time.Duration {
	if s.cfg.ConsumerHeartbeatInterval <= 0 {
		return 5 * time.Second
	}
	return s.cfg.ConsumerHeartbeatInterval
}

func (s *Shard) consumerMaxSize() int {
	if s.cfg.ConsumerMaxSize <= 0 {
		return int(^uint(0) >> 1)
	}
	return int(s.cfg.ConsumerMaxSize)
}

// consumerAssignors lists the configured server assignors we have,
// preferred first ("uniform", "range" if none is configured).
func (s *Shard) consumerAssignors() []string {
	var names []string
	for _, configured := range s.cfg.ConsumerAssignors {
		if name := assignorName(configured); name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return []string{uniformAssignor, rangeAssignor}
	}
	return names
}
