package server

import (
	"context"
	"net"
	"strconv"
	"time"
)

// controllerTick is how often the active controller checks broker
// sessions (and so the resolution of fencing after
// broker.session.timeout.ms).
const controllerTick = 100 * time.Millisecond

// runControllerDriver gives the controller its clock while this node leads
// the metadata quorum: on gaining leadership it waits for every earlier
// record to be applied (a Raft barrier), fixes the cluster ID on a fresh
// cluster and starts every broker's session afresh; then it ticks the
// session checks (the controller's Tick also moves leadership back to
// preferred replicas every leader.imbalance.check.interval.seconds when
// auto.leader.rebalance.enable is on) and adds registered broker-only
// nodes to the quorum as observers. It runs on one goroutine; the
// controller guards its own state.
func (b *Broker) runControllerDriver(stop <-chan struct{}) {
	ticker := time.NewTicker(controllerTick)
	defer ticker.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	active := false
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		if !b.quorum.IsLeader() {
			if active {
				b.log.Info("no longer the active controller")
			}
			active = false
			continue
		}
		if !active {
			if !b.activate(ctx) {
				continue
			}
			active = true
		}
		tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
		if err := b.ctrl.Tick(tctx); err != nil {
			b.log.Warn("controller tick failed", "err", err)
		}
		tcancel()
		b.addObservers()
	}
}

// activate prepares this node to act as the active controller.
func (b *Broker) activate(ctx context.Context) bool {
	if err := b.quorum.Barrier(5 * time.Second); err != nil {
		b.log.Warn("metadata barrier after gaining leadership failed", "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.ctrl.EnsureClusterID(ctx); err != nil {
		b.log.Warn("establish cluster id failed", "err", err)
		return false
	}
	b.ctrl.BecomeActive()
	b.log.Info("became the active controller", "clusterID", b.quorum.Image().ClusterID())
	return true
}

// addObservers makes every registered broker that is not a voter a
// non-voting member of the metadata quorum at its inter-broker endpoint,
// so it receives the metadata log (broker-only nodes).
func (b *Broker) addObservers() {
	img := b.quorum.Image()
	voters := map[int32]bool{}
	for _, v := range b.cfg.ControllerQuorumVoters {
		voters[v.NodeID] = true
	}
	var members map[int32]bool
	for _, br := range img.Brokers() {
		if voters[br.NodeID] || br.Fenced && br.InControlledShutdown {
			continue
		}
		if members == nil {
			var err error
			if members, err = b.quorum.Members(); err != nil {
				return
			}
		}
		if members[br.NodeID] {
			continue
		}
		e, ok := interBrokerEndpoint(br, b.cfg.InterBrokerListenerName)
		if !ok {
			continue
		}
		addr := net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
		if err := b.quorum.AddObserver(br.NodeID, addr); err != nil {
			b.log.Warn("adding a broker to the metadata quorum failed", "broker", br.NodeID, "err", err)
			continue
		}
		b.log.Info("broker added to the metadata quorum as an observer", "broker", br.NodeID, "address", addr)
	}
}
