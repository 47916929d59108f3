package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/txn"
)

// AddOffsetsToTxn v0-v4 (v3+ flexible, KIP-482). The consumer group's
// `__consumer_offsets` partition joins the producer's transaction, as in
// Kafka's handleAddOffsetsToTxn, so that ending the transaction writes a
// marker there too.

func handleAddOffsetsToTxn(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	fail := func(err *kerr.Error) { resp.ErrorCode = err.Code }
	if !validGroupID(r.Group) {
		fail(kerr.InvalidGroupID)
		return reply(resp)
	}
	if err := b.ensureOffsetsTopic(ctx); err != nil {
		fail(err)
		return reply(resp)
	}
	partitions := map[string][]int32{metadata.GroupMetadataTopic: {b.groupPartition(r.Group)}}
	return b.txnCall(ctx, r.TransactionalID, reply(resp), fail, func(s *txn.Shard, fx *coord.Effects, done func()) {
		s.AddPartitions(fx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, partitions, func(err *kerr.Error) {
			resp.ErrorCode = errorCode(err)
			done()
		})
	})
}
