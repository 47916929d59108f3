package group

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

func TestCommitThenFetch(t *testing.T) {
	h := newOffsetsHarness(t)
	req := offsetCommitReq(8, "g",
		offsetPart{topic: "orders", partition: 1, offset: 100, epoch: 4, metadata: metadataOf("m1")},
		offsetPart{topic: "orders", partition: 0, offset: 90, epoch: -1},
		offsetPart{topic: "audit", partition: 2, offset: 7, epoch: 2, metadata: metadataOf("")},
	)
	resp, records := h.commit(req)
	if len(records) != 3 {
		t.Fatalf("wrote %d records, want 3", len(records))
	}
	want := map[string]int16{"orders/1": 0, "orders/0": 0, "audit/2": 0}
	if got := offsetCommitErrors(resp); !reflect.DeepEqual(got, want) {
		t.Fatalf("commit errors = %v, want %v", got, want)
	}
	if resp.Version != 8 || resp.Topics[0].Topic != "orders" || resp.Topics[1].Topic != "audit" {
		t.Fatalf("response not shaped like the request: %+v", resp)
	}

	all := h.shard.FetchOffsets("g", nil, false)
	type row struct {
		topic     string
		partition int32
		offset    int64
		epoch     int32
		metadata  string
	}
	var got []row
	for _, topic := range all.Topics {
		for _, p := range topic.Partitions {
			if p.ErrorCode != 0 || p.Metadata == nil {
				t.Fatalf("fetch all: partition %s/%d error %d metadata %v", topic.Topic, p.Partition, p.ErrorCode, p.Metadata)
			}
			got = append(got, row{topic.Topic, p.Partition, p.Offset, p.LeaderEpoch, *p.Metadata})
		}
	}
	wantRows := []row{{"audit", 2, 7, 2, ""}, {"orders", 0, 90, -1, ""}, {"orders", 1, 100, 4, "m1"}}
	if !reflect.DeepEqual(got, wantRows) {
		t.Fatalf("fetch all = %+v, want %+v (sorted by topic, partition)", got, wantRows)
	}

	named := h.shard.FetchOffsets("g", []kmsg.OffsetFetchRequestGroupTopic{
		{Topic: "orders", Partitions: []int32{1, 5}},
		{Topic: "missing", Partitions: []int32{0}},
	}, false)
	if named.Group != "g" || named.ErrorCode != 0 || len(named.Topics) != 2 {
		t.Fatalf("fetch named: %+v", named)
	}
	committed := named.Topics[0].Partitions[0]
	if committed.Partition != 1 || committed.Offset != 100 || committed.LeaderEpoch != 4 || *committed.Metadata != "m1" {
		t.Fatalf("orders/1 = %+v", committed)
	}
	for _, p := range []kmsg.OffsetFetchResponseGroupTopicPartition{named.Topics[0].Partitions[1], named.Topics[1].Partitions[0]} {
		if p.Offset != -1 || p.LeaderEpoch != -1 || p.Metadata == nil || *p.Metadata != "" || p.ErrorCode != 0 {
			t.Fatalf("uncommitted partition = %+v, want offset -1, epoch -1, metadata \"\"", p)
		}
	}
	if named.Topics[1].Topic != "missing" || named.Topics[1].Partitions[0].Partition != 0 {
		t.Fatalf("uncommitted topic not echoed: %+v", named.Topics[1])
	}
}

func TestCommitOverwritesAndEmptyTopicListFetchesNothing(t *testing.T) {
	h := newOffsetsHarness(t)
	h.commit(offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 1, epoch: -1, metadata: metadataOf("old")}))
	h.commit(offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 2, epoch: -1}))
	got := h.fetchOne("g", "t", 0)
	if got.Offset != 2 || *got.Metadata != "" {
		t.Fatalf("after second commit: %+v, want offset 2 and no metadata", got)
	}
	if resp := h.shard.FetchOffsets("g", []kmsg.OffsetFetchRequestGroupTopic{}, false); len(resp.Topics) != 0 {
		t.Fatalf("an empty topic list asked for nothing, got %+v", resp.Topics)
	}
}

func TestCommitRespondsOnlyOnceDurable(t *testing.T) {
	h := newOffsetsHarness(t)
	fx := &coord.Effects{Now: h.clock.now}
	responded := 0
	h.shard.CommitOffsets(fx, offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 5, epoch: -1}), func(*kmsg.OffsetCommitResponse) { responded++ })
	if responded != 0 {
		t.Fatal("responded before the commit record was durable")
	}
	if got := h.committedAt("g", "t", 0); got != -1 {
		t.Fatalf("state changed before replay: committed %d", got)
	}
	for _, r := range fx.Records() {
		if err := h.shard.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	fx.Complete(nil)
	if responded != 1 || h.committedAt("g", "t", 0) != 5 {
		t.Fatalf("after durability: responded %d times, committed %d", responded, h.committedAt("g", "t", 0))
	}
}

func TestCommitWriteFailureFailsEveryPartition(t *testing.T) {
	h := newOffsetsHarnessWith(t, func() Config { c := offsetsTestConfig(); c.OffsetMetadataMaxBytes = 1; return c }())
	req := offsetCommitReq(8, "g",
		offsetPart{topic: "t", partition: 0, offset: 5, epoch: -1},
		offsetPart{topic: "t", partition: 1, offset: 6, epoch: -1, metadata: metadataOf("too long")},
	)
	var resp *kmsg.OffsetCommitResponse
	records := h.runFailing(func(fx *coord.Effects) {
		h.shard.CommitOffsets(fx, req, func(r *kmsg.OffsetCommitResponse) { resp = r })
	}, fmt.Errorf("sync __consumer_offsets-7: %w", errors.New("input/output error")))
	if len(records) != 1 {
		t.Fatalf("wrote %d records, want 1", len(records))
	}
	want := map[string]int16{"t/0": kerr.NotCoordinator.Code, "t/1": kerr.NotCoordinator.Code}
	if got := offsetCommitErrors(resp); !reflect.DeepEqual(got, want) {
		t.Fatalf("errors = %v, want %v (Kafka answers the whole request with the write error)", got, want)
	}
	if got := h.committedAt("g", "t", 0); got != -1 {
		t.Fatalf("failed commit is visible: %d", got)
	}
}

func TestWriteFailureMapping(t *testing.T) {
	// CoordinatorOperationExceptionHelper.handleOperationException.
	cases := []struct {
		err  error
		want *kerr.Error
	}{
		{errors.New("disk on fire"), kerr.NotCoordinator},
		{coord.ErrNotCoordinator, kerr.NotCoordinator},
		{fmt.Errorf("op: %w", coord.ErrLoading), kerr.CoordinatorLoadInProgress},
		{fmt.Errorf("append: %w", kerr.NotLeaderForPartition), kerr.NotCoordinator},
		{kerr.KafkaStorageError, kerr.NotCoordinator},
		{kerr.RequestTimedOut, kerr.CoordinatorNotAvailable},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable},
		{kerr.UnknownTopicOrPartition, kerr.CoordinatorNotAvailable},
		{kerr.MessageTooLarge, kerr.UnknownServerError},
		{kerr.RecordListTooLarge, kerr.UnknownServerError},
		{kerr.NetworkException, kerr.CoordinatorLoadInProgress},
		{kerr.InvalidProducerEpoch, kerr.InvalidProducerEpoch},
	}
	for _, c := range cases {
		if got := writeFailure(c.err); got != c.want {
			t.Errorf("writeFailure(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestCommitMetadataTooLarge(t *testing.T) {
	cfg := offsetsTestConfig()
	cfg.OffsetMetadataMaxBytes = 10
	h := newOffsetsHarnessWith(t, cfg)
	emoji := "\U0001F600" // two UTF-16 code units, four bytes
	req := offsetCommitReq(8, "g",
		offsetPart{topic: "t", partition: 0, offset: 1, epoch: -1, metadata: metadataOf(strings.Repeat("a", 10))},
		offsetPart{topic: "t", partition: 1, offset: 1, epoch: -1, metadata: metadataOf(strings.Repeat("a", 11))},
		offsetPart{topic: "t", partition: 2, offset: 1, epoch: -1, metadata: metadataOf(strings.Repeat(emoji, 5))},
		offsetPart{topic: "t", partition: 3, offset: 1, epoch: -1, metadata: metadataOf(strings.Repeat(emoji, 5) + "a")},
		offsetPart{topic: "t", partition: 4, offset: 1, epoch: -1, metadata: metadataOf(strings.Repeat("é", 10))},
	)
	resp, records := h.commit(req)
	tooLarge := kerr.OffsetMetadataTooLarge.Code
	want := map[string]int16{"t/0": 0, "t/1": tooLarge, "t/2": 0, "t/3": tooLarge, "t/4": 0}
	if got := offsetCommitErrors(resp); !reflect.DeepEqual(got, want) {
		t.Fatalf("errors = %v, want %v (Kafka counts UTF-16 code units)", got, want)
	}
	if len(records) != 3 {
		t.Fatalf("wrote %d records, want 3 (rejected partitions are not written)", len(records))
	}
	if h.committedAt("g", "t", 1) != -1 || h.committedAt("g", "t", 2) != 1 {
		t.Fatal("rejected partition stored or accepted one missing")
	}
}

func TestFetchUnknownGroup(t *testing.T) {
	h := newOffsetsHarness(t)
	all := h.shard.FetchOffsets("nobody", nil, true)
	if all.Group != "nobody" || all.ErrorCode != 0 || len(all.Topics) != 0 {
		t.Fatalf("fetch all of unknown group = %+v, want no topics and no error", all)
	}
	if got := h.fetchOne("nobody", "t", 3); got.Offset != -1 || got.ErrorCode != 0 {
		t.Fatalf("fetch partition of unknown group = %+v, want offset -1 and no error", got)
	}
}

func TestCommitToUnknownGroup(t *testing.T) {
	cases := []struct {
		name       string
		version    int16
		generation int32
		member     string
		want       int16
	}{
		{"no group management creates a simple group", 8, -1, "", 0},
		{"v0 has no generation field", 0, 0, "", 0},
		{"generation names a missing group before v9", 8, 3, "m", kerr.IllegalGeneration.Code},
		{"generation names a missing group from v9", 9, 3, "m", kerr.GroupIDNotFound.Code},
		{"v1 generation", 1, 0, "m", kerr.IllegalGeneration.Code},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newOffsetsHarness(t)
			req := offsetCommitReq(c.version, "g", offsetPart{topic: "t", offset: 9, epoch: -1})
			req.Generation, req.MemberID = c.generation, c.member
			resp, records := h.commit(req)
			if got := offsetCommitErrors(resp)["t/0"]; got != c.want {
				t.Fatalf("error = %d, want %d", got, c.want)
			}
			state, exists := h.shard.groupState("g")
			if c.want != 0 {
				if len(records) != 0 || exists {
					t.Fatalf("refused commit wrote %d records, group exists %v", len(records), exists)
				}
				return
			}
			if !exists || state != "Empty" {
				t.Fatalf("simple group: state %q exists %v, want Empty", state, exists)
			}
			if h.committedAt("g", "t", 0) != 9 {
				t.Fatal("offset not committed")
			}
		})
	}
}

func TestCommitValidatedByGroup(t *testing.T) {
	h := newOffsetsHarnessWith(t, offsetsTestConfig(), groupRecord("g", 4, offsetsEpoch.UnixMilli(), []string{"m1"}, "t"))
	cases := []struct {
		name       string
		member     string
		generation int32
		want       int16
	}{
		{"member of the current generation", "m1", 4, 0},
		{"stale generation", "m1", 3, kerr.IllegalGeneration.Code},
		{"unknown member", "m2", 4, kerr.UnknownMemberID.Code},
		{"no member id on an active group", "", -1, kerr.UnknownMemberID.Code},
	}
	for _, c := range cases {
		req := offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 50, epoch: -1})
		req.Generation, req.MemberID = c.generation, c.member
		resp, records := h.commit(req)
		if got := offsetCommitErrors(resp)["t/0"]; got != c.want {
			t.Errorf("%s: error %d, want %d", c.name, got, c.want)
		}
		if wantRecords := map[bool]int{true: 1, false: 0}[c.want == 0]; len(records) != wantRecords {
			t.Errorf("%s: wrote %d records, want %d", c.name, len(records), wantRecords)
		}
	}
}

func TestCommitVersionedFields(t *testing.T) {
	h := newOffsetsHarness(t)
	now := h.clock.now.UnixMilli()

	// v1: the client's commit timestamp replaces the broker's.
	v1 := offsetCommitReq(1, "g", offsetPart{topic: "t", partition: 1, offset: 1, epoch: -1})
	v1.Topics[0].Partitions[0].Timestamp = 1234
	h.commit(v1)
	if c, _ := h.shard.offsets.get("g", "t", 1); c.commitTime != 1234 || c.expireTime != noTimestamp {
		t.Fatalf("v1 commit = %+v, want commit time 1234", c)
	}

	// v3: retention_time_ms gives the offset its own expiry (value v1).
	v3 := offsetCommitReq(3, "g", offsetPart{topic: "t", partition: 3, offset: 3, epoch: -1})
	v3.RetentionTimeMillis = 60_000
	_, records := h.commit(v3)
	if c, _ := h.shard.offsets.get("g", "t", 3); c.commitTime != now || c.expireTime != now+60_000 {
		t.Fatalf("v3 commit = %+v, want expiry now+60s", c)
	}
	if version := int16(records[0].Value[0])<<8 | int16(records[0].Value[1]); version != 1 {
		t.Fatalf("expiring commit written as value v%d, want v1", version)
	}

	// v5: fields of other versions are ignored even if set in the struct.
	v5 := offsetCommitReq(5, "g", offsetPart{topic: "t", partition: 5, offset: 5, epoch: 9})
	v5.RetentionTimeMillis = 0
	v5.Topics[0].Partitions[0].Timestamp = 99
	h.commit(v5)
	if c, _ := h.shard.offsets.get("g", "t", 5); c.leaderEpoch != -1 || c.expireTime != noTimestamp || c.commitTime != now {
		t.Fatalf("v5 commit = %+v, want epoch -1, no expiry, broker time", c)
	}

	// v6+: the leader epoch is kept.
	h.commit(offsetCommitReq(6, "g", offsetPart{topic: "t", partition: 6, offset: 6, epoch: 9}))
	if got := h.fetchOne("g", "t", 6); got.LeaderEpoch != 9 {
		t.Fatalf("v6 leader epoch = %d, want 9", got.LeaderEpoch)
	}
}

func TestCommitV10EchoesTopicIDs(t *testing.T) {
	h := newOffsetsHarness(t)
	req := offsetCommitReq(10, "g", offsetPart{topic: "t", offset: 4, epoch: 1})
	req.Topics[0].TopicID = [16]byte{1, 2, 3}
	resp, _ := h.commit(req)
	if resp.Topics[0].TopicID != req.Topics[0].TopicID || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("v10 response = %+v", resp.Topics[0])
	}
	fetched := h.shard.FetchOffsets("g", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", TopicID: [16]byte{1, 2, 3}, Partitions: []int32{0}}}, false)
	if fetched.Topics[0].TopicID != req.Topics[0].TopicID || fetched.Topics[0].Partitions[0].Offset != 4 {
		t.Fatalf("v10 fetch = %+v", fetched.Topics[0])
	}
}

func TestDeleteOffsets(t *testing.T) {
	h := newOffsetsHarness(t)
	h.commit(offsetCommitReq(8, "g",
		offsetPart{topic: "a", partition: 0, offset: 1, epoch: -1},
		offsetPart{topic: "a", partition: 1, offset: 2, epoch: -1},
		offsetPart{topic: "b", partition: 0, offset: 3, epoch: -1},
	))
	resp, records := h.deleteOffsets(offsetDeleteReq("g", map[string][]int32{"a": {0, 7}}))
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("response = %+v", resp)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("partition %d error %d, want none (missing offsets are not an error)", p.Partition, p.ErrorCode)
		}
	}
	if len(records) != 1 || records[0].Value != nil {
		t.Fatalf("records = %+v, want one tombstone (none for the uncommitted a/7)", records)
	}
	if h.committedAt("g", "a", 0) != -1 || h.committedAt("g", "a", 1) != 2 || h.committedAt("g", "b", 0) != 3 {
		t.Fatal("wrong offsets deleted")
	}
}

func TestDeleteOffsetsGroupErrors(t *testing.T) {
	h := newOffsetsHarness(t)
	for _, c := range []struct {
		group string
		want  *kerr.Error
	}{{"nobody", kerr.GroupIDNotFound}, {"", kerr.InvalidGroupID}} {
		resp, records := h.deleteOffsets(offsetDeleteReq(c.group, map[string][]int32{"a": {0}}))
		if resp.ErrorCode != c.want.Code || len(resp.Topics) != 0 || len(records) != 0 {
			t.Errorf("group %q: error %d topics %d records %d, want %v alone", c.group, resp.ErrorCode, len(resp.Topics), len(records), c.want)
		}
	}
}

func TestDeleteOffsetsOfActiveNonConsumerGroupRefused(t *testing.T) {
	// ClassicGroup.validateOffsetDelete: NON_EMPTY_GROUP for an active
	// group whose subscriptions cannot be known.
	h := newOffsetsHarnessWith(t, offsetsTestConfig(), groupRecordOfType("connect", "g", 1, offsetsEpoch.UnixMilli(), []string{"m1"}))
	commit := offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 1, epoch: -1})
	commit.Generation, commit.MemberID = 1, "m1"
	h.commit(commit)
	resp, records := h.deleteOffsets(offsetDeleteReq("g", map[string][]int32{"t": {0}}))
	if resp.ErrorCode != kerr.NonEmptyGroup.Code || len(resp.Topics) != 0 || len(records) != 0 {
		t.Fatalf("response %+v with %d records, want NON_EMPTY_GROUP alone", resp, len(records))
	}
}

func TestDeleteOffsetsOfSubscribedTopicRefused(t *testing.T) {
	h := newOffsetsHarnessWith(t, offsetsTestConfig(), groupRecord("g", 1, offsetsEpoch.UnixMilli(), []string{"m1"}, "subscribed"))
	commit := offsetCommitReq(8, "g",
		offsetPart{topic: "subscribed", offset: 10, epoch: -1},
		offsetPart{topic: "other", offset: 20, epoch: -1},
	)
	commit.Generation, commit.MemberID = 1, "m1"
	h.commit(commit)

	resp, records := h.deleteOffsets(offsetDeleteReq("g", map[string][]int32{"subscribed": {0, 1}, "other": {0}}))
	got := map[string]int16{}
	for _, topic := range resp.Topics {
		for _, p := range topic.Partitions {
			got[offsetsPartitionName(topic.Topic, p.Partition)] = p.ErrorCode
		}
	}
	subscribed := kerr.GroupSubscribedToTopic.Code
	want := map[string]int16{"subscribed/0": subscribed, "subscribed/1": subscribed, "other/0": 0}
	if resp.ErrorCode != 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("errors = %v (group %d), want %v", got, resp.ErrorCode, want)
	}
	if len(records) != 1 || h.committedAt("g", "other", 0) != -1 || h.committedAt("g", "subscribed", 0) != 10 {
		t.Fatalf("wrote %d records; other/0 %d, subscribed/0 %d", len(records), h.committedAt("g", "other", 0), h.committedAt("g", "subscribed", 0))
	}
}

func TestDeleteOffsetsWriteFailure(t *testing.T) {
	h := newOffsetsHarness(t)
	h.commit(offsetCommitReq(8, "g", offsetPart{topic: "a", offset: 1, epoch: -1}))
	var resp *kmsg.OffsetDeleteResponse
	h.runFailing(func(fx *coord.Effects) {
		h.shard.DeleteOffsets(fx, offsetDeleteReq("g", map[string][]int32{"a": {0}}), func(r *kmsg.OffsetDeleteResponse) { resp = r })
	}, kerr.RequestTimedOut)
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || len(resp.Topics) != 0 {
		t.Fatalf("response = %+v, want COORDINATOR_NOT_AVAILABLE for the group", resp)
	}
	if h.committedAt("g", "a", 0) != 1 {
		t.Fatal("offset deleted although the tombstone was not written")
	}
}

func TestDeleteGroupOffsets(t *testing.T) {
	h := newOffsetsHarness(t)
	h.commit(offsetCommitReq(8, "g",
		offsetPart{topic: "b", partition: 1, offset: 1, epoch: -1},
		offsetPart{topic: "a", partition: 2, offset: 2, epoch: -1},
		offsetPart{topic: "a", partition: 0, offset: 3, epoch: -1},
	))
	h.commit(offsetCommitReq(8, "keep", offsetPart{topic: "a", offset: 4, epoch: -1}))
	records := h.run(func(fx *coord.Effects) { h.shard.deleteGroupOffsets(fx, "g") })
	var got []string
	for _, r := range records {
		key := kmsg.NewOffsetCommitKey()
		if err := key.ReadFrom(r.Key); err != nil || r.Value != nil {
			t.Fatalf("record %x/%x is not an offset tombstone: %v", r.Key, r.Value, err)
		}
		got = append(got, fmt.Sprintf("%s:%s", key.Group, offsetsPartitionName(key.Topic, key.Partition)))
	}
	if want := []string{"g:a/0", "g:a/2", "g:b/1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tombstones = %v, want %v", got, want)
	}
	if h.shard.hasOffsets("g") || !h.shard.hasOffsets("keep") {
		t.Fatal("hasOffsets wrong after deleting the group's offsets")
	}
	if ids := h.shard.GroupIDsWithOffsets(); !reflect.DeepEqual(ids, []string{"keep"}) {
		t.Fatalf("GroupIDsWithOffsets = %v, want [keep]", ids)
	}
}

func TestDeleteGroupTombstonesItsOffsets(t *testing.T) {
	// DeleteGroups: the group's offset tombstones go with its own.
	h := newOffsetsHarness(t)
	h.commit(offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 1, epoch: -1}, offsetPart{topic: "t", partition: 1, offset: 2, epoch: -1}))
	code := int16(-2)
	records := h.run(func(fx *coord.Effects) { h.shard.DeleteGroup(fx, "g", func(c int16) { code = c }) })
	if code != 0 || len(records) != 3 || records[0].Value != nil || records[1].Value != nil {
		t.Fatalf("DeleteGroup code %d, records %+v: want two offset tombstones and the group's", code, records)
	}
	if h.shard.hasOffsets("g") || h.committedAt("g", "t", 1) != -1 {
		t.Fatal("offsets survived DeleteGroups")
	}
	if _, exists := h.shard.groupState("g"); exists {
		t.Fatal("group survived DeleteGroups")
	}
}

func TestOnPartitionsDeleted(t *testing.T) {
	h := newOffsetsHarness(t)
	for _, group := range []string{"b", "a"} {
		h.commit(offsetCommitReq(8, group,
			offsetPart{topic: "gone", partition: 0, offset: 1, epoch: -1},
			offsetPart{topic: "gone", partition: 1, offset: 1, epoch: -1},
			offsetPart{topic: "kept", partition: 0, offset: 1, epoch: -1},
		))
	}
	records := h.run(func(fx *coord.Effects) {
		h.shard.OnPartitionsDeleted(fx, map[string][]int32{"gone": {1, 0, 1, 9}, "never": {0}})
	})
	var got []string
	for _, r := range records {
		key := kmsg.NewOffsetCommitKey()
		if err := key.ReadFrom(r.Key); err != nil || r.Value != nil {
			t.Fatalf("not an offset tombstone: %x", r.Key)
		}
		got = append(got, key.Group+":"+offsetsPartitionName(key.Topic, key.Partition))
	}
	if want := []string{"a:gone/0", "a:gone/1", "b:gone/0", "b:gone/1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tombstones = %v, want %v", got, want)
	}
	if h.committedAt("a", "kept", 0) != 1 || h.committedAt("b", "gone", 1) != -1 {
		t.Fatal("wrong offsets deleted")
	}
}
