package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch v0-v4 (KIP-101, KIP-279, KIP-320): the end offset of
// a leader epoch, from the leader's leader-epoch cache (Kafka's
// LeaderEpochFileCache.endOffsetFor): the log end offset for the current
// epoch; for an older one the start offset of the next epoch after the
// largest epoch at or below it; (-1, -1) for an epoch newer than every
// recorded one. A follower that became one asks it to find where its log
// stops agreeing with the leader's and truncates there; a consumer, after
// a leader change, to detect a truncated log.
//
// Only the leader answers, as in Kafka (ReplicaManager.lastOffsetForLeaderEpoch
// passes fetchOnlyFromLeader = true whatever the replica ID: v0-v2 carry
// none and default to the debugging replica -2, so honouring -2 would
// send every old client to possibly stale followers). A partition not led
// here is NOT_LEADER_OR_FOLLOWER; current_leader_epoch (v2+) older than
// ours FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.

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
	p, perr := b.partition(topic, rp.Partition)
	if perr != nil {
		sp.ErrorCode = perr.Code
		return
	}
	epoch, end, err := p.EndOffsetForEpoch(rp.CurrentLeaderEpoch, rp.LeaderEpoch)
	if err != nil {
		sp.ErrorCode, _ = replicaErrorCode(err)
		return
	}
	sp.LeaderEpoch, sp.EndOffset = epoch, end
}
