package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/txn"
)

// transactionCheck is what the transaction coordinator said about a
// transactional Produce's producer: the partitions of its ongoing
// transaction, or the error every transactional batch gets.
type transactionCheck struct {
	// verified is false when the coordinator could not be asked (no
	// transactional ID, or its shard is not loaded here): batches are then
	// accepted unverified.
	verified bool
	ongoing  map[string][]int32
	err      *kerr.Error
}

// transactionCheck asks the coordinator shard of a transactional
// Produce's ID for the producer's ongoing transaction. The producer ID and
// epoch come from the request's first batch (a producer's batches in one
// request share them). It waits for the shard: on a single node that is a
// queue hop on a local loop, not a network round trip.
func (b *Broker) transactionCheck(ctx context.Context, r *kmsg.ProduceRequest) transactionCheck {
	if r.TransactionID == nil {
		return transactionCheck{}
	}
	header, ok := firstBatchHeader(r)
	if !ok {
		return transactionCheck{}
	}
	id := *r.TransactionID
	var check transactionCheck
	wait, err := b.onTxnShard(ctx, id, func(s *txn.Shard, _ *coord.Effects, done func()) {
		check.ongoing, check.err = s.Partitions(id, header.ProducerID, header.ProducerEpoch)
		done()
	})
	if err != nil || !wait() {
		return transactionCheck{}
	}
	check.verified = true
	return check
}

// verify returns the error a transactional batch for topic/partition gets.
func (c transactionCheck) verify(r *kmsg.ProduceRequest, topic string, partition int32) (*kerr.Error, string) {
	switch {
	case r.TransactionID == nil:
		return kerr.InvalidRecord, "transactional batch without a transactional ID"
	case !c.verified:
		return nil, ""
	case c.err != nil:
		return c.err, ""
	case !containsPartition(c.ongoing[topic], partition):
		return kerr.InvalidTxnState, "the partition was not added to the producer's transaction"
	}
	return nil, ""
}

// firstBatchHeader parses the header of the request's first batch.
func firstBatchHeader(r *kmsg.ProduceRequest) (record.Header, bool) {
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			if h, err := record.ParseHeader(rp.Records); err == nil {
				return h, true
			}
		}
	}
	return record.Header{}, false
}
