package crash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	topic      = "crash"
	partitions = 4
	// kills is how many times the broker is SIGKILLed while producing.
	kills = 5
	// minUptime and maxUptime bound how long each broker incarnation
	// runs before it is killed; the short end kills during recovery.
	minUptime = 100 * time.Millisecond
	maxUptime = 2500 * time.Millisecond
	// maxDowntime bounds the pause between a kill and the restart.
	maxDowntime = 300 * time.Millisecond
	// recordsPerTick records are produced every tick: 5,000 records/s
	// keeps the final read small while batches are always in flight.
	recordsPerTick = 50
	tick           = 10 * time.Millisecond
	// acksAfterLastRestart must be acknowledged by the last incarnation
	// that produced: proof that production resumed after the kills.
	acksAfterLastRestart = 500
	// phaseTimeout bounds every wait for the broker (admin calls, the
	// final flush, the final read).
	phaseTimeout = 20 * time.Second
)

// TestAcknowledgedRecordsSurviveSIGKILL produces with acks=all while
// killing the broker with SIGKILL at random moments and restarting it on the
// same data directory, then restarts it once more and reads everything
// back. Every acknowledged record must be at the offset it was acknowledged
// at, uncorrupted, and in the order it was sent; records whose produce
// failed may or may not be there. Idempotence is off, so a batch retried
// across a crash may appear twice; such duplicates are counted, not failed.
func TestAcknowledgedRecordsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a broker process for about 20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	broker := newBrokerProcess(t, t.TempDir())
	broker.start()
	createTopic(t, ctx, broker.address)

	var ledger ledger
	client := newProducer(t, broker.address)
	logs := produceThroughKills(t, ctx, broker, client, &ledger, kills, maxUptime)
	ledger.verify(t, logs)
}

// produceThroughKills is the crash run both crash tests share: it produces
// with client while SIGKILLing the started broker kills times, after
// random lives of up to maxUptime (the seed is logged), restarting it on
// the same data each time; it waits for acknowledgements from the last
// incarnation, stops producing, then kills and restarts the broker once
// more and returns what every partition holds.
func produceThroughKills(t *testing.T, ctx context.Context, broker *brokerProcess, client *kgo.Client, ledger *ledger, kills int, maxUptime time.Duration) [partitions][]stored {
	t.Helper()
	seed := crashSeed(t)
	random := rand.New(rand.NewPCG(seed, seed))
	stopProducing := ledger.startProducing(ctx, client)
	for kill := 1; kill <= kills; kill++ {
		waitRandom(ctx, random, minUptime, maxUptime)
		broker.kill()
		t.Logf("kill %d: broker SIGKILLed with %d records acknowledged so far", kill, ledger.ackedCount())
		waitRandom(ctx, random, 0, maxDowntime)
		ledger.incarnation.Add(1)
		broker.start()
	}
	ledger.waitForAcks(t, acksAfterLastRestart)
	stopProducing()
	ledger.finish(t, ctx, client)

	broker.kill()
	broker.start()
	return readAll(t, ctx, broker.address)
}

// crashSeed is random unless SLUICE_CRASH_SEED replays a logged one.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_CRASH_SEED"); s != "" {
		parsed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_CRASH_SEED=%q: %v", s, err)
		}
		seed = parsed
	}
	t.Logf("kill schedule seed %d (replay with SLUICE_CRASH_SEED=%d)", seed, seed)
	return seed
}

// waitRandom waits a random duration in [low, high): the kill schedule.
func waitRandom(ctx context.Context, random *rand.Rand, low, high time.Duration) {
	d := low + time.Duration(random.Int64N(int64(high-low)+1))
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// newAdmin connects an admin client to the broker at address; the caller
// closes it.
func newAdmin(t *testing.T, address string) *kadm.Client {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(address))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	return kadm.NewClient(client)
}

func createTopic(t *testing.T, ctx context.Context, address string) {
	t.Helper()
	admin := newAdmin(t, address)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	if _, err := admin.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	pollUntil(t, ctx, "topic leaders", func() (bool, error) {
		details, err := admin.ListTopics(ctx, topic)
		if err != nil {
			return false, err
		}
		d := details[topic]
		if d.Err != nil || len(d.Partitions) != partitions {
			return false, fmt.Errorf("topic %s: %d partitions, error %v", topic, len(d.Partitions), d.Err)
		}
		for _, p := range d.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return false, fmt.Errorf("partition %d: leader %d, error %v", p.Partition, p.Leader, p.Err)
			}
		}
		return true, nil
	})
}

// pollUntil retries check until it reports done or ctx ends.
func pollUntil(t *testing.T, ctx context.Context, what string, check func() (bool, error)) {
	t.Helper()
	for {
		done, err := check()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last error: %v)", what, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond): // poll the broker again
		}
	}
}

// newProducer makes the client under test: acks=all, idempotence off (the
// broker need not implement it for this test), explicit partitions, and
// fast retries so that the short gaps between incarnations are bridged.
func newProducer(t *testing.T, address string) *kgo.Client {
	t.Helper()
	client, err := kgo.NewClient(
		kgo.SeedBrokers(address),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(5000),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("producer client: %v", err)
	}
	t.Cleanup(client.Close)
	return client
}

// acked is one acknowledged record: its sequence number and the offset the
// broker acknowledged it at.
type acked struct {
	seq    uint64
	offset int64
}

// ledger is the producer's record of what was sent and acknowledged.
// The producer goroutine owns next; the promise path and the test goroutine
// share the rest under mu.
type ledger struct {
	next [partitions]uint64 // next sequence number per partition

	// incarnation numbers the broker processes; promises attribute each
	// acknowledgement to the incarnation running when it arrived.
	incarnation atomic.Int32

	mu          sync.Mutex
	acked       [partitions][]acked // in acknowledgement order
	failed      int
	outstanding int // produced, promise not yet called
	perLife     map[int32]int
	done        chan struct{} // closed when the producer goroutine returns
}

// startProducing produces recordsPerTick records per tick, round-robin over
// the partitions, until the returned stop function is called; stop waits
// for the producing goroutine to return.
func (l *ledger) startProducing(ctx context.Context, client *kgo.Client) (stop func()) {
	l.perLife = make(map[int32]int)
	l.done = make(chan struct{})
	produceCtx, cancel := context.WithCancel(ctx)
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
				partition := int32(n % partitions)
				n++
				l.produce(ctx, produceCtx, client, partition)
			}
		}
	}()
	return func() {
		cancel()
		<-l.done
	}
}

// produce sends the partition's next record. Records are given the test's
// long-lived ctx, so that stopping the producer does not cancel records
// already handed to the client; produceCtx only ends a blocked Produce.
func (l *ledger) produce(ctx, produceCtx context.Context, client *kgo.Client, partition int32) {
	if produceCtx.Err() != nil {
		return
	}
	seq := l.next[partition]
	l.next[partition]++
	l.mu.Lock()
	l.outstanding++
	l.mu.Unlock()
	record := &kgo.Record{Topic: topic, Partition: partition, Value: testValues.Encode(partition, seq), Context: ctx}
	client.Produce(produceCtx, record, l.promise)
}

func (l *ledger) promise(record *kgo.Record, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outstanding--
	if err != nil {
		l.failed++
		return
	}
	_, seq, decodeErr := testValues.Decode(record.Value)
	if decodeErr != nil {
		l.failed++ // cannot happen: the value is the test's own
		return
	}
	l.acked[record.Partition] = append(l.acked[record.Partition], acked{seq: seq, offset: record.Offset})
	l.perLife[l.incarnation.Load()]++
}

func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for _, a := range l.acked {
		total += len(a)
	}
	return total
}

// waitForAcks waits until the current incarnation has acknowledged n
// records.
func (l *ledger) waitForAcks(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	life := l.incarnation.Load()
	pollUntil(t, ctx, fmt.Sprintf("%d acknowledgements after the last restart", n), func() (bool, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.perLife[life] >= n, fmt.Errorf("%d acknowledged so far", l.perLife[life])
	})
}

// finish flushes what is still buffered, closes the client and waits until
// every promise has been called, so the ledger is final.
func (l *ledger) finish(t *testing.T, ctx context.Context, client *kgo.Client) {
	t.Helper()
	flushCtx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	if err := client.Flush(flushCtx); err != nil {
		t.Logf("final flush: %v (records still buffered count as unacknowledged)", err)
	}
	client.Close()
	pollUntil(t, flushCtx, "every promise", func() (bool, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.outstanding == 0, fmt.Errorf("%d promises outstanding", l.outstanding)
	})
}

// stored is one record as read back.
type stored struct {
	offset int64
	value  []byte
}

// readAll reads every partition from its log start to its end offset.
func readAll(t *testing.T, ctx context.Context, address string) [partitions][]stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	starts, ends := listOffsets(t, ctx, address)
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := range int32(partitions) {
		if starts[p] != 0 {
			t.Errorf("partition %d: log start offset %d after crashes, want 0 (nothing was deleted)", p, starts[p])
		}
		offsets[p] = kgo.NewOffset().AtStart()
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(address),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatalf("consumer client: %v", err)
	}
	defer client.Close()
	var logs [partitions][]stored
	next := starts
	for !reachedEnds(next, ends) {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading back: %v; read up to %v of end offsets %v", ctx.Err(), next, ends)
		}
		fetches.EachError(func(_ string, p int32, err error) { t.Logf("fetch partition %d: %v", p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			logs[r.Partition] = append(logs[r.Partition], stored{offset: r.Offset, value: r.Value})
			next[r.Partition] = r.Offset + 1
		})
	}
	return logs
}

func reachedEnds(next, ends [partitions]int64) bool {
	for p := range partitions {
		if next[p] < ends[p] {
			return false
		}
	}
	return true
}

// listOffsets returns log start and end offsets, retrying while the freshly
// restarted broker is not ready to answer.
func listOffsets(t *testing.T, ctx context.Context, address string) (starts, ends [partitions]int64) {
	t.Helper()
	admin := newAdmin(t, address)
	defer admin.Close()
	pollUntil(t, ctx, "offsets after the final restart", func() (bool, error) {
		startList, err := admin.ListStartOffsets(ctx, topic)
		if err == nil {
			err = startList.Error()
		}
		if err != nil {
			return false, err
		}
		endList, err := admin.ListEndOffsets(ctx, topic)
		if err == nil {
			err = endList.Error()
		}
		if err != nil {
			return false, err
		}
		for p := range int32(partitions) {
			start, okStart := startList.Lookup(topic, p)
			end, okEnd := endList.Lookup(topic, p)
			if !okStart || !okEnd {
				return false, fmt.Errorf("partition %d missing from the offset listing", p)
			}
			starts[p], ends[p] = start.Offset, end.Offset
		}
		return true, nil
	})
	return starts, ends
}

// verify checks the stored logs against the ledger:
//   - offsets run from 0 without a hole (Kafka assigns them contiguously);
//   - every value decodes and names its own partition (no corruption);
//   - no sequence number the producer never sent appears;
//   - sequence numbers first appear in increasing order (a retried batch
//     may repeat older ones: idempotence is off);
//   - every acknowledged record is at its acknowledged offset, and the
//     acknowledgements of a partition came in offset and sequence order.
func (l *ledger) verify(t *testing.T, logs [partitions][]stored) {
	t.Helper()
	var total, duplicates, acknowledged int
	for p := range int32(partitions) {
		duplicates += l.verifyPartition(t, p, logs[p])
		total += len(logs[p])
		acknowledged += len(l.acked[p])
	}
	lives := make([]int32, 0, len(l.perLife))
	for life := range l.perLife {
		lives = append(lives, life)
	}
	slices.Sort(lives)
	perLife := make([]string, 0, len(lives))
	for _, life := range lives {
		perLife = append(perLife, fmt.Sprintf("%d:%d", life, l.perLife[life]))
	}
	t.Logf("%d records stored, %d acknowledged, %d failed, %d duplicates from retries; acknowledgements per incarnation %v",
		total, acknowledged, l.failed, duplicates, perLife)
	if acknowledged == 0 {
		t.Fatal("no record was acknowledged: the test proved nothing")
	}
}

func (l *ledger) verifyPartition(t *testing.T, p int32, log []stored) (duplicates int) {
	t.Helper()
	seqAt := make([]uint64, len(log))
	var highest uint64
	for i, r := range log {
		if r.offset != int64(i) {
			t.Fatalf("partition %d: record %d has offset %d, want %d (offsets must be contiguous from 0)", p, i, r.offset, i)
		}
		partition, seq, err := testValues.Decode(r.value)
		if err != nil {
			t.Fatalf("partition %d offset %d: corrupt value: %v", p, r.offset, err)
		}
		if partition != p || seq >= l.next[p] {
			t.Fatalf("partition %d offset %d: value for partition %d seq %d, but only seqs below %d were sent here",
				p, r.offset, partition, seq, l.next[p])
		}
		if i > 0 && seq <= highest {
			duplicates++
			if !slices.Contains(seqAt[:i], seq) {
				t.Fatalf("partition %d offset %d: seq %d appears after seq %d without having been stored before (out of order)",
					p, r.offset, seq, highest)
			}
		}
		highest = max(highest, seq)
		seqAt[i] = seq
	}
	var previous acked
	for i, a := range l.acked[p] {
		if a.offset < 0 || a.offset >= int64(len(log)) {
			t.Fatalf("partition %d: seq %d acknowledged at offset %d, but the log ends at %d: acknowledged record lost",
				p, a.seq, a.offset, len(log))
		}
		if seqAt[a.offset] != a.seq {
			t.Fatalf("partition %d: seq %d acknowledged at offset %d, which holds seq %d: acknowledged record lost or overwritten",
				p, a.seq, a.offset, seqAt[a.offset])
		}
		if i > 0 && (a.offset <= previous.offset || a.seq <= previous.seq) {
			t.Fatalf("partition %d: acknowledgement of seq %d at offset %d came after seq %d at offset %d",
				p, a.seq, a.offset, previous.seq, previous.offset)
		}
		previous = a
	}
	return duplicates
}
