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
// (internal/group offsets_txn.go).

func handleTxnOffsetCommit(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	return singleGroupCall(b, ctx, r.Group, r.ResponseKind().(*kmsg.TxnOffsetCommitResponse), txnOffsetCommitFailure(r),
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.TxnOffsetCommitResponse)) {
			s.CommitTxnOffsets(fx, r, respond)
		})
}

// txnOffsetCommitFailure answers every requested partition with one error.
func txnOffsetCommitFailure(r *kmsg.TxnOffsetCommitRequest) func(*kmsg.TxnOffsetCommitResponse, *kerr.Error) {
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
	}
}
