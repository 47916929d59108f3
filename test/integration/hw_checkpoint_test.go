package integration

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/testcluster"
	"github.com/sluice-io/sluice/internal/vfs"
)

// The broker writes every partition's high watermark to its log
// directory's replication-offset-checkpoint (Kafka's file and format)
// every replica.high.watermark.checkpoint.interval.ms while it runs, and
// once more at shutdown.
func TestHighWatermarkCheckpointFile(t *testing.T) {
	periodic := startBroker(t, testcluster.WithConfig(func(c *config.Broker) { c.ReplicaHighWatermarkCheckpointIntervalMs = 20 }))
	createTopic(t, periodic, "hw", 2, nil)
	produceValues(t, periodic, "hw", "a", "b", "c")
	want := []storage.PartitionOffset{{Topic: "hw", Partition: 0, Offset: 3}, {Topic: "hw", Partition: 1, Offset: 0}}
	deadline := time.Now().Add(10 * time.Second)
	for got := hwCheckpoint(t, periodic); !slices.Equal(got, want); got = hwCheckpoint(t, periodic) {
		if time.Now().After(deadline) {
			t.Fatalf("running broker's checkpoint: %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// An interval longer than the test: only the shutdown writes it.
	atShutdown := testcluster.Start(t, testcluster.WithConfig(func(c *config.Broker) { c.ReplicaHighWatermarkCheckpointIntervalMs = 3_600_000 }))
	createTopic(t, atShutdown, "hw", 1, nil)
	produceValues(t, atShutdown, "hw", "a", "b")
	atShutdown.Stop()
	if got, want := hwCheckpoint(t, atShutdown), []storage.PartitionOffset{{Topic: "hw", Offset: 2}}; !slices.Equal(got, want) {
		t.Fatalf("checkpoint after shutdown: %v, want %v", got, want)
	}
}

// hwCheckpoint reads the broker's checkpoint entries of topic hw.
func hwCheckpoint(t *testing.T, b *testcluster.Broker) []storage.PartitionOffset {
	t.Helper()
	entries, err := storage.ReadHighWatermarkCheckpoint(vfs.OS{}, b.Config().LogDirs[0])
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(entries, func(e storage.PartitionOffset) bool { return e.Topic != "hw" })
}
