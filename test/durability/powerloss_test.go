// Package durability proves Sluice's default guarantee end to end: a record
// acknowledged with acks=all survives a power cut. The broker runs on the
// in-memory vfs, whose Crash drops every byte that was not fsynced, exactly
// what a power cut does to the page cache (kill -9 cannot test this: the
// page cache survives a dead process).
package durability

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
	"github.com/sluice-io/sluice/internal/vfs"
)

const (
	topic      = "power-loss"
	partitions = 4
)

// acked is one acknowledged record: where the broker said it stored it.
type acked struct {
	partition int32
	offset    int64
	value     string
}

// ackLog collects acknowledgements from producer callbacks.
type ackLog struct {
	mu      sync.Mutex
	records []acked
}

func (a *ackLog) add(r *kgo.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = append(a.records, acked{r.Partition, r.Offset, string(r.Value)})
}

// snapshot copies the acknowledgements so far: a closing client may still
// be running callbacks.
func (a *ackLog) snapshot() []acked {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]acked(nil), a.records...)
}

func (a *ackLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.records)
}

func TestPowerLossKeepsEveryAcknowledgedRecord(t *testing.T) {
	mem := vfs.NewMem()
	b := testcluster.Start(t, testcluster.WithFS(mem))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := b.Admin().CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var log ackLog
	seq := 0
	for round := range 4 {
		want := log.count() + 200 + rng.IntN(400)
		seq = produceUntilPowerCut(t, ctx, b, mem, rng, &log, seq, want, round)
		b.Kill()
		b.StartAgain()
	}
	verify(t, ctx, b, log.snapshot())
}

// produceUntilPowerCut produces with acks=all until at least want records
// are acknowledged, then pulls the plug while writes are still in flight.
func produceUntilPowerCut(t *testing.T, ctx context.Context, b *testcluster.Broker, mem *vfs.MemFS, rng *rand.Rand, log *ackLog, seq, want, round int) int {
	t.Helper()
	cl := b.Client(
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RecordRetries(1),
	)
	deadline := time.Now().Add(20 * time.Second)
	for log.count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("round %d: only %d of %d records acknowledged in time", round, log.count(), want)
		}
		value := make([]byte, 8+rng.IntN(200))
		binary.BigEndian.PutUint64(value, uint64(seq))
		seq++
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			if err == nil {
				log.add(r)
			}
		})
	}
	// Records still in flight now race the power cut: whatever the broker
	// acknowledged before it must survive, the rest may vanish.
	if rng.IntN(2) == 0 {
		mem.Crash()
	} else {
		mem.CrashTorn(rng)
	}
	cl.Close()
	t.Logf("round %d: power cut after %d acknowledged records", round, log.count())
	return seq
}

// verify reads every partition back and checks each acknowledged record is
// at its acknowledged offset with its value, and that offsets have no holes.
func verify(t *testing.T, ctx context.Context, b *testcluster.Broker, records []acked) {
	t.Helper()
	want := map[string]string{}
	for _, r := range records {
		want[key(r.partition, r.offset)] = r.value
	}
	cl := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := map[int32]int64{}
	found := 0
	for found < len(want) {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d acknowledged records before timeout", found, len(want))
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d after %d: a hole in the log", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			if v, ok := want[key(r.Partition, r.Offset)]; ok {
				if v != string(r.Value) {
					t.Fatalf("partition %d offset %d: value differs from the acknowledged one", r.Partition, r.Offset)
				}
				found++
			}
		})
	}
	t.Logf("all %d acknowledged records survived %d power cuts", len(want), 4)
}

func key(partition int32, offset int64) string { return fmt.Sprintf("%d/%d", partition, offset) }
