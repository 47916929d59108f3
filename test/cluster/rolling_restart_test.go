package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
)

const (
	rollingTopic      = "rolling"
	rollingPartitions = 3
	rollingGroup      = "rolling-group"
	// offsetsPartitions keeps __consumer_offsets small, so that each
	// controlled shutdown moves few leaderships and the replica logs of
	// the offsets topic can be compared too.
	offsetsPartitions = 3
	offsetsTopic      = "__consumer_offsets"

	// maxAckPause bounds the longest pause in acknowledgements around
	// each SIGTERM (from the signal until the restarted node is back in
	// every ISR). Issue 12's target is 0.5 s, and the test logs what it
	// measured (0.01-0.13 s on two loaded cores, docs/performance.md);
	// the bound is looser so that a stalled neighbour process cannot fail
	// the test, yet a second-long stall (a replica.fetch.backoff.ms wait, a
	// session timeout standing in for the controlled shutdown) does.
	maxAckPause = 2 * time.Second
	// maxPartitionPause bounds the same for each partition on its own:
	// the moved partition waits for its remaining follower to fetch from
	// the new leader, which can take one replica.fetch.wait.max.ms long
	// poll more than the pause over all partitions shows.
	maxPartitionPause = 3 * time.Second
)

// TestRollingRestart is issue 12's rolling restart: each of the three
// nodes in turn is stopped with SIGTERM (a controlled shutdown) and
// restarted while an idempotent producer writes to three partitions (RF=3,
// min.insync.replicas=2) and a consumer group of two members reads them.
// While each node is down the producer keeps being acknowledged and the
// group keeps receiving records; after each restart the node's replicas
// rejoin the ISR and the group's committed offsets advance (the group
// coordinator, on __consumer_offsets, may have moved). At the end: no
// produce failed, the log holds every acknowledged record exactly once in
// order, the group's commits reach the end of every partition, every
// record was delivered to a member, and the replica logs of the topic and
// of __consumer_offsets are identical. The longest pause in
// acknowledgements around each SIGTERM, over all partitions and per
// partition, is logged and bounded (maxAckPause, maxPartitionPause).
// About 30 s.
func TestRollingRestart(t *testing.T) {
	c := startCluster(t, testcluster.ProcessOptions{Nodes: 3, ExtraConfig: map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		"offsets.topic.num.partitions":     fmt.Sprint(offsetsPartitions),
	}})
	createTopic(t, c, rollingTopic, rollingPartitions, 3, map[string]string{"min.insync.replicas": "2"})

	l := newLedger(rollingTopic, rollingPartitions)
	clock := newAckClock(rollingPartitions)
	producer := newIdempotentProducer(t, c, kgo.WithHooks(clock))
	stopProducing := l.startProducing(producer)
	group := startGroup(t, c, rollingGroup, rollingTopic, 2)
	admin := c.Admin(t)
	l.waitForAcks(t, c, phaseTimeout, 0, 500)
	waitCommitsAdvance(t, c, admin, 0)

	for _, id := range c.Nodes() {
		committed, stoppedAt := committedNow(t, c, admin), time.Now()
		c.Stop(id)
		acks, consumed := l.ackedCount(), group.consumedCount()
		l.waitForAcks(t, c, failoverTimeout, acks, 200)
		c.WaitFor(t, failoverTimeout, fmt.Sprintf("the group consuming while node %d is down", id), func() bool {
			return group.consumedCount() > consumed+200
		})
		c.Start(id)
		waitFullISR(t, c, phaseTimeout, rollingTopic, rollingPartitions)
		waitFullISR(t, c, phaseTimeout, offsetsTopic, offsetsPartitions)
		waitCommitsAdvance(t, c, admin, committed)
		t.Logf("node %d restarted: %d acknowledged, %d consumed, %d committed",
			id, l.ackedCount(), group.consumedCount(), committedTotal(admin))
		clock.checkPauses(t, id, stoppedAt)
	}
	stopProducing()
	l.finish(t, c, producer)
	l.checkNoFailures(t)

	ends := endOffsets(t, c, rollingTopic)
	c.Eventually(t, phaseTimeout, "the group's commits at the end of every partition", func() error {
		return commitsReached(admin, ends)
	})
	group.close()
	group.checkSawEverything(t, ends)

	c.WaitReplicasInSync(t, phaseTimeout, rollingTopic)
	c.WaitReplicasInSync(t, phaseTimeout, offsetsTopic)
	l.verifyExactlyOnce(t, readBack(t, c, rollingTopic))
	compareAllPartitions(t, c, rollingTopic, rollingPartitions)
	for p := range int32(offsetsPartitions) {
		c.CompareReplicaLogs(t, offsetsTopic, p)
	}
}

// consumerGroup is members group consumers polling in their own
// goroutines, recording every offset delivered to any of them.
type consumerGroup struct {
	topic   string
	members []*kgo.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu        sync.Mutex
	delivered map[int32]map[int64]bool
	count     int // deliveries, duplicates included
}

// startGroup starts members consumers of topic in group, committing every
// 500 ms (kgo's autocommit of polled records).
func startGroup(t *testing.T, c *testcluster.ProcessCluster, group, topic string, members int) *consumerGroup {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &consumerGroup{topic: topic, cancel: cancel, delivered: map[int32]map[int64]bool{}}
	for range members {
		member := c.Client(t,
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.AutoCommitInterval(500*time.Millisecond),
			kgo.FetchMaxWait(500*time.Millisecond),
		)
		g.members = append(g.members, member)
		g.wg.Add(1)
		go g.poll(ctx, member)
	}
	t.Cleanup(g.close)
	return g
}

func (g *consumerGroup) poll(ctx context.Context, member *kgo.Client) {
	defer g.wg.Done()
	for ctx.Err() == nil {
		fetches := member.PollFetches(ctx)
		g.mu.Lock()
		fetches.EachRecord(func(r *kgo.Record) {
			if g.delivered[r.Partition] == nil {
				g.delivered[r.Partition] = map[int64]bool{}
			}
			g.delivered[r.Partition][r.Offset] = true
			g.count++
		})
		g.mu.Unlock()
	}
}

func (g *consumerGroup) consumedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.count
}

// close stops polling and closes the members (which commit and leave the
// group); closing twice is harmless.
func (g *consumerGroup) close() {
	g.cancel()
	g.wg.Wait()
	for _, m := range g.members {
		m.Close()
	}
	g.members = nil
}

// checkSawEverything checks at-least-once delivery: every offset below the
// end offsets reached some member.
func (g *consumerGroup) checkSawEverything(t *testing.T, ends map[int32]int64) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, end := range ends {
		for offset := range end {
			if !g.delivered[p][offset] {
				t.Errorf("%s-%d offset %d (of %d) was never delivered to the group", g.topic, p, offset, end)
				break
			}
		}
	}
}

// committedTotal is the sum of the group's committed offsets, -1 if they
// cannot be fetched now.
func committedTotal(admin *kadm.Client) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	offsets, err := admin.FetchOffsets(ctx, rollingGroup)
	if err != nil || offsets.Error() != nil {
		return -1
	}
	var total int64
	offsets.Each(func(o kadm.OffsetResponse) { total += max(o.At, 0) })
	return total
}

// committedNow is the group's committed total, waiting while it cannot be
// fetched (the coordinator moving).
func committedNow(t *testing.T, c *testcluster.ProcessCluster, admin *kadm.Client) int64 {
	t.Helper()
	var total int64
	c.WaitFor(t, phaseTimeout, "the group's committed offsets", func() bool {
		total = committedTotal(admin)
		return total >= 0
	})
	return total
}

// waitCommitsAdvance waits until the group's committed offsets sum to more
// than since.
func waitCommitsAdvance(t *testing.T, c *testcluster.ProcessCluster, admin *kadm.Client, since int64) {
	t.Helper()
	c.WaitFor(t, phaseTimeout, fmt.Sprintf("the group's committed offsets beyond %d in total", since), func() bool {
		return committedTotal(admin) > since
	})
}

// commitsReached tells whether the group has committed ends on every
// partition.
func commitsReached(admin *kadm.Client, ends map[int32]int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	offsets, err := admin.FetchOffsets(ctx, rollingGroup)
	if err == nil {
		err = offsets.Error()
	}
	if err != nil {
		return err
	}
	for p, end := range ends {
		o, ok := offsets.Lookup(rollingTopic, p)
		if !ok || o.At != end {
			return fmt.Errorf("partition %d: committed %d (found %v), end %d", p, o.At, ok, end)
		}
	}
	return nil
}

// ackClock records when acknowledgements arrive, over all partitions and
// per partition (a kgo HookProduceRecordUnbuffered, called just before each
// record's promise), so that a stall of one partition shows too: the
// other partitions keep the pause over all of them short.
type ackClock struct {
	mu  sync.Mutex
	all []time.Time
	per [][]time.Time // by partition
}

func newAckClock(partitions int32) *ackClock {
	return &ackClock{per: make([][]time.Time, partitions)}
}

// OnProduceRecordUnbuffered implements kgo.HookProduceRecordUnbuffered.
func (a *ackClock) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if err != nil {
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.all = append(a.all, now)
	if r.Partition >= 0 && int(r.Partition) < len(a.per) {
		a.per[r.Partition] = append(a.per[r.Partition], now)
	}
}

// checkPauses logs the longest pauses in acknowledgements since the
// SIGTERM of node at since, and fails the test past maxAckPause (over all
// partitions) or maxPartitionPause (any one partition).
func (a *ackClock) checkPauses(t *testing.T, node int32, since time.Time) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	pause, began := longestPause(a.all, since, now)
	perPartition := make([]string, len(a.per))
	worst := time.Duration(0)
	for p, times := range a.per {
		d, at := longestPause(times, since, now)
		perPartition[p] = fmt.Sprintf("p%d %s (at +%s)", p, d.Round(time.Millisecond), at.Sub(since).Round(time.Millisecond))
		worst = max(worst, d)
		if d > maxPartitionPause {
			t.Errorf("node %d: %s-%d had no acknowledgement for %s from %s after the SIGTERM (bound %s)",
				node, rollingTopic, p, d.Round(time.Millisecond), at.Sub(since).Round(time.Millisecond), maxPartitionPause)
		}
	}
	t.Logf("node %d: SIGTERM: longest pause in acknowledgements %s, from %s after the signal (target 0.5 s); per partition: %s",
		node, pause.Round(time.Millisecond), began.Sub(since).Round(time.Millisecond), strings.Join(perPartition, ", "))
	if pause > maxAckPause {
		t.Errorf("node %d: no acknowledgement for %s from %s after the SIGTERM (bound %s)",
			node, pause.Round(time.Millisecond), began.Sub(since).Round(time.Millisecond), maxAckPause)
	}
}

// longestPause is the longest time without an entry of times (in order)
// between since and until, and when it began.
func longestPause(times []time.Time, since, until time.Time) (time.Duration, time.Time) {
	i, _ := slices.BinarySearchFunc(times, since, func(at, since time.Time) int { return at.Compare(since) })
	longest, began, previous := time.Duration(0), since, since
	for _, at := range times[i:] {
		if at.After(until) {
			break
		}
		if d := at.Sub(previous); d > longest {
			longest, began = d, previous
		}
		previous = at
	}
	if d := until.Sub(previous); d > longest {
		longest, began = d, previous
	}
	return longest, began
}
