package api

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeQuorum answers DescribeQuorum with a fixed description or error and
// records the forward flag it was asked with.
type fakeQuorum struct {
	description QuorumDescription
	err         error
	forward     []bool
}

func (f *fakeQuorum) DescribeQuorum(_ context.Context, forward bool) (QuorumDescription, error) {
	f.forward = append(f.forward, forward)
	return f.description, f.err
}

func describeQuorumRequest(version int16, topic string, partitions ...int32) *kmsg.DescribeQuorumRequest {
	r := kmsg.NewPtrDescribeQuorumRequest()
	r.SetVersion(version)
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = p
		t.Partitions = append(t.Partitions, rp)
	}
	r.Topics = append(r.Topics, t)
	return r
}

// describeQuorum runs the handler and round-trips the response through its
// wire encoding at the request's version, as a client would see it.
func describeQuorum(t *testing.T, b *Broker, clientID string, r *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
	t.Helper()
	rep := b.Handle(context.Background(), &Request{Key: r.Key(), Version: r.Version, ClientID: clientID, Body: r})
	if rep.Wait != nil {
		rep.Wait()
	}
	decoded := kmsg.NewPtrDescribeQuorumResponse()
	decoded.SetVersion(r.Version)
	if err := decoded.ReadFrom(rep.Response.AppendTo(nil)); err != nil {
		t.Fatalf("decode v%d response: %v", r.Version, err)
	}
	return decoded
}

func onlyPartition(t *testing.T, resp *kmsg.DescribeQuorumResponse) kmsg.DescribeQuorumResponseTopicPartition {
	t.Helper()
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != "__cluster_metadata" || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("response topics %+v: want __cluster_metadata alone", resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

var testQuorum = QuorumDescription{
	LeaderID: 2, LeaderEpoch: 5, HighWatermark: 120,
	Voters: []QuorumReplica{
		{NodeID: 1, LogEndOffset: 118, LastFetchTimestamp: 1000, LastCaughtUpTimestamp: 900,
			Listeners: []QuorumListener{{Name: "CONTROLLER", Host: "a", Port: 9093}}},
		{NodeID: 2, LogEndOffset: 121, LastFetchTimestamp: 1100, LastCaughtUpTimestamp: 1100,
			Listeners: []QuorumListener{{Name: "CONTROLLER", Host: "b", Port: 9093}}},
	},
	Observers: []QuorumReplica{{NodeID: 4, LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1}},
}

func TestDescribeQuorumEveryVersion(t *testing.T) {
	q := &fakeQuorum{description: testQuorum}
	b := New(Config{Quorum: q})
	for version := int16(0); version <= 2; version++ {
		resp := describeQuorum(t, b, "kafka-admin", describeQuorumRequest(version, "__cluster_metadata", 0))
		p := onlyPartition(t, resp)
		if p.ErrorCode != 0 || p.LeaderID != 2 || p.LeaderEpoch != 5 || p.HighWatermark != 120 {
			t.Fatalf("v%d partition %+v", version, p)
		}
		if len(p.CurrentVoters) != 2 || len(p.Observers) != 1 || p.CurrentVoters[0].LogEndOffset != 118 {
			t.Fatalf("v%d replicas %+v / %+v", version, p.CurrentVoters, p.Observers)
		}
		wantFetch := int64(-1) // v0 has no timestamps: decoded as the default
		if version >= 1 {
			wantFetch = 1000
		}
		if got := p.CurrentVoters[0].LastFetchTimestamp; got != wantFetch {
			t.Errorf("v%d voter 1 last fetch %d, want %d", version, got, wantFetch)
		}
		wantNodes := 0
		if version >= 2 {
			wantNodes = 2
		}
		if len(resp.Nodes) != wantNodes {
			t.Fatalf("v%d nodes %+v, want %d", version, resp.Nodes, wantNodes)
		}
	}
	n := describeQuorum(t, b, "x", describeQuorumRequest(2, "__cluster_metadata", 0)).Nodes[1]
	if n.NodeID != 2 || n.Listeners[0].Host != "b" || n.Listeners[0].Port != 9093 || n.Listeners[0].Name != "CONTROLLER" {
		t.Fatalf("v2 node %+v", n)
	}
	describeQuorum(t, b, forwardedClientID, describeQuorumRequest(2, "__cluster_metadata", 0))
	if got := q.forward[len(q.forward)-1]; got {
		t.Fatal("a request another node forwarded may be forwarded again")
	}
	if !q.forward[0] {
		t.Fatal("a client's request may not be forwarded")
	}
}

// Kafka's hasValidTopicPartition: anything but __cluster_metadata-0 alone
// gets UNKNOWN_TOPIC_OR_PARTITION on every partition named.
func TestDescribeQuorumUnknownPartition(t *testing.T) {
	b := New(Config{Quorum: &fakeQuorum{description: testQuorum}})
	for _, r := range []*kmsg.DescribeQuorumRequest{
		describeQuorumRequest(2, "orders", 0),
		describeQuorumRequest(2, "__cluster_metadata", 1),
		describeQuorumRequest(1, "__cluster_metadata", 0, 1),
	} {
		resp := describeQuorum(t, b, "x", r)
		for _, topic := range resp.Topics {
			for _, p := range topic.Partitions {
				if p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
					t.Errorf("%s-%d: error %d, want UNKNOWN_TOPIC_OR_PARTITION", topic.Topic, p.Partition, p.ErrorCode)
				}
			}
		}
		if got, want := len(resp.Topics[0].Partitions), len(r.Topics[0].Partitions); got != want {
			t.Errorf("answered %d partitions, the request named %d", got, want)
		}
	}
}

func TestDescribeQuorumErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		quorum  QuorumDescriber
		code    int16
		message string
	}{
		"no quorum":     {nil, kerr.NotLeaderForPartition.Code, "this node does not serve the metadata quorum"},
		"kafka error":   {&fakeQuorum{err: kerr.BrokerNotAvailable}, kerr.BrokerNotAvailable.Code, ""},
		"network error": {&fakeQuorum{err: errors.New("leader 3 unreachable")}, kerr.NotLeaderForPartition.Code, "leader 3 unreachable"},
	} {
		resp := describeQuorum(t, New(Config{Quorum: tc.quorum}), "x", describeQuorumRequest(2, "__cluster_metadata", 0))
		p := onlyPartition(t, resp)
		if p.ErrorCode != tc.code {
			t.Errorf("%s: error %d, want %d", name, p.ErrorCode, tc.code)
		}
		if got := p.ErrorMessage; (tc.message == "") != (got == nil) || got != nil && *got != tc.message {
			t.Errorf("%s: message %v, want %q", name, got, tc.message)
		}
	}
}
