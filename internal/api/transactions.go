package api

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/txn"
)

// TxnCoordinator is the runtime of the transaction coordinator's shards,
// one per partition of `__transaction_state`.
type TxnCoordinator interface {
	Do(partition int32, op coord.Op[*txn.Shard]) (stopped <-chan struct{}, err error)
}

// txnPartition is the `__transaction_state` partition coordinating a
// transactional ID.
func (b *Broker) txnPartition(transactionalID string) int32 {
	return coord.PartitionFor(transactionalID, b.cfg.Broker.TransactionStateLogNumPartitions)
}

// onTxnShard runs op on the shard coordinating transactionalID and returns
// a wait function for the handler's Reply, as onGroupShard does for groups
// (a done called while op runs waits for the iteration's commit:
// committedAnswer): op must call done exactly once, after it filled the
// response.
func (b *Broker) onTxnShard(_ context.Context, transactionalID string, op func(s *txn.Shard, fx *coord.Effects, done func())) (wait func() bool, err *kerr.Error) {
	if b.cfg.Transactions == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	finished := newCommittedAnswer[struct{}]()
	stopped, doErr := b.cfg.Transactions.Do(b.txnPartition(transactionalID), func(s *txn.Shard, fx *coord.Effects) {
		finished.run(fx, func(deliver func(struct{})) { op(s, fx, func() { deliver(struct{}{}) }) })
	})
	if doErr != nil {
		return nil, coordinatorError(doErr)
	}
	return func() bool { return finished.await(stopped) }, nil
}

// txnCall runs one operation about a transactional ID and returns the
// Reply that waits for it; setErr writes a coordinator-level error into the
// response (also when the shard stops before answering).
func (b *Broker) txnCall(ctx context.Context, transactionalID string, resp Reply, setErr func(*kerr.Error), op func(s *txn.Shard, fx *coord.Effects, done func())) Reply {
	wait, err := b.onTxnShard(ctx, transactionalID, op)
	if err != nil {
		setErr(err)
		return resp
	}
	resp.Wait = func() {
		if !wait() {
			setErr(kerr.NotCoordinator)
		}
	}
	return resp
}

// transactionTopicConfigs are the configs `__transaction_state` is created
// with, as Kafka's TransactionLog (compacted, producer compression).
func (b *Broker) transactionTopicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":      "compact",
		"compression.type":    "uncompressed",
		"min.insync.replicas": strconv.FormatInt(int64(b.cfg.Broker.TransactionStateLogMinISR), 10),
		"segment.bytes":       strconv.FormatInt(int64(b.cfg.Broker.TransactionStateLogSegmentBytes), 10),
	}
}

// ensureTransactionTopic creates `__transaction_state` on first use, as
// Kafka does when the first FindCoordinator for a transactional ID arrives.
func (b *Broker) ensureTransactionTopic(ctx context.Context) *kerr.Error {
	if b.cfg.Metadata.Image().TopicByName(metadata.TransactionStateTopic) != nil {
		return nil
	}
	err := b.cfg.Controller.CreateInternalTopic(ctx, metadata.TransactionStateTopic,
		b.cfg.Broker.TransactionStateLogNumPartitions, b.cfg.Broker.TransactionStateLogReplicationFactor, b.transactionTopicConfigs())
	if err != nil {
		b.log.Error("create transaction state topic failed", "err", err)
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// errorCode is err's code, 0 for none.
func errorCode(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}
