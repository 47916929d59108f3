package api

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
)

// What the partition handlers (Produce, Fetch, ListOffsets, DeleteRecords,
// OffsetForLeaderEpoch, DescribeProducers) share about replication: the
// Kafka error a replica error maps to, the error for a partition this
// broker does not host, and where the partition is led instead (KIP-951).

// replicaErrorCode maps what a replica.Partition returned to the Kafka
// error code the client sees; ok is false for an error that is none of
// them (an I/O failure: the caller logs it and answers
// KAFKA_STORAGE_ERROR).
func replicaErrorCode(err error) (code int16, ok bool) {
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, replica.ErrNotLeader), errors.Is(err, replica.ErrUnknownReplica):
		return kerr.NotLeaderForPartition.Code, true
	case errors.Is(err, replica.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code, true
	case errors.Is(err, replica.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code, true
	case errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code, true
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code, true
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code, true
	}
	return 0, false
}

// partition returns the hosted partition, or the error for one that is
// not hosted: KAFKA_STORAGE_ERROR when this broker failed to open its log
// (Kafka's answer for a partition on an offline log directory),
// NOT_LEADER_OR_FOLLOWER when the metadata knows it (it lives on other
// brokers, or this one has not opened it yet), else
// UNKNOWN_TOPIC_OR_PARTITION (Kafka's ReplicaManager.getPartitionOrError).
func (b *Broker) partition(topic string, index int32) (*replica.Partition, *kerr.Error) {
	if p, ok := b.cfg.Partitions.Get(topic, index); ok {
		return p, nil
	}
	if b.cfg.Partitions.OpenFailed(topic, index) {
		return nil, kerr.KafkaStorageError
	}
	if t := b.cfg.Metadata.Image().TopicByName(topic); t != nil && t.Partition(index) != nil {
		return nil, kerr.NotLeaderForPartition
	}
	return nil, kerr.UnknownTopicOrPartition
}

// currentLeader is where the metadata says a partition is led, for
// NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH answers (KIP-951): the
// leader's ID and epoch (-1, -1 when unknown) and its registration, nil
// when the leader is unknown or has no endpoint.
func (b *Broker) currentLeader(topic string, index int32) (leaderID, leaderEpoch int32, leader *metadata.Broker) {
	img := b.cfg.Metadata.Image()
	t := img.TopicByName(topic)
	if t == nil || t.Partition(index) == nil {
		return -1, -1, nil
	}
	p := t.Partition(index)
	if p.Leader < 0 {
		return -1, p.LeaderEpoch, nil
	}
	if br := img.Broker(p.Leader); br != nil && len(br.Endpoints) > 0 {
		leader = br
	}
	return p.Leader, p.LeaderEpoch, leader
}

// leaderEndpoints collects the brokers named as current leaders, for a
// response's NodeEndpoints (KIP-951). Like Metadata it advertises each
// broker's first listener.
type leaderEndpoints map[int32]*metadata.Broker

func (e leaderEndpoints) add(br *metadata.Broker) {
	if br != nil {
		e[br.NodeID] = br
	}
}

// each calls fn for every collected broker in node ID order.
func (e leaderEndpoints) each(fn func(id int32, host string, port int32, rack *string)) {
	for _, id := range slices.Sorted(maps.Keys(e)) {
		br := e[id]
		fn(id, br.Endpoints[0].Host, br.Endpoints[0].Port, br.Rack)
	}
}

// followerDurableEnd is the durable log end a follower's fetch reports
// for t: the partition's replica.DurableEndTag (capped at the fetch
// offset by the leader state), or the fetch offset itself when the
// partition carries none, a follower that fsyncs before it fetches
// (mixed versions keep today's meaning). A partition the request does
// not name (from a fetch session) has no tag either.
func (fc *fetchContext) followerDurableEnd(t *fetchTarget) int64 {
	if fc.durableEnds == nil {
		fc.durableEnds = map[lastFetchedKey]int64{}
		for _, rt := range fc.r.Topics {
			for i := range rt.Partitions {
				if end, ok := replica.DurableEnd(&rt.Partitions[i]); ok {
					fc.durableEnds[fc.key(rt.Topic, rt.TopicID, rt.Partitions[i].Partition)] = end
				}
			}
		}
	}
	if end, ok := fc.durableEnds[fc.key(t.topic, t.topicID, t.partition)]; ok {
		return end
	}
	return t.fetchOffset
}
