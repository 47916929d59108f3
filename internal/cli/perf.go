package cli

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluice-io/sluice/internal/perf"
)

// barInterval is how often the progress bar is redrawn on a terminal.
const barInterval = 200 * time.Millisecond

// newPerfCommand groups the end-to-end benchmarks; the work is done by
// package perf, this only maps flags onto its configs and prints results.
func newPerfCommand() *cobra.Command {
	var client clientFlags
	cmd := &cobra.Command{
		Use:   "perf",
		Short: "Measure a Kafka-compatible broker end to end (throughput and latency)",
		Long: "Measure any Kafka-compatible broker with a real client, so Sluice and a peer\n" +
			"can be compared side by side. MB is 2^20 bytes, as in Kafka's perf tools.\n\n" +
			"While a run lasts, progress goes to stderr: a bar redrawn in place on a\n" +
			"terminal, one plain line per second otherwise. The result (throughput,\n" +
			"latency percentiles and a latency histogram) goes to stdout, or one JSON\n" +
			"line with --json.",
	}
	client.register(cmd, true, false)
	cmd.AddCommand(newPerfProduceCommand(&client), newPerfConsumeCommand(&client), newPerfEndToEndCommand(&client))
	return cmd
}

// perfOutput holds the flags every perf command shares.
type perfOutput struct {
	client *clientFlags
	json   bool
	quiet  bool
}

func (o *perfOutput) register(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.BoolVar(&o.json, "json", false, "print the result as one JSON line instead of text")
	flags.BoolVar(&o.quiet, "quiet", false, "no progress on stderr")
}

// bootstrap resolves the brokers from --bootstrap, --profile or the
// environment.
func (o *perfOutput) bootstrap(cmd *cobra.Command) ([]string, error) {
	conn, err := o.client.resolve(cmd)
	if err != nil {
		return nil, err
	}
	return conn.bootstrap, nil
}

// progress says where progress goes: nowhere with --quiet, else stderr,
// drawn as a bar when stderr is a terminal.
func (o *perfOutput) progress(cmd *cobra.Command) (w io.Writer, bar bool, interval time.Duration) {
	if o.quiet {
		return nil, false, 0
	}
	stderr := cmd.ErrOrStderr()
	if isTerminal(stderr) {
		return stderr, true, barInterval
	}
	return stderr, false, time.Second
}

// print writes the result as text or JSON to the command's output.
func (o *perfOutput) print(cmd *cobra.Command, result perf.Result) error {
	if o.json {
		return result.WriteJSON(cmd.OutOrStdout())
	}
	return result.WriteText(cmd.OutOrStdout())
}

// finish prints a result, if the run got far enough to have one, and
// returns the run's error.
func (o *perfOutput) finish(cmd *cobra.Command, result perf.Result, runErr error) error {
	if result.Mode == "" { // the run never started
		return runErr
	}
	if err := o.print(cmd, result); err != nil {
		return err
	}
	return runErr
}

// perfRun is what a run takes from beyond its own flags: the brokers and
// where progress goes.
type perfRun struct {
	bootstrap []string
	progress  io.Writer
	bar       bool
	interval  time.Duration
}

// runE is the RunE every perf command shares: parse (if any) reads the
// flags that need parsing, then the brokers and the progress destination
// are resolved, run fills them into its config and runs it, and the result
// is printed.
func (o *perfOutput) runE(parse func() error, run func(ctx context.Context, env perfRun) (perf.Result, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if parse != nil {
			if err := parse(); err != nil {
				return err
			}
		}
		bootstrap, err := o.bootstrap(cmd)
		if err != nil {
			return err
		}
		env := perfRun{bootstrap: bootstrap}
		env.progress, env.bar, env.interval = o.progress(cmd)
		result, runErr := run(cmd.Context(), env)
		return o.finish(cmd, result, runErr)
	}
}

// parseAcks reads the --acks flag's text into acks when the command runs.
func parseAcks(text *string, acks *perf.Acks) func() error {
	return func() error {
		parsed, err := perf.ParseAcks(*text)
		if err != nil {
			return err
		}
		*acks = parsed
		return nil
	}
}

// registerWriteFlags adds the flags of the runs that write: how to create
// the topic when it is missing, and the producer's acks (defaulting to
// defaultAcks, kept as text until parseAcks reads it).
func registerWriteFlags(flags *pflag.FlagSet, partitions *int32, replicationFactor *int16, acks *string, defaultAcks perf.Acks) {
	flags.Int32Var(partitions, "partitions", *partitions, "partitions when creating the topic")
	flags.Int16Var(replicationFactor, "replication-factor", *replicationFactor, "replication factor when creating the topic (-1: broker default)")
	flags.StringVar(acks, "acks", defaultAcks.String(), "required acks: 0, 1 or all")
}

func newPerfProduceCommand(client *clientFlags) *cobra.Command {
	cfg := perf.DefaultProduceConfig()
	out := perfOutput{client: client}
	acks := new(string)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce records as fast as possible and report throughput and ack latency",
		Args:  cobra.NoArgs,
		RunE: out.runE(parseAcks(acks, &cfg.Acks), func(ctx context.Context, env perfRun) (perf.Result, error) {
			cfg.Bootstrap, cfg.Progress, cfg.ProgressBar, cfg.ProgressInterval = env.bootstrap, env.progress, env.bar, env.interval
			return perf.Produce(ctx, cfg)
		}),
	}
	out.register(cmd)
	flags := cmd.Flags()
	flags.StringVar(&cfg.Topic, "topic", cfg.Topic, "topic to write; created if missing")
	flags.Int64Var(&cfg.Records, "records", cfg.Records, "records to produce in total")
	flags.IntVar(&cfg.RecordSize, "record-size", cfg.RecordSize, "value size in bytes")
	registerWriteFlags(flags, &cfg.Partitions, &cfg.ReplicationFactor, acks, cfg.Acks)
	flags.StringVar(&cfg.Compression, "compression", cfg.Compression, "none, gzip, snappy, lz4 or zstd")
	flags.IntVar(&cfg.Producers, "producers", cfg.Producers, "producer clients in parallel")
	flags.DurationVar(&cfg.Linger, "linger", cfg.Linger, "how long a partition waits to fill a batch")
	flags.Int64Var(&cfg.Throughput, "throughput", cfg.Throughput, "cap on records per second, all producers together (0: unlimited)")
	flags.Int32Var(&cfg.BatchMaxBytes, "batch-max-bytes", cfg.BatchMaxBytes, "largest batch in bytes (0: client default, about 1 MB)")
	flags.StringVar(&cfg.TransactionalID, "transactional-id", cfg.TransactionalID, "produce in committed transactions under this ID (\"-<n>\" appended per producer when several); needs acks all")
	flags.Int64Var(&cfg.TransactionRecords, "txn-records", cfg.TransactionRecords, "records per transaction with --transactional-id")
	flags.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "stop the run after this long (0: no limit)")
	return cmd
}

func newPerfConsumeCommand(client *clientFlags) *cobra.Command {
	cfg := perf.DefaultConsumeConfig()
	out := perfOutput{client: client}
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read a topic from the start as fast as possible and report throughput",
		Args:  cobra.NoArgs,
		RunE: out.runE(nil, func(ctx context.Context, env perfRun) (perf.Result, error) {
			cfg.Bootstrap, cfg.Progress, cfg.ProgressBar, cfg.ProgressInterval = env.bootstrap, env.progress, env.bar, env.interval
			return perf.Consume(ctx, cfg)
		}),
	}
	out.register(cmd)
	flags := cmd.Flags()
	flags.StringVar(&cfg.Topic, "topic", cfg.Topic, "topic to read; must exist")
	flags.Int64Var(&cfg.Records, "records", cfg.Records, "records to read (0: up to the end offsets at start)")
	flags.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "consumer clients in parallel, each assigned a share of the partitions")
	flags.Int32Var(&cfg.FetchMaxBytes, "fetch-max-bytes", cfg.FetchMaxBytes, "largest fetch response (0: client default, 50 MiB)")
	flags.Int32Var(&cfg.FetchMaxPartitionBytes, "fetch-max-partition-bytes", cfg.FetchMaxPartitionBytes, "largest share of one partition in a fetch (0: client default, 1 MiB)")
	flags.Int32Var(&cfg.FetchMinBytes, "fetch-min-bytes", cfg.FetchMinBytes, "bytes a fetch waits for (0: client default, 1)")
	flags.DurationVar(&cfg.FetchMaxWait, "fetch-max-wait", cfg.FetchMaxWait, "longest a fetch waits for its minimum (0: client default, 5s)")
	flags.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "stop the run after this long (0: no limit)")
	return cmd
}

func newPerfEndToEndCommand(client *clientFlags) *cobra.Command {
	cfg := perf.DefaultEndToEndConfig()
	out := perfOutput{client: client}
	acks := new(string)
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Produce at a steady rate and read back: end-to-end latency from send to receipt",
		Long: "Produce records at --throughput per second while a consumer reads them\n" +
			"back, and report the latency from handing each record to the producer to\n" +
			"the consumer receiving it (as Kafka's EndToEndLatency tool does).",
		Args: cobra.NoArgs,
		RunE: out.runE(parseAcks(acks, &cfg.Acks), func(ctx context.Context, env perfRun) (perf.Result, error) {
			cfg.Bootstrap, cfg.Progress, cfg.ProgressBar, cfg.ProgressInterval = env.bootstrap, env.progress, env.bar, env.interval
			return perf.EndToEnd(ctx, cfg)
		}),
	}
	out.register(cmd)
	flags := cmd.Flags()
	flags.StringVar(&cfg.Topic, "topic", cfg.Topic, "topic to write and read; created if missing")
	flags.Int64Var(&cfg.Records, "records", cfg.Records, "records to send and receive")
	flags.IntVar(&cfg.RecordSize, "record-size", cfg.RecordSize, "value size in bytes (at least 8: the send time)")
	registerWriteFlags(flags, &cfg.Partitions, &cfg.ReplicationFactor, acks, cfg.Acks)
	flags.Int64Var(&cfg.Throughput, "throughput", cfg.Throughput, "records per second to send (0: as fast as possible)")
	flags.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "stop the run after this long (0: no limit)")
	return cmd
}
