package api

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

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
//
// Replication (Kafka's ReplicaManager.appendRecords and DelayedProduce):
// only the leader appends; elsewhere the partition is
// NOT_LEADER_OR_FOLLOWER, from v10 with the current leader and its
// endpoint (KIP-951). acks=all (-1) is refused before the append with
// NOT_ENOUGH_REPLICAS while the ISR is smaller than the topic's
// min.insync.replicas (capped at the replica count), and is answered once
// the high watermark passes the batch, that is once every ISR member has
// it durably: NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
// min.insync.replicas meanwhile, NOT_LEADER_OR_FOLLOWER if the broker
// lost the leadership, REQUEST_TIMED_OUT after the request's timeout.
// acks=1 waits for the leader's own durability only.

// pendingCommit is one appended partition waiting to become durable (and,
// for acks=all, replicated).
type pendingCommit struct {
	topic     string
	partition *replica.Partition
	// appended is the append's result: its last offset and the leader
	// epoch the wait must still be led under.
	appended storage.AppendResult
	response *kmsg.ProduceResponseTopicPartition
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
	// The timeout runs from the append, as Kafka's DelayedProduce does, not
	// from when the connection's writer gets to this response.
	deadline := time.Now().Add(time.Duration(max(r.TimeoutMillis, 0)) * time.Millisecond)
	commit := func() {
		b.commitAll(ctx, r.Acks, deadline, pending)
		b.fillProduceLeaders(r.Version, resp)
	}
	if r.Acks == 0 {
		return Reply{Wait: commit}
	}
	return Reply{Response: resp, Wait: commit}
}

// commitAll waits until every appended partition is as safe as acks asks
// (replica.Partition.CommitAcks), the partitions in parallel; acks=all
// waits end at deadline. A failed partition reports its error.
func (b *Broker) commitAll(ctx context.Context, acks int16, deadline time.Time, pending []pendingCommit) {
	if acks == replica.AcksAll {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	commitOne := func(pc pendingCommit) {
		err := pc.partition.CommitAppended(ctx, pc.appended, acks)
		if err == nil {
			return
		}
		code, ok := replicaErrorCode(err)
		if !ok {
			b.log.Error("commit failed", "topic", pc.topic, "partition", pc.partition.Partition, "err", err)
			b.cfg.Metrics.Refused(StorageRefusal(err))
			code = kerr.KafkaStorageError.Code
		}
		pc.response.ErrorCode = code
		pc.response.BaseOffset = -1
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

// fillProduceLeaders adds, from v10, the current leader to every
// NOT_LEADER_OR_FOLLOWER partition and the leaders' endpoints to the
// response (KIP-951), so the client can retry without a metadata refresh.
func (b *Broker) fillProduceLeaders(version int16, resp *kmsg.ProduceResponse) {
	if version < 10 {
		return
	}
	endpoints := leaderEndpoints{}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			sp := &rt.Partitions[j]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			topic, _ := b.resolveTopic(rt.Topic, rt.TopicID, version >= 13)
			id, epoch, leader := b.currentLeader(topic, sp.Partition)
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = id, epoch
			endpoints.add(leader)
		}
	}
	endpoints.each(func(id int32, host string, port int32, rack *string) {
		br := kmsg.NewProduceResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = id, host, port, rack
		resp.Brokers = append(resp.Brokers, br)
	})
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
	p, perr := b.partition(topic, rp.Partition)
	if perr != nil {
		return fail(perr, "")
	}
	if p.Role() != replica.RoleLeader {
		return fail(kerr.NotLeaderForPartition, "")
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
	if r.Acks == replica.AcksAll && p.UnderMinISR(tc.MinInsyncReplicas) {
		return fail(kerr.NotEnoughReplicas, "the ISR is smaller than min.insync.replicas")
	}
	res, err := p.AppendProduced(v.Batch)
	if err != nil {
		if code, msg, ok := producerStateError(err); ok {
			return fail(code, msg)
		}
		if errors.Is(err, replica.ErrNotLeader) {
			return fail(kerr.NotLeaderForPartition, "")
		}
		b.log.Error("append failed", "topic", topic, "partition", rp.Partition, "err", err)
		b.cfg.Metrics.Refused(StorageRefusal(err))
		return fail(kerr.KafkaStorageError, "")
	}
	if res.Duplicate {
		b.log.Debug("retried produce batch answered with its original offsets", "topic", topic, "partition", rp.Partition,
			"producerID", v.ProducerID, "baseSequence", v.BaseSequence, "baseOffset", res.BaseOffset)
	} else {
		b.cfg.Metrics.AddBytesIn(topic, len(v.Batch), int(v.NumRecords))
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogStartOffset = p.LogStartOffset()
	if tc.MessageTimestampType == "LogAppendTime" {
		sp.LogAppendTime = now
		if res.Duplicate {
			sp.LogAppendTime = res.MaxTimestamp // the original's append time
		}
	}
	return &pendingCommit{topic: topic, partition: p, appended: res, response: sp}
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
