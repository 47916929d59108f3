package controller

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// session is one broker's soft state on the active controller (Kafka's
// BrokerHeartbeatState): never in the metadata log, rebuilt by BecomeActive
// after a failover. Guarded by Controller.sessionMu.
type session struct {
	// lastContact is when the broker last registered or heartbeated.
	lastContact time.Time
	// metadataOffset is the CurrentMetadataOffset of its last heartbeat,
	// -1 before the first.
	metadataOffset int64
	// shutdownOffset is the image offset at which this controller applied
	// the broker's controlled shutdown, -1 when it is not shutting down.
	// The broker may stop once every active broker has caught up to it.
	shutdownOffset int64
}

// ReplicaState is what the controller knows of one broker's metadata
// replication, for DescribeQuorum.
type ReplicaState struct {
	NodeID int32
	// MetadataOffset is the CurrentMetadataOffset of the broker's last
	// heartbeat, -1 before the first.
	MetadataOffset int64
	// LastContact is when the broker last registered or heartbeated (or
	// when this controller became active, for brokers not heard from
	// since).
	LastContact time.Time
}

// brokerState is a broker's state as the heartbeat state machine sees it
// (Kafka's BrokerControlState).
type brokerState int

const (
	stateFenced brokerState = iota
	stateUnfenced
	stateControlledShutdown
	stateShutdownNow
)

func (s brokerState) String() string {
	return [...]string{"FENCED", "UNFENCED", "CONTROLLED_SHUTDOWN", "SHUTDOWN_NOW"}[s]
}

// fenced is what the heartbeat response says in IsFenced.
func (s brokerState) fenced() bool { return s == stateFenced || s == stateShutdownNow }

// BrokerRegistration handles BrokerRegistration (API 62, v0-v3), as Kafka's
// ClusterControlManager.registerBroker does: a cluster ID other than this
// cluster's is INCONSISTENT_CLUSTER_ID; an ID held by another incarnation
// whose session is still valid is DUPLICATE_BROKER_REGISTRATION (the old
// process may still be alive; a restarted broker retries until the old
// session expires); the same incarnation registering the same listeners
// and rack again gets its epoch back and changes nothing (a retry after a
// lost response or a controller failover). The controller's own node ID is
// exempt from the duplicate check: a combined node restarted after a crash
// is the only process that can hold it. Anything else is a new
// registration: a new broker epoch, fenced until its heartbeats show it
// has caught up with the metadata log. A replaced registration that was
// still unfenced first loses its leaderships and ISR memberships, in the
// same batch, as a session expiry would do.
func (c *Controller) BrokerRegistration(ctx context.Context, req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse {
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	if c.standby() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	img := c.quorum.Image()
	// This controller's own node ID cannot be held by another live
	// process (this one is that node), so after a restart a combined node
	// re-registers at once instead of waiting out its old session.
	liveSession := req.BrokerID != c.cfg.NodeID && c.validSession(img, req.BrokerID, now)
	reg, failure := planRegistration(img, req, liveSession, &c.cfg)
	if failure != nil {
		c.cfg.Logger.Info("broker registration refused", "broker", req.BrokerID, "err", failure.err())
		resp.ErrorCode = failure.errorCode()
		return resp
	}
	if code := c.proposeLocked(ctx, reg.records); code != nil {
		resp.ErrorCode = code.Code
		return resp
	}
	c.logUnclean(reg.unclean)
	if len(reg.records) > 0 {
		c.startSession(req.BrokerID, now)
		c.cfg.Logger.Info("broker registered", "broker", req.BrokerID, "epoch", reg.epoch, "incarnation", fmt.Sprintf("%x", req.IncarnationID))
	} else {
		c.touch(req.BrokerID, now, -1)
	}
	resp.BrokerEpoch = reg.epoch
	return resp
}

// registration is a planned BrokerRegistration.
type registration struct {
	records []metadata.Record
	unclean []uncleanElection
	epoch   int64
}

// planRegistration is the pure core of BrokerRegistration. liveSession says
// whether the current registration of the ID is unfenced with a session
// that has not expired.
func planRegistration(img *metadata.Image, req *kmsg.BrokerRegistrationRequest, liveSession bool, cfg *Config) (registration, *apiError) {
	if req.BrokerID < 0 {
		return registration{}, newAPIError(kerr.InvalidRequest, "Invalid broker ID %d.", req.BrokerID)
	}
	// A broker-only node that has never joined has no metadata yet, so no
	// cluster ID to name: it learns it once it follows the log.
	if id := img.ClusterID(); id != "" && req.ClusterID != "" && req.ClusterID != id {
		return registration{}, newAPIError(kerr.InconsistentClusterID, "Expected cluster ID %s, but got cluster ID %s", id, req.ClusterID)
	}
	existing := img.Broker(req.BrokerID)
	if existing != nil && liveSession && existing.IncarnationID != req.IncarnationID {
		return registration{}, newAPIError(kerr.DuplicateBrokerRegistration,
			"Another broker is registered with that broker id. If the broker was recently restarted this should self-resolve once the heartbeat manager expires the broker's session.")
	}
	broker := metadata.Broker{
		NodeID:        req.BrokerID,
		Endpoints:     registrationEndpoints(req.Listeners),
		Rack:          req.Rack,
		IncarnationID: req.IncarnationID,
	}
	if existing != nil && existing.IncarnationID == req.IncarnationID && sameListeners(existing, &broker) {
		return registration{epoch: existing.BrokerEpoch}, nil
	}
	broker.BrokerEpoch = nextBrokerEpoch(img, req.BrokerID)
	broker.Fenced = true
	p := newPlanner(img, cfg)
	var records []metadata.Record
	if existing != nil && !existing.Fenced {
		records = p.removeBroker(req.BrokerID, nil)
	}
	records = append(records, &metadata.RegisterBrokerRecord{Broker: broker})
	return registration{records: records, unclean: p.unclean, epoch: broker.BrokerEpoch}, nil
}

// nextBrokerEpoch is the epoch of a new registration of id: above the image
// offset, which is at least the offset of every earlier registration and so
// above every epoch given before (Kafka uses the record's own offset, which
// a Raft proposal cannot know in advance), and above the current epoch.
func nextBrokerEpoch(img *metadata.Image, id int32) int64 {
	epoch := img.Offset() + 1
	if b := img.Broker(id); b != nil && b.BrokerEpoch >= epoch {
		epoch = b.BrokerEpoch + 1
	}
	return epoch
}

func registrationEndpoints(listeners []kmsg.BrokerRegistrationRequestListener) []metadata.Endpoint {
	endpoints := make([]metadata.Endpoint, 0, len(listeners))
	for _, l := range listeners {
		endpoints = append(endpoints, metadata.Endpoint{
			Listener: l.Name, Host: l.Host, Port: int32(l.Port), SecurityProtocol: l.SecurityProtocol,
		})
	}
	return endpoints
}

// sameListeners reports whether two registrations advertise the same
// endpoints and rack.
func sameListeners(a, b *metadata.Broker) bool {
	sameRack := (a.Rack == nil) == (b.Rack == nil) && (a.Rack == nil || *a.Rack == *b.Rack)
	return sameRack && slices.Equal(a.Endpoints, b.Endpoints)
}

// checkBrokerEpoch is Kafka's ClusterControlManager.checkBrokerEpoch.
func checkBrokerEpoch(img *metadata.Image, id int32, epoch int64) *apiError {
	b := img.Broker(id)
	if b == nil {
		return newAPIError(kerr.StaleBrokerEpoch, "No broker registration found for broker id %d", id)
	}
	if b.BrokerEpoch != epoch {
		return newAPIError(kerr.StaleBrokerEpoch, "Expected broker epoch %d, but got broker epoch %d", b.BrokerEpoch, epoch)
	}
	return nil
}

// BrokerHeartbeat handles BrokerHeartbeat (API 63, v0-v1) with Kafka's
// state machine (BrokerHeartbeatManager.calculateNextBrokerState and
// ReplicationControlManager.processBrokerHeartbeat). A wrong epoch is
// STALE_BROKER_EPOCH. Otherwise the heartbeat renews the session and:
//
//   - a fenced broker is unfenced once its CurrentMetadataOffset has
//     reached its registration (IsCaughtUp), and leaderless partitions
//     elect leaders; asking to shut down answers ShouldShutdown at once;
//   - an unfenced broker asking to be fenced (WantFence) is fenced: it
//     leaves its ISRs (never emptying one) and its leaderships move;
//   - an unfenced broker asking to shut down (WantShutdown) that leads
//     something enters controlled shutdown: its leaderships move to other
//     ISR members and it leaves the ISRs it can; one that leads nothing,
//     or a broker in controlled shutdown that no longer does once every
//     active broker has caught up with the moves, is fenced and answered
//     ShouldShutdown.
func (c *Controller) BrokerHeartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	if c.standby() {
		resp.ErrorCode = kerr.NotController.Code
		return resp
	}
	now := c.cfg.Now()
	if failure := checkBrokerEpoch(c.quorum.Image(), req.BrokerID, req.BrokerEpoch); failure != nil {
		resp.ErrorCode = failure.errorCode()
		return resp
	}
	// Renew the session before waiting for mu: a Tick that runs while a
	// proposal holds mu must not fence a broker whose heartbeat is queued.
	c.touch(req.BrokerID, now, req.CurrentMetadataOffset)

	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.quorum.Image()
	if failure := checkBrokerEpoch(img, req.BrokerID, req.BrokerEpoch); failure != nil {
		resp.ErrorCode = failure.errorCode()
		return resp
	}
	broker := img.Broker(req.BrokerID)
	current := brokerStateOf(broker, c.sessionOf(req.BrokerID))
	next := c.nextBrokerState(img, req, current)
	p := newPlanner(img, &c.cfg)
	if err := p.transition(req.BrokerID, current, next); err != nil {
		c.cfg.Logger.Error("broker heartbeat planning failed", "broker", req.BrokerID, "err", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp
	}
	if code := c.proposeLocked(ctx, p.records); code != nil {
		resp.ErrorCode = code.Code
		return resp
	}
	c.logUnclean(p.unclean)
	c.afterTransition(req.BrokerID, current, next)
	resp.IsCaughtUp = req.CurrentMetadataOffset >= broker.RegisteredAt
	resp.IsFenced = next.fenced()
	resp.ShouldShutdown = next == stateShutdownNow
	return resp
}

// brokerStateOf is the heartbeat state of a registration: fenced from the
// image, in controlled shutdown from this controller's session (after a
// failover a shutting-down broker is first seen as unfenced, and its next
// WantShutdown heartbeat re-runs the leadership moves, as in Kafka).
func brokerStateOf(b *metadata.Broker, s session) brokerState {
	switch {
	case b.Fenced:
		return stateFenced
	case s.shutdownOffset >= 0:
		return stateControlledShutdown
	}
	return stateUnfenced
}

// nextBrokerState is Kafka's calculateNextBrokerState.
func (c *Controller) nextBrokerState(img *metadata.Image, req *kmsg.BrokerHeartbeatRequest, current brokerState) brokerState {
	broker := img.Broker(req.BrokerID)
	switch current {
	case stateFenced:
		switch {
		case req.WantShutdown:
			return stateShutdownNow
		case !req.WantFence && req.CurrentMetadataOffset >= broker.RegisteredAt:
			return stateUnfenced
		}
		return stateFenced
	case stateUnfenced:
		switch {
		case req.WantFence && req.WantShutdown:
			return stateShutdownNow
		case req.WantFence:
			return stateFenced
		case req.WantShutdown && leadsAny(img, req.BrokerID):
			return stateControlledShutdown
		case req.WantShutdown:
			return stateShutdownNow
		}
		return stateUnfenced
	case stateControlledShutdown:
		leads := leadsAny(img, req.BrokerID)
		shutdownOffset, lowest := c.sessionOf(req.BrokerID).shutdownOffset, c.lowestActiveOffset(img)
		if !leads && shutdownOffset <= lowest {
			return stateShutdownNow
		}
		// Leaderships that could not move (no other live ISR member), or
		// an active broker that has not reported applying the moves yet.
		c.cfg.Logger.Debug("controlled shutdown waiting", "broker", req.BrokerID, "leads_partitions", leads,
			"shutdown_offset", shutdownOffset, "lowest_active_offset", lowest)
		return stateControlledShutdown
	}
	return stateShutdownNow
}

// transition plans the records of a heartbeat state change (Kafka's
// processBrokerHeartbeat switch).
func (p *planner) transition(id int32, current, next brokerState) error {
	if current == next {
		return nil
	}
	switch next {
	case stateFenced, stateShutdownNow:
		return p.fence(id, nil)
	case stateUnfenced:
		return p.unfence(id)
	case stateControlledShutdown:
		return p.controlledShutdown(id)
	}
	return nil
}

// afterTransition updates the session once a transition is committed.
func (c *Controller) afterTransition(id int32, current, next brokerState) {
	if current == next {
		return
	}
	c.cfg.Logger.Info("broker state changed", "broker", id, "from", current.String(), "to", next.String())
	switch {
	case next == stateControlledShutdown:
		c.setShutdownOffset(id, c.quorum.Image().Offset())
	case next.fenced():
		c.setShutdownOffset(id, -1)
	}
}

// lowestActiveOffset is the lowest metadata offset reported by an active
// broker (-1 for one not heard from since this controller became active),
// math.MaxInt64 when there is none.
func (c *Controller) lowestActiveOffset(img *metadata.Image) int64 {
	lowest := int64(math.MaxInt64)
	for _, b := range img.Brokers() {
		if !b.Active() {
			continue
		}
		offset := int64(-1)
		if s, ok := c.lookupSession(b.NodeID); ok {
			offset = s.metadataOffset
		}
		lowest = min(lowest, offset)
	}
	return lowest
}

// Tick runs the active controller's periodic work; the driver calls it
// about every 100 ms. It fences every unfenced broker whose session has
// expired (no heartbeat for broker.session.timeout.ms): the broker leaves
// its ISRs, never emptying one, and its partitions elect leaders from the
// live ISR, or get leader -1 when there is no live ISR member (unless
// unclean.leader.election.enable lets a live replica outside the ISR take
// over, logged at WARN). It elects leaders for leaderless partitions that
// can have one, and, with auto.leader.rebalance.enable, moves leadership
// back to preferred replicas every leader.imbalance.check.interval.seconds.
// All of it is one batch; an error is the failed proposal's.
func (c *Controller) Tick(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	img := c.quorum.Image()
	stale := c.staleBrokers(img, now)
	excluded := make(map[int32]bool, len(stale))
	for _, id := range stale {
		excluded[id] = true
	}
	p := newPlanner(img, &c.cfg)
	for _, id := range stale {
		if err := p.fence(id, excluded); err != nil {
			return fmt.Errorf("tick: fence broker %d: %w", id, err)
		}
	}
	if err := p.electLeaderless(); err != nil {
		return fmt.Errorf("tick: elect leaders: %w", err)
	}
	balanced, more := false, false
	if c.cfg.AutoLeaderRebalanceEnable && c.rebalanceDueLocked(now) {
		var err error
		if more, err = p.balanceLeaders(); err != nil {
			return fmt.Errorf("tick: balance leaders: %w", err)
		}
		balanced = true
	}
	if code := c.proposeLocked(ctx, p.records); code != nil {
		return fmt.Errorf("tick: %w", code)
	}
	for _, id := range stale {
		c.cfg.Logger.Info("broker fenced: session expired", "broker", id, "session_timeout", c.cfg.SessionTimeout)
		c.setShutdownOffset(id, -1)
	}
	c.logUnclean(p.unclean)
	if balanced && !more {
		c.lastBalance = now
	}
	return nil
}

// RebalanceLeaders moves leadership back to preferred replicas now (Kafka's
// maybeBalancePartitionLeaders): every partition whose first replica is an
// active ISR member but not the leader elects it, up to 1000 per call.
// With AutoLeaderRebalanceEnable, Tick already does this once per
// LeaderImbalanceCheckInterval; a driver that also calls RebalanceLeaders
// on that interval restarts the same clock, so the two do not double up.
func (c *Controller) RebalanceLeaders(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := newPlanner(c.quorum.Image(), &c.cfg)
	more, err := p.balanceLeaders()
	if err != nil {
		return fmt.Errorf("balance leaders: %w", err)
	}
	if code := c.proposeLocked(ctx, p.records); code != nil {
		return fmt.Errorf("balance leaders: %w", code)
	}
	if !more {
		c.lastBalance = c.cfg.Now()
	}
	return nil
}

// rebalanceDueLocked reports whether the imbalance check interval has
// passed since the last rebalance (counting from the first Tick when
// BecomeActive was not called).
func (c *Controller) rebalanceDueLocked(now time.Time) bool {
	if c.lastBalance.IsZero() {
		c.lastBalance = now
		return false
	}
	return now.Sub(c.lastBalance) >= c.cfg.LeaderImbalanceCheckInterval
}

// BecomeActive starts this controller's term as the active one; the driver
// calls it after a Raft barrier on gaining leadership, before the first
// Tick. Session state is not in the log, so every registered broker gets a
// fresh session from now (Kafka's ClusterControlManager.activate): a broker
// that died during the failover is fenced one session timeout later.
func (c *Controller) BecomeActive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	sessions := make(map[int32]*session)
	for _, b := range c.quorum.Image().Brokers() {
		sessions[b.NodeID] = &session{lastContact: now, metadataOffset: -1, shutdownOffset: -1}
	}
	c.sessionMu.Lock()
	c.sessions = sessions
	c.sessionMu.Unlock()
	c.lastBalance = now
}

// ReplicaStates returns every broker session, by node ID, for
// DescribeQuorum. It does not wait for a metadata commit in flight.
func (c *Controller) ReplicaStates() []ReplicaState {
	c.sessionMu.Lock()
	defer c.sessionMu.Unlock()
	states := make([]ReplicaState, 0, len(c.sessions))
	for _, id := range slices.Sorted(maps.Keys(c.sessions)) {
		s := c.sessions[id]
		states = append(states, ReplicaState{NodeID: id, MetadataOffset: s.metadataOffset, LastContact: s.lastContact})
	}
	return states
}

// staleBrokers returns the unfenced brokers whose session has expired, by
// node ID. A registered broker without a session (none was started: no
// BecomeActive) gets one from now, so it is not fenced before it had a
// chance to heartbeat.
func (c *Controller) staleBrokers(img *metadata.Image, now time.Time) []int32 {
	c.sessionMu.Lock()
	defer c.sessionMu.Unlock()
	var stale []int32
	for _, b := range img.Brokers() {
		if b.Fenced || (c.cfg.KeepSelfUnfenced && b.NodeID == c.cfg.NodeID) {
			continue
		}
		s := c.sessions[b.NodeID]
		if s == nil {
			c.sessions[b.NodeID] = &session{lastContact: now, metadataOffset: -1, shutdownOffset: -1}
			continue
		}
		if now.Sub(s.lastContact) > c.cfg.SessionTimeout {
			stale = append(stale, b.NodeID)
		}
	}
	return stale
}

// validSession is Kafka's hasValidSession: the registration is unfenced
// and heard from within the session timeout.
func (c *Controller) validSession(img *metadata.Image, id int32, now time.Time) bool {
	b := img.Broker(id)
	if b == nil || b.Fenced {
		return false
	}
	s, ok := c.lookupSession(id)
	return ok && now.Sub(s.lastContact) <= c.cfg.SessionTimeout
}

// startSession gives a new registration of id a session from now, keeping
// the last metadata offset it reported.
func (c *Controller) startSession(id int32, now time.Time) {
	c.sessionMu.Lock()
	defer c.sessionMu.Unlock()
	offset := int64(-1)
	if s := c.sessions[id]; s != nil {
		offset = s.metadataOffset
	}
	c.sessions[id] = &session{lastContact: now, metadataOffset: offset, shutdownOffset: -1}
}

// touch renews id's session; metadataOffset -1 keeps the one reported last.
func (c *Controller) touch(id int32, now time.Time, metadataOffset int64) {
	c.sessionMu.Lock()
	defer c.sessionMu.Unlock()
	s := c.sessions[id]
	if s == nil {
		s = &session{metadataOffset: -1, shutdownOffset: -1}
		c.sessions[id] = s
	}
	s.lastContact = now
	if metadataOffset >= 0 {
		s.metadataOffset = metadataOffset
	}
}

func (c *Controller) setShutdownOffset(id int32, offset int64) {
	c.sessionMu.Lock()
	defer c.sessionMu.Unlock()
	if s := c.sessions[id]; s != nil {
		s.shutdownOffset = offset
	}
}

// lookupSession returns a copy of id's session.
func (c *Controller) lookupSession(id int32) (session, bool) {
	c.sessionMu.Lock()
	defer c.sessionMu.Unlock()
	if s := c.sessions[id]; s != nil {
		return *s, true
	}
	return session{}, false
}

// sessionOf is lookupSession with a broker never heard from reading as an
// empty session (not shutting down).
func (c *Controller) sessionOf(id int32) session {
	if s, ok := c.lookupSession(id); ok {
		return s
	}
	return session{metadataOffset: -1, shutdownOffset: -1}
}

// logUnclean reports committed unclean elections: the one decision that
// can lose acknowledged records.
func (c *Controller) logUnclean(elections []uncleanElection) {
	for _, e := range elections {
		c.cfg.Logger.Warn("unclean leader election: records acknowledged by the previous in-sync replicas may be lost",
			"topic", e.topic, "partition", e.partition, "leader", e.leader, "previous_isr", e.lostISR)
	}
}
