package perf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sendTimeBytes is the size of the send time each end-to-end record
// carries at the start of its value.
const sendTimeBytes = 8

// EndToEndConfig describes one end-to-end latency run: records are
// produced at a steady rate and read back by a consumer, and the latency is
// from handing a record to the producer to the consumer receiving it (what
// Kafka's EndToEndLatency tool measures).
type EndToEndConfig struct {
	// Bootstrap lists the brokers to start from, host:port each.
	Bootstrap []string
	// Topic is written and read; it is created if missing.
	Topic string
	// Partitions is the partition count used when creating the topic.
	Partitions int32
	// ReplicationFactor is used when creating the topic; -1 takes the
	// broker's default.
	ReplicationFactor int16
	// Records is the number of records sent and awaited.
	Records int64
	// RecordSize is the value size in bytes, at least 8 (the send time).
	RecordSize int
	// Acks is the producer's acks setting.
	Acks Acks
	// Throughput is the send rate in records per second; zero sends as
	// fast as possible (latency then includes queueing).
	Throughput int64
	// Timeout bounds the whole run; zero means no limit.
	Timeout time.Duration
	// Progress receives progress reports; nil is silent.
	Progress io.Writer
	// ProgressInterval is the spacing of progress reports.
	ProgressInterval time.Duration
	// ProgressBar redraws one progress line in place.
	ProgressBar bool
}

// DefaultEndToEndConfig returns the settings `sluice perf e2e` starts
// from: 10,000 records of 100 bytes at 1,000 records per second.
func DefaultEndToEndConfig() EndToEndConfig {
	return EndToEndConfig{
		Bootstrap:         []string{"localhost:9092"},
		Topic:             "sluice-perf-e2e",
		Partitions:        1,
		ReplicationFactor: -1,
		Records:           10_000,
		RecordSize:        100,
		Acks:              AcksAll,
		Throughput:        1_000,
		ProgressInterval:  time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c EndToEndConfig) Validate() error {
	if err := validateCommon(c.Bootstrap, c.Topic, c.Records, c.Timeout); err != nil {
		return err
	}
	if c.Records < 1 {
		return fmt.Errorf("records %d: want at least 1", c.Records)
	}
	if err := validateTopicCreation(c.Partitions, c.ReplicationFactor); err != nil {
		return err
	}
	switch {
	case c.RecordSize < sendTimeBytes:
		return fmt.Errorf("record size %d: want at least %d (the send time)", c.RecordSize, sendTimeBytes)
	case c.Throughput < 0:
		return fmt.Errorf("throughput %d: want 0 (unlimited) or more", c.Throughput)
	}
	return c.Acks.validate()
}

// EndToEnd runs the end-to-end measurement. The consumer starts at the end
// offsets the topic has before the first send, so it sees exactly the
// run's records; each record's value begins with its send time (monotonic
// nanoseconds since the run began), so latency needs no clock agreement
// beyond this process. The result's throughput counts received records.
func EndToEnd(ctx context.Context, cfg EndToEndConfig) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("perf e2e: %w", err)
	}
	ctx, cancel := withOptionalTimeout(ctx, cfg.Timeout)
	defer cancel()
	run, err := prepareEndToEnd(ctx, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("perf e2e: %w", err)
	}
	defer run.close()
	report := startProgress(progressSpec{w: cfg.Progress, interval: cfg.ProgressInterval, bar: cfg.ProgressBar, mode: "e2e", target: cfg.Records}, &run.totals)
	run.start = time.Now()
	runErr := run.execute(ctx)
	elapsed := time.Since(run.start)
	report.stop()
	result := newResult("e2e", cfg.Topic, len(run.partitions), 1, &run.totals, elapsed)
	result.Latency = summarise(&run.latency)
	result.Histogram = histogramBuckets(&run.latency)
	if runErr != nil {
		return result, fmt.Errorf("perf e2e: %w", runErr)
	}
	return result, nil
}

// endToEndRun is one run's clients and measurements.
//
// Threading: execute runs the producer on the calling goroutine and the
// consumer on one goroutine of its own; latency is written only by the
// consumer and read after it has been waited for. Promises update the
// atomics and, under mu, the first produce error.
type endToEndRun struct {
	cfg        EndToEndConfig
	partitions []int32
	producer   *kgo.Client
	consumer   *kgo.Client
	start      time.Time
	totals     counters
	latency    LatencyHistogram

	mu       sync.Mutex
	firstErr error
}

// prepareEndToEnd creates the topic if needed and makes both clients, the
// consumer positioned at the current end offsets.
func prepareEndToEnd(ctx context.Context, cfg EndToEndConfig) (*endToEndRun, error) {
	admin, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...))
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()
	partitions, err := ensureTopic(ctx, kadm.NewClient(admin), cfg.Topic, cfg.Partitions, cfg.ReplicationFactor)
	if err != nil {
		return nil, err
	}
	ends, err := endOffsets(ctx, kadm.NewClient(admin), cfg.Topic)
	if err != nil {
		return nil, err
	}
	offsets := make(map[int32]kgo.Offset, len(ends))
	for p, end := range ends {
		offsets[p] = kgo.NewOffset().At(end)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: offsets}))
	if err != nil {
		return nil, fmt.Errorf("consumer client: %w", err)
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Bootstrap...), kgo.DefaultProduceTopic(cfg.Topic), kgo.ProducerLinger(0)},
		cfg.Acks.ProducerOptions()...)
	producer, err := kgo.NewClient(opts...)
	if err != nil {
		consumer.Close()
		return nil, fmt.Errorf("producer client: %w", err)
	}
	return &endToEndRun{cfg: cfg, partitions: partitions, producer: producer, consumer: consumer}, nil
}

func (r *endToEndRun) close() {
	r.producer.Close()
	r.consumer.Close()
}

// execute consumes on a goroutine while producing, then waits for every
// record (or for ctx to end). A failed send means some records never
// arrive: the consumer is then stopped once the producer has flushed, and
// the send failure is the run's error.
func (r *endToEndRun) execute(ctx context.Context) error {
	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	consumed := make(chan error, 1)
	go func() { consumed <- r.consume(consumeCtx) }()
	produceErr := r.produce(ctx)
	stopped := produceErr != nil || r.totals.failed.Load() > 0
	if stopped {
		stopConsuming()
	}
	consumeErr := <-consumed
	if stopped && ctx.Err() == nil {
		consumeErr = nil
	}
	r.mu.Lock()
	sendErr := r.firstErr
	r.mu.Unlock()
	if sendErr != nil {
		sendErr = fmt.Errorf("%d records failed, first error: %w", r.totals.failed.Load(), sendErr)
	}
	return errors.Join(produceErr, sendErr, consumeErr)
}

// produce sends the records at the configured pace and flushes.
func (r *endToEndRun) produce(ctx context.Context) error {
	var interval time.Duration
	if r.cfg.Throughput > 0 {
		interval = time.Duration(float64(time.Second) / float64(r.cfg.Throughput))
	}
	for i := range r.cfg.Records {
		if err := paceSend(ctx, r.start, i, interval); err != nil {
			return err
		}
		value := make([]byte, r.cfg.RecordSize)
		binary.BigEndian.PutUint64(value, uint64(time.Since(r.start)))
		r.producer.Produce(ctx, &kgo.Record{Value: value}, r.onAck)
	}
	return r.producer.Flush(ctx)
}

// onAck counts failed sends: the consumer stops waiting for them.
func (r *endToEndRun) onAck(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	r.totals.failed.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// consume receives records until every one has arrived, recording each
// one's latency.
func (r *endToEndRun) consume(ctx context.Context) error {
	for r.totals.records.Load() < r.cfg.Records {
		fetches := r.consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("received %d of %d records: %w", r.totals.records.Load(), r.cfg.Records, ctx.Err())
		}
		var fatal error
		fetches.EachError(func(topic string, partition int32, err error) {
			if fatal == nil && !kerr.IsRetriable(err) {
				fatal = fmt.Errorf("fetch %s[%d]: %w", topic, partition, err)
			}
		})
		if fatal != nil {
			return fatal
		}
		fetches.EachRecord(r.receive)
	}
	return nil
}

// receive records one record's latency.
func (r *endToEndRun) receive(record *kgo.Record) {
	received := time.Since(r.start)
	if len(record.Value) >= sendTimeBytes {
		sent := time.Duration(binary.BigEndian.Uint64(record.Value))
		r.latency.Record(received - sent)
	}
	r.totals.bytes.Add(int64(len(record.Key) + len(record.Value)))
	r.totals.records.Add(1)
}
