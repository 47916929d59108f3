package api

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
// Transactions are not implemented yet: a transactional ID gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a fatal error every client
// surfaces at once (initTransactions fails) instead of retrying, the same
// code a transactional Produce gets; an empty transactional ID gets
// INVALID_REQUEST, as in Kafka.

func handleInitProducerID(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	if err := checkInitProducerID(r); err != nil {
		resp.ErrorCode = err.Code
		return reply(resp)
	}
	id, err := b.producerIDs.NextProducerID(ctx)
	if err != nil {
		b.log.Warn("no producer ID to hand out", "err", err)
		resp.ErrorCode = producerIDErrorCode(err)
		return reply(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return reply(resp)
}

// checkInitProducerID refuses what this broker cannot serve: transactional
// IDs, and (KafkaApis) a producer ID without an epoch or the reverse.
func checkInitProducerID(r *kmsg.InitProducerIDRequest) *kerr.Error {
	switch {
	case r.TransactionalID != nil && *r.TransactionalID == "":
		return kerr.InvalidRequest
	case r.TransactionalID != nil:
		return kerr.TransactionalIDAuthorizationFailed
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
