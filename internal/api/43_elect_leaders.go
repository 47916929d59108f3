package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ElectLeaders v0-v2 (KIP-183 preferred elections, KIP-460 unclean ones).
// The active controller elects; a request reaching another broker is
// forwarded to it, as Kafka 2.8+ forwards admin requests.

func handleElectLeaders(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.Controller.ElectLeaders(ctx, req.Body.(*kmsg.ElectLeadersRequest)))
}
