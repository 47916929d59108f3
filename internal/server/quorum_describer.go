package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/quorum"
)

// describeQuorumVersion is the DescribeQuorum version a node forwards at:
// the newest, which carries the voters' endpoints.
const describeQuorumVersion = 2

// describeQuorumForwardTimeout bounds asking the leader: the answer holds
// up the client's connection (it is written in request order), and a
// leader that does not answer in this long is as good as none.
const describeQuorumForwardTimeout = 10 * time.Second

// quorumDescriber is the api layer's QuorumDescriber. The leader describes
// its own Raft state, with the active controller's heartbeat view of the
// other nodes' offsets; any other node forwards the request to the leader,
// as Kafka brokers forward DescribeQuorum to the active controller.
type quorumDescriber struct {
	// Node is this node's member of the metadata quorum.
	Node *quorum.Node
	// ListenerName names the voters' Raft addresses (their CONTROLLER
	// listeners) in the v2 node endpoints.
	ListenerName string
	// Progress returns what the active controller knows of each node's
	// metadata offset from its heartbeats; nil when nothing is known.
	Progress func() []quorum.ReplicaProgress
	// Forward sends a request to the leader's CONTROLLER listener; nil
	// makes a node that does not lead answer NOT_LEADER_OR_FOLLOWER.
	Forward func(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// DescribeQuorum implements api.QuorumDescriber.
func (q *quorumDescriber) DescribeQuorum(ctx context.Context, forward bool) (api.QuorumDescription, error) {
	if q.Node.IsLeader() {
		var progress []quorum.ReplicaProgress
		if q.Progress != nil {
			progress = q.Progress()
		}
		// Leadership may have moved since IsLeader: Describe says.
		if d := q.Node.Describe(progress); d.IsLeader {
			return q.fromQuorum(d), nil
		}
	}
	if !forward || q.Forward == nil {
		return api.QuorumDescription{}, kerr.NotLeaderForPartition
	}
	return q.forward(ctx)
}

// fromQuorum converts the quorum's description to the api layer's.
func (q *quorumDescriber) fromQuorum(d quorum.Description) api.QuorumDescription {
	out := api.QuorumDescription{LeaderID: d.LeaderID, LeaderEpoch: d.LeaderEpoch, HighWatermark: d.HighWatermark}
	for _, v := range d.Voters {
		r := quorumReplica(v)
		if l, ok := q.listener(v.Address); ok {
			r.Listeners = []api.QuorumListener{l}
		}
		out.Voters = append(out.Voters, r)
	}
	for _, o := range d.Observers {
		out.Observers = append(out.Observers, quorumReplica(o))
	}
	return out
}

func quorumReplica(r quorum.ReplicaDescription) api.QuorumReplica {
	return api.QuorumReplica{
		NodeID: r.NodeID, LogEndOffset: r.LogEndOffset,
		LastFetchTimestamp: millisOrUnknown(r.LastFetch), LastCaughtUpTimestamp: millisOrUnknown(r.LastCaughtUp),
	}
}

// millisOrUnknown is t in milliseconds since the epoch, -1 for the zero
// time (Kafka's "unknown").
func millisOrUnknown(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

// listener is a voter's Raft address as a named endpoint.
func (q *quorumDescriber) listener(address string) (api.QuorumListener, bool) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return api.QuorumListener{}, false
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return api.QuorumListener{}, false
	}
	return api.QuorumListener{Name: q.ListenerName, Host: host, Port: uint16(port)}, true
}

// forward asks the leader and converts its answer back; its error codes
// come back as *kerr.Error, which the handler passes on.
func (q *quorumDescriber) forward(ctx context.Context) (api.QuorumDescription, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.SetVersion(describeQuorumVersion)
	topic := kmsg.NewDescribeQuorumRequestTopic()
	topic.Topic = metadata.ClusterMetadataTopic
	topic.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, topic)
	ctx, cancel := context.WithTimeout(ctx, describeQuorumForwardTimeout)
	defer cancel()
	raw, err := q.Forward(ctx, req)
	if err != nil {
		return api.QuorumDescription{}, fmt.Errorf("forward DescribeQuorum to the quorum leader: %w", err)
	}
	resp, ok := raw.(*kmsg.DescribeQuorumResponse)
	if !ok {
		return api.QuorumDescription{}, fmt.Errorf("forward DescribeQuorum: the leader answered %T", raw)
	}
	return fromResponse(resp)
}

// fromResponse reads a DescribeQuorum response's metadata partition.
func fromResponse(resp *kmsg.DescribeQuorumResponse) (api.QuorumDescription, error) {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return api.QuorumDescription{}, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic != metadata.ClusterMetadataTopic || p.Partition != 0 {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return api.QuorumDescription{}, err
			}
			return partitionDescription(p, resp.Nodes), nil
		}
	}
	return api.QuorumDescription{}, fmt.Errorf("forward DescribeQuorum: the leader's answer lacks %s-0", metadata.ClusterMetadataTopic)
}

func partitionDescription(p kmsg.DescribeQuorumResponseTopicPartition, nodes []kmsg.DescribeQuorumResponseNode) api.QuorumDescription {
	d := api.QuorumDescription{LeaderID: p.LeaderID, LeaderEpoch: p.LeaderEpoch, HighWatermark: p.HighWatermark}
	listeners := map[int32][]api.QuorumListener{}
	for _, n := range nodes {
		for _, l := range n.Listeners {
			listeners[n.NodeID] = append(listeners[n.NodeID], api.QuorumListener{Name: l.Name, Host: l.Host, Port: l.Port})
		}
	}
	replica := func(s kmsg.DescribeQuorumResponseTopicPartitionReplicaState) api.QuorumReplica {
		return api.QuorumReplica{NodeID: s.ReplicaID, LogEndOffset: s.LogEndOffset,
			LastFetchTimestamp: s.LastFetchTimestamp, LastCaughtUpTimestamp: s.LastCaughtUpTimestamp}
	}
	for _, v := range p.CurrentVoters {
		r := replica(v)
		r.Listeners = listeners[v.ReplicaID]
		d.Voters = append(d.Voters, r)
	}
	for _, o := range p.Observers {
		d.Observers = append(d.Observers, replica(o))
	}
	return d
}
