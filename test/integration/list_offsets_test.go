package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// listOffset asks for one partition's offset for timestamp at version.
func listOffset(t *testing.T, b *testcluster.Broker, version int16, topic string, partition int32, timestamp int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = version
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.MaxNumOffsets = partition, timestamp, 1
	rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
	req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	resp := dialWire(t, b).roundTrip(req).(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets v%d: %d topics in response", version, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// timestampedTopic holds four single-record batches whose timestamps are
// base, base+30s, base+10s, base+20s: the maximum is at offset 1.
func timestampedTopic(t *testing.T, b *testcluster.Broker, topic string) time.Time {
	t.Helper()
	createTopic(t, b, topic, 1, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	cl := newProducer(b, topic)
	for _, delta := range []time.Duration{0, 30 * time.Second, 10 * time.Second, 20 * time.Second} {
		produce(t, cl, &kgo.Record{Value: []byte(delta.String()), Timestamp: base.Add(delta)})
	}
	return base
}

// ListOffsets special timestamps: earliest (-2), latest (-1), max timestamp
// (-3, KIP-734, v7+), and by timestamp the first offset whose record
// timestamp is at or after it (-1 offset when none is).
func TestListOffsets(t *testing.T) {
	b := startBroker(t)
	base := timestampedTopic(t, b, "times").UnixMilli()
	cases := []struct {
		name       string
		timestamp  int64
		wantOffset int64
		wantTime   int64
	}{
		{"earliest", -2, 0, -1},
		{"latest", -1, 4, -1},
		{"max timestamp", -3, 1, base + 30000},
		{"exact first timestamp", base, 0, base},
		{"between records", base + 5000, 1, base + 30000},
		{"before everything", base - 60000, 0, base},
		{"after everything", base + 31000, -1, -1},
	}
	for _, c := range cases {
		sp := listOffset(t, b, 9, "times", 0, c.timestamp)
		wantCode(t, c.name, sp.ErrorCode, nil)
		if sp.Offset != c.wantOffset || sp.Timestamp != c.wantTime {
			t.Errorf("%s: offset %d timestamp %d, want offset %d timestamp %d", c.name, sp.Offset, sp.Timestamp, c.wantOffset, c.wantTime)
		}
		if sp.LeaderEpoch < 0 && c.wantOffset >= 0 {
			t.Errorf("%s: leader epoch %d, want the partition's epoch (v4+)", c.name, sp.LeaderEpoch)
		}
	}
}

// ListOffsets v0 answers with a list of offsets (old_style_offsets), as
// kafka-python's older code paths expect; v1 with one offset.
func TestListOffsetsOldVersions(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "old", 1, nil)
	produceValues(t, b, "old", "a", "b", "c")
	latest := listOffset(t, b, 0, "old", 0, -1)
	wantCode(t, "v0 latest", latest.ErrorCode, nil)
	if !slices.Equal(latest.OldStyleOffsets, []int64{3}) {
		t.Errorf("v0 latest: offsets %v, want [3]", latest.OldStyleOffsets)
	}
	earliest := listOffset(t, b, 0, "old", 0, -2)
	if !slices.Equal(earliest.OldStyleOffsets, []int64{0}) {
		t.Errorf("v0 earliest: offsets %v, want [0]", earliest.OldStyleOffsets)
	}
	for version := int16(1); version <= 11; version++ {
		sp := listOffset(t, b, version, "old", 0, -1)
		wantCode(t, fmt.Sprintf("v%d latest", version), sp.ErrorCode, nil)
		if sp.Offset != 3 {
			t.Errorf("v%d latest: offset %d, want 3", version, sp.Offset)
		}
	}
}

// Unknown topics and partitions are UNKNOWN_TOPIC_OR_PARTITION; a
// current_leader_epoch newer than the leader's is UNKNOWN_LEADER_EPOCH
// (KIP-320); a negative timestamp with no special meaning is refused.
func TestListOffsetsErrors(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "known", 1, nil)
	wantCode(t, "unknown topic", listOffset(t, b, 9, "unknown", 0, -1).ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, "unknown partition", listOffset(t, b, 9, "known", 1, -1).ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, "v0 unknown partition", listOffset(t, b, 0, "known", 5, -1).ErrorCode, kerr.UnknownTopicOrPartition)

	epoch := topicMetadata(t, b, "known").Partitions[0].LeaderEpoch
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "known"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.CurrentLeaderEpoch = -1, epoch+1
	rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
	req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	send := func() int16 {
		resp := request[*kmsg.ListOffsetsResponse](t, b, req)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("ListOffsets: %d topics in response", len(resp.Topics))
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "current leader epoch from the future", send(), kerr.UnknownLeaderEpoch)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = epoch
	wantCode(t, "current leader epoch", send(), nil)
}

// The kadm helpers a user reaches for agree with the raw answers.
func TestListOffsetsWithKadm(t *testing.T) {
	b := startBroker(t)
	base := timestampedTopic(t, b, "kadm-times")
	admin := b.Admin()
	ctx := testContext(t)
	starts, err := admin.ListStartOffsets(ctx, "kadm-times")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := admin.ListEndOffsets(ctx, "kadm-times")
	if err != nil {
		t.Fatal(err)
	}
	after, err := admin.ListOffsetsAfterMilli(ctx, base.Add(15*time.Second).UnixMilli(), "kadm-times")
	if err != nil {
		t.Fatal(err)
	}
	start, _ := starts.Lookup("kadm-times", 0)
	end, _ := ends.Lookup("kadm-times", 0)
	at, _ := after.Lookup("kadm-times", 0)
	if start.Offset != 0 || end.Offset != 4 || at.Offset != 1 {
		t.Errorf("kadm: start %d end %d after(base+15s) %d, want 0, 4, 1", start.Offset, end.Offset, at.Offset)
	}
}
