package api

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// ConsumerGroupHeartbeat v0-v1: the consumer rebalance protocol (KIP-848;
// v1 has the client generate its member ID, KIP-1082). The coordinator
// assigns partitions itself with the "uniform" or "range" assignor
// (group.consumer.assignors); subscriptions by regular expression are
// refused with INVALID_REQUEST for now. The handler hands the shard the
// metadata image it reads now, so the shard's assignment is a function of
// its inputs. With "consumer" missing from
// group.coordinator.rebalance.protocols the answer is UNSUPPORTED_VERSION,
// which clients take as "use the classic protocol".

func handleConsumerGroupHeartbeat(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(resp *kmsg.ConsumerGroupHeartbeatResponse, err *kerr.Error) { resp.ErrorCode = err.Code }
	if !b.consumerProtocolEnabled() {
		fail(resp, kerr.UnsupportedVersion)
		return reply(resp)
	}
	if r.Group == "" {
		// Kafka validates the request before routing it: INVALID_REQUEST,
		// not INVALID_GROUP_ID.
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr("GroupId can't be empty.")
		return reply(resp)
	}
	client := group.ClientInfo{ClientID: req.ClientID, ClientHost: req.ClientHost}
	image := b.cfg.Metadata.Image()
	return singleGroupCall(b, ctx, r.Group, resp, fail,
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.ConsumerGroupHeartbeatResponse)) {
			s.ConsumerGroupHeartbeat(fx, r, client, image, respond)
		})
}

// consumerProtocolEnabled reports whether group.coordinator.rebalance.protocols
// has "consumer".
func (b *Broker) consumerProtocolEnabled() bool {
	return slices.Contains(b.cfg.Broker.GroupCoordinatorRebalanceProtocols, "consumer")
}
