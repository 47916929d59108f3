package group

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOffsetCommitRecordGolden(t *testing.T) {
	// The bytes Kafka 4's GroupCoordinatorRecordSerde writes for
	// newOffsetCommitRecord("g", "t", 3, ...): key type 1, value v3 (or v1
	// with an expire timestamp).
	wantKey := mustHex(t, "0001  0001 67  0001 74  00000003")
	c := committedOffset{offset: 42, leaderEpoch: 7, metadata: "m", commitTime: 1_700_000_000_000, expireTime: noTimestamp}
	record := offsetCommitRecord("g", "t", 3, c)
	wantValue := mustHex(t, "0003  000000000000002a  00000007  0001 6d  0000018bcfe56800")
	if !bytes.Equal(record.Key, wantKey) || !bytes.Equal(record.Value, wantValue) {
		t.Fatalf("record = %x / %x\nwant     %x / %x", record.Key, record.Value, wantKey, wantValue)
	}

	c = committedOffset{offset: 42, leaderEpoch: 7, commitTime: 1_700_000_000_000, expireTime: 1_700_003_600_000}
	expiring := offsetCommitRecord("g", "t", 3, c)
	wantExpiring := mustHex(t, "0001  000000000000002a  0000  0000018bcfe56800  0000018bd01c5680")
	if !bytes.Equal(expiring.Value, wantExpiring) {
		t.Fatalf("expiring value = %x, want %x (v1 has no leader epoch)", expiring.Value, wantExpiring)
	}

	tombstone := offsetTombstone("g", "t", 3)
	if !bytes.Equal(tombstone.Key, wantKey) || tombstone.Value != nil {
		t.Fatalf("tombstone = %x / %x, want the key and a nil value", tombstone.Key, tombstone.Value)
	}
}

func TestOffsetCommitRecordDecodesAsKafkaFields(t *testing.T) {
	c := committedOffset{offset: 1 << 40, leaderEpoch: 12, metadata: "ünïcode", commitTime: 1_700_000_000_123, expireTime: noTimestamp}
	record := offsetCommitRecord("group-é", "topic.a", 2_000_000, c)
	key := kmsg.NewOffsetCommitKey()
	if err := key.ReadFrom(record.Key); err != nil {
		t.Fatal(err)
	}
	if key != (kmsg.OffsetCommitKey{Version: 1, Group: "group-é", Topic: "topic.a", Partition: 2_000_000}) {
		t.Fatalf("key = %+v", key)
	}
	value := kmsg.NewOffsetCommitValue()
	if err := value.ReadFrom(record.Value); err != nil {
		t.Fatal(err)
	}
	want := kmsg.OffsetCommitValue{Version: 3, Offset: 1 << 40, LeaderEpoch: 12, Metadata: "ünïcode", CommitTimestamp: 1_700_000_000_123}
	if !reflect.DeepEqual(value, want) {
		t.Fatalf("value = %+v, want %+v", value, want)
	}
}

func TestReplayOlderValueVersions(t *testing.T) {
	// Values written by old brokers: v0 (no expire timestamp, no leader
	// epoch), v2 (no leader epoch), v4 (flexible). Missing fields take
	// Kafka's schema defaults (-1), not zero.
	cases := []struct {
		version int16
		value   string
		want    committedOffset
	}{
		{0, "0000 0000000000000005 0002 6162 0000018bcfe56800", committedOffset{5, -1, "ab", 1_700_000_000_000, -1}},
		{1, "0001 0000000000000005 0000 0000018bcfe56800 0000018bd01c5680", committedOffset{5, -1, "", 1_700_000_000_000, 1_700_003_600_000}},
		{2, "0002 0000000000000005 0000 0000018bcfe56800", committedOffset{5, -1, "", 1_700_000_000_000, -1}},
		{4, "0004 0000000000000005 00000003 01 0000018bcfe56800 00", committedOffset{5, 3, "", 1_700_000_000_000, -1}},
	}
	for _, c := range cases {
		h := newOffsetsHarness(t)
		if err := h.shard.Replay(coord.Record{Key: offsetCommitKey("g", "t", 0), Value: mustHex(t, c.value)}); err != nil {
			t.Fatalf("v%d: %v", c.version, err)
		}
		got, ok := h.shard.offsets.get("g", "t", 0)
		if !ok || got != c.want {
			t.Errorf("v%d: replayed %+v, want %+v", c.version, got, c.want)
		}
		if _, exists := h.shard.groupState("g"); !exists {
			t.Errorf("v%d: replay did not create the simple group", c.version)
		}
	}
}

func TestReplayKeyVersionZero(t *testing.T) {
	// Kafka reads offset commit keys of type 0 (pre-0.9) the same way.
	h := newOffsetsHarness(t)
	key := mustHex(t, "0000 0001 67 0001 74 00000001")
	value := offsetCommitRecord("g", "t", 1, committedOffset{offset: 8, leaderEpoch: -1, expireTime: noTimestamp}).Value
	if err := h.shard.Replay(coord.Record{Key: key, Value: value}); err != nil {
		t.Fatal(err)
	}
	if h.committedAt("g", "t", 1) != 8 {
		t.Fatal("type-0 key not applied")
	}
}

func TestReplayRebuildsIdenticalState(t *testing.T) {
	h := newOffsetsHarness(t)
	h.commit(offsetCommitReq(8, "a", offsetPart{topic: "t", offset: 1, epoch: 2, metadata: metadataOf("x")}, offsetPart{topic: "u", partition: 3, offset: 9, epoch: -1}))
	withRetention := offsetCommitReq(4, "b", offsetPart{topic: "t", offset: 5})
	withRetention.RetentionTimeMillis = time.Hour.Milliseconds()
	h.commit(withRetention)
	h.advance(time.Hour)
	h.commit(offsetCommitReq(8, "b", offsetPart{topic: "t", partition: 1, offset: 6, epoch: -1}))
	h.commit(offsetCommitReq(8, "c", offsetPart{topic: "t", offset: 7, epoch: -1}))
	h.deleteOffsets(offsetDeleteReq("a", map[string][]int32{"u": {3}}))
	h.run(func(fx *coord.Effects) { h.shard.deleteGroupOffsets(fx, "c") })
	h.commit(offsetCommitReq(8, "a", offsetPart{topic: "t", offset: 2, epoch: 3}))

	reloaded := newOffsetsHarness(t)
	for _, r := range h.written {
		if err := reloaded.shard.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(reloaded.shard.offsets, h.shard.offsets) {
		t.Fatalf("replayed state differs:\n got %+v\nwant %+v", reloaded.shard.offsets, h.shard.offsets)
	}
	want := map[string]map[string]map[int32]committedOffset{
		"a": {"t": {0: {2, 3, "", offsetsEpoch.Add(time.Hour).UnixMilli(), -1}}},
		"b": {"t": {1: {6, -1, "", offsetsEpoch.Add(time.Hour).UnixMilli(), -1}}},
	}
	if !reflect.DeepEqual(h.shard.offsets.groups, want) {
		t.Fatalf("state = %+v, want %+v", h.shard.offsets.groups, want)
	}
}

func FuzzReplayOffsetRecord(f *testing.F) {
	record := offsetCommitRecord("g", "t", 1, committedOffset{offset: 3, leaderEpoch: 1, metadata: "m", commitTime: 9, expireTime: noTimestamp})
	f.Add(record.Key, record.Value, false)
	f.Add(record.Key, []byte(nil), true)
	f.Add([]byte{0, 1, 0}, []byte{0, 3, 1}, false)
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		}
		h := newOffsetsHarness(t)
		if h.shard.Replay(coord.Record{Key: key, Value: value}) != nil {
			return
		}
		for _, id := range h.shard.GroupIDsWithOffsets() {
			h.shard.FetchOffsets(id, nil, false)
		}
	})
}

func BenchmarkCommitOffsets(b *testing.B) {
	h := newOffsetsHarness(b)
	parts := make([]offsetPart, 16)
	for i := range parts {
		parts[i] = offsetPart{topic: "events", partition: int32(i), offset: 1000, epoch: 5, metadata: metadataOf("")}
	}
	req := offsetCommitReq(9, "consumers", parts...)
	respond := func(*kmsg.OffsetCommitResponse) {}
	b.ReportAllocs()
	for b.Loop() {
		fx := &coord.Effects{Now: h.clock.now}
		h.shard.CommitOffsets(fx, req, respond)
		for _, r := range fx.Records() {
			if err := h.shard.Replay(r); err != nil {
				b.Fatal(err)
			}
		}
		fx.Complete(nil)
	}
}
