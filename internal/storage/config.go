package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Config holds the per-topic settings that shape a partition's log, named
// after their Kafka topic configs.
type Config struct {
	SegmentBytes       int64 // segment.bytes: roll when the active segment would exceed it
	SegmentMs          int64 // segment.ms: roll when the active segment's first batch is older
	IndexIntervalBytes int32 // index.interval.bytes: bytes between index entries
	RetentionMs        int64 // retention.ms, -1 = unlimited
	RetentionBytes     int64 // retention.bytes, -1 = unlimited
	FlushMessages      int64 // flush.messages: 1 (Sluice default) = every ack is fsynced
	FlushMs            int64 // flush.ms: 0 (Sluice default) = every ack is fsynced

	// Compact and Delete are the two parts of cleanup.policy. Delete turns
	// on retention.ms and retention.bytes; Compact turns on the log cleaner
	// (Compact). Both may be set ("compact,delete"); neither keeps
	// everything (only DeleteRecords and the log start offset remove data).
	Compact bool
	Delete  bool
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio: a compaction
	// pass runs when the dirty bytes exceed this share of the log.
	MinCleanableDirtyRatio float64
	// MinCompactionLagMs is min.compaction.lag.ms: a record stays
	// uncompacted at least this long (by its segment's largest timestamp).
	MinCompactionLagMs int64
	// MaxCompactionLagMs is max.compaction.lag.ms: a dirty segment whose
	// first batch is older than this is compacted whatever the dirty ratio.
	MaxCompactionLagMs int64
	// DeleteRetentionMs is delete.retention.ms: how long past the cleaned
	// point compaction keeps tombstones, so a consumer reading from the
	// start within that time still sees deletions.
	DeleteRetentionMs int64
}

// DefaultConfig is Kafka's topic defaults, except for flushing: Sluice
// fsyncs before it acknowledges (flush.messages=1, flush.ms=0).
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour.Milliseconds(),
		IndexIntervalBytes: 4096,
		RetentionMs:        7 * 24 * time.Hour.Milliseconds(),
		RetentionBytes:     -1,
		FlushMessages:      1,
		FlushMs:            0,

		Delete:                 true,
		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
		DeleteRetentionMs:      24 * time.Hour.Milliseconds(),
	}
}

// minSegmentBytes is Kafka's lower bound for segment.bytes.
const minSegmentBytes = 14

// Validate applies Kafka's bounds for these configs. Segments are capped at
// 2 GiB because index positions are 32-bit (as in Kafka).
func (c Config) Validate() error {
	var errs []error
	if c.SegmentBytes < minSegmentBytes || c.SegmentBytes > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("segment.bytes %d outside [%d, %d]", c.SegmentBytes, minSegmentBytes, math.MaxInt32))
	}
	if c.SegmentMs < 1 {
		errs = append(errs, fmt.Errorf("segment.ms %d below 1", c.SegmentMs))
	}
	if c.IndexIntervalBytes < 0 {
		errs = append(errs, fmt.Errorf("index.interval.bytes %d below 0", c.IndexIntervalBytes))
	}
	if c.RetentionMs < -1 {
		errs = append(errs, fmt.Errorf("retention.ms %d below -1", c.RetentionMs))
	}
	if c.FlushMessages < 1 {
		errs = append(errs, fmt.Errorf("flush.messages %d below 1", c.FlushMessages))
	}
	if c.FlushMs < 0 {
		errs = append(errs, fmt.Errorf("flush.ms %d below 0", c.FlushMs))
	}
	return errors.Join(append(errs, c.validateCompaction()...)...)
}

// validateCompaction applies LogConfig's bounds for the cleaner settings.
func (c Config) validateCompaction() []error {
	var errs []error
	if !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1) {
		errs = append(errs, fmt.Errorf("min.cleanable.dirty.ratio %v outside [0, 1]", c.MinCleanableDirtyRatio))
	}
	if c.MinCompactionLagMs < 0 {
		errs = append(errs, fmt.Errorf("min.compaction.lag.ms %d below 0", c.MinCompactionLagMs))
	}
	if c.MaxCompactionLagMs < 1 {
		errs = append(errs, fmt.Errorf("max.compaction.lag.ms %d below 1", c.MaxCompactionLagMs))
	}
	if c.MinCompactionLagMs > c.MaxCompactionLagMs {
		errs = append(errs, fmt.Errorf("min.compaction.lag.ms %d above max.compaction.lag.ms %d", c.MinCompactionLagMs, c.MaxCompactionLagMs))
	}
	if c.DeleteRetentionMs < 0 {
		errs = append(errs, fmt.Errorf("delete.retention.ms %d below 0", c.DeleteRetentionMs))
	}
	return errs
}

// WriteCaching reports whether the config asks for Kafka-style write
// caching (acknowledge before fsync, flush by count or age).
func (c Config) WriteCaching() bool {
	return c.FlushMessages > 1 || c.FlushMs > 0
}

// Options are the process-level collaborators of a Log.
type Options struct {
	// Logger receives recovery warnings and I/O failures; nil discards.
	Logger *slog.Logger
	// Now is the clock for segment.ms and retention; nil means time.Now.
	Now func() time.Time
	// CleanShutdown skips the recovery scan: the caller found the log
	// directory's clean-shutdown marker (TakeCleanShutdown).
	CleanShutdown bool
	// ActiveSegment is what the clean-shutdown marker recorded of this
	// log's active segment (TakeCleanShutdown); with CleanShutdown, Open
	// loads the segment from it when it matches the files, and reads the
	// segment otherwise.
	ShutdownState *ShutdownState
	// CleanerBufferBytes caps the memory of a compaction pass's key map
	// (Kafka's log.cleaner.dedupe.buffer.size); 0 means
	// DefaultCleanerBufferBytes. See the package doc, "Compaction".
	CleanerBufferBytes int64
	// ProducerIDExpirationMs is producer.id.expiration.ms: a producer
	// whose latest batch is this old is forgotten (ExpireProducers, and
	// when the log opens); 0 means DefaultProducerIDExpirationMs.
	ProducerIDExpirationMs int64
	// Files is the cache every file of the log is opened through, shared
	// by all the logs of a broker so that the descriptors they hold stay
	// within one budget whatever the number of partitions (see the
	// package doc, "File handles"). nil gives the log a private cache of
	// DefaultFileBudget descriptors.
	Files *FileCache
}

// DefaultProducerIDExpirationMs is Kafka's producer.id.expiration.ms, one
// day.
const DefaultProducerIDExpirationMs = 24 * 60 * 60 * 1000

// DefaultCleanerBufferBytes is Kafka's log.cleaner.dedupe.buffer.size.
const DefaultCleanerBufferBytes = 128 << 20

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CleanerBufferBytes <= 0 {
		o.CleanerBufferBytes = DefaultCleanerBufferBytes
	}
	if o.ProducerIDExpirationMs <= 0 {
		o.ProducerIDExpirationMs = DefaultProducerIDExpirationMs
	}
	if o.Files == nil {
		o.Files = NewFileCache(FileCacheConfig{Logger: o.Logger})
	}
	return o
}
