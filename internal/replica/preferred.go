package replica

import (
	"cmp"
	"math"
	"slices"
)

// Fetching from the closest replica (KIP-392). A leader told to be rack
// aware (replica.selector.class) may answer a consumer's fetch with the ID
// of a follower in the consumer's rack instead of records; the consumer
// then fetches from that follower, which serves it up to its own high
// watermark (Read with FollowerMayServe). The leader only names followers
// that are in the committed ISR and have fetched past the consumer's
// offset, so the follower can answer at once.

// ReadReplica is one replica a consumer could fetch from, as the leader
// sees it (Kafka's ReplicaView): what SelectRackAware compares.
type ReadReplica struct {
	ID int32
	// Rack is the replica's broker.rack; "" when its broker has none or is
	// not alive (fenced or unregistered: Kafka gives such a replica no
	// endpoint), so that it matches no client. ReadReplicas leaves it
	// empty: racks live in the cluster metadata, which the caller has.
	Rack string
	// LogEndOffset is the replica's log end as the leader knows it: its
	// own, or a follower's latest fetch offset.
	LogEndOffset int64
	// SinceCaughtUpMs is how long ago the follower last had everything
	// the leader had (0 for the leader): the tie-break after LogEndOffset.
	SinceCaughtUpMs int64
}

// ReadReplicas lists, on the leader, who could serve a consumer fetching
// at fetchOffset at nowMs (the candidates of Kafka's
// findPreferredReadReplica): the leader itself, and each follower of the
// committed ISR whose latest fetch reached fetchOffset. Kafka also wants
// fetchOffset at or above the follower's log start; the leader does not
// track followers' log starts, so its own stands in for them (followers
// follow the leader's log start), and an offset below it names no
// follower: the leader's read answers OFFSET_OUT_OF_RANGE. ok is false
// when the partition is not led here.
func (p *Partition) ReadReplicas(fetchOffset, nowMs int64) (leader ReadReplica, followers []ReadReplica, ok bool) {
	leaderEnd, logStart := p.log.LogEndOffset(), p.log.LogStartOffset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.role != RoleLeader || p.leader == nil {
		return ReadReplica{}, nil, false
	}
	leader = ReadReplica{ID: p.self, LogEndOffset: leaderEnd}
	if fetchOffset < logStart {
		return leader, nil, true
	}
	for _, id := range p.state.ISR {
		if id == p.self {
			continue
		}
		f, known := p.leader.Follower(id)
		if !known || f.LogEndOffset < fetchOffset {
			continue
		}
		followers = append(followers, ReadReplica{ID: id, LogEndOffset: f.LogEndOffset,
			SinceCaughtUpMs: sinceCaughtUp(f.LastCaughtUpMs, nowMs)})
	}
	return leader, followers, true
}

// sinceCaughtUp is nowMs - lastCaughtUpMs, the longest time for a
// follower that never caught up.
func sinceCaughtUp(lastCaughtUpMs, nowMs int64) int64 {
	if lastCaughtUpMs == never {
		return math.MaxInt64
	}
	return max(nowMs-lastCaughtUpMs, 0)
}

// NoPreferredReplica is a fetch response's PreferredReadReplica when the
// consumer should keep fetching where it is.
const NoPreferredReplica int32 = -1

// SelectRackAware is Kafka's RackAwareReplicaSelector followed by the
// leader's own filter (ReplicaManager.findPreferredReadReplica): the
// follower a consumer in clientRack should fetch from, or
// NoPreferredReplica to keep reading from the leader. A consumer that
// names no rack stays on the leader; so does one in the leader's rack,
// even if followers share it, and one whose rack holds no candidate.
// Among the followers in its rack it gets the most caught up (Kafka's
// ReplicaView.comparator): the largest log end, then the most recently
// caught up, then the largest broker ID.
func SelectRackAware(clientRack string, leader ReadReplica, followers []ReadReplica) int32 {
	if clientRack == "" || leader.Rack == clientRack {
		return NoPreferredReplica
	}
	sameRack := slices.DeleteFunc(slices.Clone(followers), func(f ReadReplica) bool { return f.Rack != clientRack })
	if len(sameRack) == 0 {
		return NoPreferredReplica
	}
	return slices.MaxFunc(sameRack, compareCaughtUp).ID
}

// compareCaughtUp orders replicas from least to most caught up.
func compareCaughtUp(a, b ReadReplica) int {
	return cmp.Or(cmp.Compare(a.LogEndOffset, b.LogEndOffset),
		cmp.Compare(b.SinceCaughtUpMs, a.SinceCaughtUpMs),
		cmp.Compare(a.ID, b.ID))
}
