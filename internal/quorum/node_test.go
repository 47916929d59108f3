package quorum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/metadata"
)

func openNode(t testing.TB, dir string, mutate func(*Config)) *Node {
	t.Helper()
	cfg := Config{Dir: dir, NodeID: 1}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func topicBatch(name string, id byte, partitions int) []metadata.Record {
	topicID := [16]byte{id}
	records := []metadata.Record{&metadata.TopicRecord{Name: name, ID: topicID}}
	for i := 0; i < partitions; i++ {
		records = append(records, &metadata.PartitionRecord{TopicID: topicID, Partition: metadata.Partition{
			Index: int32(i), Replicas: []int32{1}, ISR: []int32{1}, Leader: 1,
		}})
	}
	return records
}

func propose(t testing.TB, n *Node, records ...metadata.Record) {
	t.Helper()
	if err := n.Propose(context.Background(), records); err != nil {
		t.Fatalf("Propose: %v", err)
	}
}

func encodedImage(img *metadata.Image) []byte { return metadata.EncodeBatch(img.Records()) }

func TestOpenElectsSingleVoterQuickly(t *testing.T) {
	start := time.Now()
	n := openNode(t, t.TempDir(), nil)
	elapsed := time.Since(start)
	t.Logf("Open of a fresh one-voter quorum took %v", elapsed)
	if !n.IsLeader() {
		t.Fatalf("single voter is not leader after Open")
	}
	if leader, ok := n.Leader(); !ok || leader != 1 {
		t.Fatalf("Leader() = %d, %v", leader, ok)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("Open took %v, want well under a second", elapsed)
	}
}

func TestProposeAppliesBeforeReturning(t *testing.T) {
	var mu sync.Mutex
	var changes [][2]*metadata.Image
	n := openNode(t, t.TempDir(), func(c *Config) {
		c.OnChange = func(prev, next *metadata.Image) {
			mu.Lock()
			changes = append(changes, [2]*metadata.Image{prev, next})
			mu.Unlock()
		}
	})
	before := n.Image()
	propose(t, n, &metadata.ClusterIDRecord{ID: "c1"})
	propose(t, n, topicBatch("orders", 1, 2)...)

	img := n.Image()
	if img.ClusterID() != "c1" || img.TopicByName("orders") == nil || len(img.TopicByName("orders").Partitions) != 2 {
		t.Fatalf("image after Propose lacks the records: cluster %q, topics %d", img.ClusterID(), img.TopicCount())
	}
	if before.TopicCount() != 0 {
		t.Fatalf("the image held before Propose changed")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || changes[0][0] != before || changes[0][1] != changes[1][0] || changes[1][1] != img {
		t.Fatalf("OnChange not called once per batch in commit order: %d calls", len(changes))
	}
}

func TestProposeInvalidBatchLeavesImage(t *testing.T) {
	n := openNode(t, t.TempDir(), nil)
	propose(t, n, topicBatch("orders", 1, 1)...)
	before := n.Image()
	err := n.Propose(context.Background(), []metadata.Record{
		&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 3}},
		&metadata.TopicRecord{Name: "orders", ID: [16]byte{9}},
	})
	if !errors.Is(err, metadata.ErrInvalidRecord) {
		t.Fatalf("err = %v, want ErrInvalidRecord", err)
	}
	if n.Image() != before {
		t.Fatalf("rejected batch changed the image")
	}
	propose(t, n, topicBatch("payments", 2, 1)...)
	if n.Image().TopicByName("payments") == nil {
		t.Fatalf("quorum stuck after a rejected batch")
	}
}

func TestRestartRestoresImage(t *testing.T) {
	dir := t.TempDir()
	n := openNode(t, dir, nil)
	propose(t, n, &metadata.ClusterIDRecord{ID: "c1"}, &metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 1}})
	for i := 0; i < 5; i++ {
		propose(t, n, topicBatch(fmt.Sprintf("t%d", i), byte(i+1), i+1)...)
	}
	propose(t, n, &metadata.RemoveTopicRecord{TopicID: [16]byte{3}})
	want := encodedImage(n.Image())
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	reopened := openNode(t, dir, nil)
	if got := encodedImage(reopened.Image()); !bytes.Equal(got, want) {
		t.Fatalf("image after restart differs from before")
	}
	propose(t, reopened, topicBatch("after", 42, 1)...)
}

// Snapshot + tail replay equals full replay: restart from a snapshot whose
// log prefix was truncated away, with entries after it, and compare with the
// image built by replaying every batch from empty.
func TestSnapshotRestoreEqualsFullReplay(t *testing.T) {
	dir := t.TempDir()
	var batches [][]metadata.Record
	n := openNode(t, dir, func(c *Config) { c.TrailingLogs = 1 })
	add := func(records ...metadata.Record) {
		propose(t, n, records...)
		batches = append(batches, records)
	}
	add(&metadata.ClusterIDRecord{ID: "c1"})
	for i := 0; i < 10; i++ {
		add(topicBatch(fmt.Sprintf("before-%d", i), byte(i+1), 2)...)
	}
	if err := n.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	add(&metadata.RemoveTopicRecord{TopicID: [16]byte{1}})
	add(topicBatch("after", 100, 3)...)
	value := "compact"
	add(&metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic, ResourceName: "after", Key: "cleanup.policy", Value: &value})
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	full := metadata.NewImage()
	for _, batch := range batches {
		next, err := full.Apply(batch)
		if err != nil {
			t.Fatalf("full replay: %v", err)
		}
		full = next
	}
	var restores int
	reopened := openNode(t, dir, func(c *Config) {
		c.OnChange = func(prev, next *metadata.Image) { restores++ }
	})
	if got := encodedImage(reopened.Image()); !bytes.Equal(got, encodedImage(full)) {
		t.Fatalf("snapshot + tail differs from full replay")
	}
	if restores == 0 {
		t.Fatalf("OnChange not called during restart replay")
	}
	if first, err := reopened.logStore.FirstIndex(); err != nil || first <= 2 {
		t.Fatalf("log starts at %d (%v): it was not truncated, so the snapshot went unused", first, err)
	}
}

func TestConcurrentProposals(t *testing.T) {
	n := openNode(t, t.TempDir(), nil)
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := int32(w*each + i)
				errs <- n.Propose(context.Background(), []metadata.Record{
					&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: id}},
				})
				_ = n.Image().BrokerCount()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Propose: %v", err)
		}
	}
	if got := n.Image().BrokerCount(); got != writers*each {
		t.Fatalf("BrokerCount = %d, want %d", got, writers*each)
	}
}

func TestProposeErrors(t *testing.T) {
	n := openNode(t, t.TempDir(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Propose(ctx, topicBatch("a", 1, 1)); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: err = %v", err)
	}
	if err := n.Propose(context.Background(), nil); err != nil {
		t.Fatalf("empty proposal: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := n.Propose(context.Background(), topicBatch("b", 2, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: err = %v, want ErrClosed", err)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no dir":           {NodeID: 1},
		"negative node":    {Dir: t.TempDir(), NodeID: -1},
		"voters no transp": {Dir: t.TempDir(), NodeID: 1, Voters: []Voter{{NodeID: 1}, {NodeID: 2}}},
	} {
		if n, err := Open(cfg); err == nil {
			n.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// An entry that does not decode stops replay for good: skipping it could
// make this node's image differ from its peers'.
func TestUndecodableEntryStopsReplay(t *testing.T) {
	f := newFSM(nil, slog.New(slog.DiscardHandler))
	if err, _ := f.Apply(&raft.Log{Index: 1, Data: metadata.EncodeBatch(topicBatch("a", 1, 1))}).(error); err != nil {
		t.Fatalf("valid entry: %v", err)
	}
	if err, _ := f.Apply(&raft.Log{Index: 2, Data: []byte{9, 9}}).(error); !errors.Is(err, metadata.ErrCorrupt) {
		t.Fatalf("corrupt entry: %v", err)
	}
	result, _ := f.Apply(&raft.Log{Index: 3, Data: metadata.EncodeBatch(topicBatch("b", 2, 1))}).(error)
	if result == nil || f.image.Load().TopicByName("b") != nil {
		t.Fatalf("replay continued after a corrupt entry")
	}
	if _, err := f.Snapshot(); err == nil {
		t.Fatalf("snapshot of a faulted FSM succeeded")
	}
}

func BenchmarkPropose(b *testing.B) {
	n := openNode(b, b.TempDir(), nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		propose(b, n, &metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: int32(i % 100)}})
	}
}
