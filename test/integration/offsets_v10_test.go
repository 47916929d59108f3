package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit and OffsetFetch v10 name topics by ID: a commit by ID reads
// back by ID and by name (v9), and an unknown ID is UNKNOWN_TOPIC_ID.
func TestOffsetCommitAndFetchByTopicID(t *testing.T) {
	b := startBroker(t)
	created := createTopic(t, b, "by-id", 2, nil)
	wire := dialWire(t, b)
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.Version = 4
	find.CoordinatorKeys = []string{"id-group"}
	wantCode(t, "FindCoordinator", wire.roundTrip(find).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode, nil)

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 10
	commit.Group, commit.Generation = "id-group", -1
	for _, id := range [][16]byte{created.ID, {9, 9, 9}} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 1, 42
		rt.Partitions = append(rt.Partitions, rp)
		commit.Topics = append(commit.Topics, rt)
	}
	// The coordinator shard loads in the background after FindCoordinator
	// created __consumer_offsets: retry while it is loading, as clients do.
	var cresp *kmsg.OffsetCommitResponse
	deadline := time.Now().Add(10 * time.Second)
	for {
		cresp = wire.roundTrip(commit).(*kmsg.OffsetCommitResponse)
		if cresp.Topics[0].Partitions[0].ErrorCode != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
			break
		}
	}
	if len(cresp.Topics) != 2 {
		t.Fatalf("commit answered %d topics, want 2", len(cresp.Topics))
	}
	for _, rt := range cresp.Topics {
		want := (*kerr.Error)(nil)
		if rt.TopicID != created.ID {
			want = kerr.UnknownTopicID
		}
		wantCode(t, "commit by topic ID", rt.Partitions[0].ErrorCode, want)
	}

	for _, version := range []int16{9, 10} {
		fetch := kmsg.NewPtrOffsetFetchRequest()
		fetch.Version = version
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = "id-group"
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.TopicID, gt.Partitions = "by-id", created.ID, []int32{1}
		g.Topics = append(g.Topics, gt)
		fetch.Groups = append(fetch.Groups, g)
		fresp := wire.roundTrip(fetch).(*kmsg.OffsetFetchResponse)
		p := fresp.Groups[0].Topics[0].Partitions[0]
		wantCode(t, "fetch", p.ErrorCode, nil)
		if p.Offset != 42 {
			t.Fatalf("OffsetFetch v%d: offset %d, want 42", version, p.Offset)
		}
		if version == 10 && fresp.Groups[0].Topics[0].TopicID != created.ID {
			t.Fatalf("OffsetFetch v10 answered topic ID %x, want %x", fresp.Groups[0].Topics[0].TopicID, created.ID)
		}
	}
}
