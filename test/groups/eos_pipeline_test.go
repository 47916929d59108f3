package groups

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

const (
	// pipelineRecords is how many input records the exactly-once
	// pipeline moves.
	pipelineRecords = 100_000
	// pipelinePartitions is the partition count of its input and output.
	pipelinePartitions = 6
	// pipelineWorkers is how many worker slots run the pipeline at once.
	pipelineWorkers = 3
	// pipelineKills is how many times a worker is killed and restarted.
	pipelineKills = 3
	// pipelineBatch bounds the records one transaction moves.
	pipelineBatch = 5000
	// pipelineTransactionTimeout is the workers' transaction.timeout.ms:
	// an open transaction no restart fences (its slot restarted but had
	// nothing left to produce) is aborted by the coordinator after it.
	pipelineTransactionTimeout = 6 * time.Second
	// pipelineTimeout bounds the whole run.
	pipelineTimeout = 45 * time.Second
)

// A consume-transform-produce pipeline (kgo.GroupTransactSession) moves
// pipelineRecords records from `in` to `out` while workers are killed at
// random moments and restarted: a killed worker's network is cut
// mid-flight, so its transaction is left open in whatever state it
// reached, and its group membership must be expired. Each worker slot
// keeps its transactional ID across incarnations, so a restart fences its
// dead predecessor (InitProducerId bumps the epoch and aborts the open
// transaction). In the end a read_committed consumer of `out` sees every
// input sequence exactly once, and the group's committed offsets for `in`
// are exactly its end offsets.
//
// The kill moments and restart delays come from a seeded generator; the
// seed is logged and SLUICE_EOS_SEED replays one.
func TestTransactionalPipelineExactlyOnce(t *testing.T) {
	b := startBroker(t, testcluster.WithConfig(func(c *config.Broker) {
		c.TransactionAbortTimedOutTransactionCleanupIntervalMs = 500
	}))
	seed := pipelineSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	in, out, group := topicName(t, "in"), topicName(t, "out"), topicName(t, "group")
	createTopic(t, b, in, pipelinePartitions)
	createTopic(t, b, out, pipelinePartitions)
	produceSequence(t, b, in, pipelineRecords)
	inputEnds := endOffsets(t, b, in)

	moments := killMoments(rng)
	p := &pipeline{t: t, b: b, group: group, in: in, out: out, raised: make(chan struct{})}
	p.raiseLimit(int64(moments[0] + pipelineRecords/10))
	for slot := range pipelineWorkers {
		p.start(slot)
	}
	t.Cleanup(p.stopAll)

	for i, at := range moments {
		waitFor(t, pipelineTimeout, fmt.Sprintf("pipeline moved %d records", at), func() string {
			if got := p.progress.Load(); got < int64(at) {
				return fmt.Sprintf("moved %d", got)
			}
			return ""
		})
		slot := rng.IntN(pipelineWorkers)
		delay := time.Duration(rng.Int64N(int64(3 * sessionTimeout / 2)))
		midTransaction := p.kill(slot)
		t.Logf("killed worker %d after %d records (mid-transaction: %v), restarting it in %v", slot, p.progress.Load(), midTransaction, delay)
		select {
		case <-time.After(delay):
		case <-t.Context().Done():
			return
		}
		p.start(slot)
		limit := int64(pipelineRecords)
		if i+1 < len(moments) {
			limit = int64(moments[i+1] + pipelineRecords/10)
		}
		p.raiseLimit(limit)
	}

	adm := b.Admin()
	waitFor(t, pipelineTimeout, "group committed the end of every input partition", func() string {
		committed := committedOffsets(t, adm, group, in)
		for partition, end := range inputEnds {
			if committed[partition] != end {
				return fmt.Sprintf("partition %d committed at %d, end %d", partition, committed[partition], end)
			}
		}
		return ""
	})
	p.stopAll()
	if committed := committedOffsets(t, adm, group, in); !maps.Equal(committed, inputEnds) {
		t.Fatalf("committed offsets %v after the workers stopped, want the end offsets %v", committed, inputEnds)
	}
	checkOutputExactlyOnce(t, b, out, pipelineRecords)
}

// pipelineSeed is SLUICE_EOS_SEED if set, else the clock; it is logged so
// that a failing schedule can be replayed.
func pipelineSeed(t *testing.T) int64 {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("SLUICE_EOS_SEED"); s != "" {
		parsed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_EOS_SEED=%q: %v", s, err)
		}
		seed = parsed
	}
	t.Logf("seed %d (replay with SLUICE_EOS_SEED=%d)", seed, seed)
	return seed
}

// killMoments are pipelineKills progress counts, ascending, spread over
// the first part of the run. Until a kill has happened the workers may not
// move more than a tenth of the records past its moment (pipeline.limit),
// so every kill lands while records are left to move however fast the
// machine is.
func killMoments(rng *rand.Rand) []int {
	moments := make([]int, pipelineKills)
	for i := range moments {
		moments[i] = pipelineRecords/10 + rng.IntN(pipelineRecords/2)
	}
	slices.Sort(moments)
	return moments
}

// produceSequence writes count records, value the decimal sequence
// number, round-robin over the topic's partitions, with kgo's default
// idempotent producer in large batches.
func produceSequence(t *testing.T, b *testcluster.Broker, topic string, count int) {
	t.Helper()
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(count))
	defer cl.Close()
	records := make([]*kgo.Record, count)
	for i := range records {
		records[i] = &kgo.Record{Value: strconv.AppendInt(nil, int64(i), 10)}
	}
	if err := cl.ProduceSync(testContext(t), records...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", count, topic, err)
	}
}

// pipeline is the set of worker slots; slot i always runs with
// transactional ID "<group>-<i>".
type pipeline struct {
	t              *testing.T
	b              *testcluster.Broker
	group, in, out string
	progress       atomic.Int64 // input records moved in committed transactions

	mu           sync.Mutex
	limit        int64                    // workers wait while progress is at or past it
	raised       chan struct{}            // closed, and replaced, when limit rises
	workers      [pipelineWorkers]*worker // the live incarnation of each slot
	incarnations [pipelineWorkers]int     // how many times each slot started
}

// worker is one incarnation of a slot: a GroupTransactSession whose loop
// polls, produces "out-<seq>" for each input record and ends the
// transaction with a commit.
type worker struct {
	name    string
	session *kgo.GroupTransactSession
	net     *network
	stop    context.CancelFunc // ends polling; a transaction under way still ends
	kill    context.CancelFunc // also abandons a transaction under way
	done    chan struct{}      // closed when the loop has returned
	killed  atomic.Bool
	inTxn   atomic.Bool // between Begin and the end of End, for the log
}

// raiseLimit lets the workers move records up to limit.
func (p *pipeline) raiseLimit(limit int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit = limit
	close(p.raised)
	p.raised = make(chan struct{})
}

// waitLimit waits until progress is below the limit; false means ctx
// ended first.
func (p *pipeline) waitLimit(ctx context.Context) bool {
	for {
		p.mu.Lock()
		limit, raised := p.limit, p.raised
		p.mu.Unlock()
		if p.progress.Load() < limit {
			return true
		}
		select {
		case <-raised:
		case <-ctx.Done():
			return false
		}
	}
}

// start starts a new incarnation of slot.
func (p *pipeline) start(slot int) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.incarnations[slot]++
	w := &worker{name: fmt.Sprintf("worker-%d.%d", slot, p.incarnations[slot]), net: newNetwork(), done: make(chan struct{})}
	opts := append(groupOptions(p.group, p.in),
		kgo.SeedBrokers(p.b.Addr()),
		kgo.ClientID(w.name),
		kgo.Dialer(w.net.dial),
		kgo.TransactionalID(fmt.Sprintf("%s-%d", p.group, slot)),
		kgo.TransactionTimeout(pipelineTransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic(p.out),
		kgo.ProducerLinger(0),
	)
	session, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		p.t.Fatalf("new session for %s: %v", w.name, err)
	}
	w.session = session
	killCtx, kill := context.WithCancel(context.Background())
	pollCtx, stop := context.WithCancel(killCtx)
	w.stop, w.kill = stop, kill
	p.workers[slot] = w
	go p.run(w, pollCtx, killCtx)
}

// run is a worker's loop: one transaction per poll.
func (p *pipeline) run(w *worker, pollCtx, killCtx context.Context) {
	defer close(w.done)
	for p.waitLimit(pollCtx) {
		fetches := w.session.PollRecords(pollCtx, pipelineBatch)
		if pollCtx.Err() != nil {
			return
		}
		if fetches.NumRecords() == 0 {
			continue
		}
		w.inTxn.Store(true)
		if err := w.session.Begin(); err != nil {
			p.failLive(w, "begin", err)
			return
		}
		fetches.EachRecord(func(r *kgo.Record) {
			w.session.Produce(killCtx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, func(_ *kgo.Record, err error) {
				if err != nil {
					p.failLive(w, "produce", err)
				}
			})
		})
		endCtx, cancel := context.WithTimeout(killCtx, testTimeout)
		committed, err := w.session.End(endCtx, kgo.TryCommit)
		cancel()
		w.inTxn.Store(false)
		if err != nil {
			p.failLive(w, "end transaction", err)
			return
		}
		if committed {
			p.progress.Add(int64(fetches.NumRecords()))
		}
	}
}

// failLive fails the test for an error of a worker that was not killed (a
// killed worker's errors are the point of killing it).
func (p *pipeline) failLive(w *worker, what string, err error) {
	if w.killed.Load() {
		return
	}
	p.t.Errorf("%s: %s: %v", w.name, what, err)
}

// kill makes slot's worker vanish as a crash would: its network is cut
// first, so whatever it does afterwards (finishing a produce, ending its
// transaction, leaving the group) never reaches the broker, which is left
// with an open transaction and a member to expire.
// It reports whether the worker was in a transaction when cut.
func (p *pipeline) kill(slot int) bool {
	p.mu.Lock()
	w := p.workers[slot]
	p.workers[slot] = nil
	p.mu.Unlock()
	w.killed.Store(true)
	w.net.sever()
	midTransaction := w.inTxn.Load()
	w.kill()
	<-w.done
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	w.session.Client().LeaveGroupContext(canceled)
	w.session.Close()
	return midTransaction
}

// stopAll stops every live worker cleanly: a transaction under way ends,
// then the worker leaves the group.
func (p *pipeline) stopAll() {
	p.mu.Lock()
	workers := p.workers
	clear(p.workers[:])
	p.mu.Unlock()
	for _, w := range workers {
		if w != nil {
			w.stop()
		}
	}
	for _, w := range workers {
		if w != nil {
			<-w.done
			w.session.Close()
		}
	}
}

// checkOutputExactlyOnce reads topic read_committed to its end and fails
// unless it holds "out-<seq>" exactly once for every seq below count. The
// end is a marker record written to every partition after the workers
// stopped: once a read_committed consumer reaches it, it has read
// everything committed before it.
func checkOutputExactlyOnce(t *testing.T, b *testcluster.Broker, topic string, count int) {
	t.Helper()
	const marker = "end-of-output"
	producer := newClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	markers := make([]*kgo.Record, pipelinePartitions)
	for i := range markers {
		markers[i] = &kgo.Record{Partition: int32(i), Value: []byte(marker)}
	}
	if err := producer.ProduceSync(testContext(t), markers...).FirstErr(); err != nil {
		t.Fatalf("produce end markers to %s: %v", topic, err)
	}
	producer.Close()

	consumer := newClient(t, b.Addr(), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(t.Context(), pipelineTimeout)
	defer cancel()
	seen := make([]int, count)
	ended := map[int32]bool{}
	var foreign []string
	for len(ended) < pipelinePartitions {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed reached the end of %d of %d partitions of %s", len(ended), pipelinePartitions, topic)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			value := string(r.Value)
			if value == marker {
				ended[r.Partition] = true
				return
			}
			digits, ok := strings.CutPrefix(value, "out-")
			seq, err := strconv.Atoi(digits)
			if !ok || err != nil || seq < 0 || seq >= count {
				foreign = append(foreign, value)
				return
			}
			seen[seq]++
		})
	}
	var missing, duplicated []int
	for seq, n := range seen {
		switch {
		case n == 0:
			missing = append(missing, seq)
		case n > 1:
			duplicated = append(duplicated, seq)
		}
	}
	if len(missing) > 0 || len(duplicated) > 0 || len(foreign) > 0 {
		t.Fatalf("read_committed output: %d sequences missing (first %v), %d duplicated (first %v), %d foreign values (first %v)",
			len(missing), first(missing), len(duplicated), first(duplicated), len(foreign), first(foreign))
	}
}

// first is at most the first ten elements of s.
func first[T any](s []T) []T { return s[:min(len(s), 10)] }
