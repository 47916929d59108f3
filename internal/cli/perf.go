package cli

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-io/sluice/internal/perf"
)

// perfBootstrapEnv names the environment variable that overrides the
// default bootstrap servers of the perf commands.
const perfBootstrapEnv = "SLUICE_BOOTSTRAP"

// newPerfCommand groups the end-to-end benchmarks; the work is done by
// package perf, this only maps flags onto its configs and prints results.
func newPerfCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "perf",
		Short: "Measure a Kafka-compatible broker end to end (throughput and latency)",
		Long: "Measure any Kafka-compatible broker with a real client, so Sluice and a peer\n" +
			"can be compared side by side. MB is 2^20 bytes, as in Kafka's perf tools.",
	}
	cmd.AddCommand(newPerfProduceCommand(), newPerfConsumeCommand())
	return cmd
}

// perfOutput holds the flags both perf commands share.
type perfOutput struct {
	bootstrap []string
	json      bool
	quiet     bool
}

func (o *perfOutput) register(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.StringSliceVar(&o.bootstrap, "bootstrap", perfDefaultBootstrap(),
		"brokers to start from, host:port, comma-separated (env "+perfBootstrapEnv+")")
	flags.BoolVar(&o.json, "json", false, "print the result as one JSON line instead of text")
	flags.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
}

// print writes the result as text or JSON to the command's output.
func (o *perfOutput) print(cmd *cobra.Command, result perf.Result) error {
	if o.json {
		return result.WriteJSON(cmd.OutOrStdout())
	}
	return result.WriteText(cmd.OutOrStdout())
}

func perfDefaultBootstrap() []string {
	if env := strings.TrimSpace(os.Getenv(perfBootstrapEnv)); env != "" {
		return strings.Split(env, ",")
	}
	return []string{"localhost:9092"}
}

func newPerfProduceCommand() *cobra.Command {
	cfg := perf.DefaultProduceConfig()
	var out perfOutput
	var acks string
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce records as fast as possible and report throughput and ack latency",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			parsed, err := perf.ParseAcks(acks)
			if err != nil {
				return err
			}
			cfg.Acks = parsed
			cfg.Bootstrap = out.bootstrap
			if !out.quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			result, runErr := perf.Produce(cmd.Context(), cfg)
			if result.Mode == "" { // the run never started
				return runErr
			}
			if err := out.print(cmd, result); err != nil {
				return err
			}
			return runErr
		},
	}
	out.register(cmd)
	flags := cmd.Flags()
	flags.StringVar(&cfg.Topic, "topic", cfg.Topic, "topic to write; created if missing")
	flags.Int64Var(&cfg.Records, "records", cfg.Records, "records to produce in total")
	flags.IntVar(&cfg.RecordSize, "record-size", cfg.RecordSize, "value size in bytes")
	flags.Int32Var(&cfg.Partitions, "partitions", cfg.Partitions, "partitions when creating the topic")
	flags.Int16Var(&cfg.ReplicationFactor, "replication-factor", cfg.ReplicationFactor, "replication factor when creating the topic (-1: broker default)")
	flags.StringVar(&acks, "acks", cfg.Acks.String(), "required acks: 0, 1 or all")
	flags.StringVar(&cfg.Compression, "compression", cfg.Compression, "none, gzip, snappy, lz4 or zstd")
	flags.IntVar(&cfg.Producers, "producers", cfg.Producers, "producer clients in parallel")
	flags.DurationVar(&cfg.Linger, "linger", cfg.Linger, "how long a partition waits to fill a batch")
	flags.Int64Var(&cfg.Throughput, "throughput", cfg.Throughput, "cap on records per second, all producers together (0: unlimited)")
	flags.Int32Var(&cfg.BatchMaxBytes, "batch-max-bytes", cfg.BatchMaxBytes, "largest batch in bytes (0: client default, about 1 MB)")
	flags.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "stop the run after this long (0: no limit)")
	return cmd
}

func newPerfConsumeCommand() *cobra.Command {
	cfg := perf.DefaultConsumeConfig()
	var out perfOutput
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Read a topic from the start as fast as possible and report throughput",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Bootstrap = out.bootstrap
			if !out.quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			result, runErr := perf.Consume(cmd.Context(), cfg)
			if result.Mode == "" {
				return runErr
			}
			if err := out.print(cmd, result); err != nil {
				return err
			}
			return runErr
		},
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
