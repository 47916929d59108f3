package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
)

const (
	isrTopic = "isr"
	// lagTimeMs is replica.lag.time.max.ms for TestISRShrinkAndExpand.
	lagTimeMs = 2000
	// shrinkSlack is how much longer than replica.lag.time.max.ms the ISR
	// may take to lose a dead follower: Kafka checks every half lag time,
	// then AlterPartition and the metadata have to travel.
	shrinkSlack = 2500 * time.Millisecond
	// isrRecords are produced before the kill and again while the
	// follower is down.
	isrRecords = 100
)

// TestISRShrinkAndExpand: with replica.lag.time.max.ms=2000 a SIGKILLed
// follower (not the leader, not the active controller) leaves the ISR of
// an RF=3, min.insync.replicas=2 partition within the lag time plus slack;
// the leader keeps leading and acknowledges acks=all writes with the two
// replicas left; after the follower restarts it catches up and the ISR is
// all three again, the follower's log ending where the leader's does. The
// replica logs are then identical. About 15 s.
func TestISRShrinkAndExpand(t *testing.T) {
	c := startCluster(t, testcluster.ProcessOptions{Nodes: 3, ExtraConfig: map[string]string{
		"replica.lag.time.max.ms":      fmt.Sprint(lagTimeMs),
		"auto.leader.rebalance.enable": "false",
	}})
	createTopic(t, c, isrTopic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	leader := c.LeaderOf(t, isrTopic, 0)
	follower := pickFollower(t, c, leader)
	producer := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProduceRequestTimeout(5*time.Second))
	produceSync(t, producer, isrTopic, 0, 0, isrRecords)

	c.Kill(follower)
	shrunk := c.WaitForElapsed(t, lagTimeMs*time.Millisecond+shrinkSlack, fmt.Sprintf("follower %d out of the ISR", follower), func() bool {
		d := c.PartitionDetail(t, isrTopic, 0)
		return d.Err == nil && len(d.ISR) == 2 && !slices.Contains(d.ISR, follower)
	})
	t.Logf("ISR shrank %s after SIGKILL of follower %d", shrunk.Round(time.Millisecond), follower)

	produceSync(t, producer, isrTopic, 0, isrRecords, isrRecords) // acks=all with 2 of 3, min.insync.replicas=2
	if d := c.PartitionDetail(t, isrTopic, 0); d.Leader != leader || len(d.ISR) != 2 {
		t.Fatalf("after producing with the follower down: leader %d (was %d), ISR %v", d.Leader, leader, d.ISR)
	}

	c.Start(follower)
	expanded := c.WaitForElapsed(t, phaseTimeout, fmt.Sprintf("follower %d back in the ISR", follower), func() bool {
		d := c.PartitionDetail(t, isrTopic, 0)
		return d.Err == nil && len(d.ISR) == 3 && d.Leader == leader
	})
	t.Logf("ISR expanded %s after the follower's restart", expanded.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	if leo, err := c.ReplicaLogEndOffset(ctx, follower, isrTopic, 0); err != nil || leo != 2*isrRecords {
		t.Errorf("follower %d in the ISR with log end offset %d (%v), want %d", follower, leo, err, 2*isrRecords)
	}

	c.WaitReplicasInSync(t, phaseTimeout, isrTopic)
	compareAllPartitions(t, c, isrTopic, 1)
}

// pickFollower returns a replica other than leader, preferring one that
// is not the active controller, so that the kill tests the ISR alone.
func pickFollower(t *testing.T, c *testcluster.ProcessCluster, leader int32) int32 {
	t.Helper()
	if leader < 0 {
		t.Fatalf("%s-0 has no leader", isrTopic)
	}
	candidates := otherThan(c, leader)
	if active := c.ActiveController(t); active >= 0 && len(otherThan(c, leader, active)) > 0 {
		candidates = otherThan(c, leader, active)
	}
	return candidates[0]
}
