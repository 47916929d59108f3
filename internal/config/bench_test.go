package config

import (
	"strings"
	"testing"
)

func BenchmarkParseKafkaServerProperties(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		props, err := LoadProperties(strings.NewReader(kafkaServerProperties))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseBroker(props); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveTopic measures what opening a partition with a few
// overrides costs.
func BenchmarkResolveTopic(b *testing.B) {
	defaults := DefaultTopic()
	overrides := map[string]string{"retention.ms": "86400000", "cleanup.policy": "compact", "segment.bytes": "104857600"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ResolveTopic(defaults, overrides); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDescribeTopic(b *testing.B) {
	broker := DefaultBroker()
	overrides := map[string]string{"retention.ms": "86400000"}
	b.ReportAllocs()
	for b.Loop() {
		DescribeTopic(broker, overrides)
	}
}
