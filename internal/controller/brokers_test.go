package controller

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

var (
	topicA = [16]byte{0xa0}
	topicB = [16]byte{0xb0}
)

func registrationRequest(id int32, incarnation byte) *kmsg.BrokerRegistrationRequest {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID = id
	req.ClusterID = "cluster"
	req.IncarnationID = [16]byte{incarnation, 0xff}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "h", uint16(9000+id)
	req.Listeners = append(req.Listeners, l)
	return req
}

// A new registration is fenced, gets an epoch above every offset so far and
// remembers the offset it was applied at.
func TestBrokerRegistrationNewBroker(t *testing.T) {
	ct := newClusterTest(t, clusterImage(t, unfencedBrokers(1)), nil)
	req := registrationRequest(4, 1)
	req.Rack = strPtr("r1")
	resp := ct.c.BrokerRegistration(t.Context(), req)
	if resp.ErrorCode != 0 || resp.BrokerEpoch != 11 {
		t.Fatalf("response = %+v, want epoch 11 (image offset 10 + 1)", resp)
	}
	b := ct.broker(4)
	want := metadata.Broker{NodeID: 4, Rack: strPtr("r1"), IncarnationID: req.IncarnationID, BrokerEpoch: 11, Fenced: true,
		RegisteredAt: 11, Endpoints: []metadata.Endpoint{{Listener: "PLAINTEXT", Host: "h", Port: 9004}}}
	if !reflect.DeepEqual(*b, want) {
		t.Fatalf("registration:\n got %+v\nwant %+v", *b, want)
	}
}

func TestBrokerRegistrationRules(t *testing.T) {
	topics := testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2}, []int32{1, 2}, 1),
		part([]int32{1}, []int32{1}, 1),
	}}
	tests := []struct {
		name      string
		req       func() *kmsg.BrokerRegistrationRequest
		expire    bool // let broker 1's session lapse first
		code      *kerr.Error
		epoch     int64
		proposals int
	}{
		{"same incarnation and listeners: idempotent", func() *kmsg.BrokerRegistrationRequest {
			req := registrationRequest(1, 0)
			req.IncarnationID = [16]byte{1}
			return req
		}, false, nil, brokerEpoch(1), 0},
		{"another incarnation within the session", func() *kmsg.BrokerRegistrationRequest { return registrationRequest(1, 9) }, false,
			kerr.DuplicateBrokerRegistration, -1, 0},
		// The new epoch is above the old one (101) and the image offset (10).
		{"another incarnation after the session expired", func() *kmsg.BrokerRegistrationRequest { return registrationRequest(1, 9) }, true,
			nil, brokerEpoch(1) + 1, 1},
		{"wrong cluster ID", func() *kmsg.BrokerRegistrationRequest {
			req := registrationRequest(3, 1)
			req.ClusterID = "other"
			return req
		}, false, kerr.InconsistentClusterID, -1, 0},
		{"negative broker ID", func() *kmsg.BrokerRegistrationRequest { return registrationRequest(-1, 1) }, false, kerr.InvalidRequest, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := newClusterTest(t, clusterImage(t, unfencedBrokers(2), topics), nil)
			if tt.expire {
				ct.clock.Advance(2 * time.Second)
				ct.heartbeat(2, nil)
			}
			resp := ct.c.BrokerRegistration(t.Context(), tt.req())
			wantCode := int16(0)
			if tt.code != nil {
				wantCode = tt.code.Code
			}
			if resp.ErrorCode != wantCode || resp.BrokerEpoch != tt.epoch || ct.q.proposals != tt.proposals {
				t.Fatalf("response %+v after %d proposals, want code %d epoch %d after %d", resp, ct.q.proposals, wantCode, tt.epoch, tt.proposals)
			}
		})
	}
}

// A restarted broker (new incarnation) whose old registration was still
// unfenced loses its leaderships and ISR memberships in the registration's
// own batch, like a session expiry.
func TestBrokerRegistrationReplacingALiveRegistrationMovesLeaders(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(2), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2}, []int32{1, 2}, 1),
		part([]int32{1}, []int32{1}, 1),
	}})
	ct := newClusterTest(t, img, nil)
	ct.clock.Advance(2 * time.Second)
	ct.heartbeat(2, nil)
	if resp := ct.c.BrokerRegistration(t.Context(), registrationRequest(1, 9)); resp.ErrorCode != 0 {
		t.Fatalf("registration: %+v", resp)
	}
	ct.wantPartition("a", 0, 2, []int32{2}, 1, 1)
	ct.wantPartition("a", 1, -1, []int32{1}, 1, 1)
	if b := ct.broker(1); !b.Fenced || b.IncarnationID != ([16]byte{9, 0xff}) {
		t.Fatalf("broker 1 = %+v", b)
	}
}

func TestBrokerHeartbeatStaleEpoch(t *testing.T) {
	ct := newClusterTest(t, clusterImage(t, unfencedBrokers(1)), nil)
	for name, mutate := range map[string]func(*kmsg.BrokerHeartbeatRequest){
		"wrong epoch":    func(r *kmsg.BrokerHeartbeatRequest) { r.BrokerEpoch = 5 },
		"unknown broker": func(r *kmsg.BrokerHeartbeatRequest) { r.BrokerID = 7 },
	} {
		if resp := ct.heartbeat(1, mutate); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
			t.Errorf("%s: code %d, want STALE_BROKER_EPOCH", name, resp.ErrorCode)
		}
	}
}

// A fenced broker is unfenced once it has replayed its own registration
// (CurrentMetadataOffset >= RegisteredAt), and leaderless partitions whose
// ISR it is in elect it.
func TestBrokerHeartbeatUnfencesWhenCaughtUp(t *testing.T) {
	img := clusterImage(t, []testBroker{{id: 1, fenced: true}, {id: 2}}, testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 3, PartitionEpoch: 4},
		part([]int32{2, 1}, []int32{2}, 2),
	}})
	ct := newClusterTest(t, img, nil)
	resp := ct.heartbeat(1, func(r *kmsg.BrokerHeartbeatRequest) { r.CurrentMetadataOffset = 9 })
	if resp.ErrorCode != 0 || resp.IsCaughtUp || !resp.IsFenced || resp.ShouldShutdown {
		t.Fatalf("behind: %+v, want fenced, not caught up", resp)
	}
	if resp := ct.heartbeat(1, func(r *kmsg.BrokerHeartbeatRequest) { r.WantFence = true }); !resp.IsFenced {
		t.Fatalf("caught up but asking to stay fenced: %+v", resp)
	}
	resp = ct.heartbeat(1, nil)
	if resp.ErrorCode != 0 || !resp.IsCaughtUp || resp.IsFenced {
		t.Fatalf("caught up: %+v, want unfenced", resp)
	}
	if ct.broker(1).Fenced {
		t.Fatalf("image still shows broker 1 fenced")
	}
	ct.wantPartition("a", 0, 1, []int32{1}, 4, 5)
	ct.wantPartition("a", 1, 2, []int32{2}, 0, 0)
	if again := ct.heartbeat(1, nil); again.IsFenced || ct.q.proposals != 1 {
		t.Fatalf("steady heartbeat: %+v after %d proposals", again, ct.q.proposals)
	}
}

// WantFence fences an unfenced broker at once.
func TestBrokerHeartbeatWantFence(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(2), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2}, []int32{1, 2}, 1),
	}})
	ct := newClusterTest(t, img, nil)
	if resp := ct.heartbeat(1, func(r *kmsg.BrokerHeartbeatRequest) { r.WantFence = true }); !resp.IsFenced || resp.ShouldShutdown {
		t.Fatalf("response = %+v, want fenced", resp)
	}
	ct.wantPartition("a", 0, 2, []int32{2}, 1, 1)
	if !ct.broker(1).Fenced {
		t.Fatalf("broker 1 not fenced")
	}
}

// Controlled shutdown: leaderships move to other ISR members, the broker
// leaves the ISRs it can, and it may stop once it leads nothing and every
// active broker has caught up with the moves.
func TestBrokerHeartbeatControlledShutdown(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(3), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2}, []int32{1, 2}, 1),
		part([]int32{2, 1}, []int32{2, 1}, 2),
		part([]int32{1}, []int32{1}, 1),
	}})
	ct := newClusterTest(t, img, nil)
	shutdown := func(r *kmsg.BrokerHeartbeatRequest) { r.WantShutdown = true }
	resp := ct.heartbeat(1, shutdown)
	if resp.ErrorCode != 0 || resp.IsFenced || resp.ShouldShutdown {
		t.Fatalf("start: %+v, want controlled shutdown in progress", resp)
	}
	ct.wantPartition("a", 0, 2, []int32{2}, 1, 1)
	ct.wantPartition("a", 1, 2, []int32{2}, 0, 1)
	ct.wantPartition("a", 2, -1, []int32{1}, 1, 1)
	if b := ct.broker(1); !b.InControlledShutdown || b.Fenced || b.Active() {
		t.Fatalf("broker 1 = %+v, want in controlled shutdown", b)
	}
	movesAt := ct.image().Offset()

	// Brokers 2 and 3 have not yet reported reaching the moves.
	if resp := ct.heartbeat(1, shutdown); resp.ShouldShutdown || resp.IsFenced {
		t.Fatalf("before the others caught up: %+v", resp)
	}
	ct.heartbeat(2, func(r *kmsg.BrokerHeartbeatRequest) { r.CurrentMetadataOffset = movesAt })
	ct.heartbeat(3, func(r *kmsg.BrokerHeartbeatRequest) { r.CurrentMetadataOffset = movesAt - 1 })
	if resp := ct.heartbeat(1, shutdown); resp.ShouldShutdown {
		t.Fatalf("broker 3 behind: %+v", resp)
	}
	ct.heartbeat(3, func(r *kmsg.BrokerHeartbeatRequest) { r.CurrentMetadataOffset = movesAt })
	resp = ct.heartbeat(1, shutdown)
	if !resp.ShouldShutdown || !resp.IsFenced {
		t.Fatalf("done: %+v, want ShouldShutdown", resp)
	}
	if !ct.broker(1).Fenced {
		t.Fatalf("broker 1 not fenced after its shutdown")
	}
	ct.wantPartition("a", 2, -1, []int32{1}, 1, 1)
}

// A broker asking to shut down while leading nothing, or while fenced, may
// stop at once.
func TestBrokerHeartbeatImmediateShutdown(t *testing.T) {
	img := clusterImage(t, []testBroker{{id: 1}, {id: 2}, {id: 3, fenced: true}}, testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2}, []int32{1, 2}, 1),
	}})
	ct := newClusterTest(t, img, nil)
	shutdown := func(r *kmsg.BrokerHeartbeatRequest) { r.WantShutdown = true }
	if resp := ct.heartbeat(2, shutdown); !resp.ShouldShutdown || !resp.IsFenced {
		t.Fatalf("follower: %+v, want ShouldShutdown", resp)
	}
	ct.wantPartition("a", 0, 1, []int32{1}, 0, 1)
	proposals := ct.q.proposals
	if resp := ct.heartbeat(3, shutdown); !resp.ShouldShutdown || ct.q.proposals != proposals {
		t.Fatalf("fenced broker: %+v, %d new proposals", resp, ct.q.proposals-proposals)
	}
}

// Tick fences brokers whose session expired: leaderships move to the live
// ISR, ISRs shrink but never empty, and leader -1 when no ISR member lives.
func TestTickFencesExpiredSessions(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(3), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2, 3}, []int32{1, 2, 3}, 1),
		part([]int32{2, 1}, []int32{2, 1}, 2),
		part([]int32{1, 3}, []int32{1}, 1),
		part([]int32{3}, []int32{3}, 3),
	}})
	ct := newClusterTest(t, img, nil)
	ct.clock.Advance(1500 * time.Millisecond)
	ct.heartbeat(2, nil)
	ct.heartbeat(3, nil)
	ct.tick()
	if ct.q.proposals != 0 {
		t.Fatalf("Tick at exactly the session timeout proposed %d batches", ct.q.proposals)
	}
	ct.clock.Advance(time.Millisecond)
	ct.tick()
	if !ct.broker(1).Fenced || ct.broker(2).Fenced {
		t.Fatalf("fencing: broker 1 %+v, broker 2 %+v", ct.broker(1), ct.broker(2))
	}
	ct.wantPartition("a", 0, 2, []int32{2, 3}, 1, 1)
	ct.wantPartition("a", 1, 2, []int32{2}, 0, 1)
	ct.wantPartition("a", 2, -1, []int32{1}, 1, 1)
	ct.wantPartition("a", 3, 3, []int32{3}, 0, 0)
	if !ct.logged("INFO", "broker fenced: session expired", "broker=1") {
		t.Fatalf("fencing not logged:\n%s", ct.log.String())
	}

	// Broker 1 comes back (same incarnation, still registered): once it
	// is unfenced, the partition it is the last ISR member of elects it.
	ct.heartbeat(1, nil)
	ct.wantPartition("a", 2, 1, []int32{1}, 2, 2)
}

// Two brokers expiring in the same Tick: neither takes over from the
// other.
func TestTickFencesSeveralBrokersTogether(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(3), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2, 3}, []int32{1, 2, 3}, 1),
		part([]int32{1, 2}, []int32{1, 2}, 1),
	}})
	ct := newClusterTest(t, img, nil)
	ct.clock.Advance(2 * time.Second)
	ct.heartbeat(3, nil)
	ct.tick()
	// Broker 1's fence cannot hand a-0 to broker 2 (expiring too); broker
	// 2's fence then finds a-1's ISR already down to its last member.
	ct.wantPartition("a", 0, 3, []int32{3}, 1, 2)
	ct.wantPartition("a", 1, -1, []int32{2}, 1, 1)
	if ct.q.proposals != 1 {
		t.Fatalf("%d proposals, want one batch", ct.q.proposals)
	}
}

// unclean.leader.election.enable (the topic's, else the broker default):
// with no live ISR member the first live replica leads alone, and the
// election is logged at WARN.
func TestTickUncleanElection(t *testing.T) {
	topics := func(configs map[string]string) testTopic {
		return testTopic{name: "a", id: topicA, configs: configs, partitions: []metadata.Partition{
			part([]int32{1, 2, 3}, []int32{1}, 1),
		}}
	}
	tests := []struct {
		name          string
		configs       map[string]string
		brokerDefault bool
		wantLeader    int32
		wantISR       []int32
	}{
		{"disabled", nil, false, -1, []int32{1}},
		{"topic enables", map[string]string{uncleanLeaderElectionConfig: "true"}, false, 2, []int32{2}},
		{"broker default enables", nil, true, 2, []int32{2}},
		{"topic disables over the default", map[string]string{uncleanLeaderElectionConfig: "false"}, true, -1, []int32{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := newClusterTest(t, clusterImage(t, unfencedBrokers(3), topics(tt.configs)), func(c *Config) {
				c.UncleanLeaderElectionEnable = tt.brokerDefault
			})
			ct.clock.Advance(2 * time.Second)
			ct.heartbeat(2, nil)
			ct.heartbeat(3, nil)
			ct.tick()
			ct.wantPartition("a", 0, tt.wantLeader, tt.wantISR, 1, 1)
			p := ct.partition("a", 0)
			unclean := tt.wantLeader != -1
			if unclean != (p.LeaderRecoveryState == metadata.LeaderRecovering) {
				t.Fatalf("recovery state %d", p.LeaderRecoveryState)
			}
			if logged := ct.logged("WARN", "unclean leader election", "topic=a", "leader=2"); logged != unclean {
				t.Fatalf("WARN logged = %v, want %v:\n%s", logged, unclean, ct.log.String())
			}
		})
	}
}

// A topic whose unclean election is enabled after its partition lost every
// ISR member recovers on the next Tick.
func TestTickElectsLeaderlessPartitionsOnceAllowed(t *testing.T) {
	img := clusterImage(t, []testBroker{{id: 1, fenced: true}, {id: 2}}, testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 1},
	}})
	ct := newClusterTest(t, img, nil)
	ct.tick()
	ct.wantPartition("a", 0, -1, []int32{1}, 1, 1)
	if err := ct.q.Propose(t.Context(), []metadata.Record{&metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic,
		ResourceName: "a", Key: uncleanLeaderElectionConfig, Value: strPtr("true")}}); err != nil {
		t.Fatalf("set config: %v", err)
	}
	ct.tick()
	ct.wantPartition("a", 0, 2, []int32{2}, 2, 2)
}

// After a failover every registered broker gets a fresh session: the new
// controller does not fence brokers it has not heard from yet, until a
// whole session timeout has passed.
func TestBecomeActiveStartsFreshSessions(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(2), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2}, []int32{1, 2}, 1),
	}})
	ct := newClusterTest(t, img, nil)
	ct.clock.Advance(10 * time.Second)
	ct.c.BecomeActive()
	ct.tick()
	if ct.broker(1).Fenced || ct.broker(2).Fenced {
		t.Fatalf("fenced right after becoming active")
	}
	states := ct.c.ReplicaStates()
	if len(states) != 2 || states[0].NodeID != 1 || !states[0].LastContact.Equal(ct.clock.Now()) || states[0].MetadataOffset != -1 {
		t.Fatalf("ReplicaStates = %+v", states)
	}
	ct.clock.Advance(time.Second)
	ct.heartbeat(2, func(r *kmsg.BrokerHeartbeatRequest) { r.CurrentMetadataOffset = 7 })
	ct.clock.Advance(time.Second)
	ct.tick()
	if !ct.broker(1).Fenced || ct.broker(2).Fenced {
		t.Fatalf("after the timeout: broker 1 fenced %v, broker 2 fenced %v", ct.broker(1).Fenced, ct.broker(2).Fenced)
	}
	if s := ct.c.ReplicaStates()[1]; s.MetadataOffset != 7 {
		t.Fatalf("broker 2 state = %+v", s)
	}
}

// Auto leader rebalance: every imbalance check interval, partitions whose
// preferred replica is a live ISR member get it back as leader.
func TestTickRebalancesLeaders(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(2), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2}, []int32{2, 1}, 2),
		part([]int32{1, 2}, []int32{2}, 2),
	}})
	ct := newClusterTest(t, img, func(c *Config) {
		c.AutoLeaderRebalanceEnable = true
		c.LeaderImbalanceCheckInterval = time.Minute
		c.SessionTimeout = time.Hour
	})
	ct.clock.Advance(59 * time.Second)
	ct.tick()
	ct.wantPartition("a", 0, 2, []int32{2, 1}, 0, 0)
	ct.clock.Advance(time.Second)
	ct.tick()
	ct.wantPartition("a", 0, 1, []int32{2, 1}, 1, 1)
	ct.wantPartition("a", 1, 2, []int32{2}, 0, 0)
}

func TestBalanceLeadersDisabledRebalanceStillCallable(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(2), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2}, []int32{2, 1}, 2),
	}})
	ct := newClusterTest(t, img, func(c *Config) { c.LeaderImbalanceCheckInterval = time.Second })
	ct.clock.Advance(time.Hour)
	ct.heartbeat(1, nil)
	ct.heartbeat(2, nil)
	ct.tick()
	ct.wantPartition("a", 0, 2, []int32{2, 1}, 0, 0)
	if err := ct.c.RebalanceLeaders(t.Context()); err != nil {
		t.Fatalf("RebalanceLeaders: %v", err)
	}
	ct.wantPartition("a", 0, 1, []int32{2, 1}, 1, 1)
}

// A single combined node: it registers, its first heartbeat unfences it,
// topics can be created; a restart (new incarnation) fences it and moves
// leadership away (-1), and the next heartbeat brings it back with a new
// leader epoch.
func TestSingleNodeLifecycle(t *testing.T) {
	img, err := metadata.NewImage().ApplyAt([]metadata.Record{&metadata.ClusterIDRecord{ID: "cluster"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ct := newClusterTest(t, img, nil)
	if err := ct.c.AutoCreateTopic(t.Context(), "early"); !isCode(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("create before registering: %v, want INVALID_REPLICATION_FACTOR", err)
	}
	reg := ct.c.BrokerRegistration(t.Context(), registrationRequest(1, 1))
	if reg.ErrorCode != 0 {
		t.Fatalf("register: %+v", reg)
	}
	if hb := ct.heartbeat(1, nil); hb.IsFenced || !hb.IsCaughtUp {
		t.Fatalf("first heartbeat: %+v, want unfenced at once", hb)
	}
	if err := ct.c.AutoCreateTopic(t.Context(), "orders"); err != nil {
		t.Fatalf("create: %v", err)
	}
	ct.wantPartition("orders", 0, 1, []int32{1}, 0, 0)

	ct.clock.Advance(time.Hour) // the process was down
	again := ct.c.BrokerRegistration(t.Context(), registrationRequest(1, 2))
	if again.ErrorCode != 0 || again.BrokerEpoch <= reg.BrokerEpoch {
		t.Fatalf("re-register: %+v, want a new epoch above %d", again, reg.BrokerEpoch)
	}
	ct.wantPartition("orders", 0, -1, []int32{1}, 1, 1)
	if hb := ct.heartbeat(1, nil); hb.IsFenced {
		t.Fatalf("heartbeat after restart: %+v", hb)
	}
	ct.wantPartition("orders", 0, 1, []int32{1}, 2, 2)
}

// The single-node RegisterBroker keeps the node unfenced and its partitions
// as they are, with a growing broker epoch and a session.
func TestLegacyRegisterBroker(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(1), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{part([]int32{1}, []int32{1}, 1)}})
	ct := newClusterTest(t, img, nil)
	if err := ct.c.RegisterBroker(t.Context(), metadata.Broker{NodeID: 1, Rack: strPtr("r")}); err != nil {
		t.Fatalf("RegisterBroker: %v", err)
	}
	b := ct.broker(1)
	if b.Fenced || b.BrokerEpoch != brokerEpoch(1)+1 || b.RegisteredAt != 11 || *b.Rack != "r" {
		t.Fatalf("broker = %+v", b)
	}
	ct.wantPartition("a", 0, 1, []int32{1}, 0, 0)
	if hb := ct.heartbeat(1, nil); hb.ErrorCode != 0 || hb.IsFenced {
		t.Fatalf("heartbeat: %+v", hb)
	}
}

// Placement for new topics and partitions ignores fenced brokers and those
// in controlled shutdown; a manual assignment may name them, and its ISR
// is then the active replicas.
func TestCreationUsesActiveBrokersOnly(t *testing.T) {
	img := clusterImage(t, []testBroker{{id: 1}, {id: 2, fenced: true}, {id: 3, shutdown: true}})
	ct := newClusterTest(t, img, nil)
	resp := ct.c.CreateTopics(t.Context(), createRequest(createTopic("wide", 1, 2)))
	wantError(t, "wide", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidReplicationFactor,
		"Unable to replicate the partition 2 time(s): The target replication factor of 2 cannot be reached because only 1 broker(s) are registered.")
	resp = ct.c.CreateTopics(t.Context(), createRequest(assigned("manual", []int32{2, 1, 3}), assigned("dead", []int32{2, 3})))
	wantError(t, "manual", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, nil, "")
	wantError(t, "dead", resp.Topics[1].ErrorCode, resp.Topics[1].ErrorMessage, kerr.InvalidReplicaAssignment,
		"All brokers specified in the manual partition assignment for partition 0 are fenced or in controlled shutdown.")
	ct.wantPartition("manual", 0, 1, []int32{1}, 0, 0)
}

func isCode(err error, code *kerr.Error) bool {
	for err != nil {
		if err == code {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// standbyQuorum is a quorum that knows another node leads.
type standbyQuorum struct{ *fakeQuorum }

func (standbyQuorum) IsLeader() bool { return false }

// A standby controller answers the broker RPCs with NOT_CONTROLLER rather
// than from soft state only the active controller has.
func TestStandbyAnswersNotController(t *testing.T) {
	q := standbyQuorum{&fakeQuorum{image: alterFixture(t).image()}}
	c, err := New(*testConfig(), q)
	if err != nil {
		t.Fatal(err)
	}
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch = 1, brokerEpoch(1)
	codes := map[string]int16{
		"BrokerRegistration": c.BrokerRegistration(t.Context(), registrationRequest(1, 1)).ErrorCode,
		"BrokerHeartbeat":    c.BrokerHeartbeat(t.Context(), hb).ErrorCode,
		"AlterPartition":     c.AlterPartition(t.Context(), alterRequest(2, 0, 5, 7, []int32{1}, nil)).ErrorCode,
	}
	for name, code := range codes {
		if code != kerr.NotController.Code {
			t.Errorf("%s: code %d, want NOT_CONTROLLER", name, code)
		}
	}
}

// Heartbeats, Ticks, registrations and ReplicaStates from many goroutines
// (run with -race): the session locks and mu keep them consistent, and a
// broker that keeps heartbeating is never fenced.
func TestConcurrentBrokerTraffic(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(3), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1, 2, 3}, []int32{1, 2, 3}, 1),
	}})
	ct := newClusterTest(t, img, nil)
	var wg sync.WaitGroup
	for id := int32(1); id <= 3; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				req := kmsg.NewPtrBrokerHeartbeatRequest()
				req.BrokerID, req.BrokerEpoch = id, brokerEpoch(id)
				req.CurrentMetadataOffset = ct.q.Image().Offset()
				if resp := ct.c.BrokerHeartbeat(context.Background(), req); resp.ErrorCode != 0 || resp.IsFenced {
					t.Errorf("broker %d heartbeat: %+v", id, resp)
					return
				}
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 200 {
			if err := ct.c.Tick(context.Background()); err != nil {
				t.Errorf("Tick: %v", err)
				return
			}
			ct.c.BrokerRegistration(context.Background(), registrationRequest(9, 1))
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			if states := ct.c.ReplicaStates(); len(states) < 3 {
				t.Errorf("ReplicaStates = %+v", states)
				return
			}
		}
	}()
	wg.Wait()
	ct.wantPartition("a", 0, 1, []int32{1, 2, 3}, 0, 0)
}

// A combined node killed and restarted: its controller becomes active and
// gives the old registration (still unfenced) a fresh session, yet the
// node's own new incarnation registers at once, because no other process
// can be this controller's node. Another broker ID still waits.
func TestCombinedNodeRestartRegistersAtOnce(t *testing.T) {
	img := clusterImage(t, unfencedBrokers(2), testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		part([]int32{1}, []int32{1}, 1),
	}})
	ct := newClusterTest(t, img, func(c *Config) { c.NodeID = 1 })
	if resp := ct.c.BrokerRegistration(t.Context(), registrationRequest(1, 7)); resp.ErrorCode != 0 {
		t.Fatalf("own node: %+v", resp)
	}
	if resp := ct.c.BrokerRegistration(t.Context(), registrationRequest(2, 7)); resp.ErrorCode != kerr.DuplicateBrokerRegistration.Code {
		t.Fatalf("other node: %+v, want DUPLICATE_BROKER_REGISTRATION", resp)
	}
	ct.wantPartition("a", 0, -1, []int32{1}, 1, 1)
	ct.heartbeat(1, nil)
	ct.wantPartition("a", 0, 1, []int32{1}, 2, 2)
}
