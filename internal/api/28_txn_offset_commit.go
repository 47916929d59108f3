package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// TxnOffsetCommit v0-v4 (v2+ leader epochs, v3+ generation, member and
// instance IDs and flexible, KIP-447). The offsets are written to the
// group's `__consumer_offsets` partition as records of the producer's
// transaction (AddOffsetsToTxn put that partition in it), and count once
// the transaction's commit marker reaches the group shard
// (internal/group offsets_txn.go). As in Kafka's KafkaApis, partitions of
// topics this cluster does not have answer UNKNOWN_TOPIC_OR_PARTITION and
// are not written.

func handleTxnOffsetCommit(b *Broker, ctx context.Context, req *Request) Reply {
	r, unknown := b.knownTxnOffsets(req.Body.(*kmsg.TxnOffsetCommitRequest))
	resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	if len(r.Topics) == 0 && len(unknown) > 0 {
		resp.Topics = unknown
		return reply(resp)
	}
	return singleGroupCall(b, ctx, r.Group, resp, txnOffsetCommitFailure(r, unknown),
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.TxnOffsetCommitResponse)) {
			s.CommitTxnOffsets(fx, r, func(resp *kmsg.TxnOffsetCommitResponse) {
				resp.Topics = append(resp.Topics, unknown...)
				respond(resp)
			})
		})
}

// knownTxnOffsets splits a request into the partitions the cluster has
// and the answers for those it does not.
func (b *Broker) knownTxnOffsets(r *kmsg.TxnOffsetCommitRequest) (known *kmsg.TxnOffsetCommitRequest, unknown []kmsg.TxnOffsetCommitResponseTopic) {
	img := b.cfg.Metadata.Image()
	copied := *r
	copied.Topics = nil
	for _, rt := range r.Topics {
		t := img.TopicByName(rt.Topic)
		kept := rt
		kept.Partitions = nil
		missing := kmsg.NewTxnOffsetCommitResponseTopic()
		missing.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			if t != nil && rp.Partition >= 0 && int(rp.Partition) < len(t.Partitions) {
				kept.Partitions = append(kept.Partitions, rp)
				continue
			}
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicOrPartition.Code
			missing.Partitions = append(missing.Partitions, sp)
		}
		if len(kept.Partitions) > 0 {
			copied.Topics = append(copied.Topics, kept)
		}
		if len(missing.Partitions) > 0 {
			unknown = append(unknown, missing)
		}
	}
	return &copied, unknown
}

// txnOffsetCommitFailure answers every requested partition with one error,
// keeping the answers already decided for unknown partitions.
func txnOffsetCommitFailure(r *kmsg.TxnOffsetCommitRequest, unknown []kmsg.TxnOffsetCommitResponseTopic) func(*kmsg.TxnOffsetCommitResponse, *kerr.Error) {
	return func(resp *kmsg.TxnOffsetCommitResponse, err *kerr.Error) {
		resp.Topics = resp.Topics[:0]
		for _, rt := range r.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, err.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		resp.Topics = append(resp.Topics, unknown...)
	}
}
