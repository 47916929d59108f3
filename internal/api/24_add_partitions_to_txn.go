package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/txn"
)

// AddPartitionsToTxn v0-v5 (v3+ flexible, KIP-482; v4+ batches several
// transactional IDs, KIP-890, sent by brokers). Partitions join the
// producer's transaction, starting one if none is ongoing
// (txn.Shard.AddPartitions). As in Kafka, a partition that does not exist
// fails the request: it gets UNKNOWN_TOPIC_OR_PARTITION and the others
// OPERATION_NOT_ATTEMPTED; any other error applies to every partition. A
// v4+ VerifyOnly transaction changes nothing and answers per partition
// whether it is already in the producer's ongoing transaction (NONE) or
// not (INVALID_TXN_STATE).

func handleAddPartitionsToTxn(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version < 4 {
		t := kmsg.NewAddPartitionsToTxnRequestTransaction()
		t.TransactionalID, t.ProducerID, t.ProducerEpoch = r.TransactionalID, r.ProducerID, r.ProducerEpoch
		for _, rt := range r.Topics {
			t.Topics = append(t.Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: rt.Topic, Partitions: rt.Partitions})
		}
		r.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{t}
	}
	results := make([]kmsg.AddPartitionsToTxnResponseTransaction, len(r.Transactions))
	waits := make([]func(), len(r.Transactions))
	for i := range r.Transactions {
		waits[i] = b.addPartitionsToTxn(ctx, &r.Transactions[i], &results[i])
	}
	finish := func() {
		for _, wait := range waits {
			wait()
		}
		if r.Version >= 4 {
			resp.Transactions = results
			return
		}
		for _, rt := range results[0].Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				st.Partitions = append(st.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: rp.Partition, ErrorCode: rp.ErrorCode})
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	return Reply{Response: resp, Wait: finish}
}

// addPartitionsToTxn answers one transaction of the request into result;
// the returned function waits until result is filled.
func (b *Broker) addPartitionsToTxn(ctx context.Context, t *kmsg.AddPartitionsToTxnRequestTransaction, result *kmsg.AddPartitionsToTxnResponseTransaction) func() {
	result.TransactionalID = t.TransactionalID
	codes := map[string]map[int32]int16{}
	setAll := func(err *kerr.Error) {
		for _, rt := range t.Topics {
			for _, p := range rt.Partitions {
				codes[rt.Topic][p] = err.Code
			}
		}
	}
	build := func() {
		result.Topics = result.Topics[:0]
		for _, rt := range t.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				st.Partitions = append(st.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: p, ErrorCode: codes[rt.Topic][p]})
			}
			result.Topics = append(result.Topics, st)
		}
	}
	partitions := map[string][]int32{}
	unknown := false
	img := b.cfg.Metadata.Image()
	for _, rt := range t.Topics {
		codes[rt.Topic] = map[int32]int16{}
		topic := img.TopicByName(rt.Topic)
		for _, p := range rt.Partitions {
			if topic == nil || topic.Partition(p) == nil {
				unknown = true
			}
			partitions[rt.Topic] = append(partitions[rt.Topic], p)
		}
	}
	if unknown {
		for _, rt := range t.Topics {
			topic := img.TopicByName(rt.Topic)
			for _, p := range rt.Partitions {
				codes[rt.Topic][p] = kerr.OperationNotAttempted.Code
				if topic == nil || topic.Partition(p) == nil {
					codes[rt.Topic][p] = kerr.UnknownTopicOrPartition.Code
				}
			}
		}
		build()
		return func() {}
	}
	wait, err := b.onTxnShard(ctx, t.TransactionalID, func(s *txn.Shard, fx *coord.Effects, done func()) {
		if t.VerifyOnly {
			ongoing, err := s.Partitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch)
			for topic, ps := range partitions {
				for _, p := range ps {
					switch {
					case err != nil:
						codes[topic][p] = err.Code
					case !containsPartition(ongoing[topic], p):
						codes[topic][p] = kerr.InvalidTxnState.Code
					}
				}
			}
			done()
			return
		}
		s.AddPartitions(fx, t.TransactionalID, t.ProducerID, t.ProducerEpoch, partitions, func(err *kerr.Error) {
			if err != nil {
				setAll(err)
			}
			done()
		})
	})
	if err != nil {
		setAll(err)
		build()
		return func() {}
	}
	return func() {
		if !wait() {
			setAll(kerr.NotCoordinator)
		}
		build()
	}
}

// containsPartition reports whether ps holds p.
func containsPartition(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
