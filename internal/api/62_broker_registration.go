package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerRegistration v0-v4 (KIP-631): a starting broker registers its
// listeners, rack and incarnation with the active controller and gets its
// broker epoch; it stays fenced until its heartbeats show it has caught up
// with the metadata log.

func handleBrokerRegistration(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.ClusterController.BrokerRegistration(ctx, req.Body.(*kmsg.BrokerRegistrationRequest)))
}
