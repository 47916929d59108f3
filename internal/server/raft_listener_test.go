package server

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/quorum"
	"github.com/sluice-io/sluice/internal/wire"
)

// raftNode is one voter of the test: its quorum node behind a Server whose
// one listener carries both Kafka requests and Raft (the CONTROLLER
// listener of a combined node).
type raftNode struct {
	id     int32
	addr   string
	node   *quorum.Node
	server *Server
}

func (n *raftNode) close(t *testing.T) {
	t.Helper()
	if err := n.server.Close(); err != nil {
		t.Errorf("close server %d: %v", n.id, err)
	}
	if err := n.node.Close(); err != nil {
		t.Errorf("close quorum node %d: %v", n.id, err)
	}
}

func startRaftNodes(t *testing.T, count int) []*raftNode {
	t.Helper()
	var listeners []net.Listener
	var voters []quorum.Voter
	for i := range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		voters = append(voters, quorum.Voter{NodeID: int32(i + 1), Address: l.Addr().String()})
	}
	var nodes []*raftNode
	for i, l := range listeners {
		n := &raftNode{id: int32(i + 1), addr: l.Addr().String()}
		stream, transport, err := quorum.NewTransport(quorum.TransportConfig{Advertise: n.addr})
		if err != nil {
			t.Fatal(err)
		}
		if n.node, err = quorum.Open(quorum.Config{Dir: t.TempDir(), NodeID: n.id, Voters: voters, Transport: transport,
			HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		describer := &quorumDescriber{Node: n.node, ListenerName: "CONTROLLER", Forward: forwardToLeader(n.node)}
		n.server = New(Config{Handler: api.New(api.Config{Quorum: describer}), MaxRequestBytes: 100 << 20})
		if err := n.server.Serve(l, Divert{Magic: quorum.TransportMagic, Handle: stream.Handoff}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.close(t) })
		nodes = append(nodes, n)
	}
	return nodes
}

// forwardToLeader sends a request to the Raft leader's listener, as the
// broker's controller channel does.
func forwardToLeader(node *quorum.Node) func(context.Context, kmsg.Request) (kmsg.Response, error) {
	return func(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
		d := node.Describe(nil)
		for _, v := range d.Voters {
			if v.NodeID == d.LeaderID {
				c := wire.New(v.Address)
				defer c.Close()
				return c.Request(ctx, req)
			}
		}
		return nil, errors.New("no leader known")
	}
}

// leaderOf waits until the open nodes agree on a leader among them.
func leaderOf(t *testing.T, open []*raftNode) *raftNode {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range open {
			if !n.node.IsLeader() {
				continue
			}
			agreed := true
			for _, other := range open {
				id, ok := other.node.Leader()
				agreed = agreed && ok && id == n.id
			}
			if agreed {
				return n
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no agreed leader within 20s")
	return nil
}

func proposeTopic(t *testing.T, open []*raftNode, name string, id byte) {
	t.Helper()
	records := []metadata.Record{&metadata.TopicRecord{Name: name, ID: [16]byte{id}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := leaderOf(t, open).node.Propose(ctx, records)
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, quorum.ErrNotLeader) || time.Now().After(deadline) {
			t.Fatalf("propose %s: %v", name, err)
		}
	}
}

// describeQuorumAt sends DescribeQuorum to a node's listener with the
// broker's own client, as an admin client would.
func describeQuorumAt(t *testing.T, addr string, version int16) (*kmsg.DescribeQuorumResponse, kmsg.DescribeQuorumResponseTopicPartition) {
	t.Helper()
	c := wire.New(addr, wire.WithClientID("test-admin"))
	defer c.Close()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(version)
	topic := kmsg.NewDescribeQuorumRequestTopic()
	topic.Topic = metadata.ClusterMetadataTopic
	topic.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := c.Request(ctx, req)
	if err != nil {
		t.Fatalf("DescribeQuorum v%d at %s: %v", version, addr, err)
	}
	resp := raw.(*kmsg.DescribeQuorumResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeQuorum at %s: topics %+v", addr, resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("DescribeQuorum at %s: %v", addr, err)
	}
	return resp, p
}

// Three voters whose Raft traffic shares each node's Kafka listener elect
// a leader and commit; DescribeQuorum on any node answers the leader's view
// (followers forward); after the leader stops, the other two elect a new
// leader, keep committing and describe it.
func TestRaftOverKafkaListeners(t *testing.T) {
	nodes := startRaftNodes(t, 3)
	first := leaderOf(t, nodes)
	for i := range 3 {
		proposeTopic(t, nodes, "topic-"+strconv.Itoa(i), byte(i+1))
	}
	for _, n := range nodes {
		resp, p := describeQuorumAt(t, n.addr, 2)
		if p.LeaderID != first.id || p.LeaderEpoch < 1 || p.HighWatermark < 3 || len(p.CurrentVoters) != 3 {
			t.Fatalf("DescribeQuorum at node %d: %+v", n.id, p)
		}
		for _, v := range p.CurrentVoters {
			if v.ReplicaID == first.id && (v.LogEndOffset < p.HighWatermark || v.LastFetchTimestamp <= 0) {
				t.Errorf("at node %d: the leader's own state %+v is not known", n.id, v)
			}
		}
		if len(resp.Nodes) != 3 {
			t.Fatalf("DescribeQuorum v2 at node %d: nodes %+v", n.id, resp.Nodes)
		}
		for _, node := range resp.Nodes {
			l := node.Listeners[0]
			if want := nodes[node.NodeID-1].addr; net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))) != want || l.Name != "CONTROLLER" {
				t.Errorf("node %d endpoint %+v, want CONTROLLER %s", node.NodeID, l, want)
			}
		}
	}
	checkNotForwardedTwice(t, nodes, first)
	_, before := describeQuorumAt(t, nodes[0].addr, 0)
	if before.LeaderID != first.id {
		t.Fatalf("DescribeQuorum v0: %+v", before)
	}

	first.close(t)
	var open []*raftNode
	for _, n := range nodes {
		if n != first {
			open = append(open, n)
		}
	}
	second := leaderOf(t, open)
	proposeTopic(t, open, "after", 9)
	for _, n := range open {
		if _, p := describeQuorumAt(t, n.addr, 1); p.LeaderID != second.id || p.LeaderEpoch <= before.LeaderEpoch || p.HighWatermark < 4 {
			t.Fatalf("after failover, DescribeQuorum at node %d: %+v", n.id, p)
		}
		if n.node.Image().TopicByName("after") == nil && n == second {
			t.Fatalf("the new leader lacks the topic it committed")
		}
	}
}

// A request another node forwarded (client ID "sluice-broker") is answered
// by a follower itself, NOT_LEADER_OR_FOLLOWER, never forwarded again.
func checkNotForwardedTwice(t *testing.T, nodes []*raftNode, leader *raftNode) {
	t.Helper()
	follower := nodes[0]
	if follower == leader {
		follower = nodes[1]
	}
	c := wire.New(follower.addr)
	defer c.Close()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(2)
	topic := kmsg.NewDescribeQuorumRequestTopic()
	topic.Topic = metadata.ClusterMetadataTopic
	topic.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := c.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if p := raw.(*kmsg.DescribeQuorumResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("forwarded request at follower %d: %+v, want NOT_LEADER_OR_FOLLOWER", follower.id, p)
	}
}

// The leader's errors come back as Kafka error codes; an answer without
// the metadata partition is an error of its own.
func TestDescribeQuorumResponseErrors(t *testing.T) {
	resp := kmsg.NewPtrDescribeQuorumResponse()
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	if _, err := fromResponse(resp); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("top-level error: %v", err)
	}
	resp.ErrorCode = 0
	if _, err := fromResponse(resp); err == nil {
		t.Error("an answer without __cluster_metadata-0 was accepted")
	}
	topic := kmsg.NewDescribeQuorumResponseTopic()
	topic.Topic = metadata.ClusterMetadataTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.ErrorCode = kerr.NotLeaderForPartition.Code
	topic.Partitions = append(topic.Partitions, p)
	resp.Topics = append(resp.Topics, topic)
	if _, err := fromResponse(resp); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("partition error: %v", err)
	}
}
