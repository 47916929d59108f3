package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// JoinGroup v0-v9 (classic protocol; KIP-394 member IDs from v4, KIP-345
// static membership from v5). The response waits until the group's
// rebalance completes; internal/group decides everything.

func handleJoinGroup(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.JoinGroupRequest)
	client := group.ClientInfo{ClientID: req.ClientID, ClientHost: req.ClientHost}
	fail := func(resp *kmsg.JoinGroupResponse, err *kerr.Error) {
		*resp = *r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.Generation, resp.ErrorCode = -1, err.Code
	}
	return singleGroupCall(b, ctx, r.Group, r.ResponseKind().(*kmsg.JoinGroupResponse), fail,
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.JoinGroupResponse)) {
			s.JoinGroup(fx, r, client, respond)
		})
}
