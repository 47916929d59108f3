package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// OffsetDelete v0 (KIP-496): deletes committed offsets of partitions the
// group no longer consumes (GROUP_SUBSCRIBED_TO_TOPIC otherwise).

func handleOffsetDelete(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	fail := func(resp *kmsg.OffsetDeleteResponse, err *kerr.Error) {
		*resp = *r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = err.Code
	}
	return singleGroupCall(b, ctx, r.Group, r.ResponseKind().(*kmsg.OffsetDeleteResponse), fail,
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.OffsetDeleteResponse)) {
			s.DeleteOffsets(fx, r, respond)
		})
}
