package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs v0-v2: replaces a resource's whole set of dynamic overrides
// (keys left out return to their defaults), validate_only honoured.

func handleAlterConfigs(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.Controller.AlterConfigs(ctx, req.Body.(*kmsg.AlterConfigsRequest)))
}
