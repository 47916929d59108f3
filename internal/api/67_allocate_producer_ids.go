package api

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AllocateProducerIds v0 (KIP-730): a broker that has handed out its
// block of producer IDs asks the active controller for the next one,
// committed to the metadata log before any ID of it is used.

func handleAllocateProducerIDs(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.AllocateProducerIDsRequest)
	resp := r.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	first, count, err := b.cfg.ClusterController.AllocateProducerIDs(ctx, r.BrokerID)
	if err != nil {
		var code *kerr.Error
		if !errors.As(err, &code) {
			code = kerr.UnknownServerError
		}
		resp.ErrorCode = code.Code
		return reply(resp)
	}
	resp.ProducerIDStart, resp.ProducerIDLen = first, int32(count)
	return reply(resp)
}
