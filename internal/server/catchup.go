package server

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/wire"
)

// The initial catch-up: what a starting broker waits for before it acts
// on metadata or serves clients.
//
// While a restarting node replays the metadata log, the quorum publishes
// every intermediate image (a snapshot, then the log in batches). Acting
// on them would make this broker leader, for a moment, of partitions it
// led before the restart, under leader epochs the controller has since
// moved on from. So the applier publishes nothing until the image holds
// this incarnation's own registration (caughtUpWith), then applies the
// latest image once. That registration record commits after everything
// the controller knew when it planned it (its broker epoch is above the
// controller's applied offset, nextBrokerEpoch), including the removal of
// the previous incarnation's leaderships (session expiry, a controlled
// shutdown, or the registration's own batch); it is also the offset the
// controller unfences this broker at. It is Kafka's two start-up gates in
// one: MetadataLoader publishing nothing before it reaches the quorum's
// high watermark, and BrokerLifecycleManager's initial catch-up to the
// registration offset.
//
// Until the broker serves, unfenced with the image that unfenced it
// applied (waitServing), the listeners hold client requests (requestGate),
// as Kafka's BrokerServer enables request processing only after the
// initial catch-up and the unfencing: a client's Metadata must not list an
// empty or old image, nor one where this broker's partitions have no
// leader yet because it is still fenced (a client caches that: franz-go
// for metadata.max.age's minimum, 5 s), and a Produce must not be refused
// for a topic the image does not know yet.

// caughtUpWith reports whether img holds this incarnation's registration,
// the point from which the applier may act on images.
func (a *applier) caughtUpWith(img *metadata.Image) bool {
	reg := img.Broker(a.b.cfg.NodeID)
	return reg != nil && reg.IncarnationID == a.b.lifecycle.incarnation
}

// holdUntilCaughtUp reports whether the applier must still skip img: true
// until the first image it is caught up with, which it then logs. It runs
// on the applier goroutine.
func (a *applier) holdUntilCaughtUp(img *metadata.Image) bool {
	if a.caughtUp {
		return false
	}
	if !a.caughtUpWith(img) {
		return true
	}
	a.caughtUp = true
	reg := img.Broker(a.b.cfg.NodeID)
	a.log.Info("metadata caught up: applying the first image", "offset", img.Offset(),
		"registeredAt", reg.RegisteredAt, "brokerEpoch", reg.BrokerEpoch, "waited", time.Since(a.started).Round(time.Millisecond))
	return false
}

// published tells the lifecycle that the first caught-up image has been
// applied: a fenced broker sends its next heartbeat at once, since it now
// reports an offset the controller unfences it at.
func (a *applier) published() { a.b.lifecycle.metadataApplied() }

// requestGate is the Handler a broker's listeners serve through: it holds
// each client request until the broker first serves (Broker.serving),
// then passes it on. Held, a request keeps its
// connection's reader waiting, so the client sees a slow answer, as with
// a Kafka broker that has not enabled request processing yet; clients
// time a request out after their request timeout and try another broker.
//
// Not held: ApiVersions (clients may negotiate at once), and every
// request another node sends (client ID wire.ClientID): registration and
// heartbeats to a controller, AlterPartition, follower fetches,
// transaction markers, forwarded admin requests. None of them reads a
// partition this broker has not opened as if it led it, and the catch-up
// itself needs some of them, so holding them could deadlock. Raft does
// not pass through here at all (it is diverted before the Kafka reader).
type requestGate struct {
	api.Handler
	ready <-chan struct{}
}

// Handle waits for the catch-up when req must, then answers it.
func (g *requestGate) Handle(ctx context.Context, req *api.Request) api.Reply {
	if !heldUntilCaughtUp(req) {
		return g.Handler.Handle(ctx, req)
	}
	select {
	case <-g.ready:
	case <-ctx.Done():
		return api.Reply{} // the connection is closing: nothing is written
	}
	return g.Handler.Handle(ctx, req)
}

// heldUntilCaughtUp reports whether a request waits for the catch-up.
func heldUntilCaughtUp(req *api.Request) bool {
	return req.Key != int16(kmsg.ApiVersions) && req.ClientID != wire.ClientID
}

// gatedHandler is the Handler the listeners serve: h behind the request
// gate on a node that runs the applier (a broker), h itself on a
// controller-only node, which applies no images.
func (b *Broker) gatedHandler(h api.Handler) api.Handler {
	if !b.cfg.IsBroker() {
		return h
	}
	return &requestGate{Handler: h, ready: b.serving}
}
