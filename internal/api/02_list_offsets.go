package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets v0-v11: earliest (-2), latest (-1), max timestamp (-3,
// KIP-734), earliest local (-4, KIP-405: the same as earliest without tiered
// storage), latest tiered (-5, KIP-1005: none without tiered storage, so
// -1), earliest pending upload (-6, KIP-1023: none) and by timestamp (the
// first record at or after it). Only offsets below the high watermark are
// visible, and with read_committed (v2+, isolation_level 1) only those
// below the last stable offset: latest is then the last stable offset. v0
// answers in its old list form.
//
// Replication (Kafka's ReplicaManager.fetchOffset and
// Partition.fetchOffsetForTimestamp): the leader answers; a partition not
// led here is NOT_LEADER_OR_FOLLOWER, current_leader_epoch (v4+, KIP-320)
// older than ours FENCED_LEADER_EPOCH and newer UNKNOWN_LEADER_EPOCH.
// replica_id -2 is Kafka's debugging replica: any replica answers from its
// own log, up to its log end; a broker's replica ID (>= 0) asks the leader
// without isolation, also up to the log end. A consumer asking a new
// leader whose high watermark has not yet caught up with the start of its
// epoch gets OFFSET_NOT_AVAILABLE for latest, and for a timestamp lookup
// landing at or past what it may see: the leader cannot tell yet what is
// committed.

// Special ListOffsets timestamps.
const (
	listLatest           = -1
	listEarliest         = -2
	listMaxTimestamp     = -3
	listEarliestLocal    = -4
	listLatestTiered     = -5
	listEarliestPendingU = -6
)

// Special ListOffsets replica IDs.
const (
	listConsumerReplica  = -1
	listDebuggingReplica = -2
)

func handleListOffsets(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	q := listQuery{version: r.Version, replicaID: r.ReplicaID,
		readCommitted: r.Version >= 2 && r.IsolationLevel == isolationReadCommitted}
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			b.listOffset(q, rt.Topic, &rp, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply(resp)
}

// listQuery is what every partition of one ListOffsets shares.
type listQuery struct {
	version       int16
	replicaID     int32
	readCommitted bool
}

// consumer reports whether the request comes from a client, which is
// bounded by the isolation level; replicas read to the log end.
func (q listQuery) consumer() bool { return q.replicaID == listConsumerReplica }

// listOffset answers one partition.
func (b *Broker) listOffset(q listQuery, topic string, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	sp.Timestamp, sp.Offset = -1, -1
	defer func() {
		if q.version == 0 {
			sp.OldStyleOffsets = oldStyleOffsets(sp.Offset, rp.MaxNumOffsets)
		}
	}()
	p, perr := b.partition(topic, rp.Partition)
	if perr != nil {
		sp.ErrorCode = perr.Code
		return
	}
	o, err := p.Offsets(rp.CurrentLeaderEpoch, q.replicaID != listDebuggingReplica)
	if err != nil {
		sp.ErrorCode, _ = replicaErrorCode(err)
		return
	}
	visibleEnd := o.LogEndOffset
	if q.consumer() {
		visibleEnd = o.HighWatermark
		if q.readCommitted {
			visibleEnd = o.LastStableOffset
		}
	}
	// A new leader that cannot tell what is committed yet.
	lagging := q.consumer() && o.EpochStartOffset > o.HighWatermark
	sp.LeaderEpoch = o.LeaderEpoch
	switch rp.Timestamp {
	case listLatest:
		if lagging {
			sp.ErrorCode = kerr.OffsetNotAvailable.Code
			return
		}
		sp.Offset = visibleEnd
	case listEarliest, listEarliestLocal:
		sp.Offset = o.LogStartOffset
	case listLatestTiered, listEarliestPendingU:
	case listMaxTimestamp:
		offset, ts := p.MaxTimestamp()
		b.foundOffset(sp, offset, ts, offset >= 0, visibleEnd, lagging)
	default:
		if rp.Timestamp < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		offset, ts, found, err := p.OffsetForTimestamp(rp.Timestamp)
		if err != nil {
			b.log.Error("offset for timestamp failed", "topic", topic, "partition", rp.Partition, "err", err)
			b.cfg.Metrics.Refused(StorageRefusal(err))
			sp.ErrorCode = kerr.KafkaStorageError.Code
			return
		}
		b.foundOffset(sp, offset, ts, found, visibleEnd, lagging)
	}
}

// foundOffset answers a timestamp lookup's result: visible when below
// visibleEnd; at or past it, nothing, or OFFSET_NOT_AVAILABLE from a
// lagging new leader.
func (b *Broker) foundOffset(sp *kmsg.ListOffsetsResponseTopicPartition, offset, ts int64, found bool, visibleEnd int64, lagging bool) {
	switch {
	case found && offset < visibleEnd:
		sp.Offset, sp.Timestamp = offset, ts
	case found && lagging:
		sp.ErrorCode = kerr.OffsetNotAvailable.Code
	}
}

// oldStyleOffsets is v0's answer: a list of at most maxNum offsets.
func oldStyleOffsets(offset int64, maxNum int32) []int64 {
	if offset < 0 || maxNum <= 0 {
		return []int64{}
	}
	return []int64{offset}
}
