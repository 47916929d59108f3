package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// SyncGroup v0-v5 (v5 checks protocol type and name, KIP-559). Followers
// wait until the leader's assignment is stored.

func handleSyncGroup(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.SyncGroupRequest)
	fail := func(resp *kmsg.SyncGroupResponse, err *kerr.Error) {
		*resp = *r.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = err.Code
	}
	return singleGroupCall(b, ctx, r.Group, r.ResponseKind().(*kmsg.SyncGroupResponse), fail,
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.SyncGroupResponse)) {
			s.SyncGroup(fx, r, respond)
		})
}
