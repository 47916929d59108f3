package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// Heartbeat v0-v4: keeps a classic member's session alive and tells it
// when a rebalance started (REBALANCE_IN_PROGRESS). While the coordinator
// is still loading the group, Kafka answers NONE rather than
// COORDINATOR_LOAD_IN_PROGRESS, so members keep their sessions through a
// coordinator restart; so does Sluice.

func handleHeartbeat(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.HeartbeatRequest)
	fail := func(resp *kmsg.HeartbeatResponse, err *kerr.Error) {
		if err != kerr.CoordinatorLoadInProgress {
			resp.ErrorCode = err.Code
		}
	}
	return singleGroupCall(b, ctx, r.Group, r.ResponseKind().(*kmsg.HeartbeatResponse), fail,
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.HeartbeatResponse)) {
			s.Heartbeat(fx, r, respond)
		})
}
