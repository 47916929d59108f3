package integration

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
	"github.com/sluice-io/sluice/internal/vfs"
)

// After a clean restart every acknowledged record is readable in order,
// topics keep their IDs and partition counts, the log start offset set by
// DeleteRecords holds, and new records continue at the old log end (no
// offset is reused).
func TestRestartKeepsDataAndTopics(t *testing.T) {
	for name, opts := range map[string][]testcluster.Option{
		"os":     nil,
		"memory": {testcluster.WithFS(vfs.NewMem())},
	} {
		t.Run(name, func(t *testing.T) {
			b := startBroker(t, opts...)
			checkRestart(t, b)
		})
	}
}

func checkRestart(t *testing.T, b *testcluster.Broker) {
	created := createTopic(t, b, "durable", 3, nil)
	createTopic(t, b, "trimmed-durable", 1, nil)
	cl := newProducer(b, "durable", kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 30 {
		produce(t, cl, &kgo.Record{Partition: int32(i % 3), Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("before-%d", i))})
	}
	produceValues(t, b, "trimmed-durable", "0", "1", "2", "3")
	deleteRecordsBefore(t, b, "trimmed-durable", 0, 3)

	b.Restart()

	if md := topicMetadata(t, b, "durable"); md.TopicID != created.ID || len(md.Partitions) != 3 {
		t.Fatalf("after restart: topic ID %x with %d partitions, want %x with 3", md.TopicID, len(md.Partitions), created.ID)
	}
	checkPartitionOrder(t, consume(t, b, "durable", 30), "before-", 3)
	if got := earliestOffset(t, b, "trimmed-durable", 0); got != 3 {
		t.Errorf("log start offset after restart: %d, want 3", got)
	}
	wantValues(t, "trimmed topic after restart", consume(t, b, "trimmed-durable", 1), "3")

	after := newProducer(b, "durable", kgo.RecordPartitioner(kgo.ManualPartitioner()))
	results := after.ProduceSync(testContext(t), &kgo.Record{Partition: 0, Value: []byte("after")})
	if err := results.FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if offset := results[0].Record.Offset; offset != 10 {
		t.Errorf("first record after restart at offset %d, want 10 (the old log end)", offset)
	}
}

// checkPartitionOrder verifies records were written as prefix<i> with i
// spread round-robin over partitions: each partition holds its share in
// increasing i at consecutive offsets from 0.
func checkPartitionOrder(t *testing.T, records []*kgo.Record, prefix string, partitions int) {
	t.Helper()
	next := make([]int64, partitions)
	for _, r := range records {
		p := r.Partition
		want := fmt.Sprintf("%s%d", prefix, int(next[p])*partitions+int(p))
		if r.Offset != next[p] || string(r.Value) != want {
			t.Errorf("partition %d: offset %d value %q, want offset %d value %q", p, r.Offset, r.Value, next[p], want)
		}
		next[p]++
	}
}
