package api

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/txn"
)

// DescribeTransactions v0 (KIP-664): each transactional ID's state, producer
// ID and epoch, timeout, start time and partitions, from the shard that
// coordinates it; an unknown ID is TRANSACTIONAL_ID_NOT_FOUND.

func handleDescribeTransactions(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DescribeTransactionsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	resp.TransactionStates = make([]kmsg.DescribeTransactionsResponseTransactionState, len(r.TransactionalIDs))
	waits := make([]func(), len(r.TransactionalIDs))
	for i, id := range r.TransactionalIDs {
		st := &resp.TransactionStates[i]
		*st = kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
		wait, err := b.onTxnShard(ctx, id, func(s *txn.Shard, _ *coord.Effects, done func()) {
			describeTransaction(s, id, st)
			done()
		})
		if err != nil {
			st.ErrorCode = err.Code
			waits[i] = func() {}
			continue
		}
		waits[i] = func() {
			if !wait() {
				st.ErrorCode = kerr.NotCoordinator.Code
			}
		}
	}
	return Reply{Response: resp, Wait: func() {
		for _, wait := range waits {
			wait()
		}
	}}
}

// describeTransaction fills st from the shard's view of id.
func describeTransaction(s *txn.Shard, id string, st *kmsg.DescribeTransactionsResponseTransactionState) {
	tx, ok := s.Describe(id)
	if !ok {
		st.ErrorCode = kerr.TransactionalIDNotFound.Code
		return
	}
	st.State, st.TimeoutMillis, st.StartTimestamp = tx.State.String(), tx.TimeoutMs, tx.StartTimestamp
	st.ProducerID, st.ProducerEpoch = tx.ProducerID, tx.ProducerEpoch
	topics := make([]string, 0, len(tx.Partitions))
	for topic := range tx.Partitions {
		topics = append(topics, topic)
	}
	sort.Strings(topics)
	for _, topic := range topics {
		st.Topics = append(st.Topics, kmsg.DescribeTransactionsResponseTransactionStateTopic{Topic: topic, Partitions: tx.Partitions[topic]})
	}
}
