package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch v0-v4 (KIP-101, KIP-320): the end offset of a leader
// epoch, which a consumer uses after a leader change to detect a truncated
// log. A partition's epoch changes only when leadership moves; until
// replication arrives every partition has lived in a single epoch, so the
// answer is the log end offset for that epoch, and an epoch newer than ours
// is undefined (-1, -1). An epoch older than the partition's only epoch
// cannot exist and also answers undefined.

func handleOffsetForLeaderEpoch(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			b.endOffsetForEpoch(rt.Topic, &rp, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply(resp)
}

func (b *Broker) endOffsetForEpoch(topic string, rp *kmsg.OffsetForLeaderEpochRequestTopicPartition, sp *kmsg.OffsetForLeaderEpochResponseTopicPartition) {
	sp.LeaderEpoch, sp.EndOffset = -1, -1
	p, ok := b.cfg.Partitions.Get(topic, rp.Partition)
	if !ok {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return
	}
	if code := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); code != 0 {
		sp.ErrorCode = code
		return
	}
	if rp.LeaderEpoch == p.LeaderEpoch() {
		sp.LeaderEpoch, sp.EndOffset = rp.LeaderEpoch, p.Log().LogEndOffset()
	}
}
