package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords v0-v2: raises a partition's log start offset (the low
// watermark). Offset -1 means "up to the high watermark"; an offset above
// the high watermark is OFFSET_OUT_OF_RANGE, as in Kafka. Whole segments
// below the new start are removed; the rest become unreadable at once.

func handleDeleteRecords(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark, sp.ErrorCode = b.deleteRecords(rt.Topic, rp.Partition, rp.Offset)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply(resp)
}

func (b *Broker) deleteRecords(topic string, partition int32, offset int64) (int64, int16) {
	if isInternalTopic(topic) {
		return -1, kerr.PolicyViolation.Code
	}
	p, ok := b.cfg.Partitions.Get(topic, partition)
	if !ok {
		return -1, kerr.UnknownTopicOrPartition.Code
	}
	highWatermark := p.HighWatermark()
	if offset == -1 {
		offset = highWatermark
	}
	if offset < 0 || offset > highWatermark {
		return -1, kerr.OffsetOutOfRange.Code
	}
	if err := p.Log().DeleteRecordsBefore(offset); err != nil {
		b.log.Error("delete records failed", "topic", topic, "partition", partition, "offset", offset, "err", err)
		return -1, kerr.KafkaStorageError.Code
	}
	return p.Log().LogStartOffset(), 0
}
