package cli

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quorumCluster is a kfake broker that also advertises and answers
// DescribeQuorum (kfake has no metadata quorum), so the command can be
// driven with a three-voter quorum that a single in-process Sluice broker
// cannot show. answer builds each DescribeQuorum response.
func quorumCluster(t *testing.T, answer func(*kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse) string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	keys := apiKeysOf(t, cluster.ListenAddrs()[0])
	quorumKey := kmsg.NewApiVersionsResponseApiKey()
	quorumKey.ApiKey, quorumKey.MaxVersion = kmsg.DescribeQuorum.Int16(), 2
	keys = append(keys, quorumKey)
	cluster.ControlKey(kmsg.ApiVersions.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = keys
		return resp, nil, true
	})
	cluster.ControlKey(kmsg.DescribeQuorum.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return answer(req.(*kmsg.DescribeQuorumRequest)), nil, true
	})
	return cluster.ListenAddrs()[0]
}

// apiKeysOf reads the keys a broker advertises.
func apiKeysOf(t *testing.T, addr string) []kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	return resp.ApiKeys
}

func replicaState(id int32, offset, fetch, caughtUp int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	s.ReplicaID, s.LogEndOffset, s.LastFetchTimestamp, s.LastCaughtUpTimestamp = id, offset, fetch, caughtUp
	return s
}

// threeVoterQuorum: leader 1 at offset 120, follower 2 three behind,
// follower 3 unknown, broker-only observer 4 caught up.
func threeVoterQuorum(req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	topic := kmsg.NewDescribeQuorumResponseTopic()
	topic.Topic = clusterMetadataTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = 1, 7, 118
	p.CurrentVoters = append(p.CurrentVoters, replicaState(1, 120, 5000, 5000), replicaState(2, 117, 4900, 4000), replicaState(3, -1, -1, -1))
	p.Observers = append(p.Observers, replicaState(4, 120, 4990, 4990))
	topic.Partitions = append(topic.Partitions, p)
	resp.Topics = append(resp.Topics, topic)
	for id, port := range map[int32]uint16{1: 9093, 2: 9094, 3: 9095} {
		node := kmsg.NewDescribeQuorumResponseNode()
		node.NodeID = id
		listener := kmsg.NewDescribeQuorumResponseNodeListener()
		listener.Name, listener.Host, listener.Port = "CONTROLLER", "localhost", port
		node.Listeners = append(node.Listeners, listener)
		resp.Nodes = append(resp.Nodes, node)
	}
	return resp
}

func lagOf(n int64) *int64 { return &n }

func TestClusterQuorum(t *testing.T) {
	isolateEnvironment(t)
	bs := "--bootstrap=" + quorumCluster(t, threeVoterQuorum)
	var info quorumInfo
	decodeJSON(t, mustRun(t, "", "cluster", "quorum", "-o", "json", bs), &info)
	want := quorumInfo{LeaderID: 1, LeaderEpoch: 7, HighWatermark: 118, MaxFollowerLag: lagOf(3), Replicas: []quorumReplicaInfo{
		{ID: 1, Role: "leader", LogEndOffset: 120, Lag: lagOf(0), LastFetchTimestamp: 5000, LastCaughtUpTimestamp: 5000, Endpoints: []string{"CONTROLLER://localhost:9093"}},
		{ID: 2, Role: "follower", LogEndOffset: 117, Lag: lagOf(3), LastFetchTimestamp: 4900, LastCaughtUpTimestamp: 4000, Endpoints: []string{"CONTROLLER://localhost:9094"}},
		{ID: 3, Role: "follower", LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1, Endpoints: []string{"CONTROLLER://localhost:9095"}},
		{ID: 4, Role: "observer", LogEndOffset: 120, Lag: lagOf(0), LastFetchTimestamp: 4990, LastCaughtUpTimestamp: 4990},
	}}
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("cluster quorum -o json:\n got %+v\nwant %+v", info, want)
	}

	table := mustRun(t, "", "cluster", "quorum", bs).stdout
	for _, want := range []string{"Leader: 1", "Leader epoch: 7", "High watermark: 118", "Max follower lag: 3",
		"NODE  ROLE", "CONTROLLER://localhost:9094", "3     follower  -               -    -"} {
		if !strings.Contains(table, want) {
			t.Errorf("cluster quorum table lacks %q:\n%s", want, table)
		}
	}
	yaml := mustRun(t, "", "cluster", "quorum", "-o", "yaml", bs).stdout
	if !strings.Contains(yaml, "leader_epoch: 7") || !strings.Contains(yaml, "role: observer") {
		t.Errorf("cluster quorum -o yaml:\n%s", yaml)
	}
}

// A broker that cannot describe the quorum says why, and the command
// fails with its message.
func TestClusterQuorumError(t *testing.T) {
	isolateEnvironment(t)
	addr := quorumCluster(t, func(req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
		resp := threeVoterQuorum(req)
		p := &resp.Topics[0].Partitions[0]
		p.ErrorCode = kerr.NotLeaderForPartition.Code
		p.ErrorMessage = kmsg.StringPtr("leader 3 unreachable")
		return resp
	})
	mustFail(t, "leader 3 unreachable", "cluster", "quorum", "--bootstrap="+addr)
}

func TestAgo(t *testing.T) {
	now := time.UnixMilli(10_000)
	for ms, want := range map[int64]string{-1: "-", 9_750: "250ms ago", 10_000: "0s ago", 12_000: "0s ago"} {
		if got := ago(ms, now); got != want {
			t.Errorf("ago(%d) = %q, want %q", ms, got, want)
		}
	}
}
