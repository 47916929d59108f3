package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartitionReassignments v0-v1 (KIP-455; v1 adds KIP-860's
// AllowReplicationFactorChange). The active controller plans the moves
// (internal/controller/reassign.go); a request reaching another broker is
// forwarded to it, as Kafka brokers forward admin requests. Each partition
// is answered on its own; a failed commit fails the request.

func handleAlterPartitionReassignments(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.Controller.AlterPartitionReassignments(ctx, req.Body.(*kmsg.AlterPartitionAssignmentsRequest)))
}
