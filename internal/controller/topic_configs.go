package controller

import (
	"cmp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
)

// ConfigFromBroker returns the controller settings of broker configuration b:
// node.id, num.partitions, default.replication.factor, delete.topic.enable,
// broker.session.timeout.ms, unclean.leader.election.enable (the broker
// default), auto.leader.rebalance.enable,
// leader.imbalance.check.interval.seconds, sluice.max.partitions (an
// explicit value; for 0, automatic, config.FallbackMaxPartitions: the
// server sets the value resolved from the machine's memory), and topic
// configs validated and described by internal/config with b's topic
// defaults. The caller may still set NewTopicID, Rand, Now, Logger,
// MaxPartitions and PartitionCapRefused.
func ConfigFromBroker(b config.Broker) Config {
	return Config{
		NodeID:                       b.NodeID,
		NumPartitions:                b.NumPartitions,
		DefaultReplicationFactor:     b.DefaultReplicationFactor,
		DeleteTopicEnable:            b.DeleteTopicEnable,
		TopicConfigs:                 registryTopicConfigs{broker: b},
		SessionTimeout:               time.Duration(b.BrokerSessionTimeoutMs) * time.Millisecond,
		KeepSelfUnfenced:             b.SingleNode(),
		UncleanLeaderElectionEnable:  b.TopicDefaults.UncleanLeaderElectionEnable,
		AutoLeaderRebalanceEnable:    b.AutoLeaderRebalanceEnable,
		LeaderImbalanceCheckInterval: time.Duration(b.LeaderImbalanceCheckIntervalSeconds) * time.Second,
		MaxPartitions:                configuredMaxPartitions(b),
	}
}

// configuredMaxPartitions is an explicit sluice.max.partitions, or for 0
// (automatic) the value used where the memory limit is unknown.
func configuredMaxPartitions(b config.Broker) int32 {
	if b.MaxPartitions > 0 {
		return b.MaxPartitions
	}
	return config.FallbackMaxPartitions
}

// registryTopicConfigs is TopicConfigs backed by internal/config's registry.
// It holds a copy of the broker configuration and is read-only, so it is
// safe for concurrent use.
type registryTopicConfigs struct {
	broker config.Broker
}

// Validate checks the value with the registry's parser and range checks.
func (r registryTopicConfigs) Validate(name string, value *string) error {
	return config.ValidateTopicConfig(name, value)
}

// IsList reports whether the registry types the config as a LIST.
func (r registryTopicConfigs) IsList(name string) bool {
	typ, ok := config.TopicConfigType(name)
	return ok && typ == kmsg.ConfigTypeList
}

// Default is the value a topic without an override gets from this broker's
// settings.
func (r registryTopicConfigs) Default(name string) (string, bool) {
	for _, entry := range config.DescribeTopic(r.broker, nil) {
		if entry.Name == name && entry.Value != nil {
			return *entry.Value, true
		}
	}
	return "", false
}

// Describe lists every topic config in force, ordered by name, as Kafka's
// CreateTopics v5+ response (computeEffectiveTopicConfigs) does; sensitive
// values are withheld.
func (r registryTopicConfigs) Describe(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	entries := config.DescribeTopic(r.broker, overrides)
	configs := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, entry := range entries {
		described := kmsg.NewCreateTopicsResponseTopicConfig()
		described.Name = entry.Name
		if !entry.Sensitive {
			described.Value = entry.Value
		}
		described.ReadOnly = entry.ReadOnly
		described.Source = int8(entry.Source)
		described.IsSensitive = entry.Sensitive
		configs = append(configs, described)
	}
	slices.SortFunc(configs, func(a, b kmsg.CreateTopicsResponseTopicConfig) int { return cmp.Compare(a.Name, b.Name) })
	return configs
}
