package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
)

func TestRegistryTopicConfigs(t *testing.T) {
	cfg := ConfigFromBroker(config.DefaultBroker())
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config from default broker: %v", err)
	}
	if !cfg.DeleteTopicEnable || cfg.NumPartitions != 1 || cfg.DefaultReplicationFactor != 1 {
		t.Fatalf("Kafka defaults not carried over: %+v", cfg)
	}
	registry := cfg.TopicConfigs
	if err := registry.Validate("retention.ms", strPtr("not a number")); err == nil {
		t.Fatalf("invalid retention.ms accepted")
	}
	if err := registry.Validate("no.such.config", strPtr("1")); err == nil {
		t.Fatalf("unknown config accepted")
	}
	if err := registry.Validate("retention.ms", strPtr("1000")); err != nil {
		t.Fatalf("valid retention.ms refused: %v", err)
	}
	if !registry.IsList("cleanup.policy") || registry.IsList("retention.ms") {
		t.Fatalf("IsList wrong")
	}
	if def, ok := registry.Default("cleanup.policy"); !ok || def != "delete" {
		t.Fatalf("Default(cleanup.policy) = %q, %v", def, ok)
	}
	described := registry.Describe(map[string]string{"retention.ms": "1000"})
	if !slices.IsSortedFunc(described, func(a, b kmsg.CreateTopicsResponseTopicConfig) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	}) || len(described) < 10 {
		t.Fatalf("Describe returned %d unsorted entries", len(described))
	}
	for _, d := range described {
		if d.Name == "retention.ms" && (deref(d.Value) != "1000" || d.Source != int8(kmsg.ConfigSourceDynamicTopicConfig)) {
			t.Fatalf("retention.ms described as %+v", d)
		}
	}
}

// With the real registry wired, CreateTopics answers INVALID_CONFIG with the
// registry's message and describes every config in the v5+ response.
func TestCreateTopicsWithRegistry(t *testing.T) {
	cfg := ConfigFromBroker(config.DefaultBroker())
	cfg.NewTopicID = sequentialIDs()
	cfg.Rand = func(int) int { return 0 }
	img := fixtureImage(t)
	_, resp, _ := planCreateTopics(img, createRequest(createTopic("bad", 1, 1, "retention.ms", "soon")), &cfg)
	wantError(t, "bad", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidConfig, "*")
	if resp.Topics[0].ErrorMessage == nil {
		t.Fatalf("INVALID_CONFIG without a message")
	}
	_, resp, _ = planCreateTopics(img, createRequest(createTopic("good", 1, 1, "cleanup.policy", "compact")), &cfg)
	if r := resp.Topics[0]; r.ErrorCode != 0 || len(r.Configs) < 10 {
		t.Fatalf("good topic: code %d, %d configs", r.ErrorCode, len(r.Configs))
	}
}

// The cluster settings come from the broker config: Sluice's session
// timeout and Kafka's rebalance defaults, unclean election off.
func TestConfigFromBrokerClusterSettings(t *testing.T) {
	b := config.DefaultBroker()
	cfg := ConfigFromBroker(b)
	if cfg.SessionTimeout != time.Duration(b.BrokerSessionTimeoutMs)*time.Millisecond || cfg.SessionTimeout <= 0 {
		t.Fatalf("SessionTimeout = %v, broker.session.timeout.ms = %d", cfg.SessionTimeout, b.BrokerSessionTimeoutMs)
	}
	if cfg.LeaderImbalanceCheckInterval != 300*time.Second || !cfg.AutoLeaderRebalanceEnable || cfg.UncleanLeaderElectionEnable {
		t.Fatalf("config = %+v", cfg)
	}
	b.TopicDefaults.UncleanLeaderElectionEnable = true
	b.AutoLeaderRebalanceEnable = false
	if cfg := ConfigFromBroker(b); !cfg.UncleanLeaderElectionEnable || cfg.AutoLeaderRebalanceEnable {
		t.Fatalf("overrides not taken: %+v", cfg)
	}
	// sluice.max.partitions: automatic (0) is the unknown-memory value
	// until the server sets the resolved one; explicit values pass through.
	if cfg.MaxPartitions != config.FallbackMaxPartitions {
		t.Fatalf("MaxPartitions = %d for automatic, want %d", cfg.MaxPartitions, config.FallbackMaxPartitions)
	}
	b.MaxPartitions = 1500
	if cfg := ConfigFromBroker(b); cfg.MaxPartitions != 1500 {
		t.Fatalf("MaxPartitions = %d, want 1500", cfg.MaxPartitions)
	}
}
