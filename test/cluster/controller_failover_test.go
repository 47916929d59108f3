package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// createAfterFailoverWithin is issue 12's bound for CreateTopics after the
// active controller is killed.
const createAfterFailoverWithin = 10 * time.Second

// TestControllerFailover is issue 12's controller failover: the active
// controller (DescribeCluster's controller id, which every node must agree
// on) is SIGKILLed; CreateTopics succeeds within 10 s of the kill; a new
// controller is named by every running node; every running broker's
// Metadata converges on the same brokers, controller, topics, leaders,
// leader epochs, replicas and ISRs, with every leader a live node; the new
// topic takes writes; and after the old controller restarts, it converges
// on the same metadata too. About 15 s.
func TestControllerFailover(t *testing.T) {
	c := startCluster(t, testcluster.ProcessOptions{Nodes: 3})
	createTopic(t, c, "before", 3, 3, nil)
	active := waitAgreedController(t, c, -1)

	c.Kill(active)
	killedAt := time.Now()
	createUntilCreated(t, c, "after", 3, 2, killedAt.Add(createAfterFailoverWithin))
	t.Logf("CreateTopics succeeded %s after SIGKILL of active controller %d", time.Since(killedAt).Round(time.Millisecond), active)

	successor := waitAgreedController(t, c, active)
	t.Logf("node %d is the active controller now", successor)
	waitMetadataConverged(t, c, []string{"before", "after"})
	produceToEveryPartition(t, c, "after", 3)

	c.Start(active)
	waitMetadataConverged(t, c, []string{"before", "after"})
}

// waitAgreedController waits until every running node's DescribeCluster
// names the same active controller, a running node other than not, and
// returns it.
func waitAgreedController(t *testing.T, c *testcluster.ProcessCluster, not int32) int32 {
	t.Helper()
	var agreed int32
	c.Eventually(t, phaseTimeout, "every running node naming the same live active controller", func() error {
		seen := map[int32]int32{}
		for _, id := range c.Nodes() {
			if !c.Running(id) {
				continue
			}
			controller, err := describeClusterController(c, id)
			if err != nil {
				return err
			}
			seen[id] = controller
		}
		for _, controller := range seen {
			if controller < 0 || controller == not || !c.Running(controller) {
				return fmt.Errorf("controllers named by the nodes: %v", seen)
			}
			for _, other := range seen {
				if other != controller {
					return fmt.Errorf("controllers named by the nodes differ: %v", seen)
				}
			}
			agreed = controller
		}
		return nil
	})
	return agreed
}

func describeClusterController(c *testcluster.ProcessCluster, id int32) (int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := c.NodeRequest(ctx, id, kmsg.NewPtrDescribeClusterRequest())
	if err != nil {
		return -1, fmt.Errorf("describe cluster on node %d: %w", id, err)
	}
	r := resp.(*kmsg.DescribeClusterResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return -1, fmt.Errorf("describe cluster on node %d: %w", id, err)
	}
	return r.ControllerID, nil
}

// createUntilCreated sends CreateTopics until it succeeds, failing the test
// at deadline. An attempt that timed out may have created the topic, so
// TOPIC_ALREADY_EXISTS after a failed attempt counts as success.
func createUntilCreated(t *testing.T, c *testcluster.ProcessCluster, topic string, partitions int32, rf int16, deadline time.Time) {
	t.Helper()
	admin := c.Admin(t)
	var errs []string
	for attempt := 1; ; attempt++ {
		attemptDeadline := time.Now().Add(3 * time.Second)
		if attemptDeadline.After(deadline) {
			attemptDeadline = deadline
		}
		ctx, cancel := context.WithDeadline(context.Background(), attemptDeadline)
		_, err := admin.CreateTopic(ctx, partitions, rf, nil, topic)
		cancel()
		if err == nil || attempt > 1 && errors.Is(err, kerr.TopicAlreadyExists) {
			return
		}
		errs = append(errs, err.Error())
		if time.Now().After(deadline) {
			t.Fatalf("CreateTopics %s did not succeed within %s of the controller's death; %d attempts: %s",
				topic, createAfterFailoverWithin, attempt, strings.Join(errs, "; "))
		}
	}
}

// waitMetadataConverged waits until every running node answers Metadata
// with the same state, topics holds every topic named, and each of their
// partitions is led by a running node.
func waitMetadataConverged(t *testing.T, c *testcluster.ProcessCluster, topics []string) {
	t.Helper()
	c.Eventually(t, phaseTimeout, "every running broker's metadata converged", func() error {
		views := map[int32]string{}
		for _, id := range c.Nodes() {
			if !c.Running(id) {
				continue
			}
			view, err := metadataView(c, id, topics)
			if err != nil {
				return err
			}
			views[id] = view
		}
		for id, view := range views {
			for other, otherView := range views {
				if view != otherView {
					return fmt.Errorf("node %d sees\n%s\nnode %d sees\n%s", id, view, other, otherView)
				}
			}
		}
		return nil
	})
}

// metadataView renders node id's Metadata answer canonically: brokers,
// controller, and per topic and partition the leader, leader epoch,
// replicas and ISR. It fails unless every topic is there with every
// partition led by a running node, and every running node is listed.
func metadataView(c *testcluster.ProcessCluster, id int32, topics []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := c.NodeMetadata(ctx, id, topics...)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	var brokers []int32
	for _, broker := range md.Brokers {
		brokers = append(brokers, broker.NodeID)
	}
	fmt.Fprintf(&b, "brokers %v controller %d\n", sorted(brokers), md.ControllerID)
	for _, running := range c.Bootstrap() {
		if !slices.ContainsFunc(md.Brokers, func(b kmsg.MetadataResponseBroker) bool {
			return fmt.Sprintf("%s:%d", b.Host, b.Port) == running
		}) {
			return "", fmt.Errorf("node %d's metadata lists brokers %v, not running %s", id, sorted(brokers), running)
		}
	}
	if md.ControllerID < 0 || !c.Running(md.ControllerID) {
		return "", fmt.Errorf("node %d's metadata names controller %d, not a running node", id, md.ControllerID)
	}
	for _, topic := range md.Topics {
		if topic.Topic == nil {
			return "", fmt.Errorf("node %d answered a topic without its name (id %x)", id, topic.TopicID)
		}
	}
	slices.SortFunc(md.Topics, func(x, y kmsg.MetadataResponseTopic) int { return strings.Compare(*x.Topic, *y.Topic) })
	for _, topic := range md.Topics {
		if err := kerr.ErrorForCode(topic.ErrorCode); err != nil {
			return "", fmt.Errorf("node %d: topic %s: %w", id, *topic.Topic, err)
		}
		if len(topic.Partitions) == 0 {
			return "", fmt.Errorf("node %d: topic %s has no partitions", id, *topic.Topic)
		}
		slices.SortFunc(topic.Partitions, func(x, y kmsg.MetadataResponseTopicPartition) int { return int(x.Partition - y.Partition) })
		for _, p := range topic.Partitions {
			if p.Leader < 0 || !c.Running(p.Leader) {
				return "", fmt.Errorf("node %d: %s-%d led by %d, not a running node", id, *topic.Topic, p.Partition, p.Leader)
			}
			fmt.Fprintf(&b, "%s-%d leader %d epoch %d replicas %v isr %v\n",
				*topic.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, sorted(p.ISR))
		}
	}
	if len(md.Topics) != len(topics) {
		return "", fmt.Errorf("node %d answered %d of topics %v", id, len(md.Topics), topics)
	}
	return b.String(), nil
}

// produceToEveryPartition writes one record with acks=all to each
// partition: the leaders the metadata names really lead.
func produceToEveryPartition(t *testing.T, c *testcluster.ProcessCluster, topic string, partitions int32) {
	t.Helper()
	producer := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range partitions {
		produceSync(t, producer, topic, p, 0, 1)
	}
}
