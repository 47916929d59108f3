package testcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// queryTimeout bounds each query the harness makes for a test (metadata,
// offsets): a query that cannot be answered in time reports an error, so
// that polling loops keep their own deadline.
const queryTimeout = 3 * time.Second

// pollInterval is how often WaitFor and Eventually test their condition.
const pollInterval = 50 * time.Millisecond

// debuggingReplicaID is Kafka's ListOffsets replica id -2
// (ListOffsetsRequest.DEBUGGING_REPLICA_ID): the node answers from its own
// log, follower or leader, with its log end offset for "latest".
const debuggingReplicaID = -2

// clientDefaults make clients notice a failover quickly: metadata may be
// refreshed every 100 ms and requests are retried after 100 ms, instead of
// kgo's 5 s and 250 ms-2.5 s (so measured unavailability is the cluster's).
// Requests other than produce are retried up to 100 times (10 s) rather
// than kgo's 20, so that a failover the cluster completes within its
// targets never surfaces as a client error.
func clientDefaults() []kgo.Opt {
	return []kgo.Opt{
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.RequestRetries(100),
	}
}

// clientOpts are clientDefaults plus the cluster's dialer (which reaches
// nodes in network namespaces, ProcessOptions.NetNS).
func (c *ProcessCluster) clientOpts() []kgo.Opt {
	return append(clientDefaults(), kgo.Dialer(c.dial))
}

func (c *ProcessCluster) newClient(t testing.TB, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, c.clientOpts()...), opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("testcluster: new client: %v", err)
	}
	return cl
}

// Client returns a franz-go client seeded with the running nodes
// (Bootstrap), closed when t ends. opts come after the harness's defaults
// (fast metadata refresh and retries) and override them.
func (c *ProcessCluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	seeds := c.Bootstrap()
	if len(seeds) == 0 {
		t.Fatal("testcluster: Client: no node is running")
	}
	cl := c.newClient(t, seeds, opts...)
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client over a new Client, closed when t ends.
func (c *ProcessCluster) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(c.Client(t))
}

// WaitFor polls cond every 50 ms until it holds, failing the test if it
// does not within timeout. what names the condition in the failure.
func (c *ProcessCluster) WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	c.Eventually(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errors.New("condition false")
	})
}

// Eventually is WaitFor with a condition that says why it does not hold
// yet: the last reason is in the failure message.
func (c *ProcessCluster) Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	if _, err := poll(timeout, check); err != nil {
		t.Fatalf("testcluster: waiting %s for %s: %v%s", timeout, what, err, c.exitsNote())
	}
}

// WaitForElapsed is WaitFor returning how long the condition took to hold.
func (c *ProcessCluster) WaitForElapsed(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	elapsed, err := poll(timeout, func() error {
		if cond() {
			return nil
		}
		return errors.New("condition false")
	})
	if err != nil {
		t.Fatalf("testcluster: waiting %s for %s: %v%s", timeout, what, err, c.exitsNote())
	}
	return elapsed
}

func (c *ProcessCluster) exitsNote() string {
	if exits := c.UnexpectedExits(); len(exits) > 0 {
		return " (" + strings.Join(exits, "; ") + ")"
	}
	return ""
}

// PartitionDetail is the partition's state as some broker's Metadata
// answers it now (never from a client's metadata cache). On failure Leader
// is -1 and Err says why (the topic or partition unknown, no broker
// answering).
func (c *ProcessCluster) PartitionDetail(t testing.TB, topic string, partition int32) kadm.PartitionDetail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	td, err := c.topicMetadata(ctx, topic)
	if err != nil {
		return kadm.PartitionDetail{Topic: topic, Partition: partition, Leader: -1, LeaderEpoch: -1, Err: err}
	}
	for _, p := range td.Partitions {
		if p.Partition == partition {
			return kadm.PartitionDetail{
				Topic: topic, Partition: partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR, OfflineReplicas: p.OfflineReplicas,
				Err: kerr.ErrorForCode(p.ErrorCode),
			}
		}
	}
	err = fmt.Errorf("partition %s-%d not in metadata", topic, partition)
	return kadm.PartitionDetail{Topic: topic, Partition: partition, Leader: -1, LeaderEpoch: -1, Err: err}
}

// topicMetadata is topic's entry in a Metadata answer from any broker.
func (c *ProcessCluster) topicMetadata(ctx context.Context, topic string) (kmsg.MetadataResponseTopic, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.query)
	if err != nil {
		return kmsg.MetadataResponseTopic{}, fmt.Errorf("metadata: %w", err)
	}
	for _, rt := range resp.Topics {
		if rt.Topic != nil && *rt.Topic == topic {
			if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
				return rt, fmt.Errorf("topic %s: %w", topic, err)
			}
			return rt, nil
		}
	}
	return kmsg.MetadataResponseTopic{}, fmt.Errorf("topic %s not in metadata", topic)
}

// LeaderOf is the partition's leader by Metadata, -1 if it has none or no
// broker answers.
func (c *ProcessCluster) LeaderOf(t testing.TB, topic string, partition int32) int32 {
	t.Helper()
	return c.PartitionDetail(t, topic, partition).Leader
}

// ActiveController is the controller id DescribeCluster answers (the
// active controller: the Raft leader), -1 if unknown.
func (c *ProcessCluster) ActiveController(t testing.TB) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, c.query)
	if err != nil || resp.ErrorCode != 0 {
		return -1
	}
	return resp.ControllerID
}

// direct returns the client that talks to node id alone.
func (c *ProcessCluster) direct(id int32) (*kgo.Broker, error) {
	n := c.node(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.direct == nil {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.spec.clientAddr())}, c.clientOpts()...)...)
		if err != nil {
			return nil, fmt.Errorf("client for node %d: %w", id, err)
		}
		n.direct = cl
	}
	seeds := n.direct.SeedBrokers()
	if len(seeds) != 1 {
		return nil, fmt.Errorf("client for node %d has %d seed brokers", id, len(seeds))
	}
	return seeds[0], nil
}

// NodeRequest sends req to node id itself, not to whichever broker a
// client would pick: what that node's own state answers. The version is
// the highest both sides support. A connection error (the node restarted
// since the last request) is retried until ctx ends.
func (c *ProcessCluster) NodeRequest(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	b, err := c.direct(id)
	if err != nil {
		return nil, err
	}
	return b.RetriableRequest(ctx, req)
}

// NodeMetadata is node id's own Metadata answer for topics (every topic if
// none are given).
func (c *ProcessCluster) NodeMetadata(ctx context.Context, id int32, topics ...string) (*kmsg.MetadataResponse, error) {
	resp, err := c.NodeRequest(ctx, id, metadataRequest(topics...))
	if err != nil {
		return nil, fmt.Errorf("metadata from node %d: %w", id, err)
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// ReplicaLogEndOffset is the log end offset of node id's replica of the
// partition, by ListOffsets with Kafka's debugging replica id (-2), which
// a follower answers from its own log too.
func (c *ProcessCluster) ReplicaLogEndOffset(ctx context.Context, id int32, topic string, partition int32) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = debuggingReplicaID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = -1 // latest
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.NodeRequest(ctx, id, req)
	if err != nil {
		return -1, fmt.Errorf("list offsets on node %d: %w", id, err)
	}
	for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			if t.Topic != topic || p.Partition != partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return -1, fmt.Errorf("list offsets on node %d: %s-%d: %w", id, topic, partition, err)
			}
			return p.Offset, nil
		}
	}
	return -1, fmt.Errorf("list offsets on node %d: %s-%d missing from the answer", id, topic, partition)
}

// WaitReplicasInSync waits until every partition of topic has a leader,
// its ISR holds every replica, every replica's node is running, and every
// replica reports the same log end offset (ReplicaLogEndOffset). Once
// producers have stopped, that is the state in which replica logs can be
// compared offline (CompareReplicaLogs).
func (c *ProcessCluster) WaitReplicasInSync(t testing.TB, timeout time.Duration, topic string) {
	t.Helper()
	c.Eventually(t, timeout, "every replica of "+topic+" in the ISR with equal log end offsets", func() error {
		return c.replicasInSync(topic)
	})
}

func (c *ProcessCluster) replicasInSync(topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	td, err := c.topicMetadata(ctx, topic)
	if err != nil {
		return err
	}
	if len(td.Partitions) == 0 {
		return fmt.Errorf("topic %s has no partitions in metadata", topic)
	}
	for p := range int32(len(td.Partitions)) {
		if err := c.partitionInSync(ctx, c.PartitionDetail(c.t, topic, p)); err != nil {
			return err
		}
	}
	return nil
}

func (c *ProcessCluster) partitionInSync(ctx context.Context, p kadm.PartitionDetail) error {
	if p.Err != nil || p.Leader < 0 {
		return fmt.Errorf("%s-%d: leader %d, error %v", p.Topic, p.Partition, p.Leader, p.Err)
	}
	if !sameSet(p.ISR, p.Replicas) {
		return fmt.Errorf("%s-%d: ISR %v, replicas %v", p.Topic, p.Partition, p.ISR, p.Replicas)
	}
	leos := map[int32]int64{}
	for _, r := range p.Replicas {
		if int(r) > len(c.nodes) || r < 1 || !c.Running(r) {
			return fmt.Errorf("%s-%d: replica %d is not running", p.Topic, p.Partition, r)
		}
		leo, err := c.ReplicaLogEndOffset(ctx, r, p.Topic, p.Partition)
		if err != nil {
			return err
		}
		leos[r] = leo
	}
	for _, r := range p.Replicas {
		if leos[r] != leos[p.Replicas[0]] {
			return fmt.Errorf("%s-%d: replica log end offsets differ: %v", p.Topic, p.Partition, leos)
		}
	}
	return nil
}

// sameSet tells whether a and b hold the same node ids, in any order.
func sameSet(a, b []int32) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// WaitBrokersJoined waits until every running node's Metadata answer names
// an active controller and lists every running broker (registered and
// unfenced), so a test may create topics of any replication factor.
func (c *ProcessCluster) WaitBrokersJoined(t testing.TB, timeout time.Duration) {
	t.Helper()
	c.Eventually(t, timeout, "every broker registered and unfenced", func() error {
		return brokersJoined(runningNodes(c.Nodes(), c.Running), c.NodeMetadata)
	})
}
