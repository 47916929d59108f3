package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Broker is a node's typed configuration, built by ParseBroker from
// server.properties (and environment overrides) or by DefaultBroker. Field
// comments give the Kafka name; defaults are Kafka's unless the package doc
// says otherwise. Treat a Broker as a value: nothing in it changes after it
// is built, and copies may share its slices and maps.
type Broker struct {
	// NodeID is node.id (broker.id is accepted as a synonym). Default 1.
	NodeID int32
	// ClusterID is sluice.cluster.id: the cluster ID to use when the data
	// directory is formatted. Empty means the broker generates one on
	// first start.
	ClusterID string
	// Rack is broker.rack, for rack-aware replica placement ("" if none).
	Rack string
	// ProcessRoles is process.roles: "broker", "controller" or both, in
	// the order given. Default broker,controller. See IsBroker and
	// IsController.
	ProcessRoles []string
	// ControllerQuorumVoters is controller.quorum.voters, the static
	// metadata quorum (id@host:port,...), in the order given. Empty (the
	// default) means a single node: see SingleNode.
	ControllerQuorumVoters []Voter

	// Listeners are the client listeners from listeners: the entries not
	// named in controller.listener.names. Default PLAINTEXT://localhost:9092.
	// An empty Host binds every interface.
	Listeners []Listener
	// AdvertisedListeners are the client listeners published in Metadata
	// (advertised.listeners, default: Listeners). An empty Host means
	// "this machine's host name", which the server fills in.
	AdvertisedListeners []Listener
	// ControllerListeners are the entries of listeners named in
	// controller.listener.names: where a controller serves the quorum and
	// the controller APIs (see ControllerListener). A single node needs
	// none.
	ControllerListeners []Listener
	// AdvertisedControllerListeners are the advertised.listeners entries
	// named in controller.listener.names.
	AdvertisedControllerListeners []Listener
	// ControllerListenerNames is controller.listener.names, upper-cased.
	ControllerListenerNames []string
	// ListenerSecurityProtocolMap is listener.security.protocol.map:
	// listener name → security protocol, names upper-cased.
	ListenerSecurityProtocolMap map[string]string
	// InterBrokerListenerName is the advertised listener brokers use to
	// reach each other: inter.broker.listener.name, or else the listener
	// named after security.inter.broker.protocol (PLAINTEXT). See
	// InterBrokerListener.
	InterBrokerListenerName string
	// MetricsListener is sluice.metrics.listener: host:port of the
	// Prometheus /metrics endpoint; "" disables it. Default localhost:9644.
	MetricsListener string

	// SocketSendBufferBytes is socket.send.buffer.bytes (-1: OS default).
	SocketSendBufferBytes int32
	// SocketReceiveBufferBytes is socket.receive.buffer.bytes (-1: OS default).
	SocketReceiveBufferBytes int32
	// SocketRequestMaxBytes is socket.request.max.bytes: larger request
	// frames are refused before any allocation.
	SocketRequestMaxBytes int32
	// ConnectionsMaxIdleMs is connections.max.idle.ms: a connection with
	// nothing in flight and no bytes read or written for this long is
	// closed (negative or 0: never).
	ConnectionsMaxIdleMs int64
	// MaxConnections is max.connections (across all client listeners; 0
	// refuses every client). When left at its default (unbounded) the
	// server caps connections at a share of the open-file limit instead.
	MaxConnections int32
	// MaxConnectionsPerIP is max.connections.per.ip (0 is allowed only
	// with overrides: then only the hosts named there may connect).
	MaxConnectionsPerIP int32
	// MaxConnectionsPerIPOverrides is max.connections.per.ip.overrides as
	// given ("host:count,..."); see PerIPConnectionOverrides.
	MaxConnectionsPerIPOverrides string
	// QueuedMaxRequestBytes is queued.max.request.bytes: bytes of requests
	// read but not yet answered, across all client connections, before
	// readers wait (0 or negative: unbounded, Kafka's default). Sluice's
	// default when unset is max(256 MiB, socket.request.max.bytes).
	QueuedMaxRequestBytes int64
	// RequestReadTimeoutMs is sluice.request.read.timeout.ms: a request
	// whose bytes do not all arrive within this long of its first byte
	// closes the connection (slowloris). 0: no limit.
	RequestReadTimeoutMs int32
	// ResponseWriteTimeoutMs is sluice.response.write.timeout.ms: a
	// connection whose response write makes no progress for this long
	// (the client is not reading) is closed. 0: no limit.
	ResponseWriteTimeoutMs int32

	// LogDirs is log.dirs, or log.dir when log.dirs is not set. Default
	// ./sluice-data.
	LogDirs []string
	// MetadataLogDir is metadata.log.dir: where the metadata (Raft) log
	// lives; "" means the first of LogDirs.
	MetadataLogDir string
	// LogRetentionCheckIntervalMs is log.retention.check.interval.ms: how
	// often retention is enforced.
	LogRetentionCheckIntervalMs int64
	// LogFlushOffsetCheckpointIntervalMs is
	// log.flush.offset.checkpoint.interval.ms: how often the recovery point
	// checkpoint is written.
	LogFlushOffsetCheckpointIntervalMs int32
	// LogFlushStartOffsetCheckpointIntervalMs is
	// log.flush.start.offset.checkpoint.interval.ms.
	LogFlushStartOffsetCheckpointIntervalMs int32
	// LogCleanerEnable is log.cleaner.enable: run compaction.
	LogCleanerEnable bool
	// LogCleanerThreads is log.cleaner.threads.
	LogCleanerThreads int32
	// LogCleanerBackoffMs is log.cleaner.backoff.ms: the cleaner's sleep
	// when there is nothing to clean.
	LogCleanerBackoffMs int64

	// NumPartitions is num.partitions: partitions of an auto-created topic
	// (or a CreateTopics request with -1).
	NumPartitions int32
	// DefaultReplicationFactor is default.replication.factor: replicas of
	// an auto-created topic or a CreateTopics request with -1. Default 1.
	DefaultReplicationFactor int16
	// MaxPartitions is sluice.max.partitions: the most partition replicas
	// one broker may host. 0 (the default) is automatic: see
	// ResolvePartitionCap.
	MaxPartitions int32
	// MinInsyncReplicas is the broker-level min.insync.replicas: the
	// default of every topic's min.insync.replicas, so always equal to
	// TopicDefaults.MinInsyncReplicas. Default 1.
	MinInsyncReplicas int32
	// UncleanLeaderElectionEnable is the broker-level
	// unclean.leader.election.enable: the default of every topic's, so
	// always equal to TopicDefaults.UncleanLeaderElectionEnable. Default
	// false.
	UncleanLeaderElectionEnable bool
	// AutoCreateTopicsEnable is auto.create.topics.enable.
	AutoCreateTopicsEnable bool
	// DeleteTopicEnable is delete.topic.enable.
	DeleteTopicEnable bool
	// MessageMaxBytes is message.max.bytes, the broker-wide largest
	// record batch (the default of every topic's max.message.bytes, so
	// always equal to TopicDefaults.MaxMessageBytes).
	MessageMaxBytes int32
	// TopicDefaults are the topic configs every topic inherits, resolved
	// from the broker's log.* settings (retention.ms from log.retention.ms,
	// else log.retention.minutes, else log.retention.hours, and so on).
	TopicDefaults Topic

	// FetchMaxBytes is fetch.max.bytes: the most a Fetch response holds.
	FetchMaxBytes int32
	// MaxIncrementalFetchSessionCacheSlots is
	// max.incremental.fetch.session.cache.slots.
	MaxIncrementalFetchSessionCacheSlots int32

	// ReplicaLagTimeMaxMs is replica.lag.time.max.ms: a follower that has
	// not caught up for this long leaves the ISR.
	ReplicaLagTimeMaxMs int64
	// ReplicaSocketTimeoutMs is replica.socket.timeout.ms.
	ReplicaSocketTimeoutMs int32
	// ReplicaFetchMaxBytes is replica.fetch.max.bytes (per partition).
	ReplicaFetchMaxBytes int32
	// ReplicaFetchWaitMaxMs is replica.fetch.wait.max.ms.
	ReplicaFetchWaitMaxMs int32
	// ReplicaFetchMinBytes is replica.fetch.min.bytes.
	ReplicaFetchMinBytes int32
	// ReplicaFetchBackoffMs is replica.fetch.backoff.ms.
	ReplicaFetchBackoffMs int32
	// ReplicaFetchResponseMaxBytes is replica.fetch.response.max.bytes.
	ReplicaFetchResponseMaxBytes int32
	// NumReplicaFetchers is num.replica.fetchers (per source broker).
	NumReplicaFetchers int32
	// ReplicaSelectorClass is replica.selector.class: how a leader picks
	// the replica a consumer should fetch from (KIP-392). Empty (Kafka's
	// default, null) always means the leader; RackAwareReplicaSelector, the
	// only other value accepted, sends a consumer that names its rack to
	// an in-sync follower in that rack. See RackAwareFetch.
	ReplicaSelectorClass string
	// ReplicaHighWatermarkCheckpointIntervalMs is
	// replica.high.watermark.checkpoint.interval.ms: how often the high
	// watermarks are written to replication-offset-checkpoint.
	ReplicaHighWatermarkCheckpointIntervalMs int64
	// AutoLeaderRebalanceEnable is auto.leader.rebalance.enable.
	AutoLeaderRebalanceEnable bool
	// LeaderImbalanceCheckIntervalSeconds is
	// leader.imbalance.check.interval.seconds.
	LeaderImbalanceCheckIntervalSeconds int64
	// LeaderImbalancePerBrokerPercentage is
	// leader.imbalance.per.broker.percentage.
	LeaderImbalancePerBrokerPercentage int32
	// BrokerHeartbeatIntervalMs is broker.heartbeat.interval.ms: how often
	// a broker heartbeats to the active controller. Sluice default 500
	// (Kafka: 2000).
	BrokerHeartbeatIntervalMs int32
	// BrokerSessionTimeoutMs is broker.session.timeout.ms: the active
	// controller fences a broker that has not heartbeated for this long.
	// Sluice default 1500 (Kafka: 9000), so a killed broker's leaderships
	// move within about 3 s.
	BrokerSessionTimeoutMs int32
	// ControlledShutdownEnable is controlled.shutdown.enable: on SIGTERM a
	// broker asks the controller to move its leaderships away before it
	// stops.
	ControlledShutdownEnable bool

	// GroupMinSessionTimeoutMs is group.min.session.timeout.ms (classic).
	GroupMinSessionTimeoutMs int32
	// GroupMaxSessionTimeoutMs is group.max.session.timeout.ms (classic).
	GroupMaxSessionTimeoutMs int32
	// GroupInitialRebalanceDelayMs is group.initial.rebalance.delay.ms.
	GroupInitialRebalanceDelayMs int32
	// GroupMaxSize is group.max.size (classic groups).
	GroupMaxSize int32
	// GroupCoordinatorRebalanceProtocols is
	// group.coordinator.rebalance.protocols (must include classic).
	GroupCoordinatorRebalanceProtocols []string
	// GroupConsumerSessionTimeoutMs is group.consumer.session.timeout.ms
	// (KIP-848 groups), bounded by the min and max below.
	GroupConsumerSessionTimeoutMs int32
	// GroupConsumerMinSessionTimeoutMs is group.consumer.min.session.timeout.ms.
	GroupConsumerMinSessionTimeoutMs int32
	// GroupConsumerMaxSessionTimeoutMs is group.consumer.max.session.timeout.ms.
	GroupConsumerMaxSessionTimeoutMs int32
	// GroupConsumerHeartbeatIntervalMs is group.consumer.heartbeat.interval.ms.
	GroupConsumerHeartbeatIntervalMs int32
	// GroupConsumerMinHeartbeatIntervalMs is
	// group.consumer.min.heartbeat.interval.ms.
	GroupConsumerMinHeartbeatIntervalMs int32
	// GroupConsumerMaxHeartbeatIntervalMs is
	// group.consumer.max.heartbeat.interval.ms.
	GroupConsumerMaxHeartbeatIntervalMs int32
	// GroupConsumerMaxSize is group.consumer.max.size.
	GroupConsumerMaxSize int32
	// GroupConsumerAssignors is group.consumer.assignors, preferred first.
	GroupConsumerAssignors []string
	// GroupConsumerMigrationPolicy is group.consumer.migration.policy.
	GroupConsumerMigrationPolicy string
	// OffsetsTopicNumPartitions is offsets.topic.num.partitions.
	OffsetsTopicNumPartitions int32
	// OffsetsTopicReplicationFactor is offsets.topic.replication.factor.
	// Default when not set: DefaultInternalReplicationFactor, min(3, number
	// of voters), so 1 on a single node (Kafka: 3).
	OffsetsTopicReplicationFactor int16
	// OffsetsTopicSegmentBytes is offsets.topic.segment.bytes.
	OffsetsTopicSegmentBytes int32
	// OffsetsRetentionMinutes is offsets.retention.minutes.
	OffsetsRetentionMinutes int32
	// OffsetsRetentionCheckIntervalMs is offsets.retention.check.interval.ms.
	OffsetsRetentionCheckIntervalMs int64
	// OffsetsCommitTimeoutMs is offsets.commit.timeout.ms.
	OffsetsCommitTimeoutMs int32
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int32

	// TransactionStateLogNumPartitions is transaction.state.log.num.partitions.
	TransactionStateLogNumPartitions int32
	// TransactionStateLogReplicationFactor is
	// transaction.state.log.replication.factor. Default when not set:
	// DefaultInternalReplicationFactor, as for the offsets topic (Kafka: 3).
	TransactionStateLogReplicationFactor int16
	// TransactionStateLogMinISR is transaction.state.log.min.isr. Default
	// when not set: min(2, TransactionStateLogReplicationFactor), so 1 on
	// a single node (Kafka: 2).
	TransactionStateLogMinISR int32
	// TransactionStateLogSegmentBytes is transaction.state.log.segment.bytes.
	TransactionStateLogSegmentBytes int32
	// TransactionalIDExpirationMs is transactional.id.expiration.ms.
	TransactionalIDExpirationMs int32
	// TransactionMaxTimeoutMs is transaction.max.timeout.ms.
	TransactionMaxTimeoutMs int32
	// TransactionAbortTimedOutTransactionCleanupIntervalMs is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms.
	TransactionAbortTimedOutTransactionCleanupIntervalMs int32
	// TransactionRemoveExpiredTransactionCleanupIntervalMs is
	// transaction.remove.expired.transaction.cleanup.interval.ms.
	TransactionRemoveExpiredTransactionCleanupIntervalMs int32
	// TransactionPartitionVerificationEnable is
	// transaction.partition.verification.enable (KIP-890).
	TransactionPartitionVerificationEnable bool
	// ProducerIDExpirationMs is producer.id.expiration.ms.
	ProducerIDExpirationMs int32
	// ProducerIDExpirationCheckIntervalMs is
	// producer.id.expiration.check.interval.ms.
	ProducerIDExpirationCheckIntervalMs int32

	// static holds the canonical text of every key ParseBroker was given,
	// for DescribeConfigs sources and synonyms.
	static map[string]string
}

// RackAwareFetch reports whether replica.selector.class turns on
// fetching from the closest replica (KIP-392): a leader then points a
// consumer that names its rack at an in-sync follower in that rack
// (PreferredReadReplica) instead of sending it records.
func (b Broker) RackAwareFetch() bool { return b.ReplicaSelectorClass == RackAwareReplicaSelector }

// DefaultBroker returns the configuration of a broker started with an empty
// server.properties: a single combined node (no voters, see SingleNode)
// listening on localhost:9092 with data under ./sluice-data.
func DefaultBroker() Broker {
	// The built-in defaults always build (TestDefaultBrokerIsValid).
	b, _ := build(map[string]any{}, map[string]string{})
	return b
}

// ParseBroker builds a Broker from server.properties-style key/values (merge
// file, environment and flags first; later layers win). Unknown keys, values
// of the wrong type or out of range, and inconsistent combinations are
// errors; each is an *Error naming the key, e.g.
// `config "log.retention.ms": value "abc" is not a valid long`. All
// per-key problems are reported at once (errors.Join, in key order).
func ParseBroker(props map[string]string) (Broker, error) {
	parsed := make(map[string]any, len(props))
	static := make(map[string]string, len(props))
	var problems []error
	for _, name := range slices.Sorted(maps.Keys(props)) {
		value, err := parseBrokerValue(name, props[name])
		if err != nil {
			problems = append(problems, err)
			continue
		}
		parsed[name] = value
		static[name] = formatValue(value)
	}
	if len(problems) > 0 {
		return Broker{}, errors.Join(problems...)
	}
	b, err := build(parsed, static)
	if err != nil {
		return Broker{}, err
	}
	if err := b.Validate(); err != nil {
		return Broker{}, err
	}
	return b, nil
}

// InertKeys returns the keys of props (sorted) that Sluice accepts so that
// Kafka's server.properties loads unchanged, but does not act on yet (thread
// counts, quorum timeouts, controller.quorum.bootstrap.servers, ...). The
// CLI logs them as a warning.
func InertKeys(props map[string]string) []string {
	var inert []string
	for _, name := range slices.Sorted(maps.Keys(props)) {
		if def, ok := brokerRegistryByName[name]; ok && def.inert {
			inert = append(inert, name)
		}
	}
	return inert
}

// parseBrokerValue parses and checks one broker setting.
func parseBrokerValue(name, text string) (any, error) {
	def, ok := brokerRegistryByName[name]
	if !ok {
		return nil, unknownBrokerConfig(name)
	}
	return parseChecked(name, text, def.typ, def.check)
}

func unknownBrokerConfig(name string) error {
	return &Error{Name: name, Unknown: true, Reason: brokerHint(name)}
}

// brokerHint explains an unknown broker key: a topic config used in
// server.properties, a feature Sluice does not have yet, or a likely typo.
func brokerHint(name string) string {
	if def, ok := topicRegistryByName[name]; ok && len(def.synonyms) > 0 {
		return fmt.Sprintf("%q is a topic setting; the broker default is %q", name, def.synonyms[0].name)
	}
	switch {
	case strings.HasPrefix(name, "zookeeper."):
		return "Sluice, like Kafka 4, has no ZooKeeper: remove this setting"
	case strings.HasPrefix(name, "ssl."), strings.HasPrefix(name, "sasl."), strings.HasPrefix(name, "listener.name."):
		return "TLS and SASL are not supported yet; only PLAINTEXT listeners are"
	}
	names := make([]string, len(brokerRegistry))
	for i, def := range brokerRegistry {
		names[i] = def.name
	}
	return didYouMean(name, names)
}

// build assembles a Broker from parsed values (keys already checked one by
// one), filling the rest from defaults, including those that depend on
// other settings (the internal topics' replication factors on the voter
// count). It reports the errors that only show when settings are combined:
// listener syntax and protocols, node.id against broker.id. Validate does
// the remaining checks.
func build(parsed map[string]any, static map[string]string) (Broker, error) {
	b := Broker{static: static}
	for i := range brokerRegistry {
		def := &brokerRegistry[i]
		if def.field == nil {
			continue
		}
		value, ok := parsed[def.name]
		if !ok {
			value = def.defaultValue
		}
		if value != nil {
			assign(def.field(&b), value)
		}
	}
	b.TopicDefaults = resolveTopicDefaults(parsed)
	b.MessageMaxBytes = b.TopicDefaults.MaxMessageBytes
	b.MinInsyncReplicas = b.TopicDefaults.MinInsyncReplicas
	b.UncleanLeaderElectionEnable = b.TopicDefaults.UncleanLeaderElectionEnable
	if err := b.resolveNodeID(parsed); err != nil {
		return Broker{}, err
	}
	if err := b.resolveListeners(parsed); err != nil {
		return Broker{}, err
	}
	if err := b.resolveVoters(parsed); err != nil {
		return Broker{}, err
	}
	b.resolveInternalTopicDefaults(parsed)
	b.resolveQueuedMaxRequestBytes(parsed)
	b.LogDirs = resolveLogDirs(parsed)
	return b, nil
}

// resolveTopicDefaults applies, for each topic config, the first of its
// broker synonyms that was set (Kafka's precedence, e.g. log.retention.ms
// over log.retention.minutes over log.retention.hours), converted to the
// topic config's unit. Topic configs with none set keep their default.
func resolveTopicDefaults(parsed map[string]any) Topic {
	t := DefaultTopic()
	for i := range topicRegistry {
		def := &topicRegistry[i]
		for _, synonym := range def.synonyms {
			value, ok := parsed[synonym.name]
			if !ok {
				continue
			}
			assign(def.field(&t), synonym.toTopicUnit(value))
			break
		}
	}
	return t
}

// toTopicUnit converts a synonym's value to its topic config's unit.
func (s brokerSynonym) toTopicUnit(value any) any {
	n, ok := value.(int64)
	if !ok {
		return value
	}
	if s.scale != 0 {
		n *= s.scale
	}
	if s.negativeIsUnlimited && n < 0 {
		n = -1
	}
	return n
}

// resolveNodeID applies broker.id, Kafka's older name for node.id.
func (b *Broker) resolveNodeID(parsed map[string]any) error {
	brokerID, ok := parsed["broker.id"]
	if !ok {
		return nil
	}
	if nodeID, set := parsed["node.id"]; set && nodeID != brokerID {
		return &Error{
			Name:   "broker.id",
			Value:  formatValue(brokerID),
			Reason: fmt.Sprintf("must equal node.id (%s) when both are set", formatValue(nodeID)),
		}
	}
	b.NodeID = int32(brokerID.(int64))
	return nil
}

// resolveLogDirs takes log.dirs, or log.dir when log.dirs is not set.
func resolveLogDirs(parsed map[string]any) []string {
	if dirs, ok := parsed["log.dirs"]; ok {
		return slices.Clone(dirs.([]string))
	}
	if dir, ok := parsed["log.dir"]; ok {
		return slices.Clone(dir.([]string))
	}
	return slices.Clone(brokerRegistryByName["log.dir"].defaultValue.([]string))
}
