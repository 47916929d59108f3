package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// leaderKills is how many times TestKillLeaderRepeatedly SIGKILLs the
// partition's leader.
const leaderKills = 5

// TestKillLeaderRepeatedly is issue 12's first "Must show": an idempotent
// producer writes numbered records with acks=all to a partition with RF=3
// and min.insync.replicas=2 while its leader is SIGKILLed and restarted
// five times. Before each kill the previous victim is back in the ISR, so
// every kill leaves two in-sync replicas. Afterwards every acknowledged
// record is read back exactly once, in order, at the offset it was
// acknowledged at, no produce failed, and the three replica logs are
// identical byte for byte. Automatic preferred-leader rebalancing is off so
// that the leader moves only because of the kills. About 30-40 s.
func TestKillLeaderRepeatedly(t *testing.T) {
	c := startCluster(t, testcluster.ProcessOptions{Nodes: 3,
		ExtraConfig: map[string]string{"auto.leader.rebalance.enable": "false"}})
	const topic = "kill-leader"
	createTopic(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})

	l := newLedger(topic, 1)
	producer := newIdempotentProducer(t, c)
	stop := l.startProducing(producer)
	l.waitForAcks(t, c, phaseTimeout, 0, 500)

	for kill := 1; kill <= leaderKills; kill++ {
		leader := c.LeaderOf(t, topic, 0)
		if leader < 0 {
			t.Fatalf("kill %d: %s-0 has no leader", kill, topic)
		}
		before := l.ackedCount()
		c.Kill(leader)
		killedAt := time.Now()
		elected := c.WaitForElapsed(t, failoverTimeout, "a new leader after the kill", func() bool {
			d := c.PartitionDetail(t, topic, 0)
			return d.Leader >= 0 && d.Leader != leader && !slices.Contains(d.ISR, leader)
		})
		resumed := l.waitForAcks(t, c, failoverTimeout, before, 200)
		c.Start(leader)
		rejoined := c.WaitForElapsed(t, phaseTimeout, "the old leader back in the ISR", func() bool {
			d := c.PartitionDetail(t, topic, 0)
			// The leader check keeps a broker whose metadata still
			// predates the kill from passing for a rejoin.
			return d.Leader >= 0 && d.Leader != leader && slices.Contains(d.ISR, leader) && len(d.ISR) == 3
		})
		t.Logf("kill %d of node %d: new leader %d elected after %s, first acknowledgement %s after the kill, 200 more by %s later; node %d back in the ISR %s after its restart; %d acknowledged so far",
			kill, leader, c.LeaderOf(t, topic, 0), elected.Round(time.Millisecond), l.firstAckAfter(killedAt).Round(time.Millisecond),
			resumed.Round(time.Millisecond), leader, rejoined.Round(time.Millisecond), l.ackedCount())
	}
	l.waitForAcks(t, c, phaseTimeout, l.ackedCount(), 500)
	stop()
	l.finish(t, c, producer)
	l.checkNoFailures(t)

	c.WaitReplicasInSync(t, phaseTimeout, topic)
	l.verifyExactlyOnce(t, readBack(t, c, topic))
	compareAllPartitions(t, c, topic, 1)
}
