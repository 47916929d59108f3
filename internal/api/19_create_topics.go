package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics v0-v7: validate_only (v1+), configs and explicit replica
// assignments, topic IDs and the resulting configs in the response (v5+,
// v7). The controller decides and commits; see internal/controller for the
// rules and error codes.

func handleCreateTopics(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.Controller.CreateTopics(ctx, req.Body.(*kmsg.CreateTopicsRequest)))
}
