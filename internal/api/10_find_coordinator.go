package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// FindCoordinator v0-v6 (v4+ batches keys, KIP-699). For a group the
// coordinator is the leader of partition hash(group) % partitions of
// `__consumer_offsets`; for a transactional ID (key type 1) the leader of
// partition hash(id) % partitions of `__transaction_state`. Both topics are
// created on first use, as Kafka does. Share coordinators (type 2, KIP-932)
// answer COORDINATOR_NOT_AVAILABLE.

const (
	coordinatorTypeGroup       = 0
	coordinatorTypeTransaction = 1
)

func handleFindCoordinator(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if r.Version < 4 {
		c := b.findCoordinator(ctx, r.CoordinatorType, r.CoordinatorKey)
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		return reply(resp)
	}
	for _, key := range r.CoordinatorKeys {
		resp.Coordinators = append(resp.Coordinators, b.findCoordinator(ctx, r.CoordinatorType, key))
	}
	return reply(resp)
}

// findCoordinator answers one key.
func (b *Broker) findCoordinator(ctx context.Context, keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID, c.Port = key, -1, -1
	fail := func(err *kerr.Error) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode = err.Code
		msg := err.Description
		c.ErrorMessage = &msg
		return c
	}
	var topic string
	var index int32
	switch keyType {
	case coordinatorTypeGroup:
		if err := b.ensureOffsetsTopic(ctx); err != nil {
			return fail(err)
		}
		topic, index = metadata.GroupMetadataTopic, b.groupPartition(key)
	case coordinatorTypeTransaction:
		if err := b.ensureTransactionTopic(ctx); err != nil {
			return fail(err)
		}
		topic, index = metadata.TransactionStateTopic, b.txnPartition(key)
	default:
		return fail(kerr.CoordinatorNotAvailable)
	}
	t := b.cfg.Metadata.Image().TopicByName(topic)
	if t == nil {
		return fail(kerr.CoordinatorNotAvailable)
	}
	partition := t.Partition(index)
	if partition == nil || partition.Leader < 0 {
		return fail(kerr.CoordinatorNotAvailable)
	}
	broker := b.cfg.Metadata.Image().Broker(partition.Leader)
	if broker == nil || len(broker.Endpoints) == 0 {
		return fail(kerr.CoordinatorNotAvailable)
	}
	c.NodeID, c.Host, c.Port = broker.NodeID, broker.Endpoints[0].Host, broker.Endpoints[0].Port
	return c
}
