package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

const (
	// The topics avoid the word "unclean" in their names, so that only a
	// message about an unclean election matches when the logs are searched
	// for it.
	cleanOnlyTopic = "election-off"
	uncleanTopic   = "election-on"
	// baseRecords are written with acks=all while all three replicas are
	// in sync; lostRecords with acks=1 once only the leader is left.
	baseRecords = 5
	lostRecords = 10
	// offlineFor is how long the partition must stay offline with unclean
	// election off while an out-of-sync replica is alive: several times
	// the session timeout and the controller's tick.
	offlineFor = 5 * time.Second
)

// TestUncleanElection is issue 12's "all brokers down" choice. Nodes 1-3
// are the controllers (a quorum that survives the test's kills); nodes 4
// and 5 are broker-only. Two topics have replicas [L, 4, 5], L a controller
// node that is not the active controller: election-off with
// unclean.leader.election.enable=false, election-on with true. Both get
// five acks=all records; nodes 4 and 5 are killed and leave the ISR; ten
// more records are acknowledged with acks=1 by L alone; L is killed, so the
// partitions have no leader and ISR [L]; node 4, out of sync, restarts.
//   - on: node 4 becomes the leader of election-on, whose end offset falls
//     back to the five records node 4 has: the ten acks=1 records are lost,
//     and a node's log reports the unclean election at WARN.
//   - off: election-off stays without a leader for 5 s on every running
//     broker although node 4 is alive; when L restarts it leads again with
//     all fifteen records, and node 4 rejoins the ISR.
//
// Finally node 5 restarts too, every replica of both topics gets in sync
// (L truncating the records election-on lost), and the replica logs of
// both topics are compared offline. About 30 s.
func TestUncleanElection(t *testing.T) {
	c := startCluster(t, testcluster.ProcessOptions{Nodes: 5, Controllers: 3})
	active := waitAgreedController(t, c, -1)
	leader := otherThan(c, active, 4, 5)[0]
	replicas := []int32{leader, 4, 5}
	createTopicAssigned(t, c, cleanOnlyTopic, [][]int32{replicas}, map[string]string{"unclean.leader.election.enable": "false"})
	createTopicAssigned(t, c, uncleanTopic, [][]int32{replicas}, map[string]string{"unclean.leader.election.enable": "true"})
	topics := []string{cleanOnlyTopic, uncleanTopic}

	allAcks := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	oneAck := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	for _, topic := range topics {
		produceSync(t, allAcks, topic, 0, 0, baseRecords)
	}
	c.Kill(4)
	c.Kill(5)
	waitISR(t, c, topics, []int32{leader}, leader)
	for _, topic := range topics {
		produceSync(t, oneAck, topic, 0, baseRecords, lostRecords)
		waitEndOffset(t, c, topic, baseRecords+lostRecords, fmt.Sprintf("acks=1 records committed with ISR [%d]", leader))
	}
	c.Kill(leader)
	waitISR(t, c, topics, []int32{leader}, -1)
	marks := logMarks(c)
	c.Start(4)
	c.WaitFor(t, failoverTimeout, "node 4 back among the brokers", func() bool { return listsBroker(c, 4) })

	passed := t.Run("on", func(t *testing.T) {
		var d kadm.PartitionDetail
		elected := c.WaitForElapsed(t, failoverTimeout, "node 4 leading "+uncleanTopic, func() bool {
			d = c.PartitionDetail(t, uncleanTopic, 0)
			return d.Leader == 4
		})
		t.Logf("node 4 became the leader of %s %s after its restart", uncleanTopic, elected.Round(time.Millisecond))
		if !slices.Equal(d.ISR, []int32{4}) {
			t.Errorf("%s-0 after the unclean election: ISR %v, want [4] (the elected replica alone)", uncleanTopic, d.ISR)
		}
		waitEndOffset(t, c, uncleanTopic, baseRecords, "node 4 lacks the acks=1 records")
		var line string
		c.WaitFor(t, 2*time.Second, "a node's log reporting the unclean election (a WARN line with \"unclean\" and \"elect\")", func() bool {
			line = findLogLine(c, marks, "level=WARN", "unclean", "elect")
			return line != ""
		})
		t.Logf("reported: %s", line)
		produceSync(t, allAcks, uncleanTopic, 0, baseRecords+lostRecords, 1) // online again
	})

	passed = t.Run("off", func(t *testing.T) {
		stayedOffline(t, c, cleanOnlyTopic, offlineFor)
		c.Start(leader)
		c.WaitFor(t, failoverTimeout, fmt.Sprintf("node %d leading %s again", leader, cleanOnlyTopic), func() bool {
			return c.LeaderOf(t, cleanOnlyTopic, 0) == leader
		})
		waitEndOffset(t, c, cleanOnlyTopic, baseRecords+lostRecords, "nothing lost")
		c.WaitFor(t, phaseTimeout, "node 4 back in the ISR of "+cleanOnlyTopic, func() bool {
			return slices.Contains(c.PartitionDetail(t, cleanOnlyTopic, 0).ISR, 4)
		})
	}) && passed
	if !passed {
		t.Fatal("not comparing replica logs: a subtest failed")
	}

	c.Start(5)
	for _, topic := range topics {
		c.WaitReplicasInSync(t, phaseTimeout, topic)
	}
	c.KillAll()
	for _, topic := range topics {
		c.CompareReplicaLogs(t, topic, 0, replicas...)
	}
}

// waitISR waits until each topic's partition 0 has exactly isr as its ISR
// and leader as its leader (-1: none).
func waitISR(t *testing.T, c *testcluster.ProcessCluster, topics []string, isr []int32, leader int32) {
	t.Helper()
	c.Eventually(t, failoverTimeout, fmt.Sprintf("ISR %v and leader %d", isr, leader), func() error {
		for _, topic := range topics {
			d := c.PartitionDetail(t, topic, 0)
			if d.Leader != leader || !slices.Equal(sorted(d.ISR), sorted(isr)) {
				return fmt.Errorf("%s-0: leader %d, ISR %v (error %v)", topic, d.Leader, d.ISR, d.Err)
			}
		}
		return nil
	})
}

// waitEndOffset waits until topic's partition 0 has the end offset (high
// watermark) want; why says what that proves.
func waitEndOffset(t *testing.T, c *testcluster.ProcessCluster, topic string, want int64, why string) {
	t.Helper()
	c.Eventually(t, failoverTimeout, fmt.Sprintf("end offset %d of %s-0 (%s)", want, topic, why), func() error {
		if end := endOffsets(t, c, topic)[0]; end != want {
			return fmt.Errorf("end offset %d", end)
		}
		return nil
	})
}

// stayedOffline polls every running broker's own Metadata for duration and
// fails the test as soon as one names a leader for topic's partition 0.
func stayedOffline(t *testing.T, c *testcluster.ProcessCluster, topic string, duration time.Duration) {
	t.Helper()
	deadline := time.Now().Add(duration)
	polls := 0
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for time.Now().Before(deadline) {
		for _, id := range c.Nodes() {
			if !c.Running(id) {
				continue
			}
			if leader, err := nodeLeader(c, id, topic); err == nil && leader != -1 {
				t.Fatalf("%s-0: node %d names leader %d %s into the outage: unclean election although disabled",
					topic, id, leader, duration-time.Until(deadline))
			}
			polls++
		}
		<-ticker.C // poll again
	}
	if polls == 0 {
		t.Fatal("no broker answered Metadata during the outage")
	}
	t.Logf("%s-0 stayed without a leader for %s (%d answers)", topic, duration, polls)
}

func nodeLeader(c *testcluster.ProcessCluster, id int32, topic string) (int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	md, err := c.NodeMetadata(ctx, id, topic)
	if err != nil {
		return -1, err
	}
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 1 {
		return -1, fmt.Errorf("node %d: no partition %s-0 in metadata", id, topic)
	}
	return md.Topics[0].Partitions[0].Leader, nil
}

// listsBroker tells whether the cluster's Metadata lists broker id (in
// Kafka, as an unfenced broker).
func listsBroker(c *testcluster.ProcessCluster, id int32) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	md, err := c.NodeMetadata(ctx, id)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(md.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == id })
}

// logMarks records how long every node's log is, so that findLogLine
// searches only what was logged afterwards.
func logMarks(c *testcluster.ProcessCluster) map[int32]int {
	marks := map[int32]int{}
	for _, id := range c.Nodes() {
		marks[id] = len(c.Log(id))
	}
	return marks
}

// findLogLine returns the first line logged by any node since marks that
// contains every one of words (case-insensitive), prefixed by the node.
func findLogLine(c *testcluster.ProcessCluster, marks map[int32]int, words ...string) string {
	for _, id := range c.Nodes() {
		log := c.Log(id)
		scanner := bufio.NewScanner(bytes.NewReader(log[min(marks[id], len(log)):]))
		scanner.Buffer(nil, 1<<20)
		for scanner.Scan() {
			line := strings.ToLower(scanner.Text())
			if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(line, strings.ToLower(w)) }) {
				return fmt.Sprintf("node %d: %s", id, scanner.Text())
			}
		}
	}
	return ""
}
