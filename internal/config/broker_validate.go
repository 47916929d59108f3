package config

import (
	"fmt"
)

// Validate checks every field against its Kafka range and the rules that
// tie settings together (KafkaConfig.validateValues, KRaft's role and quorum
// rules and the group coordinator's checks, plus Sluice's own limits:
// PLAINTEXT listeners only, internal topics that can be written). ParseBroker
// calls it; call it on a Broker built or changed in code. Defaults that
// depend on other settings are applied by ParseBroker only: code that sets
// ControllerQuorumVoters should set the internal topics' replication
// factors too.
func (b Broker) Validate() error {
	checks := []func() error{
		b.validateFields,
		b.validateTopicDefaults,
		b.validateListeners,
		b.validateQuorum,
		b.validateLogDirs,
		b.validateReplication,
		b.validateInternalTopics,
		b.validateGroups,
		b.validateNetwork,
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateFields runs each setting's own check on the field it fills.
func (b Broker) validateFields() error {
	for i := range brokerRegistry {
		def := &brokerRegistry[i]
		if def.field == nil || def.check == nil {
			continue
		}
		value := read(def.typ, def.field(&b))
		if reason := def.check(value); reason != "" {
			return &Error{Name: def.name, Value: formatValue(value), Reason: reason}
		}
	}
	return b.validateTopicMirrors()
}

// validateTopicMirrors checks that the Broker fields copying a topic
// default agree with TopicDefaults: they are the same setting.
func (b Broker) validateTopicMirrors() error {
	mirrors := []struct {
		name             string
		broker, topicDef any
	}{
		{"message.max.bytes", int64(b.MessageMaxBytes), int64(b.TopicDefaults.MaxMessageBytes)},
		{"min.insync.replicas", int64(b.MinInsyncReplicas), int64(b.TopicDefaults.MinInsyncReplicas)},
		{"unclean.leader.election.enable", b.UncleanLeaderElectionEnable, b.TopicDefaults.UncleanLeaderElectionEnable},
	}
	for _, m := range mirrors {
		if m.broker != m.topicDef {
			return &Error{Name: m.name, Value: formatValue(m.broker),
				Reason: fmt.Sprintf("differs from the topic default in TopicDefaults (%s): they are the same setting", formatValue(m.topicDef))}
		}
	}
	return nil
}

// validateTopicDefaults checks the topic defaults, naming the broker setting
// that supplied a bad value (log.roll.ms=0, say) rather than the topic name.
func (b Broker) validateTopicDefaults() error {
	if b.TopicDefaults.RetentionMs == 0 {
		return &Error{Name: b.brokerKeyFor("retention.ms"), Value: "0",
			Reason: "must be unlimited (-1) or at least 1 millisecond"}
	}
	err := b.TopicDefaults.Validate()
	if problem, ok := err.(*Error); ok {
		problem.Name = b.brokerKeyFor(problem.Name)
	}
	return err
}

// brokerKeyFor names the broker setting behind a topic default: the first
// synonym that was configured, else the highest-precedence one.
func (b Broker) brokerKeyFor(topicName string) string {
	def, ok := topicRegistryByName[topicName]
	if !ok || len(def.synonyms) == 0 {
		return topicName
	}
	for _, synonym := range def.synonyms {
		if _, set := b.static[synonym.name]; set {
			return synonym.name
		}
	}
	return def.synonyms[0].name
}

// validateLogDirs requires at least one distinct, non-empty directory.
func (b Broker) validateLogDirs() error {
	if reason := nonEmptyDistinctList(b.LogDirs); reason != "" {
		name := "log.dirs"
		if _, set := b.static["log.dirs"]; !set {
			name = "log.dir"
		}
		return &Error{Name: name, Value: formatValue(b.LogDirs), Reason: reason}
	}
	return nil
}

// validateReplication applies KafkaConfig's replica fetch rules and the
// heartbeat/session ordering.
func (b Broker) validateReplication() error {
	return firstError(
		notBelow("replica.socket.timeout.ms", int64(b.ReplicaSocketTimeoutMs), "replica.fetch.wait.max.ms", int64(b.ReplicaFetchWaitMaxMs)),
		notAbove("replica.fetch.wait.max.ms", int64(b.ReplicaFetchWaitMaxMs), "replica.lag.time.max.ms", b.ReplicaLagTimeMaxMs),
		below("broker.heartbeat.interval.ms", int64(b.BrokerHeartbeatIntervalMs), "broker.session.timeout.ms", int64(b.BrokerSessionTimeoutMs)),
	)
}

// validateGroups applies the group coordinator's ordering rules.
func (b Broker) validateGroups() error {
	session, heartbeat := int64(b.GroupConsumerSessionTimeoutMs), int64(b.GroupConsumerHeartbeatIntervalMs)
	return firstError(
		notBelow("group.max.session.timeout.ms", int64(b.GroupMaxSessionTimeoutMs), "group.min.session.timeout.ms", int64(b.GroupMinSessionTimeoutMs)),
		notBelow("group.consumer.max.session.timeout.ms", int64(b.GroupConsumerMaxSessionTimeoutMs),
			"group.consumer.min.session.timeout.ms", int64(b.GroupConsumerMinSessionTimeoutMs)),
		notBelow("group.consumer.session.timeout.ms", session, "group.consumer.min.session.timeout.ms", int64(b.GroupConsumerMinSessionTimeoutMs)),
		notAbove("group.consumer.session.timeout.ms", session, "group.consumer.max.session.timeout.ms", int64(b.GroupConsumerMaxSessionTimeoutMs)),
		notBelow("group.consumer.max.heartbeat.interval.ms", int64(b.GroupConsumerMaxHeartbeatIntervalMs),
			"group.consumer.min.heartbeat.interval.ms", int64(b.GroupConsumerMinHeartbeatIntervalMs)),
		notBelow("group.consumer.heartbeat.interval.ms", heartbeat, "group.consumer.min.heartbeat.interval.ms", int64(b.GroupConsumerMinHeartbeatIntervalMs)),
		notAbove("group.consumer.heartbeat.interval.ms", heartbeat, "group.consumer.max.heartbeat.interval.ms", int64(b.GroupConsumerMaxHeartbeatIntervalMs)),
		below("group.consumer.heartbeat.interval.ms", heartbeat, "group.consumer.session.timeout.ms", session),
	)
}

// notBelow requires value >= limit; the error names the setting value.
func notBelow(name string, value int64, limitName string, limit int64) error {
	if value >= limit {
		return nil
	}
	return &Error{Name: name, Value: formatValue(value), Reason: fmt.Sprintf("must be at least %s (%d)", limitName, limit)}
}

// notAbove requires value <= limit.
func notAbove(name string, value int64, limitName string, limit int64) error {
	if value <= limit {
		return nil
	}
	return &Error{Name: name, Value: formatValue(value), Reason: fmt.Sprintf("must be at most %s (%d)", limitName, limit)}
}

// below requires value < limit.
func below(name string, value int64, limitName string, limit int64) error {
	if value < limit {
		return nil
	}
	return &Error{Name: name, Value: formatValue(value), Reason: fmt.Sprintf("must be less than %s (%d)", limitName, limit)}
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
