package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

const (
	followerFetchTopic = "closest-replica"
	// followerFetchRecords are produced acks=all with the whole ISR up,
	// then as many acks=1 while the high watermark is frozen.
	followerFetchRecords = 200
	// rackAwareSelector is replica.selector.class's rack-aware value.
	rackAwareSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
	// followerFetchLeader leads the partition (its first replica).
	followerFetchLeader int32 = 1
)

// followerFetchRacks puts node i in rack "r<i>".
var followerFetchRacks = map[int32]string{1: "r1", 2: "r2", 3: "r3"}

// TestFollowerFetch (KIP-392): three brokers in racks r1, r2, r3 with the
// rack-aware replica selector, a topic RF=3 led by node 1 with
// min.insync.replicas=3. A kgo consumer in a follower's rack is sent to
// that follower and reads every record from it (kgo's fetch hooks name the
// broker of each batch). The follower never serves a record the leader
// has not committed: with the third replica stopped the ISR is below
// min.insync.replicas, so the leader's high watermark stands still while
// acks=1 records reach the follower's log; the follower answers fetches
// up to the frozen high watermark only (empty between it and its log end,
// OFFSET_OUT_OF_RANGE past its log end), and the consumer gets those
// records only once the stopped replica is back in the ISR. About 15 s.
func TestFollowerFetch(t *testing.T) {
	nodeConfig := map[int32]map[string]string{}
	for id, rack := range followerFetchRacks {
		nodeConfig[id] = map[string]string{"broker.rack": rack}
	}
	c := startCluster(t, testcluster.ProcessOptions{Nodes: 3, NodeConfig: nodeConfig, ExtraConfig: map[string]string{
		"replica.selector.class":       rackAwareSelector,
		"auto.leader.rebalance.enable": "false",
	}})
	createTopicAssigned(t, c, followerFetchTopic, [][]int32{{followerFetchLeader, 2, 3}}, map[string]string{"min.insync.replicas": "3"})
	// The follower that is stopped later should not be the active
	// controller: a controller failover would only slow the test down.
	served, stopped := int32(2), int32(3)
	if c.ActiveController(t) == stopped {
		served, stopped = stopped, served
	}
	checkRacks(t, c)

	produceSync(t, newIdempotentProducer(t, c), followerFetchTopic, 0, 0, followerFetchRecords)
	sources := &batchSources{}
	consumer := startConsumer(t, c, followerFetchRacks[served], sources)
	consumer.waitFor(t, c, followerFetchRecords)
	if bySource := sources.snapshot(); len(bySource) != 1 || bySource[served] == 0 {
		t.Fatalf("batches read per broker: %v; want every one from follower %d (rack %s)", bySource, served, followerFetchRacks[served])
	}

	// Freeze the high watermark: the ISR drops below min.insync.replicas.
	c.Stop(stopped)
	c.WaitFor(t, failoverTimeout, fmt.Sprintf("node %d out of the ISR", stopped), func() bool {
		d := c.PartitionDetail(t, followerFetchTopic, 0)
		return d.Err == nil && d.Leader == followerFetchLeader && len(d.ISR) == 2
	})
	unsafe := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), kgo.ProduceRequestTimeout(5*time.Second))
	produceSync(t, unsafe, followerFetchTopic, 0, followerFetchRecords, followerFetchRecords)
	logEnd := int64(2 * followerFetchRecords)
	c.Eventually(t, phaseTimeout, fmt.Sprintf("follower %d's log end at %d", served, logEnd), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		leo, err := c.ReplicaLogEndOffset(ctx, served, followerFetchTopic, 0)
		if err == nil && leo != logEnd {
			err = fmt.Errorf("log end %d", leo)
		}
		return err
	})
	if hw := endOffsets(t, c, followerFetchTopic)[0]; hw != followerFetchRecords {
		t.Fatalf("leader's high watermark %d with the ISR below min.insync.replicas, want it frozen at %d", hw, followerFetchRecords)
	}
	checkFollowerBounds(t, c, served, followerFetchRecords, logEnd)
	if got := consumer.count(); got != followerFetchRecords {
		t.Fatalf("the consumer has %d records while the high watermark is %d", got, followerFetchRecords)
	}

	// Back in the ISR, the stopped replica releases the high watermark,
	// and the follower hands the rest to the consumer.
	c.Start(stopped)
	waitFullISR(t, c, phaseTimeout, followerFetchTopic, 1)
	consumer.waitFor(t, c, int(logEnd))
	if bySource := sources.snapshot(); len(bySource) != 1 || bySource[served] == 0 {
		t.Fatalf("batches read per broker: %v; want every one from follower %d", bySource, served)
	}
	consumer.check(t, int(logEnd))
}

// checkRacks checks that the leader's Metadata and DescribeCluster show
// each broker's rack, which consumers and the leader's selector rely on.
func checkRacks(t *testing.T, c *testcluster.ProcessCluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	md, err := c.NodeMetadata(ctx, followerFetchLeader)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := c.NodeRequest(ctx, followerFetchLeader, kmsg.NewPtrDescribeClusterRequest())
	if err != nil {
		t.Fatal(err)
	}
	described := map[int32]string{}
	for _, b := range cluster.(*kmsg.DescribeClusterResponse).Brokers {
		if b.Rack != nil {
			described[b.NodeID] = *b.Rack
		}
	}
	for _, b := range md.Brokers {
		want := followerFetchRacks[b.NodeID]
		if b.Rack == nil || *b.Rack != want || described[b.NodeID] != want {
			t.Errorf("broker %d: rack %v in Metadata, %q in DescribeCluster; want %q", b.NodeID, b.Rack, described[b.NodeID], want)
		}
	}
	if len(md.Brokers) != len(followerFetchRacks) {
		t.Errorf("Metadata lists %d brokers, want %d", len(md.Brokers), len(followerFetchRacks))
	}
}

// checkFollowerBounds fetches directly from the follower, as a consumer in
// its rack: below the high watermark it serves records up to it and no
// further, at the high watermark it has nothing (even after a long-poll),
// past its log end the offset is out of range.
func checkFollowerBounds(t *testing.T, c *testcluster.ProcessCluster, follower int32, hw, logEnd int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	md, err := c.NodeMetadata(ctx, follower, followerFetchTopic)
	if err != nil || len(md.Topics) != 1 {
		t.Fatalf("metadata of %s from node %d: %v", followerFetchTopic, follower, err)
	}
	topicID := md.Topics[0].TopicID
	fetch := func(offset int64, maxWaitMs int32) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWaitMs, 1, 50<<20
		req.Rack = followerFetchRacks[follower]
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = followerFetchTopic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = offset, 50<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := c.NodeRequest(ctx, follower, req)
		if err != nil {
			t.Fatalf("fetch at %d from node %d: %v", offset, follower, err)
		}
		r := resp.(*kmsg.FetchResponse)
		if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch at %d from node %d: error %d, topics %+v", offset, follower, r.ErrorCode, r.Topics)
		}
		return r.Topics[0].Partitions[0]
	}
	// Every batch up to the high watermark, and none past it.
	for next := int64(0); next < hw; {
		fp := fetch(next, 0)
		end, err := batchesEnd(fp.RecordBatches, next)
		switch {
		case err != nil:
			t.Fatalf("fetch at %d: %v", next, err)
		case fp.ErrorCode != 0 || fp.HighWatermark != hw || fp.PreferredReadReplica != -1:
			t.Fatalf("fetch at %d: error %d, high watermark %d, preferred %d; want none, %d, none",
				next, fp.ErrorCode, fp.HighWatermark, fp.PreferredReadReplica, hw)
		case end > hw || end == next:
			t.Fatalf("fetch at %d: records up to %d, want progress and nothing past the high watermark %d", next, end, hw)
		}
		next = end
	}
	if fp := fetch(hw, 300); fp.ErrorCode != 0 || len(fp.RecordBatches) != 0 || fp.HighWatermark != hw {
		t.Fatalf("fetch at the high watermark %d (log end %d): error %d, %d bytes, high watermark %d; want nothing",
			hw, logEnd, fp.ErrorCode, len(fp.RecordBatches), fp.HighWatermark)
	}
	if fp := fetch(logEnd+1, 0); fp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch past the follower's log end %d: error %d, want OFFSET_OUT_OF_RANGE", logEnd, fp.ErrorCode)
	}
}

// batchesEnd is the offset after the last batch of a fetch from offset
// (offset itself when it holds none).
func batchesEnd(batches []byte, offset int64) (int64, error) {
	end := offset
	for len(batches) > 0 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(batches); err != nil {
			return 0, fmt.Errorf("record batch after %d: %w", end, err)
		}
		end = b.FirstOffset + int64(b.LastOffsetDelta) + 1
		batches = batches[12+int(b.Length):]
	}
	return end, nil
}

// batchSources counts the record batches a client read, per broker that
// returned them (kgo.HookFetchBatchRead).
type batchSources struct {
	mu     sync.Mutex
	byNode map[int32]int
}

func (s *batchSources) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, _ kgo.FetchBatchMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byNode == nil {
		s.byNode = map[int32]int{}
	}
	s.byNode[meta.NodeID]++
}

func (s *batchSources) snapshot() map[int32]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int32]int{}
	for id, n := range s.byNode {
		out[id] = n
	}
	return out
}

// rackConsumer polls partition 0 of the topic from offset 0 on its own
// goroutine, with kgo.Rack set, and keeps what it read.
type rackConsumer struct {
	mu      sync.Mutex
	records []*kgo.Record
	errs    []error
}

func startConsumer(t *testing.T, c *testcluster.ProcessCluster, rack string, hooks kgo.Hook) *rackConsumer {
	t.Helper()
	client := c.Client(t, kgo.Rack(rack), kgo.WithHooks(hooks), kgo.FetchMaxWait(time.Second),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{followerFetchTopic: {0: kgo.NewOffset().At(0)}}))
	rc := &rackConsumer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fetches := client.PollFetches(ctx)
			rc.mu.Lock()
			fetches.EachError(func(_ string, _ int32, err error) {
				if ctx.Err() == nil {
					rc.errs = append(rc.errs, err)
				}
			})
			rc.records = append(rc.records, fetches.Records()...)
			rc.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return rc
}

func (rc *rackConsumer) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.records)
}

// waitFor waits until the consumer has read n records.
func (rc *rackConsumer) waitFor(t *testing.T, c *testcluster.ProcessCluster, n int) {
	t.Helper()
	c.Eventually(t, phaseTimeout, fmt.Sprintf("the consumer reading %d records", n), func() error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.errs) > 0 {
			return fmt.Errorf("fetch errors: %v", rc.errs)
		}
		if len(rc.records) < n {
			return fmt.Errorf("%d records", len(rc.records))
		}
		return nil
	})
}

// check verifies that the consumer read offsets 0..n-1 once each, in
// order, each record the one produced at that offset.
func (rc *rackConsumer) check(t *testing.T, n int) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.records) != n {
		t.Fatalf("the consumer read %d records, want %d", len(rc.records), n)
	}
	for i, r := range rc.records {
		_, seq, err := testValues.Decode(r.Value)
		if err != nil || r.Offset != int64(i) || seq != uint64(i) {
			t.Fatalf("record %d: offset %d, sequence %d (%v); want both %d", i, r.Offset, seq, err, i)
		}
	}
}
