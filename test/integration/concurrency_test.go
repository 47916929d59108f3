package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Several producers write to several partitions at once with acks=all
// (their appends share group-committed fsyncs): every record is
// acknowledged exactly once, each partition's offsets are dense from 0, and
// each producer's records keep their order within a partition.
func TestConcurrentProducers(t *testing.T) {
	b := startBroker(t)
	const producers, partitions, perPartition = 4, 4, 25
	createTopic(t, b, "concurrent", partitions, nil)

	var wg sync.WaitGroup
	errs := make(chan error, producers*partitions*perPartition)
	for p := range producers {
		cl := newProducer(b, "concurrent", kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
		wg.Go(func() {
			for seq := range perPartition {
				for partition := range int32(partitions) {
					record := &kgo.Record{Partition: partition, Key: fmt.Appendf(nil, "producer-%d", p), Value: fmt.Appendf(nil, "%d/%d", p, seq)}
					cl.Produce(context.Background(), record, func(_ *kgo.Record, err error) {
						if err != nil {
							errs <- err
						}
					})
				}
			}
			if err := cl.Flush(testContext(t)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}

	records := consume(t, b, "concurrent", producers*partitions*perPartition)
	nextOffset := make([]int64, partitions)
	nextSeq := make(map[[2]int]int) // (partition, producer) → next seq
	for _, r := range records {
		if r.Offset != nextOffset[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d (offsets must be dense)", r.Partition, r.Offset, nextOffset[r.Partition])
		}
		nextOffset[r.Partition]++
		var producer, seq int
		if _, err := fmt.Sscanf(string(r.Value), "%d/%d", &producer, &seq); err != nil {
			t.Fatalf("record value %q: %v", r.Value, err)
		}
		key := [2]int{int(r.Partition), producer}
		if seq != nextSeq[key] {
			t.Errorf("partition %d producer %d: seq %d, want %d (order lost or duplicated)", r.Partition, producer, seq, nextSeq[key])
		}
		nextSeq[key] = seq + 1
	}
	for partition, n := range nextOffset {
		if n != producers*perPartition {
			t.Errorf("partition %d holds %d records, want %d", partition, n, producers*perPartition)
		}
	}
}
