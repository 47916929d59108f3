package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListPartitionReassignments v0 (KIP-455): the reassignments in progress,
// with each partition's replicas and the ones being added and removed, as
// the active controller's image holds them (forwarded from any broker).

func handleListPartitionReassignments(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.Controller.ListPartitionReassignments(ctx, req.Body.(*kmsg.ListPartitionReassignmentsRequest)))
}
