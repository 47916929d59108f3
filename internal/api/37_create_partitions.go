package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions v0-v3: grow a topic's partition count (never shrink),
// with optional explicit assignments and validate_only.

func handleCreatePartitions(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.Controller.CreatePartitions(ctx, req.Body.(*kmsg.CreatePartitionsRequest)))
}
