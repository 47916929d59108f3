package integration

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// deleteRecords sends DeleteRecords for one partition and returns the
// partition's answer.
func deleteRecords(t *testing.T, b *testcluster.Broker, topic string, partition int32, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{rp}
	req.Topics = []kmsg.DeleteRecordsRequestTopic{rt}
	resp := request[*kmsg.DeleteRecordsResponse](t, b, req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("DeleteRecords: %d topics in response", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// deleteRecordsBefore moves the log start offset and fails on any error.
func deleteRecordsBefore(t *testing.T, b *testcluster.Broker, topic string, partition int32, offset int64) {
	t.Helper()
	sp := deleteRecords(t, b, topic, partition, offset)
	wantCode(t, "DeleteRecords", sp.ErrorCode, nil)
	if sp.LowWatermark != offset {
		t.Fatalf("DeleteRecords before %d: low watermark %d", offset, sp.LowWatermark)
	}
}

// earliestOffset is the partition's log start offset, from ListOffsets.
func earliestOffset(t *testing.T, b *testcluster.Broker, topic string, partition int32) int64 {
	t.Helper()
	sp := listOffset(t, b, 9, topic, partition, -2)
	wantCode(t, "earliest offset", sp.ErrorCode, nil)
	return sp.Offset
}

// DeleteRecords raises the low watermark (log start offset): earliest
// ListOffsets and consumers follow it; -1 means the high watermark; an
// offset above the high watermark is OFFSET_OUT_OF_RANGE; a lower offset
// than the current start changes nothing.
func TestDeleteRecords(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "trimmed", 1, nil)
	produceValues(t, b, "trimmed", "0", "1", "2", "3", "4")

	deleteRecordsBefore(t, b, "trimmed", 0, 2)
	if got := earliestOffset(t, b, "trimmed", 0); got != 2 {
		t.Errorf("earliest offset %d after DeleteRecords(2), want 2", got)
	}
	wantValues(t, "consume after DeleteRecords(2)", consume(t, b, "trimmed", 3), "2", "3", "4")

	lower := deleteRecords(t, b, "trimmed", 0, 1)
	wantCode(t, "DeleteRecords below the start", lower.ErrorCode, nil)
	if lower.LowWatermark != 2 {
		t.Errorf("DeleteRecords(1) after (2): low watermark %d, want 2 (unchanged)", lower.LowWatermark)
	}
	beyond := deleteRecords(t, b, "trimmed", 0, 6)
	wantCode(t, "DeleteRecords beyond the high watermark", beyond.ErrorCode, kerr.OffsetOutOfRange)
	if got := earliestOffset(t, b, "trimmed", 0); got != 2 {
		t.Errorf("refused DeleteRecords moved the start to %d", got)
	}

	all := deleteRecords(t, b, "trimmed", 0, -1)
	wantCode(t, "DeleteRecords(-1)", all.ErrorCode, nil)
	if all.LowWatermark != 5 || earliestOffset(t, b, "trimmed", 0) != 5 {
		t.Errorf("DeleteRecords(-1): low watermark %d, want the high watermark 5", all.LowWatermark)
	}
	produceValues(t, b, "trimmed", "5")
	rp := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, fetchRequest(fetchPartition{topic: "trimmed", offset: 5})))
	wantValues(t, "after deleting everything", fetchedRecords(t, "trimmed", rp, 5), "5")

	wantCode(t, "unknown partition", deleteRecords(t, b, "trimmed", 3, 0).ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, "unknown topic", deleteRecords(t, b, "no-topic", 0, 0).ErrorCode, kerr.UnknownTopicOrPartition)
}

// kadm's DeleteRecords, as a user would call it.
func TestDeleteRecordsWithKadm(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "kadm-trim", 1, nil)
	produceValues(t, b, "kadm-trim", "a", "b", "c")
	var offsets kadm.Offsets
	offsets.AddOffset("kadm-trim", 0, 1, -1)
	resps, err := b.Admin().DeleteRecords(testContext(t), offsets)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := resps.Lookup("kadm-trim", 0)
	if !ok || r.Err != nil || r.LowWatermark != 1 {
		t.Errorf("kadm DeleteRecords: %+v (present %v), want low watermark 1", r, ok)
	}
}

// DescribeCluster (KIP-700) reports this broker, the cluster ID Metadata
// reports and this node as controller; an unknown endpoint type (v1+,
// KIP-919) is UNSUPPORTED_ENDPOINT_TYPE.
func TestDescribeCluster(t *testing.T) {
	b := startBroker(t)
	metadata := request[*kmsg.MetadataResponse](t, b, metadataRequest(12, false))
	host, portText, _ := net.SplitHostPort(b.Addr())
	port, _ := strconv.Atoi(portText)
	wire := dialWire(t, b)
	for _, version := range []int16{0, 1, 2} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version = version
		resp := wire.roundTrip(req).(*kmsg.DescribeClusterResponse)
		wantCode(t, "DescribeCluster v"+strconv.Itoa(int(version)), resp.ErrorCode, nil)
		if metadata.ClusterID == nil || resp.ClusterID != *metadata.ClusterID || resp.ControllerID != b.Config().NodeID {
			t.Errorf("v%d: cluster %q controller %d, want %v and %d", version, resp.ClusterID, resp.ControllerID, metadata.ClusterID, b.Config().NodeID)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != b.Config().NodeID || resp.Brokers[0].Host != host || resp.Brokers[0].Port != int32(port) {
			t.Errorf("v%d brokers: %+v, want node %d at %s", version, resp.Brokers, b.Config().NodeID, b.Addr())
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version, req.EndpointType = 1, 123
	wantCode(t, "unknown endpoint type", wire.roundTrip(req).(*kmsg.DescribeClusterResponse).ErrorCode, kerr.UnsupportedEndpointType)
}

// describeTopicPartitions sends one DescribeTopicPartitions page.
func describeTopicPartitions(t *testing.T, b *testcluster.Broker, limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit, req.Cursor = limit, cursor
	for _, name := range topics {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = name
		req.Topics = append(req.Topics, rt)
	}
	return request[*kmsg.DescribeTopicPartitionsResponse](t, b, req)
}

// KIP-966 DescribeTopicPartitions pages by partition count: topics in name
// order, at most response_partition_limit partitions per response, and
// next_cursor naming where to resume. Following the cursor visits every
// partition exactly once; a page that fills up exactly at a topic's end
// leaves the next topic out and points the cursor at its partition 0
// (Kafka's KRaftMetadataCache.describeTopicResponse).
func TestDescribeTopicPartitionsPagination(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "page-a", 3, nil)
	createTopic(t, b, "page-b", 2, nil)
	createTopic(t, b, "page-c", 1, nil)
	topics := []string{"page-c", "page-a", "page-b"} // answered in name order

	var visited []string
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for page := 0; page < 10; page++ {
		resp := describeTopicPartitions(t, b, 2, cursor, topics...)
		count := 0
		for _, rt := range resp.Topics {
			wantCode(t, "page topic", rt.ErrorCode, nil)
			if rt.TopicID == [16]byte{} {
				t.Errorf("topic %v has no ID", rt.Topic)
			}
			for _, p := range rt.Partitions {
				visited = append(visited, *rt.Topic+"/"+strconv.Itoa(int(p.Partition)))
				count++
			}
		}
		if count > 2 {
			t.Errorf("page %d holds %d partitions, over the limit of 2", page, count)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	want := []string{"page-a/0", "page-a/1", "page-a/2", "page-b/0", "page-b/1", "page-c/0"}
	if len(visited) != len(want) {
		t.Fatalf("pages visited %v, want %v", visited, want)
	}
	for i := range want {
		if visited[i] != want[i] {
			t.Fatalf("pages visited %v, want %v", visited, want)
		}
	}

	exact := describeTopicPartitions(t, b, 3, nil, topics...)
	if len(exact.Topics) != 1 || *exact.Topics[0].Topic != "page-a" {
		names := []string{}
		for _, rt := range exact.Topics {
			names = append(names, *rt.Topic)
		}
		t.Errorf("page filled exactly by page-a lists topics %v, want only page-a", names)
	}
	if exact.NextCursor == nil || exact.NextCursor.Topic != "page-b" || exact.NextCursor.Partition != 0 {
		t.Errorf("cursor after a full page: %+v, want page-b/0", exact.NextCursor)
	}
}

// DescribeTopicPartitions names unknown topics UNKNOWN_TOPIC_OR_PARTITION
// and impossible names INVALID_TOPIC_EXCEPTION; an empty list asks for
// every topic.
func TestDescribeTopicPartitionsErrorsAndAll(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "listed", 2, nil)
	resp := describeTopicPartitions(t, b, 0, nil, "listed", "unlisted", "bad name")
	got := map[string]int16{}
	for _, rt := range resp.Topics {
		got[*rt.Topic] = rt.ErrorCode
	}
	wantCode(t, "existing topic", got["listed"], nil)
	wantCode(t, "unknown topic", got["unlisted"], kerr.UnknownTopicOrPartition)
	wantCode(t, "invalid name", got["bad name"], kerr.InvalidTopicException)

	all := describeTopicPartitions(t, b, 0, nil)
	found := false
	for _, rt := range all.Topics {
		found = found || (*rt.Topic == "listed" && len(rt.Partitions) == 2)
	}
	if !found {
		t.Errorf("empty topic list did not describe topic listed with 2 partitions")
	}
}

// logDirPartitions maps a topic's partitions to their size as
// DescribeLogDirs reports them.
func logDirPartitions(t *testing.T, b *testcluster.Broker, topic string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Version = 4
	resp := request[*kmsg.DescribeLogDirsResponse](t, b, req)
	out := map[int32]int64{}
	for _, dir := range resp.Dirs {
		for _, rt := range dir.Topics {
			if rt.Topic != topic {
				continue
			}
			for _, p := range rt.Partitions {
				out[p.Partition] = p.Size
			}
		}
	}
	return out
}

// DescribeLogDirs lists the log directory (absolute, with total and usable
// bytes from v4, KIP-827) and every hosted partition's size, which grows as
// records are appended; a partition filter narrows the answer.
func TestDescribeLogDirs(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "sized", 2, nil)
	before := logDirPartitions(t, b, "sized")
	if len(before) != 2 || before[0] != 0 {
		t.Fatalf("new topic in log dirs: %v, want two empty partitions", before)
	}
	produceValues(t, b, "sized", "some bytes to store", "and some more")
	after := logDirPartitions(t, b, "sized")
	if after[0] <= before[0] || after[1] != before[1] {
		t.Errorf("sizes before %v after %v: want partition 0 to grow and 1 to stay", before, after)
	}

	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Version = 4
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = "sized", []int32{1}
	req.Topics = []kmsg.DescribeLogDirsRequestTopic{rt}
	resp := request[*kmsg.DescribeLogDirsResponse](t, b, req)
	if len(resp.Dirs) != 1 {
		t.Fatalf("%d log dirs, want 1", len(resp.Dirs))
	}
	dir := resp.Dirs[0]
	wantCode(t, "log dir", dir.ErrorCode, nil)
	if !filepath.IsAbs(dir.Dir) || dir.Dir != b.Config().LogDirs[0] {
		t.Errorf("log dir %q, want the absolute %q", dir.Dir, b.Config().LogDirs[0])
	}
	if dir.TotalBytes <= 0 || dir.UsableBytes <= 0 || dir.UsableBytes > dir.TotalBytes {
		t.Errorf("total %d usable %d bytes", dir.TotalBytes, dir.UsableBytes)
	}
	if len(dir.Topics) != 1 || len(dir.Topics[0].Partitions) != 1 || dir.Topics[0].Partitions[0].Partition != 1 {
		t.Errorf("filtered to sized/1: %+v", dir.Topics)
	}

	old := kmsg.NewPtrDescribeLogDirsRequest()
	old.Version = 0
	if dirs := dialWire(t, b).roundTrip(old).(*kmsg.DescribeLogDirsResponse).Dirs; len(dirs) != 1 || len(dirs[0].Topics) == 0 {
		t.Errorf("DescribeLogDirs v0: %+v", dirs)
	}
}

// offsetForLeaderEpoch asks for the end offset of leaderEpoch.
func offsetForLeaderEpoch(t *testing.T, b *testcluster.Broker, topic string, partition, currentEpoch, leaderEpoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = partition, currentEpoch, leaderEpoch
	rt.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}
	req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
	resp := request[*kmsg.OffsetForLeaderEpochResponse](t, b, req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetForLeaderEpoch: %d topics in response", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// OffsetForLeaderEpoch (KIP-101, KIP-320): the current epoch ends at the
// log end offset; an epoch newer than the leader's is undefined (-1, -1);
// a current_leader_epoch from the future is UNKNOWN_LEADER_EPOCH; an
// unknown partition UNKNOWN_TOPIC_OR_PARTITION.
func TestOffsetForLeaderEpoch(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "epochs", 1, nil)
	produceValues(t, b, "epochs", "a", "b", "c")
	epoch := topicMetadata(t, b, "epochs").Partitions[0].LeaderEpoch

	current := offsetForLeaderEpoch(t, b, "epochs", 0, epoch, epoch)
	wantCode(t, "current epoch", current.ErrorCode, nil)
	if current.LeaderEpoch != epoch || current.EndOffset != 3 {
		t.Errorf("current epoch %d: answered epoch %d end %d, want %d and 3", epoch, current.LeaderEpoch, current.EndOffset, epoch)
	}
	future := offsetForLeaderEpoch(t, b, "epochs", 0, -1, epoch+5)
	wantCode(t, "future epoch", future.ErrorCode, nil)
	if future.LeaderEpoch != -1 || future.EndOffset != -1 {
		t.Errorf("future epoch: answered epoch %d end %d, want -1, -1", future.LeaderEpoch, future.EndOffset)
	}
	wantCode(t, "current_leader_epoch from the future", offsetForLeaderEpoch(t, b, "epochs", 0, epoch+1, epoch).ErrorCode, kerr.UnknownLeaderEpoch)
	wantCode(t, "unknown partition", offsetForLeaderEpoch(t, b, "epochs", 4, -1, epoch).ErrorCode, kerr.UnknownTopicOrPartition)
}
