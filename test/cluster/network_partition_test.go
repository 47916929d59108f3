package cluster

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
)

const (
	partitionTopic = "network-partition"
	// minorityRecords are written to the isolated old leader with acks=1,
	// twice: right after it is cut off and once the majority has elected
	// a new leader.
	minorityRecords = 20
	// minorityPartition marks the values of those records (encodeValue's
	// partition field), so that none can pass for a ledger record.
	minorityPartition = 0x4d494e4f // "MINO"
	// minorityTimeout bounds each of those writes: the isolated node
	// answers at once or not at all.
	minorityTimeout = 3 * time.Second
)

// TestNetworkPartition is issue 12's network-partition "Must show": three
// nodes, each in its own network namespace (ProcessOptions.NetNS), a
// partition with RF=3 and min.insync.replicas=2, and an idempotent
// producer writing numbered records with acks=all throughout. The
// partition's leader is cut off from the other two nodes (Isolate: its
// packets to and from them are dropped, the process keeps running, and
// the test can still reach it):
//
//   - the majority elects a new leader within failoverTimeout (the time
//     is logged) and acks=all produce carries on against it;
//   - a client that reaches only the isolated old leader writes records
//     to it with acks=1; the old leader may accept them (it has not heard
//     that it lost its leadership), but they were never committed;
//   - after Heal the old leader rejoins as a follower, truncates its
//     divergent tail (its log says so) and is back in the ISR;
//   - in the end every acknowledged acks=all record is read back exactly
//     once, in order, at its acknowledged offset; none of the acks=1
//     records written to the isolated node is in the log; and the three
//     replica logs are identical byte for byte.
//
// Automatic leader rebalancing is off, so that leadership moves only
// because of the partition. About 10 s (8-15 s on two cores).
func TestNetworkPartition(t *testing.T) {
	c := startCluster(t, testcluster.ProcessOptions{Nodes: 3, NetNS: true,
		ExtraConfig: map[string]string{"auto.leader.rebalance.enable": "false"}})
	createTopic(t, c, partitionTopic, 1, 3, map[string]string{"min.insync.replicas": "2"})

	l := newLedger(partitionTopic, 1)
	producer := newPartitionProducer(t, c)
	stop := l.startProducing(producer)
	l.waitForAcks(t, c, phaseTimeout, 0, 500)

	before := c.PartitionDetail(t, partitionTopic, 0)
	old := before.Leader
	if old < 0 || len(before.ISR) != 3 {
		t.Fatalf("before the partition: leader %d, ISR %v", old, before.ISR)
	}
	majority := otherThan(c, old)
	t.Logf("isolating node %d, leader of %s-0 at epoch %d (active controller: node %d); majority %v",
		old, partitionTopic, before.LeaderEpoch, c.ActiveController(t), majority)
	marks := logMarks(c)
	ackedAtIsolation := l.ackedCount()
	c.Isolate(old)
	isolatedAt := time.Now()

	minority := c.NodeClient(t, old,
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(minorityTimeout))
	minorityAcked := writeToIsolated(t, minority, 0)

	elected := c.WaitForElapsed(t, failoverTimeout, "a new leader on the majority side", func() bool {
		return majorityElected(c, majority, before.LeaderEpoch)
	})
	now, err := nodePartition(c, majority[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("new leader %d (epoch %d, ISR %v) elected on the majority side %s after the isolation",
		now.leader, now.epoch, now.isr, elected.Round(time.Millisecond))
	ackedAtElection := l.ackedCount()
	// Resuming may take a few produce timeouts beyond the election
	// (newPartitionProducer), hence phaseTimeout.
	resumed := l.waitForAcks(t, c, phaseTimeout, ackedAtElection, 300)
	t.Logf("acks=all produce: first acknowledgement %s after the isolation, 300 more within %s of the election; longest pause %s",
		l.firstAckAfter(isolatedAt).Round(time.Millisecond), resumed.Round(time.Millisecond),
		l.longestAckPause(isolatedAt).Round(time.Millisecond))
	minorityAcked = append(minorityAcked, writeToIsolated(t, minority, minorityRecords)...)
	isolatedLEO, isolatedHW := isolatedOffsets(t, c, old)
	view, err := nodePartition(c, old)
	t.Logf("isolated node %d: %d of %d acks=1 writes acknowledged; its log ends at %d, its high watermark %d; its own metadata: leader %d at epoch %d, ISR %v (%v); %d acks=all acknowledgements since the isolation",
		old, len(minorityAcked), 2*minorityRecords, isolatedLEO, isolatedHW, view.leader, view.epoch, view.isr, err, l.ackedCount()-ackedAtIsolation)

	c.Heal(old)
	rejoined := c.WaitForElapsed(t, phaseTimeout, fmt.Sprintf("node %d back in the ISR as a follower", old), func() bool {
		return rejoinedAsFollower(c, old)
	})
	t.Logf("node %d back in the ISR as a follower %s after the heal", old, rejoined.Round(time.Millisecond))
	checkTruncated(t, c, marks, old, isolatedHW, len(minorityAcked) > 0)

	l.waitForAcks(t, c, phaseTimeout, l.ackedCount(), 300)
	stop()
	l.finish(t, c, producer)
	l.checkNoFailures(t)

	c.WaitReplicasInSync(t, phaseTimeout, partitionTopic)
	logs := readBack(t, c, partitionTopic)
	checkNoMinorityRecords(t, logs[0], minorityAcked)
	l.verifyExactlyOnce(t, logs)
	compareAllPartitions(t, c, partitionTopic, 1)
}

// partitionProduceTimeout is the producer's produce request timeout in
// TestNetworkPartition (newIdempotentProducer's is 5 s).
const partitionProduceTimeout = 2 * time.Second

// newPartitionProducer is newIdempotentProducer with a shorter produce
// request timeout. The producer can still reach the isolated old leader,
// which holds every acks=all request it gets for the request's whole
// timeout before answering REQUEST_TIMED_OUT (its high watermark cannot
// move; Kafka does the same). kgo retries a timed-out batch on the same
// leader without asking for metadata ("the leader is still the leader"),
// and only its opportunistic metadata refresh during the retry backoff
// moves it, to whichever broker answers: when that is the isolated node
// again (stale metadata, the old epoch), another full timeout goes by.
// With 5 s per round, 4 unlucky rounds (20 s) were seen in 20 runs.
func newPartitionProducer(t *testing.T, c *testcluster.ProcessCluster) *kgo.Client {
	t.Helper()
	return c.Client(t,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(5000),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProduceRequestTimeout(partitionProduceTimeout),
	)
}

// writeToIsolated produces minorityRecords records with acks=1 through
// client (which reaches only the isolated node), one at a time, and
// returns the offsets acknowledged. Failures are expected too: the
// isolated node may refuse, or time out.
func writeToIsolated(t *testing.T, client *kgo.Client, first int) []int64 {
	t.Helper()
	var offsets []int64
	var lastErr error
	for i := range minorityRecords {
		ctx, cancel := context.WithTimeout(context.Background(), minorityTimeout)
		r := &kgo.Record{Topic: partitionTopic, Partition: 0, Value: testValues.Encode(minorityPartition, uint64(first+i))}
		err := client.ProduceSync(ctx, r).FirstErr()
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		offsets = append(offsets, r.Offset)
	}
	if lastErr != nil {
		t.Logf("acks=1 writes %d-%d to the isolated node: %d acknowledged, the others failed (last error: %v)",
			first, first+minorityRecords-1, len(offsets), lastErr)
	}
	return offsets
}

// majorityElected tells whether every majority node's own metadata names
// one of them leader at an epoch above the old one.
func majorityElected(c *testcluster.ProcessCluster, majority []int32, oldEpoch int32) bool {
	for _, id := range majority {
		p, err := nodePartition(c, id)
		if err != nil || !slices.Contains(majority, p.leader) || p.epoch <= oldEpoch {
			return false
		}
	}
	return true
}

// rejoinedAsFollower tells whether every node, the old leader included,
// sees another node leading and all three replicas in the ISR.
func rejoinedAsFollower(c *testcluster.ProcessCluster, old int32) bool {
	for _, id := range c.Nodes() {
		p, err := nodePartition(c, id)
		if err != nil || p.leader < 0 || p.leader == old || len(p.isr) != 3 {
			return false
		}
	}
	return true
}

type partitionView struct {
	leader, epoch int32
	isr           []int32
}

// nodePartition is partitionTopic-0 as node id's own Metadata answers it.
func nodePartition(c *testcluster.ProcessCluster, id int32) (partitionView, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	md, err := c.NodeMetadata(ctx, id, partitionTopic)
	if err != nil {
		return partitionView{}, err
	}
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 1 || md.Topics[0].Partitions[0].ErrorCode != 0 {
		return partitionView{}, fmt.Errorf("node %d: no %s-0 in metadata", id, partitionTopic)
	}
	p := md.Topics[0].Partitions[0]
	return partitionView{leader: p.Leader, epoch: p.LeaderEpoch, isr: p.ISR}, nil
}

// isolatedOffsets is the isolated node's own log end offset and high
// watermark (it is reachable from the test while isolated).
func isolatedOffsets(t *testing.T, c *testcluster.ProcessCluster, id int32) (leo, hw int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	leo, err := c.ReplicaLogEndOffset(ctx, id, partitionTopic, 0)
	if err != nil {
		t.Fatalf("isolated node %d: %v", id, err)
	}
	listed, err := kadm.NewClient(c.NodeClient(t, id)).ListEndOffsets(ctx, partitionTopic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Logf("isolated node %d: high watermark: %v", id, err)
		return leo, -1
	}
	o, _ := listed.Lookup(partitionTopic, 0)
	return leo, o.Offset
}

// truncationLine matches the follower's log line when it cuts its log
// (internal/replica's fetcher).
var truncationLine = regexp.MustCompile(`truncating divergent log tail.*from=([0-9]+) to=([0-9]+)`)

// checkTruncated looks for node id's truncation lines since marks. One
// must be there when the isolated node acknowledged acks=1 writes the
// others never had, and none may cut below hw, the high watermark the
// node reported while isolated: what the isolated side counted as
// committed, the majority has.
func checkTruncated(t *testing.T, c *testcluster.ProcessCluster, marks map[int32]int, id int32, hw int64, mustHave bool) {
	t.Helper()
	log := c.Log(id)
	found := truncationLine.FindAllSubmatch(log[min(marks[id], len(log)):], -1)
	for _, m := range found {
		from, _ := strconv.ParseInt(string(m[1]), 10, 64)
		to, _ := strconv.ParseInt(string(m[2]), 10, 64)
		t.Logf("node %d truncated its divergent tail from offset %d to %d", id, from, to)
		if to >= from {
			t.Errorf("node %d: truncation from %d to %d cuts nothing", id, from, to)
		}
		if to < hw {
			t.Errorf("node %d truncated to offset %d, below the high watermark %d it had while isolated: the isolated side had committed records the majority lacked", id, to, hw)
		}
	}
	if mustHave && len(found) == 0 {
		t.Errorf("node %d acknowledged acks=1 writes while isolated, but never logged truncating its divergent tail", id)
	}
}

// checkNoMinorityRecords fails for any acks=1 record written to the
// isolated node that is in the final log: it was never committed.
func checkNoMinorityRecords(t *testing.T, log []stored, acked []int64) {
	t.Helper()
	for _, r := range log {
		if p, seq, err := testValues.Decode(r.value); err == nil && p == minorityPartition {
			t.Errorf("%s-0 offset %d: acks=1 record %d written to the isolated old leader survived (acknowledged at offsets %v)",
				partitionTopic, r.offset, seq, acked)
		}
	}
	if len(acked) > 0 {
		t.Logf("none of the %d acks=1 records the isolated node acknowledged (offsets %d-%d) is in the final log of %d records",
			len(acked), slices.Min(acked), slices.Max(acked), len(log))
	}
}
