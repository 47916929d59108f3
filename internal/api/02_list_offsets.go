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

// Special ListOffsets timestamps.
const (
	listLatest           = -1
	listEarliest         = -2
	listMaxTimestamp     = -3
	listEarliestLocal    = -4
	listLatestTiered     = -5
	listEarliestPendingU = -6
)

func handleListOffsets(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			b.listOffset(r.Version, r.Version >= 2 && r.IsolationLevel == isolationReadCommitted, rt.Topic, &rp, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply(resp)
}

// listOffset answers one partition.
func (b *Broker) listOffset(version int16, readCommitted bool, topic string, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	p, ok := b.cfg.Partitions.Get(topic, rp.Partition)
	if !ok {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	if code := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); code != 0 {
		sp.ErrorCode = code
		return
	}
	log := p.Log()
	visibleEnd := p.HighWatermark()
	if readCommitted {
		visibleEnd = p.LastStableOffset()
	}
	sp.LeaderEpoch = p.LeaderEpoch()
	sp.Timestamp, sp.Offset = -1, -1
	switch rp.Timestamp {
	case listLatest:
		sp.Offset = visibleEnd
	case listEarliest, listEarliestLocal:
		sp.Offset = log.LogStartOffset()
	case listLatestTiered, listEarliestPendingU:
	case listMaxTimestamp:
		if offset, ts := log.MaxTimestamp(); offset >= 0 && offset < visibleEnd {
			sp.Offset, sp.Timestamp = offset, ts
		}
	default:
		if rp.Timestamp < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		offset, ts, found, err := log.OffsetForTimestamp(rp.Timestamp)
		if err != nil {
			b.log.Error("offset for timestamp failed", "topic", topic, "partition", rp.Partition, "err", err)
			sp.ErrorCode = kerr.KafkaStorageError.Code
			return
		}
		if found && offset < visibleEnd {
			sp.Offset, sp.Timestamp = offset, ts
		}
	}
	if version == 0 {
		sp.OldStyleOffsets = oldStyleOffsets(sp.Offset, rp.MaxNumOffsets)
	}
}

// oldStyleOffsets is v0's answer: a list of at most maxNum offsets.
func oldStyleOffsets(offset int64, maxNum int32) []int64 {
	if offset < 0 || maxNum <= 0 {
		return []int64{}
	}
	return []int64{offset}
}
