package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterPartition v0-v3 (KIP-497; v2 names topics by ID, v3 carries broker
// epochs in the ISR, KIP-903). A partition leader asks the active
// controller to shrink or expand its ISR; the controller checks leader and
// partition epochs and commits the change to the metadata log.

func handleAlterPartition(b *Broker, ctx context.Context, req *Request) Reply {
	return reply(b.cfg.ClusterController.AlterPartition(ctx, req.Body.(*kmsg.AlterPartitionRequest)))
}
