package perf

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bufferedBytesTarget bounds how many value bytes one producer keeps in
// flight (Kafka's buffer.memory default is 32 MiB); with small records the
// bound is kgo's default record count instead.
const bufferedBytesTarget = 32 << 20

// minInFlight and maxInFlight clamp the records one producer keeps in
// flight; maxInFlight is kgo's default MaxBufferedRecords.
const (
	minInFlight = 64
	maxInFlight = 50_000
)

// Produce writes cfg.Records records of cfg.RecordSize bytes to cfg.Topic
// from cfg.Producers clients in parallel and measures throughput and the
// latency from handing each record to the client to its acknowledgement. The
// topic is created first if it does not exist. A run in which some records
// failed returns its Result together with an error naming the first failure.
func Produce(ctx context.Context, cfg ProduceConfig) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("perf produce: %w", err)
	}
	ctx, cancel := withOptionalTimeout(ctx, cfg.Timeout)
	defer cancel()
	partitions, err := prepareProduceTopic(ctx, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("perf produce: %w", err)
	}
	var totals counters
	producers, err := newProducers(cfg, &totals)
	if err != nil {
		return Result{}, fmt.Errorf("perf produce: %w", err)
	}

	report := startProgress(progressSpec{w: cfg.Progress, interval: cfg.ProgressInterval, bar: cfg.ProgressBar, mode: "produce", target: cfg.Records}, &totals)
	start := time.Now()
	runErr := runProducers(ctx, producers)
	report.stop()
	var elapsed time.Duration
	for _, p := range producers {
		elapsed = max(elapsed, p.finished.Sub(start))
	}

	result := newResult("produce", cfg.Topic, len(partitions), len(producers), &totals, elapsed)
	var latency LatencyHistogram
	for _, p := range producers {
		latency.Merge(&p.latency)
	}
	result.Latency = summarise(&latency)
	result.Histogram = histogramBuckets(&latency)
	if err := producersError(producers, runErr, &totals); err != nil {
		return result, fmt.Errorf("perf produce: %w", err)
	}
	return result, nil
}

// prepareProduceTopic creates the topic if needed through a short-lived
// admin client and returns its partitions.
func prepareProduceTopic(ctx context.Context, cfg ProduceConfig) ([]int32, error) {
	client, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...))
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer client.Close()
	return ensureTopic(ctx, kadm.NewClient(client), cfg.Topic, cfg.Partitions, cfg.ReplicationFactor)
}

// producer is one kgo client with its share of the records.
//
// Threading: run is called on one goroutine; onAck is called by kgo, one
// call at a time per client (kgo runs a client's promises serially), so
// latency and firstErr are owned by the promise path and read only after
// Flush has returned (kgo finishes a record's promise before Flush can see
// it as done).
type producer struct {
	client  *kgo.Client
	topic   string
	value   []byte
	records int64
	// transactionRecords is the records per transaction; zero produces
	// outside transactions.
	transactionRecords int64
	totals             *counters
	// free holds records whose promise has run, ready to be produced
	// again; its capacity is the number of records in existence, so a
	// send to it never blocks, and an empty free list is backpressure.
	free chan *kgo.Record

	latency  LatencyHistogram
	firstErr error

	// interval spaces sends when the run's throughput is capped; zero
	// sends without pause.
	interval time.Duration
	// finished is when the last acknowledgement arrived; written by run.
	finished time.Time
}

// newProducers builds cfg.Producers clients sharing one read-only value
// buffer: kgo never modifies or copies a record's value before encoding it.
func newProducers(cfg ProduceConfig, totals *counters) ([]*producer, error) {
	codec, err := ParseCompression(cfg.Compression)
	if err != nil {
		return nil, err
	}
	value := payload(cfg.RecordSize)
	producers := make([]*producer, 0, cfg.Producers)
	for i := range cfg.Producers {
		share := cfg.Records / int64(cfg.Producers)
		if int64(i) < cfg.Records%int64(cfg.Producers) {
			share++
		}
		p, err := newProducer(cfg, transactionalID(cfg, i), codec, value, share, totals)
		if err == nil && cfg.Throughput > 0 {
			p.interval = time.Duration(float64(time.Second) * float64(cfg.Producers) / float64(cfg.Throughput))
		}
		if err != nil {
			closeProducers(producers)
			return nil, fmt.Errorf("producer %d: %w", i, err)
		}
		producers = append(producers, p)
	}
	return producers, nil
}

// transactionalID is producer i's transactional ID: cfg's own for a single
// producer, with "-<i>" appended when there are several; empty when the run
// is not transactional.
func transactionalID(cfg ProduceConfig, i int) string {
	if cfg.TransactionalID == "" || cfg.Producers == 1 {
		return cfg.TransactionalID
	}
	return fmt.Sprintf("%s-%d", cfg.TransactionalID, i)
}

func newProducer(cfg ProduceConfig, transactionalID string, codec kgo.CompressionCodec, value []byte, records int64, totals *counters) (*producer, error) {
	inFlight := inFlightRecords(cfg.RecordSize, records)
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Bootstrap...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(cfg.Linger),
		kgo.MaxBufferedRecords(inFlight),
	}
	opts = append(opts, cfg.Acks.ProducerOptions()...)
	if cfg.BatchMaxBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(cfg.BatchMaxBytes))
	}
	if transactionalID != "" {
		opts = append(opts, kgo.TransactionalID(transactionalID))
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	p := &producer{
		client:  client,
		topic:   cfg.Topic,
		value:   value,
		records: records,
		totals:  totals,
		free:    make(chan *kgo.Record, inFlight),
	}
	if transactionalID != "" {
		p.transactionRecords = cfg.TransactionRecords
	}
	pool := make([]kgo.Record, inFlight)
	for i := range pool {
		p.free <- &pool[i]
	}
	return p, nil
}

// inFlightRecords sizes a producer's record pool: enough to keep the
// pipeline full, bounded in bytes for large records, never more than the
// records it will send.
func inFlightRecords(recordSize int, records int64) int {
	n := maxInFlight
	if recordSize > 0 {
		n = min(max(bufferedBytesTarget/recordSize, minInFlight), maxInFlight)
	}
	return int(min(int64(n), max(records, 1)))
}

// run produces the producer's records, waits for every acknowledgement and
// closes the client. It returns only once every promise has run, so the
// producer's promise-owned fields may be read afterwards.
func (p *producer) run(ctx context.Context) error {
	err := p.produceAll(ctx)
	p.finished = time.Now()
	p.client.Close() // fails whatever a cancelled run left buffered
	for range cap(p.free) {
		<-p.free // each receive pairs with the send that ends a promise
	}
	return err
}

// produceAll hands every record to the client and flushes, in
// transactions when the producer is transactional.
func (p *producer) produceAll(ctx context.Context) error {
	start := time.Now()
	if p.transactionRecords == 0 {
		if err := p.produceRange(ctx, start, 0, p.records); err != nil {
			return err
		}
		return p.client.Flush(ctx)
	}
	for first := int64(0); first < p.records; first += p.transactionRecords {
		if err := p.produceTransaction(ctx, start, first, min(first+p.transactionRecords, p.records)); err != nil {
			return err
		}
	}
	return nil
}

// produceTransaction sends records [first, end) in one transaction: begin,
// produce, flush (kgo ends a transaction only once nothing is buffered),
// then commit, or abort if any record of it failed. Promises have all run
// once Flush returns, so firstErr may be read here.
func (p *producer) produceTransaction(ctx context.Context, start time.Time, first, end int64) error {
	if err := p.client.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	err := p.produceRange(ctx, start, first, end)
	if err == nil {
		err = p.client.Flush(ctx)
	}
	if err == nil && p.firstErr != nil {
		err = fmt.Errorf("record in transaction failed: %w", p.firstErr)
	}
	if err != nil {
		abortErr := p.client.EndTransaction(ctx, kgo.TryAbort)
		return errors.Join(err, abortErr)
	}
	if err := p.client.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	p.totals.transactions.Add(1)
	return nil
}

// produceRange hands records [first, end) to the client. The loop
// allocates nothing of its own: records come from the free list, the value
// is shared, and the promise is one method value made up front.
func (p *producer) produceRange(ctx context.Context, start time.Time, first, end int64) error {
	promise := p.onAck
	for i := first; i < end; i++ {
		if err := p.pace(ctx, start, i); err != nil {
			return err
		}
		var record *kgo.Record
		select {
		case record = <-p.free:
		case <-ctx.Done():
			return ctx.Err()
		}
		*record = kgo.Record{Topic: p.topic, Value: p.value, Timestamp: time.Now()}
		p.client.Produce(ctx, record, promise)
	}
	return nil
}

// pace holds record i back until its due time when throughput is capped.
func (p *producer) pace(ctx context.Context, start time.Time, i int64) error {
	return paceSend(ctx, start, i, p.interval)
}

// paceSend holds send number i back until start + i*interval; a zero
// interval never waits. Waits shorter than a millisecond are skipped (the
// next one catches up), so a fast pace costs a clock read per record, not
// a timer.
func paceSend(ctx context.Context, start time.Time, i int64, interval time.Duration) error {
	if interval == 0 {
		return nil
	}
	ahead := time.Until(start.Add(time.Duration(i) * interval))
	if ahead < time.Millisecond {
		return nil
	}
	return waitOrDone(ctx, ahead)
}

// onAck is the promise of every record: it counts the outcome, records the
// latency (the record's timestamp holds its send time, monotonic clock
// included) and returns the record to the free list.
func (p *producer) onAck(record *kgo.Record, err error) {
	if err != nil {
		p.totals.failed.Add(1)
		if p.firstErr == nil {
			p.firstErr = err
		}
	} else {
		p.latency.Record(time.Since(record.Timestamp))
		p.totals.records.Add(1)
		p.totals.bytes.Add(int64(len(record.Key) + len(record.Value)))
	}
	p.free <- record
}

// runProducers runs every producer on its own goroutine, waits for all of
// them (each closes its client) and returns their errors joined.
func runProducers(ctx context.Context, producers []*producer) error {
	errs := make([]error, len(producers))
	var wg sync.WaitGroup
	for i, p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// producersError summarises what went wrong, if anything: a run error
// (cancellation, timeout) or failed records.
func producersError(producers []*producer, runErr error, totals *counters) error {
	if runErr != nil {
		return runErr
	}
	failed := totals.failed.Load()
	if failed == 0 {
		return nil
	}
	for _, p := range producers {
		if p.firstErr != nil {
			return fmt.Errorf("%d records failed, first error: %w", failed, p.firstErr)
		}
	}
	return fmt.Errorf("%d records failed", failed)
}

func closeProducers(producers []*producer) {
	for _, p := range producers {
		p.client.Close()
	}
}

// payload makes the shared record value: random capital letters from a
// fixed seed, as Kafka's producer perf tool uses, so compression ratios are
// realistic and repeatable.
func payload(size int) []byte {
	random := rand.New(rand.NewPCG(1, 2))
	value := make([]byte, size)
	for i := range value {
		value[i] = byte('A' + random.IntN(26))
	}
	return value
}

// withOptionalTimeout bounds ctx by timeout when it is positive.
func withOptionalTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return context.WithCancel(ctx)
}
