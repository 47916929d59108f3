package config

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestResolveTopic(t *testing.T) {
	broker, err := ParseBroker(map[string]string{"log.retention.hours": "24", "log.segment.bytes": "1048576"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		overrides map[string]string
		got       func(Topic) any
		want      any
	}{
		{"no overrides keep broker retention", nil, func(t Topic) any { return t.RetentionMs }, 24 * millisPerHour},
		{"no overrides keep broker segment size", nil, func(t Topic) any { return t.SegmentBytes }, int64(1048576)},
		{"override retention", map[string]string{"retention.ms": "1000"}, func(t Topic) any { return t.RetentionMs }, int64(1000)},
		{"override keeps other defaults", map[string]string{"retention.ms": "1000"}, func(t Topic) any { return t.SegmentBytes }, int64(1048576)},
		{"retention zero allowed for topics", map[string]string{"retention.ms": "0"}, func(t Topic) any { return t.RetentionMs }, int64(0)},
		{"retention unlimited", map[string]string{"retention.ms": "-1"}, func(t Topic) any { return t.RetentionMs }, int64(-1)},
		{"compact", map[string]string{"cleanup.policy": "compact"}, func(t Topic) any { return t.Compact() && !t.Delete() }, true},
		{"compact and delete", map[string]string{"cleanup.policy": " delete , compact "}, func(t Topic) any { return t.CleanupPolicy }, "delete,compact"},
		{"empty cleanup policy", map[string]string{"cleanup.policy": ""}, func(t Topic) any { return t.Compact() || t.Delete() }, false},
		{"smallest segment", map[string]string{"segment.bytes": "14"}, func(t Topic) any { return t.SegmentBytes }, int64(14)},
		{"largest segment", map[string]string{"segment.bytes": "2147483647"}, func(t Topic) any { return t.SegmentBytes }, int64(math.MaxInt32)},
		{"uncompressed", map[string]string{"compression.type": "uncompressed"}, func(t Topic) any { return t.CompressionType }, "uncompressed"},
		{"zstd level", map[string]string{"compression.zstd.level": "-131072"}, func(t Topic) any { return t.CompressionZstdLevel }, int32(-131072)},
		{"timestamp type", map[string]string{"message.timestamp.type": "LogAppendTime"}, func(t Topic) any { return t.MessageTimestampType }, "LogAppendTime"},
		{"ratio", map[string]string{"min.cleanable.dirty.ratio": "1"}, func(t Topic) any { return t.MinCleanableDirtyRatio }, 1.0},
		{"throttled all", map[string]string{"leader.replication.throttled.replicas": "*"}, func(t Topic) any { return strings.Join(t.LeaderReplicationThrottledReplicas, ",") }, "*"},
		{"throttled pairs", map[string]string{"follower.replication.throttled.replicas": "0:1, 1:2"},
			func(t Topic) any { return strings.Join(t.FollowerReplicationThrottledReplicas, ",") }, "0:1,1:2"},
		{"write caching by messages", map[string]string{"flush.messages": "1000"}, func(t Topic) any { return t.WriteCaching() }, true},
		{"write caching by time", map[string]string{"flush.ms": "1"}, func(t Topic) any { return t.WriteCaching() }, true},
		{"fsync before ack", map[string]string{"flush.messages": "1", "flush.ms": "0"}, func(t Topic) any { return t.WriteCaching() }, false},
		{"compaction lags equal", map[string]string{"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"}, func(t Topic) any { return t.MinCompactionLagMs }, int64(5)},
		{"remote storage off", map[string]string{"remote.storage.enable": "false"}, func(t Topic) any { return t.RemoteStorageEnable }, false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			topic, err := ResolveTopic(broker.TopicDefaults, test.overrides)
			if err != nil {
				t.Fatalf("ResolveTopic: %v", err)
			}
			if got := test.got(topic); got != test.want {
				t.Fatalf("got %v (%T), want %v (%T)", got, got, test.want, test.want)
			}
		})
	}
}

func TestResolveTopicDoesNotShareSlices(t *testing.T) {
	defaults := DefaultTopic()
	defaults.LeaderReplicationThrottledReplicas = []string{"0:1"}
	topic, err := ResolveTopic(defaults, nil)
	if err != nil {
		t.Fatal(err)
	}
	topic.LeaderReplicationThrottledReplicas[0] = "changed"
	if defaults.LeaderReplicationThrottledReplicas[0] != "0:1" {
		t.Fatal("ResolveTopic result shares a slice with the defaults")
	}
}

func TestResolveTopicRejects(t *testing.T) {
	tests := []struct {
		overrides map[string]string
		want      string
	}{
		{map[string]string{"retention.ms": "-2"}, `config "retention.ms": value "-2" must be at least -1`},
		{map[string]string{"segment.bytes": "13"}, `config "segment.bytes": value "13" must be at least 14`},
		{map[string]string{"segment.bytes": "2147483648"}, `value "2147483648" is not a valid int`},
		{map[string]string{"segment.ms": "0"}, `must be at least 1`},
		{map[string]string{"max.message.bytes": "-1"}, `must be at least 0`},
		{map[string]string{"min.insync.replicas": "0"}, `config "min.insync.replicas": value "0" must be at least 1`},
		{map[string]string{"cleanup.policy": "compact,"}, `has element ""`},
		{map[string]string{"compression.type": "none"}, `the topic setting is "uncompressed"`},
		{map[string]string{"compression.lz4.level": "18"}, `must be between 1 and 17`},
		{map[string]string{"min.cleanable.dirty.ratio": "-0.1"}, `must be between 0.0 and 1.0`},
		{map[string]string{"message.timestamp.type": "AppendTime"}, `must be one of ["CreateTime", "LogAppendTime"]`},
		{map[string]string{"unclean.leader.election.enable": "1"}, `is not a valid boolean`},
		{map[string]string{"leader.replication.throttled.replicas": "*,0:1"}, `must be "*" or a list of replicas`},
		{map[string]string{"follower.replication.throttled.replicas": "0-1"}, `must be "*" or a list of replicas`},
		{map[string]string{"remote.storage.enable": "true"}, `Sluice has no tiered storage`},
		{map[string]string{"local.retention.ms": "-3"}, `must be at least -2`},
		{map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
			`config "min.compaction.lag.ms": value "10" must not be greater than max.compaction.lag.ms (5)`},
		{map[string]string{"max.compaction.lag.ms": "0"}, `must be at least 1`},
		{map[string]string{"retention.hours": "1"}, `unknown config "retention.hours"`},
		{map[string]string{"log.retention.ms": "1"}, `"log.retention.ms" is a broker setting; the topic setting is "retention.ms"`},
		{map[string]string{"message.max.bytes": "1"}, `the topic setting is "max.message.bytes"`},
		{map[string]string{"retention.mss": "1"}, `did you mean "retention.ms"?`},
		{map[string]string{"message.format.version": "3.0"}, `unknown config "message.format.version"`},
	}
	for _, test := range tests {
		t.Run(test.want, func(t *testing.T) {
			_, err := ResolveTopic(DefaultTopic(), test.overrides)
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Fatalf("ResolveTopic(%v) error = %v, want it to contain %q", test.overrides, err, test.want)
			}
			var problem *Error
			if !errors.As(err, &problem) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
		})
	}
}

func TestValidateTopicConfig(t *testing.T) {
	tests := []struct {
		name  string
		value *string
		want  string // "" means valid
	}{
		{"retention.ms", text("86400000"), ""},
		{"retention.ms", nil, ""},
		{"cleanup.policy", text("compact,delete"), ""},
		{"compression.type", text("lz4"), ""},
		{"segment.bytes", text("14"), ""},
		{"flush.messages", text("1"), ""},
		{"retention.ms", text("forever"), `config "retention.ms": value "forever" is not a valid long`},
		{"segment.bytes", text("10"), `config "segment.bytes": value "10" must be at least 14`},
		{"flush.messages", text("0"), `must be at least 1`},
		{"foo.bar", text("1"), `unknown config "foo.bar"`},
		{"foo.bar", nil, `unknown config "foo.bar"`},
		{"remote.storage.enable", text("TRUE"), `Sluice has no tiered storage`},
	}
	for _, test := range tests {
		value := "<nil>"
		if test.value != nil {
			value = *test.value
		}
		t.Run(test.name+"="+value, func(t *testing.T) {
			err := ValidateTopicConfig(test.name, test.value)
			if test.want == "" {
				if err != nil {
					t.Fatalf("ValidateTopicConfig = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Fatalf("ValidateTopicConfig = %v, want it to contain %q", err, test.want)
			}
		})
	}
}

func TestTopicConfigNamesCoverKafka4(t *testing.T) {
	// Kafka 4.0's topic configs (LogConfig), every one of which Sluice
	// accepts and describes.
	kafka := []string{
		"cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type", "compression.zstd.level",
		"delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms", "follower.replication.throttled.replicas",
		"index.interval.bytes", "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
		"max.compaction.lag.ms", "max.message.bytes", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
		"message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
		"remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
		"segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
	}
	if got := TopicConfigNames(); !slices.Equal(got, kafka) {
		t.Fatalf("TopicConfigNames() = %v\nwant %v", got, kafka)
	}
	if typ, ok := TopicConfigType("cleanup.policy"); !ok || typ != kmsg.ConfigTypeList {
		t.Errorf("TopicConfigType(cleanup.policy) = %v, %v", typ, ok)
	}
	if typ, ok := TopicConfigType("retention.ms"); !ok || typ != kmsg.ConfigTypeLong {
		t.Errorf("TopicConfigType(retention.ms) = %v, %v", typ, ok)
	}
	if _, ok := TopicConfigType("log.retention.ms"); ok {
		t.Error("TopicConfigType accepted a broker setting")
	}
}

func TestTopicValidateBuiltInCode(t *testing.T) {
	topic := DefaultTopic()
	if err := topic.Validate(); err != nil {
		t.Fatalf("DefaultTopic().Validate() = %v", err)
	}
	topic.MinInsyncReplicas = 0
	if err := topic.Validate(); err == nil || !strings.Contains(err.Error(), `config "min.insync.replicas": value "0"`) {
		t.Fatalf("Validate() = %v", err)
	}
}
