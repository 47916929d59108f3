package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs v0-v1 (KIP-339): SET, DELETE, APPEND and SUBTRACT
// on individual keys, validate_only honoured.

func handleIncrementalAlterConfigs(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.Controller.IncrementalAlterConfigs(ctx, req.Body.(*kmsg.IncrementalAlterConfigsRequest)))
}
