package durability

// Whole-cluster power cuts (issue 12, "Durability beyond Kafka's"): three
// in-process brokers (internal/testcluster.StartCluster), each keeping
// everything it persists in its own vfs.MemFS, replicate an RF=3 topic with
// min.insync.replicas=2 while several producers write with acks=all. The
// power of all three nodes is cut at one instant (every byte not fsynced,
// on every node, is gone) and the cluster restarts on what survived.
//
// With Sluice's default flush settings every record acknowledged before the
// cut must be, when the power comes back, on every replica that was in its
// partition's ISR (read off each node's file system before the restart),
// and then read back through the restarted cluster at its acknowledged
// offset, read_committed and read_uncommitted, with no duplicate from an
// idempotent producer. At the end, with the ISRs whole again, one broker
// is killed and every record acknowledged in the test, before or after a
// cut, must still be read back. The counter-test turns Kafka-style write
// caching on for the topic and shows the same cut does lose acknowledged
// records there, so the first test would notice a broker that acknowledged
// from the page cache.
//
// The cut reaches the metadata quorum too: each node's Raft log, term and
// vote and snapshots live on the same MemFS as its partitions. While the
// producers write, topics are created one after another, and the cut
// falls among those creations as well: every topic whose CreateTopics was
// acknowledged before the cut must exist after the restart on every node,
// and every partition's metadata as the cluster showed it just before the
// cut (replicas, leader epoch) must come back on every node with the same
// replicas and a leader epoch no lower (epochs never go back), the nodes
// agreeing on each partition's leader and epoch. Each cut also checks that
// the quorum's state file is on the crashed MemFS; that such a cut drops
// metadata a node had not fsynced is internal/quorum's
// TestPowerCutDropsWhatWasNotSynced.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

const (
	cutPartitions = 3
	cutRF         = 3
	// cutMinAcked is how many records must be acknowledged before a cut
	// may come; the cut then waits a further random delay.
	cutMinAcked = 300
	// cutBurst is how many records a producer writes per millisecond.
	cutBurst = 8
	// phase bounds admin calls, draining producers and reading back.
	cutPhase = 20 * time.Second
)

// cutProducer describes one of the concurrent producers of a round.
type cutProducer struct {
	id         uint32
	idempotent bool
}

// cutProducers: two idempotent (kgo's default) and two plain acks=all
// producers, all writing at once.
var cutProducers = []cutProducer{{1, true}, {2, false}, {3, true}, {4, false}}

// A record's value: producer id (4 bytes), the producer's sequence number
// (8 bytes), then 0-100 filler bytes so batches differ in size.
func cutValue(producer uint32, seq uint64, filler int) []byte {
	v := make([]byte, 12+filler)
	binary.BigEndian.PutUint32(v, producer)
	binary.BigEndian.PutUint64(v[4:], seq)
	for i := 12; i < len(v); i++ {
		v[i] = byte(seq) ^ byte(i)
	}
	return v
}

func cutValueID(v []byte) (producer uint32, seq uint64, ok bool) {
	if len(v) < 12 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(v), binary.BigEndian.Uint64(v[4:]), true
}

// cutAck is one acknowledged record.
type cutAck struct {
	partition int32
	offset    int64
	value     string
	producer  uint32
	seq       uint64
	// beforeCut: the acknowledgement reached the producer before the
	// power cut began (so the broker sent it before the cut).
	beforeCut bool
}

// cutRound is what one round produced: its topic and acknowledgements.
type cutRound struct {
	topic string
	mu    sync.Mutex
	acks  []cutAck
	// failed counts records whose produce ended in an error.
	failed atomic.Int64
	// cut is set just before the power is cut.
	cut atomic.Bool
}

func (r *cutRound) add(rec *kgo.Record, producer uint32, seq uint64, before bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks = append(r.acks, cutAck{rec.Partition, rec.Offset, string(rec.Value), producer, seq, before})
}

func (r *cutRound) snapshot() []cutAck {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cutAck(nil), r.acks...)
}

func (r *cutRound) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acks)
}

func (r *cutRound) beforeCut() []cutAck {
	var out []cutAck
	for _, a := range r.snapshot() {
		if a.beforeCut {
			out = append(out, a)
		}
	}
	return out
}

// TestClusterPowerCutKeepsEveryAcknowledgedRecord: default durability
// settings, three whole-cluster power cuts (clean or torn), each in the
// middle of a fresh stream of acks=all writes to a new topic at a
// different moment. After each cut every record acknowledged before it is
// on every ISR member's disk and is read back; at the end every round is
// read back again, and once more after one broker is killed.
func TestClusterPowerCutKeepsEveryAcknowledgedRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node cluster through three power cuts")
	}
	c := testcluster.StartCluster(t, testcluster.InProcessOptions{})
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 12))
	// The cut comes this long after cutMinAcked records were acknowledged:
	// at once, a little later, well into the stream.
	delays := [][2]time.Duration{{0, 50 * time.Millisecond}, {50 * time.Millisecond, 300 * time.Millisecond}, {300 * time.Millisecond, 1200 * time.Millisecond}}
	var rounds []*cutRound
	for i, d := range delays {
		r := &cutRound{topic: fmt.Sprintf("cluster-power-cut-%d", i)}
		createCutTopic(t, c, r.topic, nil)
		delay := d[0] + time.Duration(rng.Int64N(int64(d[1]-d[0])))
		torn := rng.IntN(2) == 0
		var isr map[int32][]int32
		probe := startTopicCreator(t, c, r.topic)
		produceThroughClusterCut(t, c, r, delay, func(mark func()) {
			isr = partitionISRs(t, c, r.topic)
			shown := clusterPartitions(t, c)
			probe.markCut()
			mark()
			if torn {
				c.PowerOffTorn(rng)
			} else {
				c.PowerOff()
			}
			checkMetadataOnCutDisk(t, c)
			checkReplicasHoldAcks(t, c, r, isr)
			restart := time.Now()
			c.Start()
			restarted := time.Since(restart)
			created := probe.stop()
			checkMetadataSurvived(t, c, shown, created)
			t.Logf("round %d: restarted in %s; %d topics created before the cut, %d partitions' metadata shown just before it, all on every node %s after the restart",
				i, restarted.Round(time.Millisecond), len(created), countPartitions(shown), (time.Since(restart) - restarted).Round(time.Millisecond))
		})
		before := r.beforeCut()
		t.Logf("round %d: cut %s after %d acks (torn %v): %d records acknowledged before it, %d after, %d failed",
			i, delay.Round(time.Millisecond), cutMinAcked, torn, len(before), r.count()-len(before), r.failed.Load())
		for _, committed := range []bool{true, false} {
			if missing := readBackCut(t, c, r, before, committed, true, cutPhase); len(missing) > 0 {
				t.Fatalf("round %d (read_committed %v): %d of %d records acknowledged before the power cut are lost (missing, or another record at their offset), e.g. %s",
					i, committed, len(missing), len(before), describeAcks(missing))
			}
		}
		rounds = append(rounds, r)
	}
	// A later cut must not take back what an earlier round had; and with
	// one broker lost on top (min.insync.replicas=2 of 3: acks=all survives
	// that), every acknowledged record is still there, also those
	// acknowledged after a restart, now served by former followers.
	for i, r := range rounds {
		if lost := readBackCut(t, c, r, r.beforeCut(), true, true, cutPhase); len(lost) > 0 {
			t.Fatalf("round %d after %d more power cuts: %d acknowledged records lost, e.g. %s",
				i, len(rounds)-1-i, len(lost), describeAcks(lost))
		}
	}
	// Right after a restart the ISRs are short: the old incarnations'
	// sessions expired one after another, each fencing took its broker
	// out of the ISRs. Losing a broker is only survivable once they are
	// whole again.
	for _, r := range rounds {
		c.WaitTopicReady(cutPhase, r.topic, cutPartitions, cutRF)
	}
	victim := partitionLeader(t, c, rounds[len(rounds)-1].topic, 0)
	for _, r := range rounds {
		t.Logf("%s before node %d is killed: %s", r.topic, victim, describePartitions(c, r.topic))
	}
	c.KillNode(victim)
	for i, r := range rounds {
		all := r.snapshot()
		for _, committed := range []bool{true, false} {
			if lost := readBackCut(t, c, r, all, committed, true, cutPhase); len(lost) > 0 {
				t.Fatalf("round %d, node %d killed (read_committed %v): %d of %d acknowledged records lost, e.g. %s",
					i, victim, committed, len(lost), len(all), describeAcks(lost))
			}
		}
	}
	t.Logf("every acknowledged record of %d rounds survived their power cuts and then the loss of node %d", len(rounds), victim)
}

// describePartitions is topic's leaders and ISRs by the cluster's
// metadata, for failure messages.
func describePartitions(c *testcluster.InProcessCluster, topic string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	topics, err := c.Admin().ListTopics(ctx, topic)
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, p := range topics[topic].Partitions.Sorted() {
		parts = append(parts, fmt.Sprintf("%d: leader %d epoch %d replicas %v ISR %v err %v", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.Err))
	}
	return strings.Join(parts, "; ")
}

// partitionLeader is the leader of topic-partition by the cluster's
// metadata now.
func partitionLeader(t *testing.T, c *testcluster.InProcessCluster, topic string, partition int32) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cutPhase)
	defer cancel()
	topics, err := c.Admin().ListTopics(ctx, topic)
	if err == nil {
		err = topics.Error()
	}
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	p, ok := topics[topic].Partitions[partition]
	if !ok || p.Leader < 0 {
		t.Fatalf("%s-%d has no leader: %+v", topic, partition, p)
	}
	return p.Leader
}

// TestClusterPowerCutLosesWritesWithWriteCaching is the counter-test: with
// Kafka-style write caching on for the topic (flush.messages and flush.ms
// far above anything the test reaches, so acknowledgements come from
// memory and nothing is fsynced), the same whole-cluster power cut loses
// acknowledged records. If it did not, the default-settings test above
// could not tell a broker that fsyncs from one that does not.
func TestClusterPowerCutLosesWritesWithWriteCaching(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node cluster through power cuts")
	}
	c := testcluster.StartCluster(t, testcluster.InProcessOptions{})
	caching := map[string]string{"flush.messages": "1000000", "flush.ms": "3600000"}
	const attempts = 3
	for i := range attempts {
		r := &cutRound{topic: fmt.Sprintf("write-caching-power-cut-%d", i)}
		createCutTopic(t, c, r.topic, caching)
		produceThroughClusterCut(t, c, r, time.Duration(i)*100*time.Millisecond, func(mark func()) {
			mark()
			c.PowerCut()
		})
		before := r.beforeCut()
		// Lost data lets producers' retries reuse sequence numbers, so
		// duplicates are possible here: only loss is checked.
		missing := readBackCut(t, c, r, before, false, false, 0)
		t.Logf("attempt %d: %d of %d records acknowledged before the cut are lost with write caching", i, len(missing), len(before))
		if len(missing) > 0 {
			return
		}
	}
	t.Fatalf("with write caching (%v) %d whole-cluster power cuts lost no acknowledged record: either acks=all still waits for fsyncs, "+
		"or the power cut does not drop unsynced data on every node (vfs.MemFS.Crash, testcluster.PowerCut); "+
		"then TestClusterPowerCutKeepsEveryAcknowledgedRecord proves nothing", caching, attempts)
}

// createCutTopic creates an RF=3 topic with min.insync.replicas=2 (plus
// configs) and waits until every partition has its full ISR everywhere.
func createCutTopic(t *testing.T, c *testcluster.InProcessCluster, topic string, configs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cutPhase)
	defer cancel()
	cfg := map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	resp, err := c.Admin().CreateTopic(ctx, cutPartitions, cutRF, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	c.WaitTopicReady(cutPhase, topic, cutPartitions, cutRF)
}

// produceThroughClusterCut runs the producers on r's topic until
// cutMinAcked records are acknowledged and delay has passed, then calls
// cut, which must call mark just before it cuts the power and return with
// the cluster back up. mark stops the producers producing new records and
// makes later acknowledgements count as after the cut; what the producers
// still hold is given cutPhase to finish against the restarted cluster,
// then they are closed.
func produceThroughClusterCut(t *testing.T, c *testcluster.InProcessCluster, r *cutRound, delay time.Duration, cut func(mark func())) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var clients []*kgo.Client
	for _, p := range cutProducers {
		opts := []kgo.Opt{
			kgo.DefaultProduceTopic(r.topic),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(time.Millisecond),
			kgo.RecordDeliveryTimeout(cutPhase / 2),
			// Bounds what a producer holds, so a round stays a few
			// seconds of data under -race too.
			kgo.MaxBufferedRecords(2000),
		}
		if !p.idempotent {
			opts = append(opts, kgo.DisableIdempotentWrite(), kgo.RecordRetries(3))
		}
		cl := c.Client(opts...)
		clients = append(clients, cl)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(p.id), uint64(time.Now().UnixNano())))
			// A few records every millisecond: thousands a second per
			// producer, many batches in flight, yet a round's data stays
			// small enough to read back quickly under -race.
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for seq := uint64(0); ; seq++ {
				if seq%cutBurst == 0 {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
				rec := &kgo.Record{Value: cutValue(p.id, seq, rng.IntN(101))}
				cl.Produce(context.Background(), rec, func(rec *kgo.Record, err error) {
					if err != nil {
						r.failed.Add(1)
						return
					}
					before := !r.cut.Load()
					r.add(rec, p.id, seq, before)
				})
			}
		})
	}
	deadline := time.Now().Add(cutPhase)
	for r.count() < cutMinAcked {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("%s: only %d of %d records acknowledged in %s (%d failed)", r.topic, r.count(), cutMinAcked, cutPhase, r.failed.Load())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(delay)
	// Whatever is in flight now races the cut: acknowledged before it
	// must survive, the rest may go either way.
	cut(func() {
		r.cut.Store(true)
		close(stop)
	})
	if !r.cut.Load() {
		t.Fatal("the cut function did not mark the cut")
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), cutPhase)
	defer cancel()
	for _, cl := range clients {
		if err := cl.Flush(ctx); err != nil {
			t.Logf("%s: producer flush after the cut: %v", r.topic, err)
			break
		}
	}
	for _, cl := range clients {
		cl.Close()
	}
}

// partitionISRs is every partition's ISR of topic as the cluster's
// metadata has it now.
func partitionISRs(t *testing.T, c *testcluster.InProcessCluster, topic string) map[int32][]int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cutPhase)
	defer cancel()
	topics, err := c.Admin().ListTopics(ctx, topic)
	if err == nil {
		err = topics.Error()
	}
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	isr := map[int32][]int32{}
	for _, p := range topics[topic].Partitions {
		isr[p.Partition] = p.ISR
	}
	return isr
}

// checkReplicasHoldAcks reads every replica of r's topic off the nodes'
// file systems as the power cut left them (the cluster down) and checks
// that every record acknowledged before the cut is, at its offset, on
// every member of its partition's ISR as of just before the cut. That is
// the promise itself: acks=all waits for the high watermark, the high
// watermark is the smallest durable offset across the ISR, and a follower
// joins the ISR only with everything below it durable; so a follower
// acknowledging fetches it had not fsynced fails here even when the
// leader alone, which also fsyncs, would still serve every record. (The
// ISR cannot shrink during a round: replica.lag.time.max.ms is 30 s.)
func checkReplicasHoldAcks(t *testing.T, c *testcluster.InProcessCluster, r *cutRound, isr map[int32][]int32) {
	t.Helper()
	byPartition := map[int32][]cutAck{}
	for _, a := range r.beforeCut() {
		byPartition[a.partition] = append(byPartition[a.partition], a)
	}
	for p := range int32(cutPartitions) {
		if len(isr[p]) < 2 {
			t.Fatalf("%s-%d: ISR %v before the cut, smaller than min.insync.replicas=2, yet records were acknowledged", r.topic, p, isr[p])
		}
		for _, node := range isr[p] {
			rl, err := c.ReadReplica(node, r.topic, p)
			if err != nil {
				t.Fatalf("node %d's replica of %s-%d after the power cut: %v", node, r.topic, p, err)
			}
			values, err := rl.Values()
			if err != nil {
				t.Fatalf("node %d's replica of %s-%d after the power cut: %v", node, r.topic, p, err)
			}
			var lost []cutAck
			for _, a := range byPartition[p] {
				if string(values[a.offset]) != a.value {
					lost = append(lost, a)
				}
			}
			if len(lost) > 0 {
				t.Fatalf("node %d (ISR %v) lost %d of the %d records of %s-%d acknowledged before the power cut: its log after recovery ends at %d; e.g. %s%s",
					node, isr[p], len(lost), len(byPartition[p]), r.topic, p, rl.LogEndOffset, describeAcks(lost), recoveryNote(rl))
			}
		}
	}
}

func recoveryNote(rl testcluster.ReplicaLog) string {
	if rl.Recovery == "" {
		return ""
	}
	return "\nrecovery: " + rl.Recovery
}

// readBackCut reads r's topic back from the start up to its end offsets
// (the last stable offsets for read_committed, else the high watermarks)
// and returns the records of want (acknowledged ones) that are not there:
// missing, or their offset holding another record (the log lost them and
// later writes took their offsets). It also checks that offsets have no
// holes and, with idempotentOnce, that no record of an idempotent
// producer is there twice. While some are lost and patience is left it
// reads again (a cluster just restarted may still be electing leaders).
func readBackCut(t *testing.T, c *testcluster.InProcessCluster, r *cutRound, want []cutAck, committed, idempotentOnce bool, patience time.Duration) []cutAck {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		found := readCutTopic(t, c, r.topic, committed)
		var lost []cutAck
		for _, a := range want {
			if v, ok := found[cutKey{a.partition, a.offset}]; !ok || v != a.value {
				lost = append(lost, a)
			}
		}
		if idempotentOnce {
			checkIdempotentOnce(t, r.topic, found)
		}
		if len(lost) == 0 || time.Now().After(deadline) {
			return lost
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type cutKey struct {
	partition int32
	offset    int64
}

// readCutTopic reads every partition of topic from its start to its end
// offset (isolation as committed says) and returns offset → value.
func readCutTopic(t *testing.T, c *testcluster.InProcessCluster, topic string, committed bool) map[cutKey]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cutPhase)
	defer cancel()
	adm := c.Admin()
	var ends kadm.ListedOffsets
	var err error
	for {
		if committed {
			ends, err = adm.ListCommittedOffsets(ctx, topic)
		} else {
			ends, err = adm.ListEndOffsets(ctx, topic)
		}
		if err == nil {
			err = ends.Error()
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("list end offsets of %s (read_committed %v): %v; partitions now: %s", topic, committed, err, describePartitions(c, topic))
	}
	isolation := kgo.ReadUncommitted()
	if committed {
		isolation = kgo.ReadCommitted()
	}
	start := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			start[o.Partition] = kgo.NewOffset().AtStart()
			end[o.Partition] = o.Offset
		}
	})
	found := map[cutKey]string{}
	if len(start) == 0 {
		return found
	}
	cl := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}), kgo.FetchIsolationLevel(isolation))
	defer cl.Close()
	next := map[int32]int64{}
	for p := range end {
		next[p] = -1
	}
	done := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	for !done() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s (read_committed %v): read up to %v of end offsets %v before the timeout", topic, committed, next, end)
		}
		fetches.EachError(func(_ string, p int32, err error) { t.Logf("fetch %s-%d: %v (retrying)", topic, p, err) })
		fetches.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= end[rec.Partition] {
				return
			}
			if next[rec.Partition] >= 0 && rec.Offset != next[rec.Partition] {
				t.Fatalf("%s-%d: offset %d follows %d: a hole in the log", topic, rec.Partition, rec.Offset, next[rec.Partition]-1)
			}
			next[rec.Partition] = rec.Offset + 1
			found[cutKey{rec.Partition, rec.Offset}] = string(rec.Value)
		})
	}
	return found
}

// checkIdempotentOnce fails the test if a record of an idempotent producer
// is in the topic twice.
func checkIdempotentOnce(t *testing.T, topic string, found map[cutKey]string) {
	t.Helper()
	idempotent := map[uint32]bool{}
	for _, p := range cutProducers {
		idempotent[p.id] = p.idempotent
	}
	seen := map[[2]uint64]cutKey{}
	for k, v := range found {
		pid, seq, ok := cutValueID([]byte(v))
		if !ok {
			t.Fatalf("%s-%d offset %d: value %q is not a test record", topic, k.partition, k.offset, v)
		}
		if !idempotent[pid] {
			continue
		}
		id := [2]uint64{uint64(pid), seq}
		if first, dup := seen[id]; dup {
			t.Fatalf("%s: record %d/%d of an idempotent producer is there twice: partition %d offset %d and partition %d offset %d",
				topic, pid, seq, first.partition, first.offset, k.partition, k.offset)
		}
		seen[id] = k
	}
}

// describeAcks names up to five records, lowest offsets first.
func describeAcks(acks []cutAck) string {
	sorted := append([]cutAck(nil), acks...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].partition != sorted[j].partition {
			return sorted[i].partition < sorted[j].partition
		}
		return sorted[i].offset < sorted[j].offset
	})
	var parts []string
	for i, a := range sorted {
		if i == 5 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("partition %d offset %d (producer %d seq %d)", a.partition, a.offset, a.producer, a.seq))
	}
	return strings.Join(parts, ", ")
}

// topicCreator creates small RF=3 topics one after another while a round
// produces, so that the power cut falls among metadata writes too. It
// records the topics whose CreateTopics was acknowledged before the cut.
type topicCreator struct {
	cut     atomic.Bool
	done    chan struct{}
	stopped chan struct{}
	mu      sync.Mutex
	acked   []string // guarded by mu
}

// creatorTopics caps the topics one round creates, and creatorPace spaces
// them, so that a round's metadata stays small next to its data (each
// topic is three more replicas for the restarted brokers to open).
const (
	creatorTopics = 30
	creatorPace   = 25 * time.Millisecond
)

func startTopicCreator(t *testing.T, c *testcluster.InProcessCluster, prefix string) *topicCreator {
	t.Helper()
	p := &topicCreator{done: make(chan struct{}), stopped: make(chan struct{})}
	adm := c.Admin()
	go func() {
		defer close(p.stopped)
		tick := time.NewTicker(creatorPace)
		defer tick.Stop()
		for n := range creatorTopics {
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
			topic := fmt.Sprintf("%s-meta-%d", prefix, n)
			ctx, cancel := context.WithTimeout(context.Background(), cutPhase)
			resp, err := adm.CreateTopic(ctx, 1, cutRF, nil, topic)
			cancel()
			if err == nil {
				err = resp.Err
			}
			if err == nil && !p.cut.Load() {
				p.mu.Lock()
				p.acked = append(p.acked, topic)
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// markCut makes later acknowledgements count as after the cut.
func (p *topicCreator) markCut() { p.cut.Store(true) }

// stop ends the creations (waiting for the one in flight, which the
// restarted cluster answers) and returns the topics acknowledged before
// the cut.
func (p *topicCreator) stop() []string {
	close(p.done)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.acked...)
}

// shownPartition is one partition's metadata as a broker showed it.
type shownPartition struct {
	replicas    []int32
	leader      int32
	leaderEpoch int32
}

// clusterPartitions is every topic's partitions as the cluster's metadata
// shows them now: committed metadata, which a power cut must not take
// back.
func clusterPartitions(t *testing.T, c *testcluster.InProcessCluster) map[string]map[int32]shownPartition {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cutPhase)
	defer cancel()
	topics, err := c.Admin().ListTopics(ctx)
	if err != nil {
		t.Fatalf("metadata before the cut: %v", err)
	}
	shown := map[string]map[int32]shownPartition{}
	for name, td := range topics {
		if td.Err != nil {
			continue // not fully visible yet: the creator's acknowledgements cover it
		}
		shown[name] = map[int32]shownPartition{}
		for _, p := range td.Partitions {
			shown[name][p.Partition] = shownPartition{replicas: sorted(p.Replicas), leader: p.Leader, leaderEpoch: p.LeaderEpoch}
		}
	}
	return shown
}

func countPartitions(shown map[string]map[int32]shownPartition) int {
	n := 0
	for _, parts := range shown {
		n += len(parts)
	}
	return n
}

func sorted(ids []int32) []int32 {
	out := append([]int32(nil), ids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// checkMetadataOnCutDisk checks that the metadata quorum's state is on the
// file systems the power cut crashed (its state file in each node's
// MemFS), so that the cut did reach the metadata.
func checkMetadataOnCutDisk(t *testing.T, c *testcluster.InProcessCluster) {
	t.Helper()
	for _, id := range c.Nodes() {
		state := filepath.Join(c.DataDir(id), "__cluster_metadata", "wal", "wal-state")
		if _, err := c.MemFS(id).Stat(state); err != nil {
			t.Fatalf("node %d: the metadata quorum's state is not on the MemFS the power cut crashed: %v", id, err)
		}
	}
}

// checkMetadataSurvived waits until every node's own metadata holds every
// topic created before the cut and every partition shown before it, with
// the same replicas and a leader epoch no lower, and the nodes agree on
// each partition's leader and leader epoch.
func checkMetadataSurvived(t *testing.T, c *testcluster.InProcessCluster, shown map[string]map[int32]shownPartition, created []string) {
	t.Helper()
	c.Eventually(cutPhase, "the metadata committed before the power cut on every node", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var views []map[string]map[int32]shownPartition
		for _, id := range c.Nodes() {
			view, err := nodePartitions(ctx, c, id)
			if err != nil {
				return err
			}
			if err := viewHolds(view, shown, created); err != nil {
				return fmt.Errorf("node %d: %w", id, err)
			}
			views = append(views, view)
		}
		return viewsAgree(c.Nodes(), views)
	})
}

// nodePartitions is every topic's partitions by node id's own metadata.
func nodePartitions(ctx context.Context, c *testcluster.InProcessCluster, id int32) (map[string]map[int32]shownPartition, error) {
	md, err := c.NodeMetadata(ctx, id)
	if err != nil {
		return nil, err
	}
	view := map[string]map[int32]shownPartition{}
	for _, mt := range md.Topics {
		if mt.Topic == nil || mt.IsInternal {
			continue
		}
		if err := kerr.ErrorForCode(mt.ErrorCode); err != nil && !errors.Is(err, kerr.LeaderNotAvailable) {
			return nil, fmt.Errorf("node %d: topic %s: %w", id, *mt.Topic, err)
		}
		view[*mt.Topic] = partitionsOf(mt)
	}
	return view, nil
}

func partitionsOf(mt kmsg.MetadataResponseTopic) map[int32]shownPartition {
	parts := map[int32]shownPartition{}
	for _, p := range mt.Partitions {
		parts[p.Partition] = shownPartition{replicas: sorted(p.Replicas), leader: p.Leader, leaderEpoch: p.LeaderEpoch}
	}
	return parts
}

// viewHolds says what of the metadata committed before the cut a node's
// view lacks or has taken back, nil if nothing.
func viewHolds(view, shown map[string]map[int32]shownPartition, created []string) error {
	for _, topic := range created {
		if parts, ok := view[topic]; !ok || len(parts) != 1 || len(parts[0].replicas) != cutRF {
			return fmt.Errorf("topic %s, created before the power cut, is missing or not 1 partition of RF %d: %+v", topic, cutRF, parts)
		}
	}
	for topic, parts := range shown {
		now, ok := view[topic]
		if !ok || len(now) != len(parts) {
			return fmt.Errorf("topic %s had %d partitions before the power cut, now %d", topic, len(parts), len(now))
		}
		for p, before := range parts {
			after := now[p]
			if fmt.Sprint(after.replicas) != fmt.Sprint(before.replicas) || after.leaderEpoch < before.leaderEpoch {
				return fmt.Errorf("%s-%d: replicas %v leader epoch %d before the power cut, replicas %v leader epoch %d after it",
					topic, p, before.replicas, before.leaderEpoch, after.replicas, after.leaderEpoch)
			}
		}
	}
	return nil
}

// viewsAgree says where two nodes' views differ in a partition's leader
// or leader epoch.
func viewsAgree(ids []int32, views []map[string]map[int32]shownPartition) error {
	for i := 1; i < len(views); i++ {
		for topic, parts := range views[0] {
			for p, first := range parts {
				other := views[i][topic][p]
				if other.leader != first.leader || other.leaderEpoch != first.leaderEpoch {
					return fmt.Errorf("%s-%d: node %d has leader %d epoch %d, node %d has leader %d epoch %d",
						topic, p, ids[0], first.leader, first.leaderEpoch, ids[i], other.leader, other.leaderEpoch)
				}
			}
		}
	}
	return nil
}
