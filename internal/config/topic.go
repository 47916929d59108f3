package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic is the effective configuration of one topic: the broker's log.*
// defaults with the topic's own overrides on top (see ResolveTopic). Field
// comments give the Kafka name. Every topic config of Kafka 4.0 is here so
// that it can be accepted and described, even where Sluice does not act on
// it yet (noted per field).
type Topic struct {
	// CleanupPolicy is cleanup.policy: "delete", "compact", both
	// comma-separated, or "" (neither: keep everything).
	CleanupPolicy string
	// CompressionType is compression.type: producer (keep the producer's
	// codec), uncompressed, gzip, snappy, lz4 or zstd.
	CompressionType string
	// CompressionGzipLevel is compression.gzip.level (-1 or 1..9).
	CompressionGzipLevel int32
	// CompressionLz4Level is compression.lz4.level (1..17).
	CompressionLz4Level int32
	// CompressionZstdLevel is compression.zstd.level (-131072..22).
	CompressionZstdLevel int32
	// DeleteRetentionMs is delete.retention.ms: how long compaction keeps
	// tombstones.
	DeleteRetentionMs int64
	// FileDeleteDelayMs is file.delete.delay.ms: delay before a deleted
	// segment's files are removed.
	FileDeleteDelayMs int64
	// FlushMessages is flush.messages. Sluice default 1: see WriteCaching.
	FlushMessages int64
	// FlushMs is flush.ms. Sluice default 0: see WriteCaching.
	FlushMs int64
	// FollowerReplicationThrottledReplicas is
	// follower.replication.throttled.replicas ("*" or partition:broker
	// pairs). Accepted and described; Sluice does not throttle yet.
	FollowerReplicationThrottledReplicas []string
	// IndexIntervalBytes is index.interval.bytes: bytes between offset
	// index entries.
	IndexIntervalBytes int32
	// LeaderReplicationThrottledReplicas is
	// leader.replication.throttled.replicas. Accepted; not acted on yet.
	LeaderReplicationThrottledReplicas []string
	// LocalRetentionBytes is local.retention.bytes (tiered storage; -2
	// means "same as retention.bytes"). Accepted; Sluice has no tiers.
	LocalRetentionBytes int64
	// LocalRetentionMs is local.retention.ms (tiered storage; -2 means
	// "same as retention.ms"). Accepted; Sluice has no tiers.
	LocalRetentionMs int64
	// MaxCompactionLagMs is max.compaction.lag.ms.
	MaxCompactionLagMs int64
	// MaxMessageBytes is max.message.bytes: the largest record batch
	// accepted (after compression).
	MaxMessageBytes int32
	// MessageTimestampAfterMaxMs is message.timestamp.after.max.ms: how far
	// in the future a CreateTime timestamp may be.
	MessageTimestampAfterMaxMs int64
	// MessageTimestampBeforeMaxMs is message.timestamp.before.max.ms: how
	// far in the past a CreateTime timestamp may be.
	MessageTimestampBeforeMaxMs int64
	// MessageTimestampType is message.timestamp.type: CreateTime or
	// LogAppendTime.
	MessageTimestampType string
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio (0..1).
	MinCleanableDirtyRatio float64
	// MinCompactionLagMs is min.compaction.lag.ms.
	MinCompactionLagMs int64
	// MinInsyncReplicas is min.insync.replicas: ISR size an acks=all
	// produce needs.
	MinInsyncReplicas int32
	// Preallocate is preallocate: create segment files at full size.
	Preallocate bool
	// RemoteLogCopyDisable is remote.log.copy.disable. Accepted; no tiers.
	RemoteLogCopyDisable bool
	// RemoteLogDeleteOnDisable is remote.log.delete.on.disable. Accepted;
	// no tiers.
	RemoteLogDeleteOnDisable bool
	// RemoteStorageEnable is remote.storage.enable. Sluice has no tiered
	// storage, so only false is accepted.
	RemoteStorageEnable bool
	// RetentionBytes is retention.bytes per partition (-1: no limit).
	RetentionBytes int64
	// RetentionMs is retention.ms (-1: no limit).
	RetentionMs int64
	// SegmentBytes is segment.bytes: roll a segment at this size.
	SegmentBytes int64
	// SegmentIndexBytes is segment.index.bytes: maximum offset index size.
	SegmentIndexBytes int32
	// SegmentJitterMs is segment.jitter.ms: random amount subtracted from
	// segment.ms per segment.
	SegmentJitterMs int64
	// SegmentMs is segment.ms: roll a segment after this long.
	SegmentMs int64
	// UncleanLeaderElectionEnable is unclean.leader.election.enable.
	UncleanLeaderElectionEnable bool
}

// Compact reports whether cleanup.policy includes "compact".
func (t Topic) Compact() bool {
	return slices.Contains(splitList(t.CleanupPolicy), "compact")
}

// Delete reports whether cleanup.policy includes "delete" (retention by
// time and size applies).
func (t Topic) Delete() bool {
	return slices.Contains(splitList(t.CleanupPolicy), "delete")
}

// WriteCaching reports whether the topic runs with Kafka-style write
// caching: acknowledging appends before they are fsynced, and flushing after
// flush.messages messages or flush.ms milliseconds. Sluice's defaults
// (flush.messages=1, flush.ms=0) turn it off: an append is acknowledged only
// once fsynced, with concurrent appends sharing one group-committed fsync.
// Setting either above its default turns write caching on.
func (t Topic) WriteCaching() bool {
	return t.FlushMessages > 1 || t.FlushMs > 0
}

// DefaultTopic returns the topic configuration a topic gets when neither the
// broker nor the topic overrides anything.
func DefaultTopic() Topic {
	var t Topic
	for _, def := range topicRegistry {
		assign(def.field(&t), def.defaultValue)
	}
	return t
}

// clone returns a copy that shares no slices with t.
func (t Topic) clone() Topic {
	t.FollowerReplicationThrottledReplicas = slices.Clone(t.FollowerReplicationThrottledReplicas)
	t.LeaderReplicationThrottledReplicas = slices.Clone(t.LeaderReplicationThrottledReplicas)
	return t
}

// ResolveTopic returns the configuration of a topic whose overrides (as
// stored by CreateTopics/AlterConfigs, topic config names only) apply on top
// of the broker defaults. Unknown names and bad values are errors (joined,
// in name order; each is an *Error), as are combinations Kafka rejects
// (min.compaction.lag.ms above max.compaction.lag.ms).
func ResolveTopic(defaults Topic, overrides map[string]string) (Topic, error) {
	t := defaults.clone()
	var problems []error
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		value, err := parseTopicValue(name, overrides[name])
		if err != nil {
			problems = append(problems, err)
			continue
		}
		assign(topicRegistryByName[name].field(&t), value)
	}
	if len(problems) > 0 {
		return Topic{}, errors.Join(problems...)
	}
	if err := t.Validate(); err != nil {
		return Topic{}, err
	}
	return t, nil
}

// ValidateTopicConfig checks one topic config as CreateTopics, AlterConfigs
// and IncrementalAlterConfigs receive it. A nil value (a DELETE operation:
// back to the default) only needs a known name. The error is an *Error the
// api layer reports as INVALID_CONFIG with its text as the message.
func ValidateTopicConfig(name string, value *string) error {
	if value == nil {
		if _, ok := topicRegistryByName[name]; !ok {
			return unknownTopicConfig(name)
		}
		return nil
	}
	_, err := parseTopicValue(name, *value)
	return err
}

// TopicConfigNames lists every topic config name Sluice accepts, sorted.
func TopicConfigNames() []string {
	names := make([]string, len(topicRegistry))
	for i, def := range topicRegistry {
		names[i] = def.name
	}
	return names
}

// TopicConfigType returns the Kafka type of a topic config (for example
// LIST, which IncrementalAlterConfigs APPEND and SUBTRACT need), and false
// for an unknown name.
func TopicConfigType(name string) (kmsg.ConfigType, bool) {
	def, ok := topicRegistryByName[name]
	if !ok {
		return kmsg.ConfigTypeUnknown, false
	}
	return def.typ, true
}

// Validate checks every field against its Kafka range and the relations
// between fields. ResolveTopic calls it; call it on a Topic built in code.
func (t Topic) Validate() error {
	for _, def := range topicRegistry {
		value := read(def.typ, def.field(&t))
		if reason := def.checkValue(value); reason != "" {
			return &Error{Name: def.name, Value: formatValue(value), Reason: reason}
		}
	}
	return t.validateRelations()
}

// validateRelations checks the rules that involve more than one field
// (LogConfig.validateValues in Kafka).
func (t Topic) validateRelations() error {
	if t.MinCompactionLagMs > t.MaxCompactionLagMs {
		return &Error{
			Name:   "min.compaction.lag.ms",
			Value:  formatValue(t.MinCompactionLagMs),
			Reason: fmt.Sprintf("must not be greater than max.compaction.lag.ms (%d)", t.MaxCompactionLagMs),
		}
	}
	return nil
}

// parseTopicValue parses and checks one topic config value.
func parseTopicValue(name, text string) (any, error) {
	def, ok := topicRegistryByName[name]
	if !ok {
		return nil, unknownTopicConfig(name)
	}
	return parseChecked(name, text, def.typ, def.checkValue)
}

func unknownTopicConfig(name string) error {
	return &Error{Name: name, Unknown: true, Reason: topicHint(name)}
}

// topicHint explains an unknown topic config: a broker setting used in its
// place, or a likely typo.
func topicHint(name string) string {
	if topicName, ok := topicNameForBrokerKey[name]; ok {
		return fmt.Sprintf("%q is a broker setting; the topic setting is %q", name, topicName)
	}
	return didYouMean(name, TopicConfigNames())
}

// checkValue runs the definition's check, if any.
func (def *topicDefinition) checkValue(value any) string {
	if def.check == nil {
		return ""
	}
	return def.check(value)
}

// didYouMean suggests the closest known name when it is a likely typo.
func didYouMean(name string, known []string) string {
	best, bestDistance := "", len(name)/4+2
	for _, candidate := range known {
		if d := editDistance(name, candidate); d < bestDistance {
			best, bestDistance = candidate, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}

// throttledReplicas accepts "*" or a list of partition:broker pairs
// (Kafka's ThrottledReplicaListValidator).
func throttledReplicas(value any) string {
	items := value.([]string)
	if len(items) == 1 && items[0] == "*" {
		return ""
	}
	for _, item := range items {
		if item == "" {
			continue
		}
		partition, broker, found := strings.Cut(item, ":")
		if !found || !allDigits(partition) || !allDigits(broker) {
			return "must be \"*\" or a list of replicas as [partitionId]:[brokerId],[partitionId]:[brokerId],..."
		}
	}
	return ""
}

func allDigits(text string) bool {
	if text == "" {
		return false
	}
	for _, r := range text {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// gzipLevel accepts -1 (the codec default) or 1..9.
func gzipLevel(value any) string {
	level := value.(int64)
	if level == -1 || (level >= 1 && level <= 9) {
		return ""
	}
	return "must be -1 (default) or between 1 and 9"
}

// noTieredStorage rejects remote.storage.enable=true: Sluice keeps every
// segment locally.
func noTieredStorage(value any) string {
	if value.(bool) {
		return "is not supported: Sluice has no tiered storage, so a topic cannot use remote log storage"
	}
	return ""
}
