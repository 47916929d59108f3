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
// Only the leader deletes (NOT_LEADER_OR_FOLLOWER elsewhere); followers
// follow the log start offset their fetches return. The answer is the
// leader's new log start: unlike Kafka (DelayedDeleteRecords) it does not
// wait for the followers' log starts to pass the offset.

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
	p, perr := b.partition(topic, partition)
	if perr != nil {
		return -1, perr.Code
	}
	logStart, err := p.DeleteRecordsBefore(offset)
	if code, ok := replicaErrorCode(err); !ok {
		b.log.Error("delete records failed", "topic", topic, "partition", partition, "offset", offset, "err", err)
		b.cfg.Metrics.Refused(StorageRefusal(err))
		return -1, kerr.KafkaStorageError.Code
	} else if code != 0 {
		return -1, code
	}
	return logStart, 0
}
