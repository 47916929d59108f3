package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerHeartbeat v0-v1 (KIP-631): a registered broker's heartbeat keeps
// its session alive, reports how far it has applied the metadata log (so
// the controller unfences it once caught up) and carries its wish to shut
// down (controlled shutdown: leadership moves away first).

func handleBrokerHeartbeat(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.ClusterController.BrokerHeartbeat(ctx, req.Body.(*kmsg.BrokerHeartbeatRequest)))
}
