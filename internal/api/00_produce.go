package api

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
)

// Produce v3-v13 (v3 is the first whose records are magic v2; v13 names
// topics by ID, KIP-516). Batches are validated as Kafka's LogValidator does
// (CRC, lengths, offsets, timestamps, size), appended in request order, and
// acknowledged once durable: acks=1 and acks=all wait for the group-committed
// fsync unless the topic enables write caching. acks=0 gets no response.
//
// Idempotent batches (a producer ID, KIP-98) are checked against the
// producer's state in the partition (storage.Log.AppendProduced): a retry
// of one of the producer's last five batches is answered NONE with the
// original base offset (Kafka's duplicate handling) once that batch is
// durable; an older epoch gets INVALID_PRODUCER_EPOCH (Kafka 2.7+) and a
// sequence gap OUT_OF_ORDER_SEQUENCE_NUMBER. As in Kafka the broker does
// not require acks=all for them; the clients do.
//
// Transactional batches (KIP-98) are checked against the producer's
// transaction first, as Kafka's transaction.partition.verification.enable
// does (KIP-890 part 1): the partition must be in the producer's ongoing
// transaction on the coordinator, else INVALID_TXN_STATE (or the
// coordinator's PRODUCER_FENCED / INVALID_PRODUCER_ID_MAPPING). When the
// coordinator shard is not loaded here the batch is accepted unverified, as
// Kafka did before verification existed.

// pendingCommit is one appended partition waiting to become durable.
type pendingCommit struct {
	partition  *replica.Partition
	lastOffset int64
	response   *kmsg.ProduceResponseTopicPartition
}

func handleProduce(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	var pending []pendingCommit
	check := b.transactionCheck(ctx, r)
	for _, rt := range r.Topics {
		topic, topicErr := b.resolveTopic(rt.Topic, rt.TopicID, r.Version >= 13)
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		// Allocated once, so pointers into it stay valid for the commits.
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for i := range rt.Partitions {
			sp := &st.Partitions[i]
			sp.Default()
			sp.Partition = rt.Partitions[i].Partition
			if p := b.producePartition(r, check, topic, topicErr, &rt.Partitions[i], sp); p != nil {
				pending = append(pending, *p)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	commit := func() { b.commitAll(pending) }
	if r.Acks == 0 {
		return Reply{Wait: commit}
	}
	return Reply{Response: resp, Wait: commit}
}

// commitAll waits until every appended partition is durable, fsyncing the
// partitions in parallel; a partition whose fsync fails reports
// KAFKA_STORAGE_ERROR.
func (b *Broker) commitAll(pending []pendingCommit) {
	commitOne := func(pc pendingCommit) {
		if err := pc.partition.Commit(pc.lastOffset); err != nil {
			b.log.Error("commit failed", "topic", pc.partition.Topic, "partition", pc.partition.Partition, "err", err)
			pc.response.ErrorCode = kerr.KafkaStorageError.Code
			pc.response.BaseOffset = -1
		}
	}
	if len(pending) == 1 {
		commitOne(pending[0])
		return
	}
	var wg sync.WaitGroup
	for _, pc := range pending {
		wg.Go(func() { commitOne(pc) })
	}
	wg.Wait()
}

// producePartition validates and appends one partition's batches, filling
// its response. It returns the commit to wait for, or nil on error.
func (b *Broker) producePartition(r *kmsg.ProduceRequest, check transactionCheck, topic string, topicErr *kerr.Error, rp *kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) *pendingCommit {
	fail := func(err *kerr.Error, msg string) *pendingCommit {
		sp.ErrorCode = err.Code
		if msg != "" {
			sp.ErrorMessage = &msg
		}
		return nil
	}
	switch {
	case topicErr != nil:
		return fail(topicErr, "")
	case isInternalTopic(topic):
		// Coordinators write their own records; a client record there could
		// keep a coordinator from loading (Kafka refuses it the same way).
		return fail(kerr.InvalidTopicException, "cannot append to internal topic "+topic)
	case r.Acks != 0 && r.Acks != 1 && r.Acks != -1:
		return fail(kerr.InvalidRequiredAcks, "")
	}
	p, ok := b.cfg.Partitions.Get(topic, rp.Partition)
	if !ok {
		return fail(kerr.UnknownTopicOrPartition, "")
	}
	tc := b.topicConfig(topic)
	now := b.cfg.Now().UnixMilli()
	opts := record.DefaultValidateOptions()
	opts.MaxMessageBytes = tc.MaxMessageBytes
	opts.LogAppendTime = tc.MessageTimestampType == "LogAppendTime"
	opts.Now = now
	opts.TimestampBeforeMaxMs = tc.MessageTimestampBeforeMaxMs
	opts.TimestampAfterMaxMs = tc.MessageTimestampAfterMaxMs
	opts.Compacted = strings.Contains(tc.CleanupPolicy, "compact")
	opts.TargetCodec = targetCodec(tc.CompressionType)
	if r.Version < 7 && usesZstd(rp.Records, opts.TargetCodec) {
		// zstd needs Produce v7+ (KIP-110): older clients cannot read it.
		return fail(kerr.UnsupportedCompressionType, "zstd needs Produce v7 or later")
	}
	v, err := record.Validate(rp.Records, opts)
	if err != nil {
		var rerr *record.Error
		if errors.As(err, &rerr) {
			return fail(rerr.Kafka, rerr.Error())
		}
		return fail(kerr.CorruptMessage, err.Error())
	}
	if v.Transactional {
		if err, msg := check.verify(r, topic, rp.Partition); err != nil {
			return fail(err, msg)
		}
	}
	res, err := p.AppendProduced(v.Batch)
	if err != nil {
		if code, msg, ok := producerStateError(err); ok {
			return fail(code, msg)
		}
		b.log.Error("append failed", "topic", topic, "partition", rp.Partition, "err", err)
		return fail(kerr.KafkaStorageError, "")
	}
	if res.Duplicate {
		b.log.Debug("retried produce batch answered with its original offsets", "topic", topic, "partition", rp.Partition,
			"producerID", v.ProducerID, "baseSequence", v.BaseSequence, "baseOffset", res.BaseOffset)
	} else {
		b.cfg.Metrics.AddBytesIn(topic, len(v.Batch), int(v.NumRecords))
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogStartOffset = p.Log().LogStartOffset()
	if tc.MessageTimestampType == "LogAppendTime" {
		sp.LogAppendTime = now
		if res.Duplicate {
			sp.LogAppendTime = res.MaxTimestamp // the original's append time
		}
	}
	return &pendingCommit{partition: p, lastOffset: res.LastOffset, response: sp}
}

// producerStateError maps a batch the producer's state refused to its
// Kafka error code and message.
func producerStateError(err error) (*kerr.Error, string, bool) {
	var perr *storage.ProducerError
	if !errors.As(err, &perr) {
		return nil, "", false
	}
	switch {
	case errors.Is(perr.Err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch, perr.Message, true
	case errors.Is(perr.Err, storage.ErrInvalidTxnState):
		return kerr.InvalidTxnState, perr.Message, true
	case errors.Is(perr.Err, storage.ErrTransactionCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced, perr.Message, true
	}
	return kerr.OutOfOrderSequenceNumber, perr.Message, true
}

// usesZstd reports whether the batch is, or would be stored, zstd-compressed.
func usesZstd(records []byte, target record.Codec) bool {
	if target == record.CodecZstd {
		return true
	}
	h, err := record.ParseHeader(records)
	return err == nil && h.Codec() == record.CodecZstd
}
