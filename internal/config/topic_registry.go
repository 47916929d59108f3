package config

import (
	"math"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicDefinition describes one topic config: its Kafka type, Sluice
// default, accepted values, and the broker settings that supply its default
// (ServerTopicConfigSynonyms in Kafka), highest precedence first.
type topicDefinition struct {
	name         string
	typ          kmsg.ConfigType
	defaultText  string
	defaultValue any // parsed from defaultText when the registry is built
	check        check
	doc          string
	field        func(t *Topic) any
	synonyms     []brokerSynonym
}

// brokerSynonym is a broker setting that supplies a topic config's default.
// Most share the topic config's type, range and default; the time-unit ones
// (log.retention.hours and friends) have their own and are scaled to
// milliseconds.
type brokerSynonym struct {
	name string
	// own is set when the synonym has its own type, default and check
	// instead of the topic config's.
	own         bool
	typ         kmsg.ConfigType
	defaultText *string // nil: no default (Kafka's null)
	check       check
	doc         string
	// scale multiplies the value into the topic config's unit (3600000
	// for hours); 0 means the value is used as is.
	scale int64
	// negativeIsUnlimited maps any negative result to -1, as Kafka does
	// for log.retention.{ms,minutes,hours}.
	negativeIsUnlimited bool
}

// Durations in milliseconds used by the time-unit synonyms.
const (
	millisPerMinute = int64(60 * 1000)
	millisPerHour   = 60 * millisPerMinute
)

// Sluice's defaults that differ from Kafka's, named so the doc and tests can
// refer to them.
const (
	// defaultFlushMessages: fsync before acknowledging (Kafka: Long.MAX).
	defaultFlushMessages = "1"
	// defaultFlushMs: no time-based write caching (Kafka: null, then
	// log.flush.scheduler.interval.ms = Long.MAX).
	defaultFlushMs = "0"
)

func text(s string) *string { return &s }

func same(name string) brokerSynonym { return brokerSynonym{name: name} }

var maxLongText = strconv.FormatInt(math.MaxInt64, 10)

// topicRegistry lists every topic config, sorted by name.
var topicRegistry = buildTopicRegistry([]topicDefinition{
	{
		name: "cleanup.policy", typ: kmsg.ConfigTypeList, defaultText: "delete",
		check: listOf("compact", "delete"),
		doc:   `Retention policy for old segments: "delete" discards them by time and size, "compact" keeps the latest value per key; both may be listed, or neither (keep everything).`,
		field: func(t *Topic) any { return &t.CleanupPolicy }, synonyms: []brokerSynonym{same("log.cleanup.policy")},
	},
	{
		name: "compression.gzip.level", typ: kmsg.ConfigTypeInt, defaultText: "-1", check: gzipLevel,
		doc:   "Compression level used when compression.type is gzip.",
		field: func(t *Topic) any { return &t.CompressionGzipLevel }, synonyms: []brokerSynonym{same("compression.gzip.level")},
	},
	{
		name: "compression.lz4.level", typ: kmsg.ConfigTypeInt, defaultText: "9", check: between(1, 17),
		doc:   "Compression level used when compression.type is lz4.",
		field: func(t *Topic) any { return &t.CompressionLz4Level }, synonyms: []brokerSynonym{same("compression.lz4.level")},
	},
	{
		name: "compression.type", typ: kmsg.ConfigTypeString, defaultText: "producer", check: compressionType,
		doc:   `Final compression of stored batches: gzip, snappy, lz4, zstd, uncompressed, or producer (keep the codec the producer used).`,
		field: func(t *Topic) any { return &t.CompressionType }, synonyms: []brokerSynonym{same("compression.type")},
	},
	{
		name: "compression.zstd.level", typ: kmsg.ConfigTypeInt, defaultText: "3", check: between(-131072, 22),
		doc:   "Compression level used when compression.type is zstd.",
		field: func(t *Topic) any { return &t.CompressionZstdLevel }, synonyms: []brokerSynonym{same("compression.zstd.level")},
	},
	{
		name: "delete.retention.ms", typ: kmsg.ConfigTypeLong, defaultText: "86400000", check: atLeast(0),
		doc:   "How long tombstones are kept in compacted topics; also bounds how long a consumer reading from the start may take to see a consistent snapshot.",
		field: func(t *Topic) any { return &t.DeleteRetentionMs }, synonyms: []brokerSynonym{same("log.cleaner.delete.retention.ms")},
	},
	{
		name: "file.delete.delay.ms", typ: kmsg.ConfigTypeLong, defaultText: "60000", check: atLeast(0),
		doc:   "Time to wait before deleting a segment's files from the file system.",
		field: func(t *Topic) any { return &t.FileDeleteDelayMs }, synonyms: []brokerSynonym{same("log.segment.delete.delay.ms")},
	},
	{
		name: "flush.messages", typ: kmsg.ConfigTypeLong, defaultText: defaultFlushMessages, check: atLeast(1),
		doc:   "Sluice acknowledges a write only once it is fsynced (group-committed) while this is 1 and flush.ms is 0. A larger value turns on Kafka-style write caching: fsync after this many messages.",
		field: func(t *Topic) any { return &t.FlushMessages }, synonyms: []brokerSynonym{same("log.flush.interval.messages")},
	},
	{
		name: "flush.ms", typ: kmsg.ConfigTypeLong, defaultText: defaultFlushMs, check: atLeast(0),
		doc:   "Sluice acknowledges a write only once it is fsynced (group-committed) while this is 0 and flush.messages is 1. A larger value turns on Kafka-style write caching: fsync at least this often.",
		field: func(t *Topic) any { return &t.FlushMs },
		synonyms: []brokerSynonym{
			{name: "log.flush.interval.ms", own: true, typ: kmsg.ConfigTypeLong, defaultText: text(defaultFlushMs),
				doc: "Default flush.ms for topics. Above 0 it turns on write caching (acknowledging before fsync); see flush.ms."},
			{name: "log.flush.scheduler.interval.ms", own: true, typ: kmsg.ConfigTypeLong, defaultText: text(maxLongText),
				doc: "Used as flush.ms when log.flush.interval.ms is not set (Kafka's flusher period)."},
		},
	},
	{
		name: "follower.replication.throttled.replicas", typ: kmsg.ConfigTypeList, defaultText: "", check: throttledReplicas,
		doc:   `Replicas whose replication is throttled on the follower side: "*" or partition:broker pairs. Accepted; Sluice does not throttle replication yet.`,
		field: func(t *Topic) any { return &t.FollowerReplicationThrottledReplicas },
	},
	{
		name: "index.interval.bytes", typ: kmsg.ConfigTypeInt, defaultText: "4096", check: atLeast(0),
		doc:   "Bytes of log between two entries of the offset index.",
		field: func(t *Topic) any { return &t.IndexIntervalBytes }, synonyms: []brokerSynonym{same("log.index.interval.bytes")},
	},
	{
		name: "leader.replication.throttled.replicas", typ: kmsg.ConfigTypeList, defaultText: "", check: throttledReplicas,
		doc:   `Replicas whose replication is throttled on the leader side: "*" or partition:broker pairs. Accepted; Sluice does not throttle replication yet.`,
		field: func(t *Topic) any { return &t.LeaderReplicationThrottledReplicas },
	},
	{
		name: "local.retention.bytes", typ: kmsg.ConfigTypeLong, defaultText: "-2", check: atLeast(-2),
		doc:   "Tiered storage: local bytes to keep (-2: same as retention.bytes). Accepted; Sluice has no tiered storage.",
		field: func(t *Topic) any { return &t.LocalRetentionBytes }, synonyms: []brokerSynonym{same("log.local.retention.bytes")},
	},
	{
		name: "local.retention.ms", typ: kmsg.ConfigTypeLong, defaultText: "-2", check: atLeast(-2),
		doc:   "Tiered storage: local time to keep (-2: same as retention.ms). Accepted; Sluice has no tiered storage.",
		field: func(t *Topic) any { return &t.LocalRetentionMs }, synonyms: []brokerSynonym{same("log.local.retention.ms")},
	},
	{
		name: "max.compaction.lag.ms", typ: kmsg.ConfigTypeLong, defaultText: maxLongText, check: atLeast(1),
		doc:   "Longest time a message stays ineligible for compaction.",
		field: func(t *Topic) any { return &t.MaxCompactionLagMs }, synonyms: []brokerSynonym{same("log.cleaner.max.compaction.lag.ms")},
	},
	{
		name: "max.message.bytes", typ: kmsg.ConfigTypeInt, defaultText: "1048588", check: atLeast(0),
		doc:   "Largest record batch accepted, after compression.",
		field: func(t *Topic) any { return &t.MaxMessageBytes }, synonyms: []brokerSynonym{same("message.max.bytes")},
	},
	{
		name: "message.timestamp.after.max.ms", typ: kmsg.ConfigTypeLong, defaultText: "3600000", check: atLeast(0),
		doc:   "With CreateTime, how far a record timestamp may be ahead of the broker's clock before the batch is rejected.",
		field: func(t *Topic) any { return &t.MessageTimestampAfterMaxMs }, synonyms: []brokerSynonym{same("log.message.timestamp.after.max.ms")},
	},
	{
		name: "message.timestamp.before.max.ms", typ: kmsg.ConfigTypeLong, defaultText: maxLongText, check: atLeast(0),
		doc:   "With CreateTime, how far a record timestamp may be behind the broker's clock before the batch is rejected.",
		field: func(t *Topic) any { return &t.MessageTimestampBeforeMaxMs }, synonyms: []brokerSynonym{same("log.message.timestamp.before.max.ms")},
	},
	{
		name: "message.timestamp.type", typ: kmsg.ConfigTypeString, defaultText: "CreateTime", check: oneOf("CreateTime", "LogAppendTime"),
		doc:   "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
		field: func(t *Topic) any { return &t.MessageTimestampType }, synonyms: []brokerSynonym{same("log.message.timestamp.type")},
	},
	{
		name: "min.cleanable.dirty.ratio", typ: kmsg.ConfigTypeDouble, defaultText: "0.5", check: betweenDouble(0, 1),
		doc:   "Share of a compacted log that must be uncompacted before the cleaner runs on it.",
		field: func(t *Topic) any { return &t.MinCleanableDirtyRatio }, synonyms: []brokerSynonym{same("log.cleaner.min.cleanable.ratio")},
	},
	{
		name: "min.compaction.lag.ms", typ: kmsg.ConfigTypeLong, defaultText: "0", check: atLeast(0),
		doc:   "Shortest time a message stays uncompacted.",
		field: func(t *Topic) any { return &t.MinCompactionLagMs }, synonyms: []brokerSynonym{same("log.cleaner.min.compaction.lag.ms")},
	},
	{
		name: "min.insync.replicas", typ: kmsg.ConfigTypeInt, defaultText: "1", check: atLeast(1),
		doc:   "Minimum in-sync replicas for an acks=all produce to succeed; fewer gives NOT_ENOUGH_REPLICAS.",
		field: func(t *Topic) any { return &t.MinInsyncReplicas }, synonyms: []brokerSynonym{same("min.insync.replicas")},
	},
	{
		name: "preallocate", typ: kmsg.ConfigTypeBoolean, defaultText: "false",
		doc:   "Create segment files at their full size.",
		field: func(t *Topic) any { return &t.Preallocate }, synonyms: []brokerSynonym{same("log.preallocate")},
	},
	{
		name: "remote.log.copy.disable", typ: kmsg.ConfigTypeBoolean, defaultText: "false",
		doc:   "Tiered storage: stop copying segments to remote storage. Accepted; Sluice has no tiered storage.",
		field: func(t *Topic) any { return &t.RemoteLogCopyDisable },
	},
	{
		name: "remote.log.delete.on.disable", typ: kmsg.ConfigTypeBoolean, defaultText: "false",
		doc:   "Tiered storage: delete remote data when remote storage is turned off. Accepted; Sluice has no tiered storage.",
		field: func(t *Topic) any { return &t.RemoteLogDeleteOnDisable },
	},
	{
		name: "remote.storage.enable", typ: kmsg.ConfigTypeBoolean, defaultText: "false", check: noTieredStorage,
		doc:   "Tiered storage for the topic. Sluice has no tiered storage: only false is accepted.",
		field: func(t *Topic) any { return &t.RemoteStorageEnable },
	},
	{
		name: "retention.bytes", typ: kmsg.ConfigTypeLong, defaultText: "-1",
		doc:   "Largest size a partition may reach before old segments are deleted (delete policy); -1 means no limit.",
		field: func(t *Topic) any { return &t.RetentionBytes }, synonyms: []brokerSynonym{same("log.retention.bytes")},
	},
	{
		name: "retention.ms", typ: kmsg.ConfigTypeLong, defaultText: "604800000", check: atLeast(-1),
		doc:   "How long records are kept before their segment is deleted (delete policy); -1 means no limit.",
		field: func(t *Topic) any { return &t.RetentionMs },
		synonyms: []brokerSynonym{
			{name: "log.retention.ms", own: true, typ: kmsg.ConfigTypeLong, negativeIsUnlimited: true,
				doc: "Default retention.ms for topics; takes precedence over log.retention.minutes and log.retention.hours. Negative means no limit."},
			{name: "log.retention.minutes", own: true, typ: kmsg.ConfigTypeInt, scale: millisPerMinute, negativeIsUnlimited: true,
				doc: "Default retention in minutes, used when log.retention.ms is not set; takes precedence over log.retention.hours."},
			{name: "log.retention.hours", own: true, typ: kmsg.ConfigTypeInt, defaultText: text("168"), scale: millisPerHour, negativeIsUnlimited: true,
				doc: "Default retention in hours, used when neither log.retention.ms nor log.retention.minutes is set."},
		},
	},
	{
		name: "segment.bytes", typ: kmsg.ConfigTypeInt, defaultText: "1073741824", check: atLeast(14),
		doc:   "Size at which the active segment is rolled. Retention and compaction work a segment at a time.",
		field: func(t *Topic) any { return &t.SegmentBytes }, synonyms: []brokerSynonym{same("log.segment.bytes")},
	},
	{
		name: "segment.index.bytes", typ: kmsg.ConfigTypeInt, defaultText: "10485760", check: atLeast(4),
		doc:   "Maximum size of a segment's offset index.",
		field: func(t *Topic) any { return &t.SegmentIndexBytes }, synonyms: []brokerSynonym{same("log.index.size.max.bytes")},
	},
	{
		name: "segment.jitter.ms", typ: kmsg.ConfigTypeLong, defaultText: "0", check: atLeast(0),
		doc:   "Largest random time subtracted from segment.ms, so that segments do not all roll at once.",
		field: func(t *Topic) any { return &t.SegmentJitterMs },
		synonyms: []brokerSynonym{
			{name: "log.roll.jitter.ms", own: true, typ: kmsg.ConfigTypeLong,
				doc: "Default segment.jitter.ms for topics; takes precedence over log.roll.jitter.hours."},
			{name: "log.roll.jitter.hours", own: true, typ: kmsg.ConfigTypeInt, defaultText: text("0"), check: atLeast(0), scale: millisPerHour,
				doc: "Default segment jitter in hours, used when log.roll.jitter.ms is not set."},
		},
	},
	{
		name: "segment.ms", typ: kmsg.ConfigTypeLong, defaultText: "604800000", check: atLeast(1),
		doc:   "Time after which the active segment is rolled even if not full, so retention and compaction can act on it.",
		field: func(t *Topic) any { return &t.SegmentMs },
		synonyms: []brokerSynonym{
			{name: "log.roll.ms", own: true, typ: kmsg.ConfigTypeLong,
				doc: "Default segment.ms for topics; takes precedence over log.roll.hours."},
			{name: "log.roll.hours", own: true, typ: kmsg.ConfigTypeInt, defaultText: text("168"), check: atLeast(1), scale: millisPerHour,
				doc: "Default segment roll time in hours, used when log.roll.ms is not set."},
		},
	},
	{
		name: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean, defaultText: "false",
		doc:   "Allow a replica outside the ISR to become leader as a last resort, losing acknowledged data.",
		field: func(t *Topic) any { return &t.UncleanLeaderElectionEnable }, synonyms: []brokerSynonym{same("unclean.leader.election.enable")},
	},
})

// topicRegistryByName indexes topicRegistry.
var topicRegistryByName = indexTopicRegistry(topicRegistry)

// topicNameForBrokerKey maps each broker synonym to its topic config, for
// hints when one is used in place of the other.
var topicNameForBrokerKey = func() map[string]string {
	names := make(map[string]string)
	for _, def := range topicRegistry {
		for _, synonym := range def.synonyms {
			names[synonym.name] = def.name
		}
	}
	return names
}()

func buildTopicRegistry(defs []topicDefinition) []topicDefinition {
	for i := range defs {
		value, reason := parseValue(defs[i].typ, defs[i].defaultText)
		if reason != "" {
			// A malformed built-in default is a programming error that
			// TestRegistryDefaultsAreValid reports; keep the zero value.
			continue
		}
		defs[i].defaultValue = value
	}
	return defs
}

func indexTopicRegistry(defs []topicDefinition) map[string]*topicDefinition {
	index := make(map[string]*topicDefinition, len(defs))
	for i := range defs {
		index[defs[i].name] = &defs[i]
	}
	return index
}

// compressionType accepts Kafka's topic-level codec names. "none" is the
// producer-side spelling; the topic config calls it "uncompressed".
func compressionType(value any) string {
	names := []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
	if value.(string) == "none" {
		return `must be one of ` + quoteList(names) + ` ("none" is the producer's name; the topic setting is "uncompressed")`
	}
	return oneOf(names...)(value)
}
