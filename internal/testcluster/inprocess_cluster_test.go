package testcluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestInProcessClusterRestartsAndPowerCuts drives the in-process harness
// through its lifecycle: a 3-node cluster takes an RF=3 topic, survives a
// clean Stop/Start and a PowerCut with every acknowledged record, and the
// replicas read off each node's MemFS are identical.
func TestInProcessClusterRestartsAndPowerCuts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node cluster through restarts")
	}
	c := StartCluster(t, InProcessOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "harness"
	if _, err := c.Admin().CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	c.WaitTopicReady(20*time.Second, topic, 1, 3)
	produce := func(from, n int) {
		t.Helper()
		cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
		defer cl.Close()
		for i := from; i < from+n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record-%d", i)}).FirstErr(); err != nil {
				t.Fatalf("produce record %d: %v", i, err)
			}
		}
	}
	readAll := func(want int) {
		t.Helper()
		cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		got := 0
		for got < want {
			fetches := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d records", got, want)
			}
			fetches.EachRecord(func(r *kgo.Record) {
				if string(r.Value) != fmt.Sprintf("record-%d", r.Offset) {
					t.Fatalf("offset %d holds %q", r.Offset, r.Value)
				}
				got++
			})
		}
	}
	produce(0, 20)
	c.Stop()
	for _, id := range c.Nodes() {
		if c.Running(id) {
			t.Fatalf("node %d runs after Stop", id)
		}
	}
	c.Start()
	readAll(20)
	produce(20, 20)

	c.PowerOff()
	var replicas []ReplicaLog
	for _, id := range c.Nodes() {
		rl, err := c.ReadReplica(id, topic, 0)
		if err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
		values, err := rl.Values()
		if err != nil {
			t.Fatal(err)
		}
		if len(values) < 40 {
			t.Errorf("node %d's replica holds %d records after the power cut, want the 40 acknowledged", id, len(values))
		}
		replicas = append(replicas, rl)
	}
	if err := DiffReplicaLogs(replicas); err != nil {
		t.Errorf("replicas differ after the power cut of a quiet cluster: %v", err)
	}
	c.Start()
	readAll(40)
}
