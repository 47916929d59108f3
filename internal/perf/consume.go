package perf

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consume reads cfg.Topic from its earliest offsets with cfg.Consumers
// clients in parallel and measures throughput. It stops after cfg.Records
// records, or, when that is zero, once every partition has been read up to
// the end offset it had when the run started. Partitions are assigned
// directly (no consumer group), so the run needs no group coordinator and
// commits nothing.
func Consume(ctx context.Context, cfg ConsumeConfig) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("perf consume: %w", err)
	}
	ctx, cancel := withOptionalTimeout(ctx, cfg.Timeout)
	defer cancel()
	plan, err := planConsume(ctx, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("perf consume: %w", err)
	}
	var totals counters
	report := startProgress(progressSpec{w: cfg.Progress, interval: cfg.ProgressInterval, bar: cfg.ProgressBar, mode: "consume", target: plan.target(cfg.Records)}, &totals)
	start := time.Now()
	runErr := runConsumers(ctx, cfg, plan, &totals)
	elapsed := time.Since(start)
	report.stop()
	result := newResult("consume", cfg.Topic, len(plan.partitions), len(plan.assignments), &totals, elapsed)
	if runErr != nil {
		return result, fmt.Errorf("perf consume: %w", runErr)
	}
	return result, nil
}

// consumePlan is what the run reads: the topic's partitions, each
// consumer's share of them, and, when reading to the end, where each
// partition ends.
type consumePlan struct {
	partitions  []int32
	assignments [][]int32
	// starts and ends map a partition to its log start offset and the
	// offset to read up to; both nil when the run stops at a record count
	// instead.
	starts map[int32]int64
	ends   map[int32]int64
}

// target is the number of records the run will read: the count asked
// for, or what lies between the start and end offsets.
func (p consumePlan) target(records int64) int64 {
	if records > 0 {
		return records
	}
	var total int64
	for partition, end := range p.ends {
		total += max(end-p.starts[partition], 0)
	}
	return total
}

func planConsume(ctx context.Context, cfg ConsumeConfig) (consumePlan, error) {
	client, err := kgo.NewClient(kgo.SeedBrokers(cfg.Bootstrap...))
	if err != nil {
		return consumePlan{}, fmt.Errorf("admin client: %w", err)
	}
	defer client.Close()
	admin := kadm.NewClient(client)
	partitions, _, err := topicPartitions(ctx, admin, cfg.Topic)
	if err != nil {
		return consumePlan{}, err
	}
	plan := consumePlan{partitions: partitions}
	consumers := min(cfg.Consumers, len(partitions))
	plan.assignments = make([][]int32, consumers)
	for i, p := range partitions {
		plan.assignments[i%consumers] = append(plan.assignments[i%consumers], p)
	}
	if cfg.Records > 0 {
		return plan, nil
	}
	if plan.starts, err = startOffsets(ctx, admin, cfg.Topic); err != nil {
		return consumePlan{}, err
	}
	if plan.ends, err = endOffsets(ctx, admin, cfg.Topic); err != nil {
		return consumePlan{}, err
	}
	return plan, nil
}

// runConsumers runs one goroutine per assignment and waits for all. When
// the run stops at a record count, the consumer that reaches it cancels the
// others.
func runConsumers(ctx context.Context, cfg ConsumeConfig, plan consumePlan, totals *counters) error {
	runCtx, finish := context.WithCancel(ctx)
	defer finish()
	errs := make([]error, len(plan.assignments))
	var wg sync.WaitGroup
	for i, assigned := range plan.assignments {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := consumer{cfg: cfg, assigned: assigned, starts: plan.starts, ends: plan.ends, totals: totals, finish: finish}
			errs[i] = c.run(runCtx)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stopped after %d records: %w", totals.records.Load(), err)
	}
	return errors.Join(errs...)
}

// consumer reads its assigned partitions with one kgo client. It is used by
// one goroutine; only totals and finish are shared.
type consumer struct {
	cfg      ConsumeConfig
	assigned []int32
	starts   map[int32]int64
	ends     map[int32]int64
	totals   *counters
	finish   context.CancelFunc
}

// run reads until the consumer's goal is met or ctx ends; an ended ctx is
// not an error here (the caller tells a timeout from a finished run).
func (c *consumer) run(ctx context.Context) error {
	next := make(map[int32]int64, len(c.assigned))
	offsets := make(map[int32]kgo.Offset, len(c.assigned))
	for _, p := range c.assigned {
		next[p] = c.starts[p]
		offsets[p] = kgo.NewOffset().AtStart()
	}
	client, err := kgo.NewClient(c.clientOptions(offsets)...)
	if err != nil {
		return fmt.Errorf("consumer client: %w", err)
	}
	defer client.Close()
	for !c.reachedEnds(next) {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := c.count(fetches, next); err != nil {
			return err
		}
	}
	return nil
}

func (c *consumer) clientOptions(offsets map[int32]kgo.Offset) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.cfg.Bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.cfg.Topic: offsets}),
	}
	if c.cfg.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(c.cfg.FetchMaxBytes))
	}
	if c.cfg.FetchMaxPartitionBytes > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(c.cfg.FetchMaxPartitionBytes))
	}
	if c.cfg.FetchMinBytes > 0 {
		opts = append(opts, kgo.FetchMinBytes(c.cfg.FetchMinBytes))
	}
	if c.cfg.FetchMaxWait > 0 {
		opts = append(opts, kgo.FetchMaxWait(c.cfg.FetchMaxWait))
	}
	return opts
}

// count adds one poll's records to the totals and advances next. A fatal
// partition error ends the run (kgo stops fetching such a partition); a
// retriable one is left to kgo's retries.
func (c *consumer) count(fetches kgo.Fetches, next map[int32]int64) error {
	var fatal error
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil && !kerr.IsRetriable(p.Err) && fatal == nil {
			fatal = fmt.Errorf("fetch %s[%d]: %w", p.Topic, p.Partition, p.Err)
		}
		if len(p.Records) == 0 {
			return
		}
		var bytes int64
		for _, r := range p.Records {
			bytes += int64(len(r.Key) + len(r.Value))
		}
		next[p.Partition] = p.Records[len(p.Records)-1].Offset + 1
		c.totals.bytes.Add(bytes)
		total := c.totals.records.Add(int64(len(p.Records)))
		if c.cfg.Records > 0 && total >= c.cfg.Records {
			c.finish()
		}
	})
	return fatal
}

// reachedEnds tells whether every assigned partition has been read to its
// end offset; it is never true when the run stops at a record count. A
// partition whose last offsets hold no visible record (a transaction marker
// at the end) would never count as read: perf topics have none.
func (c *consumer) reachedEnds(next map[int32]int64) bool {
	if c.ends == nil {
		return false
	}
	for p, offset := range next {
		if offset < c.ends[p] {
			return false
		}
	}
	return true
}
