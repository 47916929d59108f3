package api

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/txn"
)

// InitProducerId v0-v5 for idempotent producers (KIP-98; v2+ flexible,
// KIP-482; v3+ carry the producer's current ID and epoch, KIP-360). As in
// Kafka's TransactionCoordinator.handleInitProducerId, a request without a
// transactional ID always gets a fresh producer ID at epoch 0, whatever ID
// and epoch it carries: an idempotent producer bumps its epoch itself
// (KIP-360) and comes back only when the epoch would overflow. IDs come
// from blocks committed through the metadata log (internal/txn), so none is
// ever given out twice.
//
// A transactional ID goes to its transaction coordinator shard
// (txn.Shard.InitProducerID): the same producer ID with its epoch bumped,
// fencing older instances; an ongoing transaction is aborted first and
// answered CONCURRENT_TRANSACTIONS (the client retries); a timeout above
// transaction.max.timeout.ms is INVALID_TRANSACTION_TIMEOUT. A fresh ID is
// taken from the manager before asking the shard, used only for a new
// transactional ID or an exhausted epoch: the shard's loop never waits for
// a metadata commit, at the price of skipping an ID per call. An empty
// transactional ID gets INVALID_REQUEST, as in Kafka.

func handleInitProducerID(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	fail := func(err *kerr.Error) {
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = err.Code, -1, -1
	}
	if err := checkInitProducerID(r); err != nil {
		fail(err)
		return reply(resp)
	}
	id, err := b.producerIDs.NextProducerID(ctx)
	if err != nil {
		b.log.Warn("no producer ID to hand out", "err", err)
		resp.ErrorCode = producerIDErrorCode(err)
		return reply(resp)
	}
	if r.TransactionalID == nil {
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return reply(resp)
	}
	transactionalID := *r.TransactionalID
	return b.txnCall(ctx, transactionalID, reply(resp), fail, func(s *txn.Shard, fx *coord.Effects, done func()) {
		s.InitProducerID(fx, transactionalID, r.TransactionTimeoutMillis, id, r.ProducerID, r.ProducerEpoch, func(res txn.InitProducerIDResult) {
			resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = res.ProducerID, res.ProducerEpoch, errorCode(res.Err)
			done()
		})
	})
}

// checkInitProducerID refuses what this broker cannot serve: an empty
// transactional ID, and (KafkaApis) a producer ID without an epoch or the
// reverse.
func checkInitProducerID(r *kmsg.InitProducerIDRequest) *kerr.Error {
	switch {
	case r.TransactionalID != nil && *r.TransactionalID == "":
		return kerr.InvalidRequest
	case (r.ProducerID < 0) != (r.ProducerEpoch < 0):
		return kerr.InvalidRequest
	}
	return nil
}

// producerIDErrorCode maps a failed block allocation: an exhausted ID
// space is UNKNOWN_SERVER_ERROR (Kafka's); anything else (the metadata
// quorum has no leader, the commit timed out) is
// COORDINATOR_LOAD_IN_PROGRESS, retriable, as Kafka answers while its
// broker waits for a block.
func producerIDErrorCode(err error) int16 {
	if errors.Is(err, kerr.UnknownServerError) {
		return kerr.UnknownServerError.Code
	}
	return kerr.CoordinatorLoadInProgress.Code
}
