package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// The producer's pace: recordsPerTick records every tick, round-robin over
// the partitions (1,000 records/s), so batches are always in flight when a
// node dies while the final read stays small.
const (
	recordsPerTick = 10
	tick           = 10 * time.Millisecond
)

// acked is one acknowledged record: its sequence number and the offset the
// cluster acknowledged it at.
type acked struct {
	seq    uint64
	offset int64
}

// ledger is the producer's record of what it sent and what was
// acknowledged. The producing goroutine owns next; the promises and the
// test goroutine share the rest under mu.
type ledger struct {
	topic      string
	partitions int32
	next       []uint64 // next sequence number per partition

	mu          sync.Mutex
	acked       [][]acked                  // per partition, in acknowledgement order
	ackedTotal  int                        // sum of len(acked[p])
	ackTimes    []time.Time                // arrival of every acknowledgement, in order
	failed      map[int32]map[uint64]error // records whose produce failed
	unsent      map[int32]map[uint64]bool  // Produce gave up waiting for buffer space at stop
	outstanding int                        // produced, promise not yet called
	done        chan struct{}              // closed when the producing goroutine returns
}

func newLedger(topic string, partitions int32) *ledger {
	return &ledger{
		topic: topic, partitions: partitions,
		next:   make([]uint64, partitions),
		acked:  make([][]acked, partitions),
		failed: map[int32]map[uint64]error{},
		unsent: map[int32]map[uint64]bool{},
	}
}

// startProducing produces recordsPerTick records per tick until the
// returned stop is called; stop waits for the producing goroutine.
func (l *ledger) startProducing(client *kgo.Client) (stop func()) {
	l.done = make(chan struct{})
	produceCtx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(l.done)
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		for n := 0; ; {
			select {
			case <-produceCtx.Done():
				return
			case <-ticker.C:
			}
			for range recordsPerTick {
				l.produce(produceCtx, client, int32(n%int(l.partitions)))
				n++
			}
		}
	}()
	return func() {
		cancel()
		<-l.done
	}
}

// produce sends the partition's next record. The record carries a
// background context, so stopping the producer never cancels a record the
// client has buffered; produceCtx only ends a Produce blocked on buffer
// space, whose record was then never sent.
func (l *ledger) produce(produceCtx context.Context, client *kgo.Client, partition int32) {
	if produceCtx.Err() != nil {
		return
	}
	seq := l.next[partition]
	l.next[partition]++
	l.mu.Lock()
	l.outstanding++
	l.mu.Unlock()
	record := &kgo.Record{Topic: l.topic, Partition: partition, Value: testValues.Encode(partition, seq), Context: context.Background()}
	client.Produce(produceCtx, record, func(r *kgo.Record, err error) { l.promise(partition, seq, r, err) })
}

func (l *ledger) promise(partition int32, seq uint64, r *kgo.Record, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outstanding--
	switch {
	case err == nil:
		l.acked[partition] = append(l.acked[partition], acked{seq: seq, offset: r.Offset})
		l.ackedTotal++
		l.ackTimes = append(l.ackTimes, time.Now())
	case errors.Is(err, context.Canceled):
		if l.unsent[partition] == nil {
			l.unsent[partition] = map[uint64]bool{}
		}
		l.unsent[partition][seq] = true
	default:
		if l.failed[partition] == nil {
			l.failed[partition] = map[uint64]error{}
		}
		l.failed[partition][seq] = err
	}
}

func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ackedTotal
}

// firstAckAfter is how long after since the first acknowledgement arrived
// (the producer's unavailability after a kill), -1 if none has yet.
func (l *ledger) firstAckAfter(since time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.ackTimes, since, func(at, since time.Time) int { return at.Compare(since) })
	if i == len(l.ackTimes) {
		return -1
	}
	return l.ackTimes[i].Sub(since)
}

// longestAckPause is the longest time without an acknowledgement from
// since to now: with a steady producer, the cluster's unavailability.
func (l *ledger) longestAckPause(since time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.ackTimes, since, func(at, since time.Time) int { return at.Compare(since) })
	longest, previous := time.Duration(0), since
	for _, at := range l.ackTimes[i:] {
		longest = max(longest, at.Sub(previous))
		previous = at
	}
	return max(longest, time.Since(previous))
}

// waitForAcks waits until more than n records beyond since are
// acknowledged, and returns how long that took: proof that the cluster
// accepts acks=all writes (again).
func (l *ledger) waitForAcks(t *testing.T, c *testcluster.ProcessCluster, timeout time.Duration, since, n int) time.Duration {
	t.Helper()
	return c.WaitForElapsed(t, timeout, fmt.Sprintf("%d more acknowledgements (beyond %d)", n, since), func() bool {
		return l.ackedCount() >= since+n
	})
}

// finish flushes what the client still buffers and waits until every
// promise has been called, so the ledger is final.
func (l *ledger) finish(t *testing.T, c *testcluster.ProcessCluster, client *kgo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	if err := client.Flush(ctx); err != nil {
		t.Fatalf("final flush: %v: records still unacknowledged after %s", err, phaseTimeout)
	}
	c.WaitFor(t, phaseTimeout, "every promise", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.outstanding == 0
	})
}

// checkNoFailures fails the test for records whose produce failed: the
// idempotent producer retries without limit, so the cluster must absorb
// every failover into retries (issue 12: "clients see no error that a
// retry does not absorb").
func (l *ledger) checkNoFailures(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, failures := range l.failed {
		for seq, err := range failures {
			t.Errorf("%s-%d: %d records failed to produce, e.g. seq %d: %v", l.topic, p, len(failures), seq, err)
			break
		}
	}
}

// verifyExactlyOnce checks what was read back against the ledger, per
// partition:
//   - offsets run from 0 without a hole, and every value is a test record
//     of that partition (no corruption);
//   - sequence numbers strictly increase: no record twice, none out of
//     order;
//   - every acknowledged record is at the offset it was acknowledged at:
//     nothing acknowledged was lost or moved;
//   - every record stored was acknowledged or failed: nothing was invented
//     or stored from a produce that never happened.
func (l *ledger) verifyExactlyOnce(t *testing.T, logs map[int32][]stored) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for p := range l.partitions {
		l.verifyPartition(t, p, logs[p])
		total += len(logs[p])
	}
	t.Logf("%s: %d records stored, %d acknowledged, %d failed", l.topic, total, l.ackedTotal, len(l.failed))
	if l.ackedTotal == 0 {
		t.Fatal("no record was acknowledged: the test proved nothing")
	}
}

func (l *ledger) verifyPartition(t *testing.T, p int32, log []stored) {
	t.Helper()
	seqAt := make([]uint64, len(log))
	for i, r := range log {
		if r.offset != int64(i) {
			t.Fatalf("%s-%d: record %d has offset %d: offsets must run from 0 without holes", l.topic, p, i, r.offset)
		}
		partition, seq, err := testValues.Decode(r.value)
		if err != nil || partition != p {
			t.Fatalf("%s-%d offset %d: not a record produced to this partition (partition %d, %v)", l.topic, p, r.offset, partition, err)
		}
		if i > 0 && seq <= seqAt[i-1] {
			t.Fatalf("%s-%d offset %d: seq %d after seq %d: a duplicate or a reordering", l.topic, p, r.offset, seq, seqAt[i-1])
		}
		seqAt[i] = seq
	}
	ackedSeqs := map[uint64]bool{}
	for _, a := range l.acked[p] {
		ackedSeqs[a.seq] = true
		if a.offset < 0 || a.offset >= int64(len(log)) || seqAt[a.offset] != a.seq {
			t.Fatalf("%s-%d: seq %d acknowledged at offset %d is not there (the log holds %d records): acknowledged record lost",
				l.topic, p, a.seq, a.offset, len(log))
		}
	}
	for i, seq := range seqAt {
		if _, failed := l.failed[p][seq]; !ackedSeqs[seq] && !failed {
			t.Fatalf("%s-%d offset %d: seq %d is stored but was never acknowledged nor failed (unsent %v)",
				l.topic, p, i, seq, l.unsent[p][seq])
		}
	}
}
