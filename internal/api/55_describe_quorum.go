package api

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// DescribeQuorum v0-v2 (KIP-595, KIP-836 replica timestamps from v1, KIP-853
// error messages, directory IDs and voter endpoints from v2), as Kafka's
// KafkaRaftClient.handleDescribeQuorumRequest answers it: a request naming
// anything but partition 0 of __cluster_metadata, alone, gets
// UNKNOWN_TOPIC_OR_PARTITION on every partition it names; a node that does
// not lead the quorum answers NOT_LEADER_OR_FOLLOWER. Kafka brokers forward
// the request to the active controller; here the QuorumDescriber does that
// (Sluice has no directory IDs: they are zero, NO_DIRECTORY_ID).

// QuorumDescriber describes the metadata quorum for DescribeQuorum.
type QuorumDescriber interface {
	// DescribeQuorum returns the quorum as its leader sees it. forward says
	// whether a node that does not lead may ask the leader; it is false for
	// a request another node forwarded (client ID "sluice-broker"), so that
	// two nodes with stale views of the leader never pass a request back
	// and forth. It may block on the network and must return when ctx
	// ends. A *kerr.Error is answered as that code; any other error as
	// NOT_LEADER_OR_FOLLOWER, with the error's text as the message (v2).
	DescribeQuorum(ctx context.Context, forward bool) (QuorumDescription, error)
}

// QuorumDescription is DescribeQuorum's partition: the leader, its epoch,
// the high watermark and every replica's progress. Offsets are metadata log
// offsets as the quorum counts them.
type QuorumDescription struct {
	LeaderID      int32
	LeaderEpoch   int32
	HighWatermark int64
	Voters        []QuorumReplica
	Observers     []QuorumReplica
}

// QuorumReplica is one replica of the metadata log.
type QuorumReplica struct {
	NodeID int32
	// LogEndOffset is -1 when unknown.
	LogEndOffset int64
	// LastFetchTimestamp and LastCaughtUpTimestamp are milliseconds since
	// the epoch, -1 when unknown.
	LastFetchTimestamp    int64
	LastCaughtUpTimestamp int64
	// Listeners are a voter's endpoints (v2's nodes); none for observers.
	Listeners []QuorumListener
}

// QuorumListener is one endpoint of a voter.
type QuorumListener struct {
	Name string
	Host string
	Port uint16
}

// forwardedClientID is the client ID of requests one Sluice node sends
// another (internal/wire's ClientID).
const forwardedClientID = "sluice-broker"

func handleDescribeQuorum(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DescribeQuorumRequest)
	resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if !namesMetadataPartition(r) {
		return reply(partitionErrors(r, resp, kerr.UnknownTopicOrPartition))
	}
	if b.cfg.Quorum == nil {
		return reply(describeQuorumFailed(resp, kerr.NotLeaderForPartition, "this node does not serve the metadata quorum"))
	}
	forward := req.ClientID != forwardedClientID
	return Reply{Response: resp, Wait: func() {
		d, err := b.cfg.Quorum.DescribeQuorum(ctx, forward)
		if err != nil {
			describeQuorumError(resp, err)
			return
		}
		fillDescribeQuorum(resp, d)
	}}
}

// namesMetadataPartition is Kafka's hasValidTopicPartition: one topic,
// __cluster_metadata, with one partition, 0.
func namesMetadataPartition(r *kmsg.DescribeQuorumRequest) bool {
	return len(r.Topics) == 1 && r.Topics[0].Topic == metadata.ClusterMetadataTopic &&
		len(r.Topics[0].Partitions) == 1 && r.Topics[0].Partitions[0].Partition == 0
}

// partitionErrors answers every partition the request names with code
// (Kafka's getPartitionLevelErrorResponse).
func partitionErrors(r *kmsg.DescribeQuorumRequest, resp *kmsg.DescribeQuorumResponse, code *kerr.Error) *kmsg.DescribeQuorumResponse {
	for _, t := range r.Topics {
		rt := kmsg.NewDescribeQuorumResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeQuorumResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// describeQuorumError fills resp for a describer's error.
func describeQuorumError(resp *kmsg.DescribeQuorumResponse, err error) {
	var code *kerr.Error
	if errors.As(err, &code) {
		describeQuorumFailed(resp, code, "")
		return
	}
	describeQuorumFailed(resp, kerr.NotLeaderForPartition, err.Error())
}

// describeQuorumFailed is Kafka's singletonErrorResponse: the metadata
// partition alone, with the code (and, v2, the message).
func describeQuorumFailed(resp *kmsg.DescribeQuorumResponse, code *kerr.Error, message string) *kmsg.DescribeQuorumResponse {
	p := metadataPartition(resp)
	p.ErrorCode = code.Code
	if message != "" && resp.Version >= 2 {
		p.ErrorMessage = &message
	}
	return resp
}

// metadataPartition adds __cluster_metadata-0 to resp and returns it.
func metadataPartition(resp *kmsg.DescribeQuorumResponse) *kmsg.DescribeQuorumResponseTopicPartition {
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic = metadata.ClusterMetadataTopic
	t.Partitions = []kmsg.DescribeQuorumResponseTopicPartition{kmsg.NewDescribeQuorumResponseTopicPartition()}
	resp.Topics = append(resp.Topics, t)
	return &resp.Topics[len(resp.Topics)-1].Partitions[0]
}

// fillDescribeQuorum is Kafka's RaftUtil.singletonDescribeQuorumResponse.
func fillDescribeQuorum(resp *kmsg.DescribeQuorumResponse, d QuorumDescription) {
	p := metadataPartition(resp)
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = d.LeaderID, d.LeaderEpoch, d.HighWatermark
	p.CurrentVoters = replicaStates(d.Voters)
	p.Observers = replicaStates(d.Observers)
	if resp.Version < 2 {
		return
	}
	for _, v := range d.Voters {
		node := kmsg.NewDescribeQuorumResponseNode()
		node.NodeID = v.NodeID
		for _, l := range v.Listeners {
			listener := kmsg.NewDescribeQuorumResponseNodeListener()
			listener.Name, listener.Host, listener.Port = l.Name, l.Host, l.Port
			node.Listeners = append(node.Listeners, listener)
		}
		resp.Nodes = append(resp.Nodes, node)
	}
}

func replicaStates(replicas []QuorumReplica) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	out := make([]kmsg.DescribeQuorumResponseTopicPartitionReplicaState, 0, len(replicas))
	for _, r := range replicas {
		s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		s.ReplicaID, s.LogEndOffset = r.NodeID, r.LogEndOffset
		s.LastFetchTimestamp, s.LastCaughtUpTimestamp = r.LastFetchTimestamp, r.LastCaughtUpTimestamp
		out = append(out, s)
	}
	return out
}
