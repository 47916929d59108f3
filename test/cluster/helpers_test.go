package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// Timeouts of the phases every test goes through. They are bounds for a
// broken cluster, far above what a working one needs.
const (
	// phaseTimeout bounds admin calls, catching up, flushing, reading back.
	phaseTimeout = 20 * time.Second
	// failoverTimeout bounds a leader election after a kill: the target is
	// 3 s (broker.session.timeout.ms=1500 plus detection), with slack for
	// two loaded cores.
	failoverTimeout = 10 * time.Second
)

// startCluster skips under -short, else starts a process cluster.
func startCluster(t *testing.T, opts testcluster.ProcessOptions) *testcluster.ProcessCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("runs several sluice processes for 15-40 s")
	}
	return testcluster.StartProcesses(t, opts)
}

// testValues is this suite's record value format (self-checking, naming
// partition and sequence).
var testValues = testcluster.CheckedValue{Magic: "SLCL", Size: 48}

// createTopic creates topic with partitions × rf and the given configs,
// and waits until every partition has a leader and a full ISR.
func createTopic(t *testing.T, c *testcluster.ProcessCluster, topic string, partitions int32, rf int16, configs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	if _, err := c.Admin(t).CreateTopic(ctx, partitions, rf, cfg, topic); err != nil {
		t.Fatalf("create topic %s (%d partitions, RF %d, %v): %v", topic, partitions, rf, configs, err)
	}
	waitTopicReady(t, c, topic, partitions, int(rf))
}

// createTopicAssigned creates topic with an explicit replica assignment
// (partition i on assignment[i], the first replica preferred leader).
func createTopicAssigned(t *testing.T, c *testcluster.ProcessCluster, topic string, assignment [][]int32, configs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(phaseTimeout.Milliseconds())
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, replicas := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	for k, v := range configs {
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, rc)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.Client(t))
	if err == nil && len(resp.Topics) == 1 {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create topic %s on %v: %v", topic, assignment, err)
	}
	waitTopicReady(t, c, topic, int32(len(assignment)), len(assignment[0]))
	for i, replicas := range assignment {
		if d := c.PartitionDetail(t, topic, int32(i)); !slices.Equal(d.Replicas, replicas) || d.Leader != replicas[0] {
			t.Fatalf("%s-%d: replicas %v, leader %d; assigned %v (leader = first replica)", topic, i, d.Replicas, d.Leader, replicas)
		}
	}
}

// waitTopicReady waits until every partition of topic has a leader and an
// ISR of rf replicas.
func waitTopicReady(t *testing.T, c *testcluster.ProcessCluster, topic string, partitions int32, rf int) {
	t.Helper()
	// Every running node must know it: metadata reaches each broker on its
	// own time, and later queries may go to any of them.
	c.Eventually(t, phaseTimeout, "topic "+topic+" with leaders and full ISRs on every node", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, id := range c.Nodes() {
			if !c.Running(id) {
				continue
			}
			md, err := c.NodeMetadata(ctx, id, topic)
			if err != nil {
				return err
			}
			if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != int(partitions) {
				return fmt.Errorf("node %d does not know %s with %d partitions yet", id, topic, partitions)
			}
			for _, p := range md.Topics[0].Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 || len(p.Replicas) != rf || len(p.ISR) != rf {
					return fmt.Errorf("node %d: %s-%d: leader %d, replicas %v, ISR %v, error %d", id, topic, p.Partition, p.Leader, p.Replicas, p.ISR, p.ErrorCode)
				}
			}
		}
		return nil
	})
}

// waitFullISR waits until every partition of topic has a leader and its
// whole replica set in the ISR.
func waitFullISR(t *testing.T, c *testcluster.ProcessCluster, timeout time.Duration, topic string, partitions int32) {
	t.Helper()
	c.Eventually(t, timeout, "every replica of "+topic+" back in the ISR", func() error {
		for p := range partitions {
			d := c.PartitionDetail(t, topic, p)
			if d.Err != nil || d.Leader < 0 || len(d.ISR) != len(d.Replicas) || len(d.Replicas) == 0 {
				return fmt.Errorf("%s-%d: leader %d, replicas %v, ISR %v, error %v", topic, p, d.Leader, d.Replicas, d.ISR, d.Err)
			}
		}
		return nil
	})
}

// newIdempotentProducer is a kgo producer with idempotence on (its default,
// which implies acks=all), explicit partitions, and enough buffering that
// records keep flowing into the client while a leader is being elected;
// extra options (hooks) come last.
func newIdempotentProducer(t *testing.T, c *testcluster.ProcessCluster, extra ...kgo.Opt) *kgo.Client {
	t.Helper()
	return c.Client(t, append([]kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(5000),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProduceRequestTimeout(5 * time.Second),
	}, extra...)...)
}

// produceSync produces n test records to each partition with client,
// failing the test on any error.
func produceSync(t *testing.T, client *kgo.Client, topic string, partition int32, first uint64, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = &kgo.Record{Topic: topic, Partition: partition, Value: testValues.Encode(partition, first+uint64(i))}
	}
	if err := client.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s-%d: %v", n, topic, partition, err)
	}
}

// endOffsets lists the high watermarks of topic's partitions.
func endOffsets(t *testing.T, c *testcluster.ProcessCluster, topic string) map[int32]int64 {
	t.Helper()
	return listOffsets(t, c, topic, false)
}

func listOffsets(t *testing.T, c *testcluster.ProcessCluster, topic string, start bool) map[int32]int64 {
	t.Helper()
	admin := c.Admin(t)
	var offsets map[int32]int64
	c.Eventually(t, phaseTimeout, "offsets of "+topic, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		list := admin.ListEndOffsets
		if start {
			list = admin.ListStartOffsets
		}
		listed, err := list(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return err
		}
		offsets = map[int32]int64{}
		listed.Each(func(o kadm.ListedOffset) { offsets[o.Partition] = o.Offset })
		return nil
	})
	return offsets
}

// stored is one record as read back.
type stored struct {
	offset int64
	value  []byte
}

// readBack reads every partition of topic from offset 0 to its high
// watermark; the log start must still be 0 (nothing was deleted).
func readBack(t *testing.T, c *testcluster.ProcessCluster, topic string) map[int32][]stored {
	t.Helper()
	starts, ends := listOffsets(t, c, topic, true), endOffsets(t, c, topic)
	offsets := map[int32]kgo.Offset{}
	next := map[int32]int64{}
	for p, start := range starts {
		if start != 0 {
			t.Errorf("%s-%d: log start offset %d, want 0 (nothing was deleted)", topic, p, start)
		}
		offsets[p] = kgo.NewOffset().At(start)
		next[p] = start
	}
	client := c.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	logs := map[int32][]stored{}
	for !reachedEnds(next, ends) {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s back: %v; read up to %v of end offsets %v", topic, ctx.Err(), next, ends)
		}
		fetches.EachError(func(_ string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			logs[r.Partition] = append(logs[r.Partition], stored{offset: r.Offset, value: r.Value})
			next[r.Partition] = r.Offset + 1
		})
	}
	return logs
}

func reachedEnds(next, ends map[int32]int64) bool {
	for p, end := range ends {
		if next[p] < end {
			return false
		}
	}
	return true
}

// compareAllPartitions kills every node and compares each partition's
// replica logs offline.
func compareAllPartitions(t *testing.T, c *testcluster.ProcessCluster, topic string, partitions int32) {
	t.Helper()
	c.KillAll()
	for p := range partitions {
		c.CompareReplicaLogs(t, topic, p)
	}
}

// otherThan returns the nodes of c not in exclude, in id order.
func otherThan(c *testcluster.ProcessCluster, exclude ...int32) []int32 {
	var ids []int32
	for _, id := range c.Nodes() {
		if !slices.Contains(exclude, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// sorted returns a sorted copy of ids.
func sorted(ids []int32) []int32 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}
