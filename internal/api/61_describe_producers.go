package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/replica"
)

// DescribeProducers v0 (KIP-664): the active producers of each partition
// this broker leads, from the partition's producer state
// (storage.Log.Producers): ID, epoch, last sequence and timestamp, and the
// first offset of the producer's open transaction (-1 if none). A
// partition not led here (not hosted, or a follower: Kafka's
// activeProducerState requires the leader) is NOT_LEADER_OR_FOLLOWER, an
// unknown one UNKNOWN_TOPIC_OR_PARTITION.

func handleDescribeProducers(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DescribeProducersRequest)
	resp := r.ResponseKind().(*kmsg.DescribeProducersResponse)
	img := b.cfg.Metadata.Image()
	for _, rt := range r.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		topic := img.TopicByName(rt.Topic)
		for _, index := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = index
			switch p, ok := b.cfg.Partitions.Get(rt.Topic, index); {
			case topic == nil || topic.Partition(index) == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !ok || p.Role() != replica.RoleLeader:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				for _, ps := range p.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = ps.ProducerID, int32(ps.Epoch), ps.LastSequence
					ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = ps.LastTimestamp, ps.CoordinatorEpoch, ps.CurrentTxnFirstOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply(resp)
}
