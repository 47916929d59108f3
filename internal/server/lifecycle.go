package server

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Versions of the broker-to-controller requests this broker sends.
const (
	brokerRegistrationVersion = 3
	brokerHeartbeatVersion    = 1
)

// lifecycle is a broker's side of Kafka's broker lifecycle (KIP-631):
// register with a fresh incarnation ID, heartbeat every
// broker.heartbeat.interval.ms reporting how far the metadata log has
// been applied, learn when the controller unfences it, and on shutdown ask
// for a controlled shutdown so that leadership moves away before the
// process exits.
//
// Threading: run owns the loop; mu guards the state others read.
type lifecycle struct {
	b           *Broker
	log         *slog.Logger
	incarnation [16]byte
	interval    time.Duration
	// kick (cap 1) makes run send the next heartbeat now instead of at
	// the end of the interval: a controlled shutdown asks at once, so
	// SIGTERM does not wait up to broker.heartbeat.interval.ms first, and
	// a fenced broker reports at once that it has caught up
	// (metadataApplied).
	kick chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond
	epoch    int64 // -1 until registered
	fenced   bool
	shutdown bool // asked for a controlled shutdown
	released bool // the controller said the broker may shut down
}

func newLifecycle(b *Broker) *lifecycle {
	l := &lifecycle{b: b, log: b.log.With("component", "lifecycle"), epoch: -1, fenced: true,
		interval: millis(int64(b.cfg.BrokerHeartbeatIntervalMs)), kick: make(chan struct{}, 1)}
	_, _ = rand.Read(l.incarnation[:])
	l.cond = sync.NewCond(&l.mu)
	return l
}

// run registers and heartbeats until stop closes.
func (l *lifecycle) run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	for ctx.Err() == nil {
		wait := l.step(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-l.kick:
		}
		t.Stop()
	}
}

// step sends one registration or heartbeat and says when to send the
// next: soon while fenced (so a starting broker serves quickly), every
// interval once it is in the cluster.
func (l *lifecycle) step(ctx context.Context) time.Duration {
	const retry = 100 * time.Millisecond
	l.mu.Lock()
	epoch, fenced, shutdown := l.epoch, l.fenced, l.shutdown
	l.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, max(l.interval*2, time.Second))
	defer cancel()
	if epoch < 0 {
		if err := l.register(rctx); err != nil {
			l.log.Debug("broker registration failed", "err", err)
			return retry
		}
		return 0
	}
	resp, err := l.heartbeat(rctx, epoch, shutdown)
	if err != nil {
		l.log.Debug("broker heartbeat failed", "err", err)
		return retry
	}
	if code := kerr.ErrorForCode(resp.ErrorCode); code != nil {
		if errors.Is(code, kerr.StaleBrokerEpoch) || errors.Is(code, kerr.BrokerIDNotRegistered) {
			l.setEpoch(-1)
		}
		l.log.Debug("broker heartbeat refused", "err", code)
		return retry
	}
	l.update(resp)
	if fenced || resp.IsFenced || shutdown {
		return min(retry, l.interval)
	}
	return l.interval
}

func (l *lifecycle) register(ctx context.Context) error {
	img := l.b.quorum.Image()
	if img.ClusterID() == "" && l.b.cfg.IsController() {
		// A voter waits for the quorum to fix the cluster ID; a
		// broker-only node registers first and learns it from the log.
		return errors.New("no cluster ID yet")
	}
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.SetVersion(brokerRegistrationVersion)
	req.BrokerID = l.b.cfg.NodeID
	req.ClusterID = img.ClusterID()
	req.IncarnationID = l.incarnation
	req.PreviousBrokerEpoch = -1
	for _, e := range l.b.endpoints {
		rl := kmsg.NewBrokerRegistrationRequestListener()
		rl.Name, rl.Host, rl.Port, rl.SecurityProtocol = e.Listener, e.Host, uint16(e.Port), e.SecurityProtocol
		req.Listeners = append(req.Listeners, rl)
	}
	if l.b.cfg.Rack != "" {
		rack := l.b.cfg.Rack
		req.Rack = &rack
	}
	raw, err := l.b.toController.send(ctx, req)
	if err != nil {
		return err
	}
	resp := raw.(*kmsg.BrokerRegistrationResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	l.log.Info("registered with the controller", "brokerEpoch", resp.BrokerEpoch)
	l.setEpoch(resp.BrokerEpoch)
	return nil
}

func (l *lifecycle) heartbeat(ctx context.Context, epoch int64, shutdown bool) (*kmsg.BrokerHeartbeatResponse, error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.SetVersion(brokerHeartbeatVersion)
	req.BrokerID = l.b.cfg.NodeID
	req.BrokerEpoch = epoch
	req.CurrentMetadataOffset = l.b.applier.Offset()
	req.WantShutdown = shutdown
	raw, err := l.b.toController.send(ctx, req)
	if err != nil {
		return nil, err
	}
	return raw.(*kmsg.BrokerHeartbeatResponse), nil
}

func (l *lifecycle) setEpoch(epoch int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch = epoch
	if epoch < 0 {
		l.fenced = true
	}
	l.cond.Broadcast()
}

func (l *lifecycle) update(resp *kmsg.BrokerHeartbeatResponse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fenced != resp.IsFenced {
		l.log.Info("broker fencing changed", "fenced", resp.IsFenced)
	}
	l.fenced = resp.IsFenced
	if l.shutdown && resp.ShouldShutdown && !l.released {
		l.released = true
		l.log.Debug("controller allows the shutdown", "brokerEpoch", l.epoch)
	}
	l.cond.Broadcast()
}

// metadataApplied is called by the applier after it applied an image: a
// registered broker that is still fenced heartbeats at once, so that the
// controller learns without a retry interval that it has caught up.
func (l *lifecycle) metadataApplied() {
	l.mu.Lock()
	waiting := l.epoch >= 0 && l.fenced && !l.shutdown
	l.mu.Unlock()
	if !waiting {
		return
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// waitUnfenced returns once the controller has unfenced this broker.
func (l *lifecycle) waitUnfenced(ctx context.Context) error {
	return l.waitFor(ctx, func() bool { return l.epoch >= 0 && !l.fenced })
}

// controlledShutdown asks the controller to move this broker's
// leaderships away and waits until it says the broker may go, or ctx ends.
// The first WantShutdown heartbeat goes out at once; the following ones
// every 100 ms (step) until the controller answers ShouldShutdown.
// Meanwhile the broker keeps serving: as the controller moves each
// leadership, produce requests here get NOT_LEADER_OR_FOLLOWER with the
// new leader (KIP-951), and the fetchers follow the new leaders.
func (l *lifecycle) controlledShutdown(ctx context.Context) error {
	start := time.Now()
	l.mu.Lock()
	l.shutdown = true
	registered := l.epoch >= 0
	l.mu.Unlock()
	if !registered {
		return nil
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
	err := l.waitFor(ctx, func() bool { return l.released || l.epoch < 0 })
	l.log.Debug("controlled shutdown wait ended", "took", time.Since(start), "err", err)
	return err
}

func (l *lifecycle) waitFor(ctx context.Context, cond func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for !cond() {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.cond.Wait()
	}
	return nil
}

// brokerEpoch is the epoch of the current registration, -1 before one.
func (l *lifecycle) brokerEpoch() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch
}
