package perf

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Acks is how many replicas must confirm a produced batch before the broker
// answers, as in Kafka's producer setting `acks`.
type Acks int16

// The three acks settings Kafka accepts.
const (
	// AcksNone (acks=0) gets no response at all: the fastest and least safe.
	AcksNone Acks = 0
	// AcksLeader (acks=1) is answered once the leader has the batch.
	AcksLeader Acks = 1
	// AcksAll (acks=all, -1) is answered once every in-sync replica has it.
	AcksAll Acks = -1
)

// ParseAcks reads the spellings Kafka's tools accept: "0", "1", "all", "-1".
func ParseAcks(s string) (Acks, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "0":
		return AcksNone, nil
	case "1":
		return AcksLeader, nil
	case "all", "-1":
		return AcksAll, nil
	}
	return 0, fmt.Errorf("acks %q: want 0, 1 or all", s)
}

// String is the spelling used in flags and results.
func (a Acks) String() string {
	switch a {
	case AcksNone:
		return "0"
	case AcksLeader:
		return "1"
	case AcksAll:
		return "all"
	}
	return fmt.Sprintf("invalid(%d)", int16(a))
}

// validate reports an Acks value that is none of the three settings.
func (a Acks) validate() error {
	if a != AcksNone && a != AcksLeader && a != AcksAll {
		return fmt.Errorf("acks %d: want 0, 1 or -1 (all)", int16(a))
	}
	return nil
}

// ProducerOptions turns the setting into kgo options (the CLI's producer
// uses them too). kgo refuses idempotent
// writes below acks=all (the broker could not deduplicate what it never
// confirmed), so the weaker settings also disable idempotence.
func (a Acks) ProducerOptions() []kgo.Opt {
	switch a {
	case AcksNone:
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}
	case AcksLeader:
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	}
	return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
}

// ParseCompression reads a codec name as Kafka's `compression.type` spells
// it: none, gzip, snappy, lz4 or zstd.
func ParseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", s)
}

// ProduceConfig describes one produce benchmark run.
type ProduceConfig struct {
	// Bootstrap lists the brokers to start from, host:port each.
	Bootstrap []string
	// Topic is written to; it is created with Partitions partitions if it
	// does not exist.
	Topic string
	// Partitions is the partition count used when creating the topic.
	Partitions int32
	// ReplicationFactor is used when creating the topic; -1 takes the
	// broker's default.
	ReplicationFactor int16
	// Records is the total number of records, split across producers.
	Records int64
	// RecordSize is the value size in bytes; records carry no key.
	RecordSize int
	// Acks is the producer's acks setting.
	Acks Acks
	// Compression is the codec name (see ParseCompression).
	Compression string
	// Producers is the number of independent clients producing in parallel.
	Producers int
	// Linger is how long a partition waits for more records before a
	// batch is sent; zero sends as soon as possible. The default is kgo's
	// own, 10ms.
	Linger time.Duration
	// BatchMaxBytes caps one batch; zero keeps kgo's default (about 1 MB).
	BatchMaxBytes int32
	// Throughput caps the records per second sent by all producers
	// together; zero sends as fast as acknowledgements allow. A cap below
	// saturation measures latency at a given load rather than latency of
	// a full client buffer.
	Throughput int64
	// TransactionalID, when set, makes every producer transactional: it
	// sends its records in transactions of TransactionRecords records,
	// each begun, filled, flushed and committed before the next, so the
	// run measures what exactly-once costs over plain idempotent produce.
	// With several producers each gets the ID with "-<n>" appended, since
	// two live producers sharing an ID would fence each other.
	TransactionalID string
	// TransactionRecords is the records per transaction (the last one of
	// a producer may be shorter); used only with TransactionalID.
	TransactionRecords int64
	// Timeout bounds the whole run; zero means no limit.
	Timeout time.Duration
	// Progress receives one plain line per ProgressInterval; nil is silent.
	Progress io.Writer
	// ProgressInterval is the spacing of progress lines.
	ProgressInterval time.Duration
	// ProgressBar redraws one progress line in place, for a terminal,
	// instead of printing a line per interval.
	ProgressBar bool
}

// DefaultProduceConfig returns the settings `sluice perf produce` starts from.
func DefaultProduceConfig() ProduceConfig {
	return ProduceConfig{
		Bootstrap:          []string{"localhost:9092"},
		Topic:              "sluice-perf",
		Partitions:         1,
		ReplicationFactor:  -1,
		Records:            1_000_000,
		RecordSize:         100,
		Acks:               AcksAll,
		Compression:        "none",
		Producers:          1,
		Linger:             10 * time.Millisecond,
		TransactionRecords: 10_000,
		ProgressInterval:   time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c ProduceConfig) Validate() error {
	if err := validateCommon(c.Bootstrap, c.Topic, c.Records, c.Timeout); err != nil {
		return err
	}
	if err := validateTopicCreation(c.Partitions, c.ReplicationFactor); err != nil {
		return err
	}
	switch {
	case c.Records < 1:
		return fmt.Errorf("records %d: want at least 1", c.Records)
	case c.RecordSize < 0:
		return fmt.Errorf("record size %d: want 0 or more", c.RecordSize)
	case c.Producers < 1:
		return fmt.Errorf("producers %d: want at least 1", c.Producers)
	case c.Linger < 0:
		return fmt.Errorf("linger %s: want 0 or more", c.Linger)
	case c.Throughput < 0:
		return fmt.Errorf("throughput %d: want 0 (unlimited) or more", c.Throughput)
	case c.BatchMaxBytes < 0:
		return fmt.Errorf("batch max bytes %d: want 0 (default) or more", c.BatchMaxBytes)
	}
	if err := c.Acks.validate(); err != nil {
		return err
	}
	if _, err := ParseCompression(c.Compression); err != nil {
		return err
	}
	return c.validateTransactions()
}

// validateTransactions checks the transactional settings: a transaction
// holds at least one record, and a transactional producer is idempotent,
// which Kafka allows only with acks=all.
func (c ProduceConfig) validateTransactions() error {
	if c.TransactionalID == "" {
		return nil
	}
	if c.TransactionRecords < 1 {
		return fmt.Errorf("transaction records %d: want at least 1", c.TransactionRecords)
	}
	if c.Acks != AcksAll {
		return fmt.Errorf("transactional id %q with acks %s: transactions need acks all", c.TransactionalID, c.Acks)
	}
	return nil
}

// ConsumeConfig describes one consume benchmark run.
type ConsumeConfig struct {
	// Bootstrap lists the brokers to start from, host:port each.
	Bootstrap []string
	// Topic is read from its earliest offset; it must exist.
	Topic string
	// Records is how many records to read in total; zero reads up to the
	// end offsets the partitions had when the run started.
	Records int64
	// Consumers is the number of clients reading in parallel; partitions
	// are dealt to them round-robin (no consumer group), so more consumers
	// than partitions leaves the extra ones out.
	Consumers int
	// FetchMaxBytes caps one fetch response; zero keeps kgo's default.
	FetchMaxBytes int32
	// FetchMaxPartitionBytes caps one partition in a fetch response; zero
	// keeps kgo's default.
	FetchMaxPartitionBytes int32
	// FetchMinBytes is how much a fetch waits to accumulate; zero keeps
	// kgo's default (1 byte).
	FetchMinBytes int32
	// FetchMaxWait is how long a fetch may wait for FetchMinBytes; zero
	// keeps kgo's default.
	FetchMaxWait time.Duration
	// Timeout bounds the whole run; zero means no limit.
	Timeout time.Duration
	// Progress receives one plain line per ProgressInterval; nil is silent.
	Progress io.Writer
	// ProgressInterval is the spacing of progress lines.
	ProgressInterval time.Duration
	// ProgressBar redraws one progress line in place, for a terminal,
	// instead of printing a line per interval.
	ProgressBar bool
}

// DefaultConsumeConfig returns the settings `sluice perf consume` starts from.
func DefaultConsumeConfig() ConsumeConfig {
	return ConsumeConfig{
		Bootstrap:        []string{"localhost:9092"},
		Topic:            "sluice-perf",
		Consumers:        1,
		ProgressInterval: time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c ConsumeConfig) Validate() error {
	if err := validateCommon(c.Bootstrap, c.Topic, c.Records, c.Timeout); err != nil {
		return err
	}
	switch {
	case c.Consumers < 1:
		return fmt.Errorf("consumers %d: want at least 1", c.Consumers)
	case c.FetchMaxBytes < 0, c.FetchMaxPartitionBytes < 0, c.FetchMinBytes < 0:
		return errors.New("fetch sizes: want 0 (default) or more")
	case c.FetchMaxWait < 0:
		return fmt.Errorf("fetch max wait %s: want 0 (default) or more", c.FetchMaxWait)
	}
	return nil
}

func validateCommon(bootstrap []string, topic string, records int64, timeout time.Duration) error {
	switch {
	case len(bootstrap) == 0:
		return errors.New("bootstrap: want at least one host:port")
	case topic == "":
		return errors.New("topic: must not be empty")
	case records < 0:
		return fmt.Errorf("records %d: want 0 or more", records)
	case timeout < 0:
		return fmt.Errorf("timeout %s: want 0 (none) or more", timeout)
	}
	return nil
}

// validateTopicCreation checks the settings a writing run creates its topic
// with when it is missing.
func validateTopicCreation(partitions int32, replicationFactor int16) error {
	switch {
	case partitions < 1:
		return fmt.Errorf("partitions %d: want at least 1", partitions)
	case replicationFactor == 0 || replicationFactor < -1:
		return fmt.Errorf("replication factor %d: want -1 (broker default) or at least 1", replicationFactor)
	}
	return nil
}
