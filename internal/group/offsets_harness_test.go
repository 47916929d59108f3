package group

import (
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// offsetsClock is a manual clock and coord.Timers for deterministic tests:
// timers fire only when the test advances time.
type offsetsClock struct {
	now    time.Time
	timers map[string]offsetsTimer
}

type offsetsTimer struct {
	at time.Time
	op func(fx *coord.Effects)
}

func (c *offsetsClock) Schedule(key string, delay time.Duration, op func(fx *coord.Effects)) {
	c.timers[key] = offsetsTimer{at: c.now.Add(delay), op: op}
}

func (c *offsetsClock) Cancel(key string) { delete(c.timers, key) }

// offsetsHarness plays the coord runtime for one shard: each operation gets
// fresh Effects, its records are "written" (kept in written) and replayed,
// then its completions run.
type offsetsHarness struct {
	t       testing.TB
	clock   *offsetsClock
	shard   *Shard
	written []coord.Record
}

var offsetsEpoch = time.UnixMilli(1_700_000_000_000)

func offsetsTestConfig() Config {
	return Config{
		Partition:                     7,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		MaxSize:                       math.MaxInt32,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		OffsetMetadataMaxBytes:        4096,
	}
}

func newOffsetsHarness(t testing.TB) *offsetsHarness {
	return newOffsetsHarnessWith(t, offsetsTestConfig())
}

// newOffsetsHarnessWith loads a shard from preload (the partition's
// existing records), then runs Loaded.
func newOffsetsHarnessWith(t testing.TB, cfg Config, preload ...coord.Record) *offsetsHarness {
	t.Helper()
	clock := &offsetsClock{now: offsetsEpoch, timers: map[string]offsetsTimer{}}
	h := &offsetsHarness{t: t, clock: clock, shard: NewShard(cfg, clock)}
	for _, r := range preload {
		if err := h.shard.Replay(r); err != nil {
			t.Fatalf("preload: %v", err)
		}
	}
	h.written = append(h.written, preload...)
	h.run(h.shard.Loaded)
	return h
}

// run runs op as the runtime does when the write succeeds.
func (h *offsetsHarness) run(op func(fx *coord.Effects)) []coord.Record {
	h.t.Helper()
	fx := &coord.Effects{Now: h.clock.now}
	op(fx)
	records := fx.Records()
	for _, r := range records {
		if err := h.shard.Replay(r); err != nil {
			h.t.Fatalf("replay own record: %v", err)
		}
	}
	h.written = append(h.written, records...)
	fx.Complete(nil)
	return records
}

// runFailing runs op as the runtime does when the write fails: nothing is
// replayed and the completions see err.
func (h *offsetsHarness) runFailing(op func(fx *coord.Effects), err error) []coord.Record {
	h.t.Helper()
	fx := &coord.Effects{Now: h.clock.now}
	op(fx)
	fx.Complete(err)
	return fx.Records()
}

// advance moves the clock by d, firing due timers in time order.
func (h *offsetsHarness) advance(d time.Duration) {
	h.t.Helper()
	target := h.clock.now.Add(d)
	for {
		key, ok := h.nextTimer(target)
		if !ok {
			break
		}
		timer := h.clock.timers[key]
		delete(h.clock.timers, key)
		h.clock.now = timer.at
		h.run(timer.op)
	}
	h.clock.now = target
}

func (h *offsetsHarness) nextTimer(until time.Time) (string, bool) {
	keys := make([]string, 0, len(h.clock.timers))
	for key, timer := range h.clock.timers {
		if !timer.at.After(until) {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := h.clock.timers[keys[i]], h.clock.timers[keys[j]]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		return keys[i] < keys[j]
	})
	return keys[0], true
}

// commit runs an OffsetCommit and returns its one response.
func (h *offsetsHarness) commit(req *kmsg.OffsetCommitRequest) (*kmsg.OffsetCommitResponse, []coord.Record) {
	h.t.Helper()
	var resp *kmsg.OffsetCommitResponse
	calls := 0
	records := h.run(func(fx *coord.Effects) {
		h.shard.CommitOffsets(fx, req, func(r *kmsg.OffsetCommitResponse) { resp, calls = r, calls+1 })
	})
	if calls != 1 {
		h.t.Fatalf("CommitOffsets responded %d times, want 1", calls)
	}
	return resp, records
}

// deleteOffsets runs an OffsetDelete and returns its one response.
func (h *offsetsHarness) deleteOffsets(req *kmsg.OffsetDeleteRequest) (*kmsg.OffsetDeleteResponse, []coord.Record) {
	h.t.Helper()
	var resp *kmsg.OffsetDeleteResponse
	calls := 0
	records := h.run(func(fx *coord.Effects) {
		h.shard.DeleteOffsets(fx, req, func(r *kmsg.OffsetDeleteResponse) { resp, calls = r, calls+1 })
	})
	if calls != 1 {
		h.t.Fatalf("DeleteOffsets responded %d times, want 1", calls)
	}
	return resp, records
}

// fetchOne returns the committed offset the shard reports for a partition.
func (h *offsetsHarness) fetchOne(group, topic string, partition int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	h.t.Helper()
	resp := h.shard.FetchOffsets(group, []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{partition}}}, false)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		h.t.Fatalf("fetch %s %s-%d: unexpected response %+v", group, topic, partition, resp)
	}
	return resp.Topics[0].Partitions[0]
}

// committedAt reports the offset committed for a partition, or -1.
func (h *offsetsHarness) committedAt(group, topic string, partition int32) int64 {
	h.t.Helper()
	return h.fetchOne(group, topic, partition).Offset
}

// groupRecord is the GroupMetadata record the classic side writes for a
// group: generation, protocol type "consumer", and members (each
// subscribed to topics); no members makes it Empty. stateTimestamp is the
// group's currentStateTimestamp. Harnesses replay such records before
// Loaded, as a reloaded coordinator does; sessions never time out within a
// test (the largest session timeout).
func groupRecord(group string, generation int32, stateTimestamp int64, members []string, topics ...string) coord.Record {
	return groupRecordOfType("consumer", group, generation, stateTimestamp, members, topics...)
}

// groupRecordOfType is groupRecord for another protocol type (Kafka
// Connect's "connect", say), whose subscriptions the coordinator cannot
// read.
func groupRecordOfType(protocolType, group string, generation int32, stateTimestamp int64, members []string, topics ...string) coord.Record {
	subscription := kmsg.NewConsumerMemberMetadata()
	subscription.Topics = topics
	value := kmsg.NewGroupMetadataValue()
	value.Version = 3
	value.ProtocolType = protocolType
	value.Generation = generation
	value.CurrentStateTimestamp = stateTimestamp
	if len(members) > 0 {
		protocol, leader := "range", members[0]
		value.Protocol, value.Leader = &protocol, &leader
	}
	for _, id := range members {
		m := kmsg.NewGroupMetadataValueMember()
		m.MemberID = id
		m.ClientID, m.ClientHost = "client", "/127.0.0.1"
		m.RebalanceTimeoutMillis, m.SessionTimeoutMillis = 60_000, math.MaxInt32
		m.Subscription = subscription.AppendTo(nil)
		m.Assignment = []byte{}
		value.Members = append(value.Members, m)
	}
	key := kmsg.GroupMetadataKey{Version: 2, Group: group}
	return coord.Record{Key: key.AppendTo(nil), Value: value.AppendTo(nil)}
}

// offsetPart is one partition of a test OffsetCommit.
type offsetPart struct {
	topic     string
	partition int32
	offset    int64
	epoch     int32
	metadata  *string
}

// commitRequest builds an OffsetCommit of version for group, with topics in
// the order their partitions first appear; generation -1 (no group
// management) unless changed by the caller.
func offsetCommitReq(version int16, group string, parts ...offsetPart) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = version
	req.Group = group
	index := map[string]int{}
	for _, p := range parts {
		i, ok := index[p.topic]
		if !ok {
			i = len(req.Topics)
			index[p.topic] = i
			topic := kmsg.NewOffsetCommitRequestTopic()
			topic.Topic = p.topic
			req.Topics = append(req.Topics, topic)
		}
		partition := kmsg.NewOffsetCommitRequestTopicPartition()
		partition.Partition = p.partition
		partition.Offset = p.offset
		partition.LeaderEpoch = p.epoch
		partition.Metadata = p.metadata
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, partition)
	}
	return req
}

// deleteRequest builds an OffsetDelete for group of the given partitions.
func offsetDeleteReq(group string, topics map[string][]int32) *kmsg.OffsetDeleteRequest {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	for _, name := range sortedKeys(topics) {
		topic := kmsg.NewOffsetDeleteRequestTopic()
		topic.Topic = name
		for _, p := range topics[name] {
			topic.Partitions = append(topic.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
		}
		req.Topics = append(req.Topics, topic)
	}
	return req
}

func metadataOf(s string) *string { return &s }

// commitErrors flattens a commit response to "topic/partition" → code.
func offsetCommitErrors(resp *kmsg.OffsetCommitResponse) map[string]int16 {
	out := map[string]int16{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[offsetsPartitionName(t.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

func offsetsPartitionName(topic string, partition int32) string {
	return fmt.Sprintf("%s/%d", topic, partition)
}
