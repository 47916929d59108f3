package server_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// The deadlock of a shared listener, end to end: three nodes with one
// client listener (PLAINTEXT, also the inter-broker one) beside CONTROLLER,
// the common configuration, and a queued.max.request.bytes of about two
// produce requests. acks=all produces fill a leader's budget while they
// wait for the followers, whose fetches arrive on that same listener:
// unless those pass the budget, the produces wait out their timeout
// before the followers get a fetch in (most of these records then fail
// after their retry, in 15 s), instead of all being acknowledged in well
// under a second.
func TestBudgetSharedListenerReplicates(t *testing.T) {
	const budget = 256 << 10
	c := testcluster.StartCluster(t, testcluster.InProcessOptions{ExtraConfig: map[string]string{
		"queued.max.request.bytes": strconv.Itoa(budget),
		"socket.request.max.bytes": strconv.Itoa(budget),
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic = "budget"
	resp, err := c.Admin().CreateTopic(ctx, 3, 3, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	// Five 100 KiB requests in flight to each leader: more than its budget.
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(100<<10), kgo.ProduceRequestTimeout(5*time.Second), kgo.RecordRetries(1))
	const records = 150
	value := make([]byte, 20<<10)
	var mu sync.Mutex
	var failed []error
	start := time.Now()
	for i := range records {
		cl.Produce(ctx, &kgo.Record{Partition: int32(i % 3), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush after %v: %v", time.Since(start), err)
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d acks=all records failed in %v, first: %v", len(failed), records, time.Since(start), failed[0])
	}
	t.Logf("%d records of %d KiB acknowledged by all replicas in %v", records, len(value)>>10, time.Since(start))
}
