package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/txn"
)

// TxnOffsetCommit v0-v4 (v2+ leader epochs, v3+ generation, member and
// instance IDs and flexible, KIP-447). The offsets are written to the
// group's `__consumer_offsets` partition as records of the producer's
// transaction (AddOffsetsToTxn put that partition in it), and count once
// the transaction's commit marker reaches the group shard
// (internal/group offsets_txn.go). The transaction coordinator first
// confirms the partition is in the producer's transaction. As in Kafka's
// KafkaApis, partitions of
// topics this cluster does not have answer UNKNOWN_TOPIC_OR_PARTITION and
// are not written.

func handleTxnOffsetCommit(b *Broker, ctx context.Context, req *Request) Reply {
	r, unknown := b.knownTxnOffsets(req.Body.(*kmsg.TxnOffsetCommitRequest))
	resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	if len(r.Topics) == 0 && len(unknown) > 0 {
		resp.Topics = unknown
		return reply(resp)
	}
	fail := txnOffsetCommitFailure(r, unknown)
	if !validGroupID(r.Group) {
		fail(resp, kerr.InvalidGroupID)
		return reply(resp)
	}
	verified, err := b.verifyOffsetsInTxn(ctx, r)
	if err != nil {
		fail(resp, err)
		return reply(resp)
	}
	return Reply{Response: resp, Wait: func() {
		if err := verified(); err != nil {
			fail(resp, err)
			return
		}
		commit := singleGroupCall(b, ctx, r.Group, resp, fail,
			func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.TxnOffsetCommitResponse)) {
				s.CommitTxnOffsets(fx, r, func(resp *kmsg.TxnOffsetCommitResponse) {
					resp.Topics = append(resp.Topics, unknown...)
					respond(resp)
				})
			})
		if commit.Wait != nil {
			commit.Wait()
		}
	}}
}

// verifyOffsetsInTxn asks the transaction coordinator whether the
// producer's ongoing transaction holds the group's `__consumer_offsets`
// partition (KIP-890's verification, which Kafka enables by default):
// offsets written outside one would stay pending, with no marker ever
// coming to end them. The returned function waits for the answer: nil,
// the producer's error (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
// INVALID_TXN_STATE when no transaction is ongoing), or INVALID_TXN_STATE
// when the partition is not in the transaction (no AddOffsetsToTxn).
func (b *Broker) verifyOffsetsInTxn(ctx context.Context, r *kmsg.TxnOffsetCommitRequest) (func() *kerr.Error, *kerr.Error) {
	offsetsPartition := b.groupPartition(r.Group)
	var verdict *kerr.Error
	wait, err := b.onTxnShard(ctx, r.TransactionalID, func(s *txn.Shard, _ *coord.Effects, done func()) {
		ongoing, err := s.Partitions(r.TransactionalID, r.ProducerID, r.ProducerEpoch)
		switch {
		case err != nil:
			verdict = err
		case !containsPartition(ongoing[metadata.GroupMetadataTopic], offsetsPartition):
			verdict = kerr.InvalidTxnState
		}
		done()
	})
	if err != nil {
		return nil, err
	}
	return func() *kerr.Error {
		if !wait() {
			return kerr.NotCoordinator
		}
		return verdict
	}, nil
}

// knownTxnOffsets splits a request into the partitions the cluster has
// and the answers for those it does not.
func (b *Broker) knownTxnOffsets(r *kmsg.TxnOffsetCommitRequest) (known *kmsg.TxnOffsetCommitRequest, unknown []kmsg.TxnOffsetCommitResponseTopic) {
	img := b.cfg.Metadata.Image()
	copied := *r
	copied.Topics = nil
	for _, rt := range r.Topics {
		t := img.TopicByName(rt.Topic)
		kept := rt
		kept.Partitions = nil
		missing := kmsg.NewTxnOffsetCommitResponseTopic()
		missing.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			if t != nil && rp.Partition >= 0 && int(rp.Partition) < len(t.Partitions) {
				kept.Partitions = append(kept.Partitions, rp)
				continue
			}
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicOrPartition.Code
			missing.Partitions = append(missing.Partitions, sp)
		}
		if len(kept.Partitions) > 0 {
			copied.Topics = append(copied.Topics, kept)
		}
		if len(missing.Partitions) > 0 {
			unknown = append(unknown, missing)
		}
	}
	return &copied, unknown
}

// txnOffsetCommitFailure answers every requested partition with one error,
// keeping the answers already decided for unknown partitions.
func txnOffsetCommitFailure(r *kmsg.TxnOffsetCommitRequest, unknown []kmsg.TxnOffsetCommitResponseTopic) func(*kmsg.TxnOffsetCommitResponse, *kerr.Error) {
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
		resp.Topics = append(resp.Topics, unknown...)
	}
}
