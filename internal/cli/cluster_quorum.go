package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterMetadataTopic is KRaft's metadata log, the partition
// DescribeQuorum describes.
const clusterMetadataTopic = "__cluster_metadata"

// quorumInfo is what `sluice cluster quorum` shows: DescribeQuorum's answer
// (KIP-595), with each replica's lag behind the leader as Kafka's
// kafka-metadata-quorum describe --replication computes it.
type quorumInfo struct {
	LeaderID      int32 `json:"leader_id"`
	LeaderEpoch   int32 `json:"leader_epoch"`
	HighWatermark int64 `json:"high_watermark"`
	// MaxFollowerLag is the largest lag among the voters; null while no
	// follower's offset is known.
	MaxFollowerLag *int64              `json:"max_follower_lag"`
	Replicas       []quorumReplicaInfo `json:"replicas"`
}

// quorumReplicaInfo is one voter or observer of the metadata log.
type quorumReplicaInfo struct {
	ID int32 `json:"id"`
	// Role is leader, follower (another voter) or observer.
	Role string `json:"role"`
	// LogEndOffset is -1 when the leader does not know it.
	LogEndOffset int64 `json:"log_end_offset"`
	// Lag is the leader's log end offset minus this one; null when unknown.
	Lag *int64 `json:"lag"`
	// LastFetchTimestamp and LastCaughtUpTimestamp are milliseconds since
	// the epoch, -1 when unknown.
	LastFetchTimestamp    int64 `json:"last_fetch_timestamp"`
	LastCaughtUpTimestamp int64 `json:"last_caught_up_timestamp"`
	// Endpoints are a voter's listeners, NAME://host:port.
	Endpoints []string `json:"endpoints,omitempty"`
}

func newClusterQuorumCommand(client *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "quorum",
		Short: "Show the metadata quorum: leader, epoch, high watermark and each replica's lag",
		Long: "Show the metadata quorum (the Raft log of cluster metadata): its leader, the leader epoch, " +
			"the high watermark and, for every voter and observer, its log end offset, its lag behind " +
			"the leader and when it last fetched and was last caught up.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := client.resolve(cmd)
			if err != nil {
				return err
			}
			kafka, err := conn.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer kafka.Close()
			ctx, cancel := conn.requestContext(cmd.Context())
			defer cancel()
			info, err := readQuorum(ctx, conn, kafka)
			if err != nil {
				return err
			}
			now := time.Now()
			return render(cmd.OutOrStdout(), conn.output, info, func(t *tableWriter) { writeQuorum(t, info, now) })
		},
	}
}

// readQuorum asks the cluster (kgo sends DescribeQuorum, an admin request,
// to the controller) and converts the answer.
func readQuorum(ctx context.Context, conn connection, kafka *kgo.Client) (quorumInfo, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	topic := kmsg.NewDescribeQuorumRequestTopic()
	topic.Topic = clusterMetadataTopic
	topic.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, topic)
	resp, err := req.RequestWith(ctx, kafka)
	if err != nil {
		return quorumInfo{}, conn.requestFailed("describe the metadata quorum", err)
	}
	p, err := metadataPartition(resp)
	if err != nil {
		return quorumInfo{}, conn.requestFailed("describe the metadata quorum", err)
	}
	return quorumFrom(p, resp.Nodes), nil
}

// metadataPartition finds __cluster_metadata-0 in the answer, or the error
// the broker gave.
func metadataPartition(resp *kmsg.DescribeQuorumResponse) (kmsg.DescribeQuorumResponseTopicPartition, error) {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return kmsg.DescribeQuorumResponseTopicPartition{}, withBrokerMessage(err, derefString(resp.ErrorMessage))
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic != clusterMetadataTopic || p.Partition != 0 {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return p, withBrokerMessage(explain(err), derefString(p.ErrorMessage))
			}
			return p, nil
		}
	}
	return kmsg.DescribeQuorumResponseTopicPartition{}, errors.New("the answer lacks " + clusterMetadataTopic + "-0")
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// quorumFrom converts the metadata partition's state; lags are measured
// against the leader's log end offset, or the high watermark while that is
// unknown.
func quorumFrom(p kmsg.DescribeQuorumResponseTopicPartition, nodes []kmsg.DescribeQuorumResponseNode) quorumInfo {
	info := quorumInfo{LeaderID: p.LeaderID, LeaderEpoch: p.LeaderEpoch, HighWatermark: p.HighWatermark, Replicas: []quorumReplicaInfo{}}
	reference := p.HighWatermark
	for _, v := range p.CurrentVoters {
		if v.ReplicaID == p.LeaderID && v.LogEndOffset >= 0 {
			reference = v.LogEndOffset
		}
	}
	endpoints := map[int32][]string{}
	for _, n := range nodes {
		for _, l := range n.Listeners {
			endpoints[n.NodeID] = append(endpoints[n.NodeID], l.Name+"://"+net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
		}
	}
	add := func(s kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
		r := quorumReplicaInfo{ID: s.ReplicaID, Role: role, LogEndOffset: s.LogEndOffset,
			LastFetchTimestamp: s.LastFetchTimestamp, LastCaughtUpTimestamp: s.LastCaughtUpTimestamp,
			Endpoints: endpoints[s.ReplicaID]}
		if s.LogEndOffset >= 0 {
			lag := max(reference-s.LogEndOffset, 0)
			r.Lag = &lag
		}
		info.Replicas = append(info.Replicas, r)
	}
	for _, v := range p.CurrentVoters {
		role := "follower"
		if v.ReplicaID == p.LeaderID {
			role = "leader"
		}
		add(v, role)
		if r := info.Replicas[len(info.Replicas)-1]; role == "follower" && r.Lag != nil &&
			(info.MaxFollowerLag == nil || *r.Lag > *info.MaxFollowerLag) {
			info.MaxFollowerLag = r.Lag
		}
	}
	for _, o := range p.Observers {
		add(o, "observer")
	}
	return info
}

func writeQuorum(t *tableWriter, info quorumInfo, now time.Time) {
	t.line("Leader: %d", info.LeaderID)
	t.line("Leader epoch: %d", info.LeaderEpoch)
	t.line("High watermark: %d", info.HighWatermark)
	if info.MaxFollowerLag != nil {
		t.line("Max follower lag: %d", *info.MaxFollowerLag)
	} else {
		t.line("Max follower lag: -")
	}
	t.line("")
	t.row("NODE", "ROLE", "LOG END OFFSET", "LAG", "LAST FETCH", "LAST CAUGHT UP", "ENDPOINT")
	for _, r := range info.Replicas {
		offset, lag := "-", "-"
		if r.LogEndOffset >= 0 {
			offset = strconv.FormatInt(r.LogEndOffset, 10)
		}
		if r.Lag != nil {
			lag = strconv.FormatInt(*r.Lag, 10)
		}
		endpoint := "-"
		if len(r.Endpoints) > 0 {
			endpoint = r.Endpoints[0]
		}
		t.row(r.ID, r.Role, offset, lag, ago(r.LastFetchTimestamp, now), ago(r.LastCaughtUpTimestamp, now), endpoint)
	}
}

// ago shows a Kafka millisecond timestamp relative to now, "-" when
// unknown (-1).
func ago(ms int64, now time.Time) string {
	if ms < 0 {
		return "-"
	}
	d := max(now.Sub(time.UnixMilli(ms)), 0)
	return fmt.Sprintf("%s ago", d.Round(time.Millisecond))
}
