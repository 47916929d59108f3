package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/txn"
)

// EndTxn v0-v4 (v3+ flexible, KIP-482; v5 is KIP-890's epoch bump per
// transaction, not served). It commits or aborts the producer's
// transaction (txn.Shard.EndTxn) and answers once PrepareCommit or
// PrepareAbort is durable; the markers follow on the coordinator.

func handleEndTxn(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.EndTxnRequest)
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	fail := func(err *kerr.Error) { resp.ErrorCode = err.Code }
	return b.txnCall(ctx, r.TransactionalID, reply(resp), fail, func(s *txn.Shard, fx *coord.Effects, done func()) {
		s.EndTxn(fx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit, func(err *kerr.Error) {
			resp.ErrorCode = errorCode(err)
			done()
		})
	})
}
