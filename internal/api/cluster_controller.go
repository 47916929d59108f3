package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterController is the active controller's side of the requests
// brokers send it: the broker lifecycle (KIP-631), ISR changes
// (AlterPartition, KIP-497), leader elections (KIP-460) and producer-ID
// blocks (KIP-730). *controller.Controller implements it; on a node that
// is not the active controller its answers carry NOT_CONTROLLER.
type ClusterController interface {
	BrokerRegistration(ctx context.Context, req *kmsg.BrokerRegistrationRequest) *kmsg.BrokerRegistrationResponse
	BrokerHeartbeat(ctx context.Context, req *kmsg.BrokerHeartbeatRequest) *kmsg.BrokerHeartbeatResponse
	AlterPartition(ctx context.Context, req *kmsg.AlterPartitionRequest) *kmsg.AlterPartitionResponse
	ElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse
	AllocateProducerIDs(ctx context.Context, brokerID int32) (first, count int64, err error)
}
