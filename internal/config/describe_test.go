package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// describe renders an entry compactly: "value SOURCE [name=value SOURCE ...]".
func describe(entry Entry) string {
	var b strings.Builder
	b.WriteString(deref(entry.Value) + " " + entry.Source.String() + " [")
	for i, synonym := range entry.Synonyms {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s %s", synonym.Name, deref(synonym.Value), synonym.Source)
	}
	b.WriteString("]")
	return b.String()
}

func deref(value *string) string {
	if value == nil {
		return "<nil>"
	}
	return *value
}

func find(t *testing.T, entries []Entry, name string) Entry {
	t.Helper()
	for _, entry := range entries {
		if entry.Name == name {
			return entry
		}
	}
	t.Fatalf("no entry %q", name)
	return Entry{}
}

func TestDescribeTopic(t *testing.T) {
	props := map[string]string{
		"log.retention.hours":         "24",
		"log.retention.minutes":       "90",
		"log.segment.bytes":           " 1048576 ",
		"log.flush.interval.messages": "1000",
		"log.cleanup.policy":          "compact , delete",
	}
	broker, err := ParseBroker(props)
	if err != nil {
		t.Fatal(err)
	}
	overrides := map[string]string{"retention.bytes": " 5000 ", "cleanup.policy": "compact", "bogus.key": "1"}
	entries := DescribeTopic(broker, overrides)
	tests := []struct {
		name, want string
	}{
		{"retention.bytes", "5000 DYNAMIC_TOPIC_CONFIG [retention.bytes=5000 DYNAMIC_TOPIC_CONFIG log.retention.bytes=-1 DEFAULT_CONFIG]"},
		{"retention.ms", "5400000 STATIC_BROKER_CONFIG [log.retention.minutes=90 STATIC_BROKER_CONFIG log.retention.hours=24 STATIC_BROKER_CONFIG log.retention.hours=168 DEFAULT_CONFIG]"},
		{"segment.bytes", "1048576 STATIC_BROKER_CONFIG [log.segment.bytes=1048576 STATIC_BROKER_CONFIG log.segment.bytes=1073741824 DEFAULT_CONFIG]"},
		{"segment.ms", "604800000 DEFAULT_CONFIG [log.roll.hours=168 DEFAULT_CONFIG]"},
		{"flush.messages", "1000 STATIC_BROKER_CONFIG [log.flush.interval.messages=1000 STATIC_BROKER_CONFIG log.flush.interval.messages=1 DEFAULT_CONFIG]"},
		{"flush.ms", "0 DEFAULT_CONFIG [log.flush.interval.ms=0 DEFAULT_CONFIG log.flush.scheduler.interval.ms=9223372036854775807 DEFAULT_CONFIG]"},
		{"cleanup.policy", "compact DYNAMIC_TOPIC_CONFIG [cleanup.policy=compact DYNAMIC_TOPIC_CONFIG log.cleanup.policy=compact,delete STATIC_BROKER_CONFIG log.cleanup.policy=delete DEFAULT_CONFIG]"},
		{"max.message.bytes", "1048588 DEFAULT_CONFIG [message.max.bytes=1048588 DEFAULT_CONFIG]"},
		{"min.cleanable.dirty.ratio", "0.5 DEFAULT_CONFIG [log.cleaner.min.cleanable.ratio=0.5 DEFAULT_CONFIG]"},
		{"remote.storage.enable", "false DEFAULT_CONFIG []"},
		{"leader.replication.throttled.replicas", " DEFAULT_CONFIG []"},
	}
	for _, test := range tests {
		if got := describe(find(t, entries, test.name)); got != test.want {
			t.Errorf("%s:\n got %s\nwant %s", test.name, got, test.want)
		}
	}
	if len(entries) != len(TopicConfigNames()) {
		t.Errorf("described %d configs, want every topic config (%d)", len(entries), len(TopicConfigNames()))
	}
	for i, entry := range entries {
		if entry.Name != TopicConfigNames()[i] || entry.ReadOnly || entry.Sensitive || entry.Documentation == "" {
			t.Errorf("entry %d = %s readOnly=%v sensitive=%v doc=%q", i, entry.Name, entry.ReadOnly, entry.Sensitive, entry.Documentation)
		}
	}
	if entry := find(t, entries, "retention.ms"); entry.Type != kmsg.ConfigTypeLong {
		t.Errorf("retention.ms type %v", entry.Type)
	}
	if entry := find(t, entries, "cleanup.policy"); entry.Type != kmsg.ConfigTypeList {
		t.Errorf("cleanup.policy type %v", entry.Type)
	}
}

func TestDescribeTopicDefaults(t *testing.T) {
	entries := DescribeTopic(DefaultBroker(), nil)
	for _, entry := range entries {
		if entry.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s source %v, want DEFAULT_CONFIG", entry.Name, entry.Source)
		}
		for _, synonym := range entry.Synonyms {
			if synonym.Source != kmsg.ConfigSourceDefaultConfig {
				t.Errorf("%s synonym %s source %v", entry.Name, synonym.Name, synonym.Source)
			}
		}
	}
	if got := describe(find(t, entries, "retention.ms")); got != "604800000 DEFAULT_CONFIG [log.retention.hours=168 DEFAULT_CONFIG]" {
		t.Errorf("retention.ms: %s", got)
	}
}

func TestDescribeTopicInvalidOverrideReportedAsStored(t *testing.T) {
	entries := DescribeTopic(DefaultBroker(), map[string]string{"retention.ms": "soon"})
	if got := describe(find(t, entries, "retention.ms")); !strings.HasPrefix(got, "soon DYNAMIC_TOPIC_CONFIG [retention.ms=soon DYNAMIC_TOPIC_CONFIG") {
		t.Errorf("retention.ms: %s", got)
	}
}

func TestDescribeBroker(t *testing.T) {
	static := map[string]string{
		"log.retention.ms":          "1000",
		"log.retention.hours":       "24",
		"num.partitions":            " 3 ",
		"auto.create.topics.enable": "TRUE",
		"listeners":                 "PLAINTEXT://:9092",
	}
	broker, err := ParseBroker(static)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
	}{
		{"log.retention.ms", "1000 STATIC_BROKER_CONFIG [log.retention.ms=1000 STATIC_BROKER_CONFIG log.retention.hours=24 STATIC_BROKER_CONFIG log.retention.hours=168 DEFAULT_CONFIG]"},
		{"log.retention.minutes", "<nil> DEFAULT_CONFIG []"},
		{"log.retention.hours", "24 STATIC_BROKER_CONFIG [log.retention.hours=24 STATIC_BROKER_CONFIG log.retention.hours=168 DEFAULT_CONFIG]"},
		{"num.partitions", "3 STATIC_BROKER_CONFIG [num.partitions=3 STATIC_BROKER_CONFIG num.partitions=1 DEFAULT_CONFIG]"},
		{"auto.create.topics.enable", "true STATIC_BROKER_CONFIG [auto.create.topics.enable=true STATIC_BROKER_CONFIG auto.create.topics.enable=true DEFAULT_CONFIG]"},
		{"log.roll.ms", "<nil> DEFAULT_CONFIG []"},
		{"log.roll.hours", "168 DEFAULT_CONFIG [log.roll.hours=168 DEFAULT_CONFIG]"},
		{"advertised.listeners", "<nil> DEFAULT_CONFIG []"},
		{"listeners", "PLAINTEXT://:9092 STATIC_BROKER_CONFIG [listeners=PLAINTEXT://:9092 STATIC_BROKER_CONFIG listeners=PLAINTEXT://localhost:9092 DEFAULT_CONFIG]"},
		{"log.flush.interval.messages", "1 DEFAULT_CONFIG [log.flush.interval.messages=1 DEFAULT_CONFIG]"},
		{"log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308 DEFAULT_CONFIG [log.cleaner.io.max.bytes.per.second=1.7976931348623157E308 DEFAULT_CONFIG]"},
		{"sluice.metrics.listener", "localhost:9644 DEFAULT_CONFIG [sluice.metrics.listener=localhost:9644 DEFAULT_CONFIG]"},
	}
	for _, source := range []struct {
		name   string
		static map[string]string
	}{{"recorded by ParseBroker", nil}, {"given", static}} {
		entries := DescribeBroker(broker, source.static)
		for _, test := range tests {
			if got := describe(find(t, entries, test.name)); got != test.want {
				t.Errorf("%s, %s:\n got %s\nwant %s", source.name, test.name, got, test.want)
			}
		}
		for _, entry := range entries {
			if !entry.ReadOnly || entry.Documentation == "" || entry.Type == kmsg.ConfigTypeUnknown {
				t.Errorf("%s: readOnly=%v type=%v doc=%q", entry.Name, entry.ReadOnly, entry.Type, entry.Documentation)
			}
		}
		if len(entries) != len(brokerRegistry) {
			t.Errorf("described %d settings, want %d", len(entries), len(brokerRegistry))
		}
	}
}

func TestDescribeBrokerGeneratedClusterID(t *testing.T) {
	broker := DefaultBroker()
	broker.ClusterID = "MkU3OEVBNTcwNTJENDM2Qg"
	entry := find(t, DescribeBroker(broker, nil), "sluice.cluster.id")
	if got := describe(entry); got != "MkU3OEVBNTcwNTJENDM2Qg DEFAULT_CONFIG []" {
		t.Errorf("sluice.cluster.id: %s", got)
	}
}

func TestDescribeBrokerSensitiveHidesValues(t *testing.T) {
	def := &brokerDefinition{name: "secret.thing", typ: kmsg.ConfigTypePassword, defaultText: text("hunter2"), defaultValue: "hunter2", sensitive: true, doc: "x"}
	entry := describeBrokerSetting(def, DefaultBroker(), map[string]string{"secret.thing": "swordfish"})
	if entry.Value != nil || !entry.Sensitive {
		t.Fatalf("sensitive value exposed: %s", describe(entry))
	}
	for _, synonym := range entry.Synonyms {
		if synonym.Value != nil {
			t.Fatalf("sensitive synonym exposed: %s", describe(entry))
		}
	}
}
