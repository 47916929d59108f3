package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// LeaveGroup v0-v5 (v3+ leaves a batch of members, KIP-345).

func handleLeaveGroup(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.LeaveGroupRequest)
	fail := func(resp *kmsg.LeaveGroupResponse, err *kerr.Error) {
		*resp = *r.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = err.Code
	}
	return singleGroupCall(b, ctx, r.Group, r.ResponseKind().(*kmsg.LeaveGroupResponse), fail,
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.LeaveGroupResponse)) {
			s.LeaveGroup(fx, r, respond)
		})
}
