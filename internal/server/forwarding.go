package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/controller"
)

// appliedWait bounds how long a metadata write made here waits for this
// broker's own partitions to reflect it before answering.
const appliedWait = 5 * time.Second

// forwardingController is the api layer's Controller on every node: on the
// active controller it runs the request against the local controller and
// waits until this broker's partitions reflect the change (so a client that
// creates a topic can produce to it at once, as on a single node); on any
// other node it forwards the request to the active controller, as Kafka
// brokers forward admin requests (KIP-590), so clients may send them to any
// broker.
type forwardingController struct {
	b     *Broker
	local *controller.Controller
}

// isActive reports whether this node leads the metadata quorum.
func (f *forwardingController) isActive() bool { return f.b.quorum.IsLeader() }

// settle waits until the applier has applied everything committed so far.
func (f *forwardingController) settle(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, appliedWait)
	defer cancel()
	_ = f.b.applier.WaitApplied(ctx, f.b.quorum.Image().Offset())
}

// forward sends req to the active controller and returns its response, or
// nil when it could not be delivered (the caller then answers locally,
// which gives NOT_CONTROLLER).
func forward[R kmsg.Response](ctx context.Context, f *forwardingController, req kmsg.Request) (R, bool) {
	var zero R
	resp, err := f.b.toController.send(ctx, req)
	if err != nil {
		f.b.log.Debug("forwarding to the controller failed", "request", kmsg.NameForKey(req.Key()), "err", err)
		return zero, false
	}
	r, ok := resp.(R)
	return r, ok
}

// forwardOrRun answers a metadata write: forwarded to the active
// controller from any other node, run here (then settled) on it, or here
// when forwarding failed, which answers NOT_CONTROLLER.
func forwardOrRun[Req kmsg.Request, Resp kmsg.Response](ctx context.Context, f *forwardingController, req Req, local func(context.Context, Req) Resp) Resp {
	if !f.isActive() {
		if resp, ok := forward[Resp](ctx, f, req); ok {
			return resp
		}
	}
	defer f.settle(ctx)
	return local(ctx, req)
}

func (f *forwardingController) CreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	return forwardOrRun(ctx, f, req, f.local.CreateTopics)
}

func (f *forwardingController) DeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	return forwardOrRun(ctx, f, req, f.local.DeleteTopics)
}

func (f *forwardingController) CreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	return forwardOrRun(ctx, f, req, f.local.CreatePartitions)
}

func (f *forwardingController) AlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	return forwardOrRun(ctx, f, req, f.local.AlterConfigs)
}

func (f *forwardingController) IncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	return forwardOrRun(ctx, f, req, f.local.IncrementalAlterConfigs)
}

// AutoCreateTopic creates name with the defaults, through the controller.
func (f *forwardingController) AutoCreateTopic(ctx context.Context, name string) error {
	return f.CreateInternalTopic(ctx, name, -1, -1, nil)
}

// CreateInternalTopic creates a topic with its own layout and configs; an
// existing topic is success.
func (f *forwardingController) CreateInternalTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string) error {
	if f.isActive() {
		defer f.settle(ctx)
		return f.local.CreateInternalTopic(ctx, name, partitions, replicationFactor, configs)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	req.TimeoutMillis = 30_000
	topic := kmsg.NewCreateTopicsRequestTopic()
	topic.Topic, topic.NumPartitions, topic.ReplicationFactor = name, partitions, replicationFactor
	for _, key := range slices.Sorted(maps.Keys(configs)) {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = key, kmsg.StringPtr(configs[key])
		topic.Configs = append(topic.Configs, c)
	}
	req.Topics = append(req.Topics, topic)
	resp, ok := forward[*kmsg.CreateTopicsResponse](ctx, f, req)
	if !ok || len(resp.Topics) != 1 {
		return fmt.Errorf("create topic %q: %w", name, kerr.NotController)
	}
	code := resp.Topics[0].ErrorCode
	if code == 0 || code == kerr.TopicAlreadyExists.Code {
		return nil
	}
	err := kerr.TypedErrorForCode(code)
	if msg := resp.Topics[0].ErrorMessage; msg != nil {
		return fmt.Errorf("create topic %q: %w: %s", name, err, *msg)
	}
	return fmt.Errorf("create topic %q: %w", name, err)
}

// AllocateProducerIDs takes a block of producer IDs from the controller
// (AllocateProducerIds, API 67, when it is another node).
func (f *forwardingController) AllocateProducerIDs(ctx context.Context, brokerID int32) (first, count int64, err error) {
	if f.isActive() {
		return f.local.AllocateProducerIDs(ctx, brokerID)
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.SetVersion(0)
	req.BrokerID = brokerID
	req.BrokerEpoch = f.b.lifecycle.brokerEpoch()
	resp, ok := forward[*kmsg.AllocateProducerIDsResponse](ctx, f, req)
	if !ok {
		return 0, 0, fmt.Errorf("allocate producer IDs: %w", kerr.NotController)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, 0, fmt.Errorf("allocate producer IDs: %w", err)
	}
	return resp.ProducerIDStart, int64(resp.ProducerIDLen), nil
}

func (f *forwardingController) ElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	return forwardOrRun(ctx, f, req, f.local.ElectLeaders)
}

func (f *forwardingController) AlterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	return forwardOrRun(ctx, f, req, f.local.AlterPartitionReassignments)
}

// ListPartitionReassignments reads the active controller's image: a read,
// so nothing to settle.
func (f *forwardingController) ListPartitionReassignments(ctx context.Context, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	if !f.isActive() {
		if resp, ok := forward[*kmsg.ListPartitionReassignmentsResponse](ctx, f, req); ok {
			return resp
		}
	}
	return f.local.ListPartitionReassignments(ctx, req)
}
