package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics v0-v6 (by ID from v6, KIP-516). The controller removes the
// topic from the metadata log; each broker then deletes the partition logs.

func handleDeleteTopics(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.Controller.DeleteTopics(ctx, req.Body.(*kmsg.DeleteTopicsRequest)))
}
