package api

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/txn"
)

// ListTransactions v0-v1 (KIP-664; v1 adds the duration filter, KIP-994):
// the transactional IDs of every `__transaction_state` shard this broker
// coordinates, filtered by state and producer ID and (v1) by having been
// ongoing longer than DurationFilterMillis. Unknown state names are
// returned in UnknownStateFilters, as in Kafka. Shards still loading are
// skipped (Kafka answers COORDINATOR_LOAD_IN_PROGRESS for them; a partial
// list is more useful to an operator).

var transactionStateNames = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func handleListTransactions(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.ListTransactionsRequest)
	resp := r.ResponseKind().(*kmsg.ListTransactionsResponse)
	for _, state := range r.StateFilters {
		if !slices.Contains(transactionStateNames, state) {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, state)
		}
	}
	topic := b.cfg.Metadata.Image().TopicByName(metadata.TransactionStateTopic)
	if topic == nil || b.cfg.Transactions == nil {
		return reply(resp)
	}
	now := b.cfg.Now().UnixMilli()
	var waits []func() ([]kmsg.ListTransactionsResponseTransactionState, bool)
	for _, p := range topic.Partitions {
		if p.Leader != b.cfg.Broker.NodeID {
			continue
		}
		answer := newCommittedAnswer[[]kmsg.ListTransactionsResponseTransactionState]()
		stopped, err := b.cfg.Transactions.Do(p.Index, func(s *txn.Shard, fx *coord.Effects) {
			answer.run(fx, func(deliver func([]kmsg.ListTransactionsResponseTransactionState)) {
				deliver(listTransactions(s, r, now))
			})
		})
		if err != nil {
			continue
		}
		waits = append(waits, func() ([]kmsg.ListTransactionsResponseTransactionState, bool) { return answer.receive(ctx, stopped) })
	}
	return Reply{Response: resp, Wait: func() {
		for _, wait := range waits {
			if states, ok := wait(); ok {
				resp.TransactionStates = append(resp.TransactionStates, states...)
			}
		}
	}}
}

// listTransactions is one shard's part of a ListTransactions answer.
func listTransactions(s *txn.Shard, r *kmsg.ListTransactionsRequest, nowMs int64) []kmsg.ListTransactionsResponseTransactionState {
	var states []kmsg.ListTransactionsResponseTransactionState
	for _, tx := range s.List(r.StateFilters, r.ProducerIDFilters) {
		if r.DurationFilterMillis >= 0 && r.Version >= 1 && (tx.StartTimestamp < 0 || nowMs-tx.StartTimestamp < r.DurationFilterMillis) {
			continue
		}
		states = append(states, kmsg.ListTransactionsResponseTransactionState{
			TransactionalID: tx.TransactionalID, ProducerID: tx.ProducerID, TransactionState: tx.State.String()})
	}
	return states
}
