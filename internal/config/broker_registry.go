package config

import (
	"cmp"
	"encoding/base64"
	"math"
	"net"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerDefinition describes one broker setting: Kafka type, Sluice default,
// accepted values and the Broker field it fills.
type brokerDefinition struct {
	name         string
	typ          kmsg.ConfigType
	defaultText  *string // nil: no default (Kafka's null)
	defaultValue any     // parsed from defaultText when the registry is built
	check        check
	doc          string
	sensitive    bool
	// inert marks settings accepted for compatibility with Kafka's
	// server.properties that Sluice does not act on yet (see InertKeys).
	inert bool
	// derived marks settings whose default depends on other settings
	// (the voter count): defaultText is the single-node value, and
	// DescribeConfigs reports the Broker field instead when unset.
	derived bool
	// field returns a pointer to the Broker field the setting fills; nil
	// for settings resolved by build (listeners, log dirs, topic defaults)
	// or not stored (inert ones).
	field func(b *Broker) any
	// topicName is set for synonyms of a topic config: the setting is that
	// topic config's broker-wide default.
	topicName string
}

var (
	maxIntText    = strconv.FormatInt(math.MaxInt32, 10)
	maxDoubleText = javaDouble(math.MaxFloat64)
)

// securityProtocols are Kafka's security protocol names.
var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// brokerSettings are the broker-only settings; buildBrokerRegistry adds the
// topic configs' broker synonyms (log.retention.hours, message.max.bytes,
// ...) from topicRegistry.
var brokerSettings = []brokerDefinition{
	// Identity and roles.
	{name: "node.id", typ: kmsg.ConfigTypeInt, defaultText: text("1"), check: atLeast(0),
		doc: "ID of this node in the cluster.", field: func(b *Broker) any { return &b.NodeID }},
	{name: "broker.id", typ: kmsg.ConfigTypeInt, check: atLeast(0),
		doc: "Older name for node.id; if both are set they must be equal."},
	{name: "process.roles", typ: kmsg.ConfigTypeList, defaultText: text("broker,controller"), check: processRoles,
		doc: "Roles of this node: broker (serves clients and hosts replicas), controller (a voter of the metadata quorum) or both. " +
			"Sluice default broker,controller (Kafka: none), so a bare node is a whole cluster; without controller.quorum.voters only both is accepted.",
		field: func(b *Broker) any { return &b.ProcessRoles }},
	{name: "broker.rack", typ: kmsg.ConfigTypeString,
		doc: "Rack of the broker, for rack-aware replica placement.", field: func(b *Broker) any { return &b.Rack }},
	{name: "sluice.cluster.id", typ: kmsg.ConfigTypeString, check: clusterID,
		doc:   "Sluice: cluster ID (22-character base64 UUID, as kafka-storage uses) written when the data directory is formatted; generated if unset.",
		field: func(b *Broker) any { return &b.ClusterID }},
	{name: "sluice.metrics.listener", typ: kmsg.ConfigTypeString, defaultText: text("localhost:9644"), check: hostPortOrEmpty,
		doc:   "Sluice: host:port serving Prometheus metrics at /metrics; empty disables it.",
		field: func(b *Broker) any { return &b.MetricsListener }},

	// Quorum (KRaft names; Sluice's metadata quorum runs on Raft).
	{name: "controller.listener.names", typ: kmsg.ConfigTypeList, check: distinctList,
		doc: "Names of the listeners used by the controller (the first is the one brokers connect to); those entries of listeners are not served to clients. " +
			"Required with controller.quorum.voters."},
	{name: "controller.quorum.voters", typ: kmsg.ConfigTypeList, defaultText: text(""), check: quorumVoters,
		doc: "Static metadata quorum as id@host:port,... (each voter's node.id and controller listener). " +
			"Empty: a single node that is its own one-voter quorum."},
	{name: "controller.quorum.bootstrap.servers", typ: kmsg.ConfigTypeList, defaultText: text(""), inert: true,
		doc: "Controller endpoints to bootstrap the quorum from. Accepted; not used yet."},
	{name: "controller.quorum.election.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("1000"), inert: true,
		doc: "Quorum election timeout. Accepted; not used yet."},
	{name: "controller.quorum.election.backoff.max.ms", typ: kmsg.ConfigTypeInt, defaultText: text("1000"), inert: true,
		doc: "Quorum election backoff. Accepted; not used yet."},
	{name: "controller.quorum.fetch.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("2000"), inert: true,
		doc: "Quorum fetch timeout. Accepted; not used yet."},
	{name: "controller.quorum.request.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("2000"), inert: true,
		doc: "Quorum request timeout. Accepted; not used yet."},
	{name: "controller.quorum.retry.backoff.ms", typ: kmsg.ConfigTypeInt, defaultText: text("20"), inert: true,
		doc: "Quorum retry backoff. Accepted; not used yet."},
	{name: "controller.quorum.append.linger.ms", typ: kmsg.ConfigTypeInt, defaultText: text("25"), inert: true,
		doc: "Quorum append linger. Accepted; not used yet."},
	{name: "metadata.log.dir", typ: kmsg.ConfigTypeString,
		doc:   "Directory of the metadata log; defaults to the first log directory.",
		field: func(b *Broker) any { return &b.MetadataLogDir }},
	{name: "broker.heartbeat.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("500"), check: atLeast(1),
		doc: "Time between broker heartbeats to the active controller; less than broker.session.timeout.ms. " +
			"Sluice default 500 (Kafka: 2000), so that a killed broker is noticed within about 3 s.",
		field: func(b *Broker) any { return &b.BrokerHeartbeatIntervalMs }},
	{name: "broker.session.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("1500"), check: atLeast(1),
		doc: "The active controller fences a broker that has not heartbeated for this long and moves its leaderships. " +
			"Sluice default 1500 (Kafka: 9000), so that a killed broker costs at most about 3 s of unavailability.",
		field: func(b *Broker) any { return &b.BrokerSessionTimeoutMs }},
	{name: "controlled.shutdown.enable", typ: kmsg.ConfigTypeBoolean, defaultText: text("true"),
		doc:   "On shutdown, ask the controller to move this broker's leaderships to other in-sync replicas first.",
		field: func(b *Broker) any { return &b.ControlledShutdownEnable }},

	// Listeners and sockets.
	{name: "listeners", typ: kmsg.ConfigTypeList, defaultText: text("PLAINTEXT://localhost:9092"),
		doc: "Comma-separated NAME://host:port endpoints to listen on; an empty host binds every interface, port 0 picks a free port."},
	{name: "advertised.listeners", typ: kmsg.ConfigTypeList,
		doc: "Endpoints published to clients, if different from listeners."},
	{name: "listener.security.protocol.map", typ: kmsg.ConfigTypeList,
		defaultText: text("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
		doc:         "Listener name to security protocol. Sluice serves PLAINTEXT only for now."},
	{name: "inter.broker.listener.name", typ: kmsg.ConfigTypeString,
		doc: "Advertised listener brokers use to reach each other; not to be set together with security.inter.broker.protocol."},
	{name: "security.inter.broker.protocol", typ: kmsg.ConfigTypeString, defaultText: text("PLAINTEXT"), check: oneOf(securityProtocols...),
		doc: "Security protocol between brokers, naming the listener to use when inter.broker.listener.name is not set."},
	{name: "socket.send.buffer.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("102400"),
		doc: "SO_SNDBUF of client sockets; -1 keeps the OS default.", field: func(b *Broker) any { return &b.SocketSendBufferBytes }},
	{name: "socket.receive.buffer.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("102400"),
		doc: "SO_RCVBUF of client sockets; -1 keeps the OS default.", field: func(b *Broker) any { return &b.SocketReceiveBufferBytes }},
	{name: "socket.request.max.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("104857600"), check: atLeast(1),
		doc: "Largest request frame accepted.", field: func(b *Broker) any { return &b.SocketRequestMaxBytes }},
	{name: "socket.listen.backlog.size", typ: kmsg.ConfigTypeInt, defaultText: text("50"), check: atLeast(1), inert: true,
		doc: "Listen backlog. Accepted; Go's net package sizes it."},
	{name: "connections.max.idle.ms", typ: kmsg.ConfigTypeLong, defaultText: text("600000"),
		doc:   "Close a connection that has no request in flight and has read and written nothing for this long (negative or 0: never).",
		field: func(b *Broker) any { return &b.ConnectionsMaxIdleMs }},
	{name: "max.connections", typ: kmsg.ConfigTypeInt, defaultText: text(maxIntText), check: atLeast(0),
		doc: "Most client connections open at once; a connection over the limit is closed at once (Kafka instead stops accepting). " +
			"The controller listener, and the inter-broker listener when it is not the only listener, are not counted. " +
			"Left unbounded, Sluice caps connections at a quarter of the open-file limit so that clients cannot take the descriptors the logs need.",
		field: func(b *Broker) any { return &b.MaxConnections }},
	{name: "max.connections.per.ip", typ: kmsg.ConfigTypeInt, defaultText: text(maxIntText), check: atLeast(0),
		doc: "Most connections open at once from one IP address, on every listener; more are closed at once. " +
			"0 is allowed only with max.connections.per.ip.overrides (then only the hosts named there may connect).",
		field: func(b *Broker) any { return &b.MaxConnectionsPerIP }},
	{name: "max.connections.per.ip.overrides", typ: kmsg.ConfigTypeString, defaultText: text(""), check: perIPOverrides,
		doc:   "Per-host exceptions to max.connections.per.ip, as host:count,... (for example hostName:100,127.0.0.1:200); host names are resolved at start.",
		field: func(b *Broker) any { return &b.MaxConnectionsPerIPOverrides }},
	{name: "queued.max.request.bytes", typ: kmsg.ConfigTypeLong, defaultText: text("268435456"), derived: true,
		doc: "Bytes of requests read but not yet answered, across all client connections, before connections stop reading: a reader waits " +
			"for room before it allocates a request (one request larger than this is read when nothing else is held). 0 or negative: unbounded. " +
			"Sluice default max(256 MiB, socket.request.max.bytes) (Kafka: -1, unbounded), so request memory is bounded out of the box " +
			"while two requests of the default socket.request.max.bytes still fit; otherwise at least socket.request.max.bytes.",
		field: func(b *Broker) any { return &b.QueuedMaxRequestBytes }},
	{name: "sluice.request.read.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("30000"), check: atLeast(0),
		doc: "Sluice: a request whose bytes do not all arrive within this long of its first byte closes the connection and frees its memory " +
			"(slowloris); time spent waiting for queued.max.request.bytes does not count. 0: no limit. Kafka has no such setting.",
		field: func(b *Broker) any { return &b.RequestReadTimeoutMs }},
	{name: "sluice.response.write.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("30000"), check: atLeast(0),
		doc: "Sluice: a connection whose response write makes no progress for this long (the client does not read its responses) is closed " +
			"and its queued replies freed. 0: no limit. Kafka has no such setting.",
		field: func(b *Broker) any { return &b.ResponseWriteTimeoutMs }},
	{name: "num.network.threads", typ: kmsg.ConfigTypeInt, defaultText: text("3"), check: atLeast(1), inert: true,
		doc: "Network threads. Accepted; Sluice runs a goroutine pair per connection."},
	{name: "num.io.threads", typ: kmsg.ConfigTypeInt, defaultText: text("8"), check: atLeast(1), inert: true,
		doc: "Request handler threads. Accepted; Sluice handles requests on goroutines."},
	{name: "background.threads", typ: kmsg.ConfigTypeInt, defaultText: text("10"), check: atLeast(1), inert: true,
		doc: "Background threads. Accepted; not used."},
	{name: "queued.max.requests", typ: kmsg.ConfigTypeInt, defaultText: text("500"), check: atLeast(1), inert: true,
		doc: "Queued requests before network threads block. Accepted; not used: Sluice bounds requests by queued.max.request.bytes, " +
			"and each connection to 32 in flight."},

	// Log directories and storage tasks.
	{name: "log.dir", typ: kmsg.ConfigTypeList, defaultText: text("./sluice-data"), check: nonEmptyDistinctList,
		doc: "Data directory, used when log.dirs is not set."},
	{name: "log.dirs", typ: kmsg.ConfigTypeList, check: nonEmptyDistinctList,
		doc: "Comma-separated data directories; if unset, log.dir is used."},
	{name: "num.partitions", typ: kmsg.ConfigTypeInt, defaultText: text("1"), check: atLeast(1),
		doc:   "Partitions of auto-created topics and of CreateTopics requests that leave the count to the broker.",
		field: func(b *Broker) any { return &b.NumPartitions }},
	{name: "default.replication.factor", typ: kmsg.ConfigTypeInt, defaultText: text("1"), check: between(1, math.MaxInt16),
		doc:   "Replication factor of auto-created topics and of CreateTopics requests that leave it to the broker.",
		field: func(b *Broker) any { return &b.DefaultReplicationFactor }},
	{name: "sluice.max.partitions", typ: kmsg.ConfigTypeInt, defaultText: text("0"), check: atLeast(0),
		doc: "Sluice: most partition replicas one broker may host, internal topics included; CreateTopics, CreatePartitions and " +
			"reassignments that would put more on any broker are refused with POLICY_VIOLATION, and nothing of a refused topic is created. " +
			"0: automatic, max(1000, memory limit / 64 KiB), the memory limit being the cgroup's memory.max if set, else the machine's memory " +
			"(100000 where it cannot be read). The active controller applies its own value to every broker. Kafka has no such setting.",
		field: func(b *Broker) any { return &b.MaxPartitions }},
	{name: "auto.create.topics.enable", typ: kmsg.ConfigTypeBoolean, defaultText: text("true"),
		doc: "Create a topic when a client asks for metadata of one that does not exist.", field: func(b *Broker) any { return &b.AutoCreateTopicsEnable }},
	{name: "delete.topic.enable", typ: kmsg.ConfigTypeBoolean, defaultText: text("true"),
		doc: "Allow DeleteTopics.", field: func(b *Broker) any { return &b.DeleteTopicEnable }},
	{name: "log.retention.check.interval.ms", typ: kmsg.ConfigTypeLong, defaultText: text("300000"), check: atLeast(1),
		doc: "How often segments are checked against retention.", field: func(b *Broker) any { return &b.LogRetentionCheckIntervalMs }},
	{name: "num.recovery.threads.per.data.dir", typ: kmsg.ConfigTypeInt, defaultText: text("2"), check: atLeast(1), inert: true,
		doc: "Log recovery threads per data directory. Accepted; not used yet."},
	{name: "log.flush.offset.checkpoint.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("60000"), check: atLeast(0),
		doc: "How often the recovery-point checkpoint is written.", field: func(b *Broker) any { return &b.LogFlushOffsetCheckpointIntervalMs }},
	{name: "log.flush.start.offset.checkpoint.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("60000"), check: atLeast(0),
		doc: "How often the log-start-offset checkpoint is written.", field: func(b *Broker) any { return &b.LogFlushStartOffsetCheckpointIntervalMs }},
	{name: "log.cleaner.enable", typ: kmsg.ConfigTypeBoolean, defaultText: text("true"),
		doc: "Run the log cleaner (compaction).", field: func(b *Broker) any { return &b.LogCleanerEnable }},
	{name: "log.cleaner.threads", typ: kmsg.ConfigTypeInt, defaultText: text("1"), check: atLeast(0),
		doc: "Log cleaner threads.", field: func(b *Broker) any { return &b.LogCleanerThreads }},
	{name: "log.cleaner.backoff.ms", typ: kmsg.ConfigTypeLong, defaultText: text("15000"), check: atLeast(0),
		doc: "Cleaner sleep when there is nothing to clean.", field: func(b *Broker) any { return &b.LogCleanerBackoffMs }},
	{name: "log.cleaner.dedupe.buffer.size", typ: kmsg.ConfigTypeLong, defaultText: text("134217728"), inert: true,
		doc: "Cleaner deduplication memory. Accepted; not used yet."},
	{name: "log.cleaner.io.buffer.size", typ: kmsg.ConfigTypeInt, defaultText: text("524288"), check: atLeast(0), inert: true,
		doc: "Cleaner I/O buffer memory. Accepted; not used yet."},
	{name: "log.cleaner.io.buffer.load.factor", typ: kmsg.ConfigTypeDouble, defaultText: text("0.9"), inert: true,
		doc: "Cleaner hash table load factor. Accepted; not used yet."},
	{name: "log.cleaner.io.max.bytes.per.second", typ: kmsg.ConfigTypeDouble, defaultText: text(maxDoubleText), inert: true,
		doc: "Cleaner I/O throttle. Accepted; not used yet."},
	{name: "log.dir.failure.timeout.ms", typ: kmsg.ConfigTypeLong, defaultText: text("30000"), check: atLeast(1), inert: true,
		doc: "Shutdown delay after a log directory fails. Accepted; not used yet."},

	// Fetch.
	{name: "fetch.max.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("57671680"), check: atLeast(1024),
		doc: "Most bytes returned by one Fetch.", field: func(b *Broker) any { return &b.FetchMaxBytes }},
	{name: "max.incremental.fetch.session.cache.slots", typ: kmsg.ConfigTypeInt, defaultText: text("1000"), check: atLeast(0),
		doc: "Incremental fetch sessions kept.", field: func(b *Broker) any { return &b.MaxIncrementalFetchSessionCacheSlots }},

	// Replication.
	{name: "replica.lag.time.max.ms", typ: kmsg.ConfigTypeLong, defaultText: text("30000"), check: atLeast(1),
		doc:   "A follower that has not caught up with the leader for this long is removed from the ISR.",
		field: func(b *Broker) any { return &b.ReplicaLagTimeMaxMs }},
	{name: "replica.socket.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("30000"),
		doc: "Socket timeout of replica fetches; at least replica.fetch.wait.max.ms.", field: func(b *Broker) any { return &b.ReplicaSocketTimeoutMs }},
	{name: "replica.socket.receive.buffer.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("65536"), inert: true,
		doc: "Receive buffer of replica fetch sockets. Accepted; not used yet."},
	{name: "replica.fetch.max.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("1048576"), check: atLeast(0),
		doc: "Bytes a follower fetches per partition (soft limit).", field: func(b *Broker) any { return &b.ReplicaFetchMaxBytes }},
	{name: "replica.fetch.wait.max.ms", typ: kmsg.ConfigTypeInt, defaultText: text("500"), check: atLeast(0),
		doc: "Longest wait of a follower fetch; at most replica.lag.time.max.ms.", field: func(b *Broker) any { return &b.ReplicaFetchWaitMaxMs }},
	{name: "replica.fetch.min.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("1"), check: atLeast(0),
		doc: "Bytes a follower fetch waits for.", field: func(b *Broker) any { return &b.ReplicaFetchMinBytes }},
	{name: "replica.fetch.backoff.ms", typ: kmsg.ConfigTypeInt, defaultText: text("1000"), check: atLeast(0),
		doc: "Follower pause after a fetch error.", field: func(b *Broker) any { return &b.ReplicaFetchBackoffMs }},
	{name: "replica.fetch.response.max.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("10485760"), check: atLeast(0),
		doc: "Bytes a follower fetch response may hold (soft limit).", field: func(b *Broker) any { return &b.ReplicaFetchResponseMaxBytes }},
	{name: "num.replica.fetchers", typ: kmsg.ConfigTypeInt, defaultText: text("1"), check: atLeast(1),
		doc: "Fetchers per source broker.", field: func(b *Broker) any { return &b.NumReplicaFetchers }},
	{name: "replica.selector.class", typ: kmsg.ConfigTypeClass, check: replicaSelector,
		doc: "How a leader chooses the replica a consumer fetches from (KIP-392). Unset: always the leader. " +
			RackAwareReplicaSelector + ": a consumer that sends its rack (client.rack) is pointed at an in-sync follower " +
			"whose broker.rack matches, unless the leader is in that rack. Sluice has no other selector.",
		field: func(b *Broker) any { return &b.ReplicaSelectorClass }},
	{name: "replica.high.watermark.checkpoint.interval.ms", typ: kmsg.ConfigTypeLong, defaultText: text("5000"), check: atLeast(1),
		doc:   "How often every partition's high watermark is written to the log directory's replication-offset-checkpoint (also at shutdown); a restarted replica starts from it.",
		field: func(b *Broker) any { return &b.ReplicaHighWatermarkCheckpointIntervalMs }},
	{name: "auto.leader.rebalance.enable", typ: kmsg.ConfigTypeBoolean, defaultText: text("true"),
		doc:   "Move leadership back to preferred replicas when imbalance exceeds leader.imbalance.per.broker.percentage.",
		field: func(b *Broker) any { return &b.AutoLeaderRebalanceEnable }},
	{name: "leader.imbalance.check.interval.seconds", typ: kmsg.ConfigTypeLong, defaultText: text("300"), check: atLeast(1),
		doc: "How often leader balance is checked.", field: func(b *Broker) any { return &b.LeaderImbalanceCheckIntervalSeconds }},
	{name: "leader.imbalance.per.broker.percentage", typ: kmsg.ConfigTypeInt, defaultText: text("10"), check: atLeast(0),
		doc: "Leader imbalance allowed per broker, in percent.", field: func(b *Broker) any { return &b.LeaderImbalancePerBrokerPercentage }},
	{name: "fetch.purgatory.purge.interval.requests", typ: kmsg.ConfigTypeInt, defaultText: text("1000"), inert: true,
		doc: "Kafka purgatory tuning. Accepted; Sluice parks requests on notifiers instead."},
	{name: "producer.purgatory.purge.interval.requests", typ: kmsg.ConfigTypeInt, defaultText: text("1000"), inert: true,
		doc: "Kafka purgatory tuning. Accepted; Sluice parks requests on notifiers instead."},

	// Group coordinator.
	{name: "group.min.session.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("6000"),
		doc: "Smallest session timeout a classic group member may ask for.", field: func(b *Broker) any { return &b.GroupMinSessionTimeoutMs }},
	{name: "group.max.session.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("1800000"),
		doc: "Largest session timeout a classic group member may ask for.", field: func(b *Broker) any { return &b.GroupMaxSessionTimeoutMs }},
	{name: "group.initial.rebalance.delay.ms", typ: kmsg.ConfigTypeInt, defaultText: text("3000"),
		doc:   "Wait for more members before the first rebalance of an empty classic group.",
		field: func(b *Broker) any { return &b.GroupInitialRebalanceDelayMs }},
	{name: "group.max.size", typ: kmsg.ConfigTypeInt, defaultText: text(maxIntText), check: atLeast(1),
		doc: "Most members of a classic group.", field: func(b *Broker) any { return &b.GroupMaxSize }},
	{name: "group.coordinator.rebalance.protocols", typ: kmsg.ConfigTypeList, defaultText: text("classic,consumer"), check: rebalanceProtocols,
		doc:   "Enabled group protocols; classic is required.",
		field: func(b *Broker) any { return &b.GroupCoordinatorRebalanceProtocols }},
	{name: "group.coordinator.threads", typ: kmsg.ConfigTypeInt, defaultText: text("4"), check: atLeast(1), inert: true,
		doc: "Group coordinator threads. Accepted; not used."},
	{name: "group.consumer.session.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("45000"), check: atLeast(1),
		doc: "Session timeout of consumer-protocol (KIP-848) members.", field: func(b *Broker) any { return &b.GroupConsumerSessionTimeoutMs }},
	{name: "group.consumer.min.session.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("45000"), check: atLeast(1),
		doc: "Smallest consumer-protocol session timeout.", field: func(b *Broker) any { return &b.GroupConsumerMinSessionTimeoutMs }},
	{name: "group.consumer.max.session.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("60000"), check: atLeast(1),
		doc: "Largest consumer-protocol session timeout.", field: func(b *Broker) any { return &b.GroupConsumerMaxSessionTimeoutMs }},
	{name: "group.consumer.heartbeat.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("5000"), check: atLeast(1),
		doc: "Heartbeat interval of consumer-protocol members.", field: func(b *Broker) any { return &b.GroupConsumerHeartbeatIntervalMs }},
	{name: "group.consumer.min.heartbeat.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("5000"), check: atLeast(1),
		doc: "Smallest consumer-protocol heartbeat interval.", field: func(b *Broker) any { return &b.GroupConsumerMinHeartbeatIntervalMs }},
	{name: "group.consumer.max.heartbeat.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("15000"), check: atLeast(1),
		doc: "Largest consumer-protocol heartbeat interval.", field: func(b *Broker) any { return &b.GroupConsumerMaxHeartbeatIntervalMs }},
	{name: "group.consumer.max.size", typ: kmsg.ConfigTypeInt, defaultText: text(maxIntText), check: atLeast(1),
		doc: "Most members of a consumer-protocol group.", field: func(b *Broker) any { return &b.GroupConsumerMaxSize }},
	{name: "group.consumer.assignors", typ: kmsg.ConfigTypeList, defaultText: text("uniform,range"), check: nonEmptyDistinctList,
		doc: "Server-side assignors of consumer-protocol groups, preferred first.", field: func(b *Broker) any { return &b.GroupConsumerAssignors }},
	{name: "group.consumer.migration.policy", typ: kmsg.ConfigTypeString, defaultText: text("bidirectional"),
		check: oneOfFold("disabled", "downgrade", "upgrade", "bidirectional"),
		doc:   "Which conversions between classic and consumer groups are allowed.",
		field: func(b *Broker) any { return &b.GroupConsumerMigrationPolicy }},
	{name: "offsets.topic.num.partitions", typ: kmsg.ConfigTypeInt, defaultText: text("50"), check: atLeast(1),
		doc: "Partitions of __consumer_offsets; do not change after the topic exists.", field: func(b *Broker) any { return &b.OffsetsTopicNumPartitions }},
	{name: "offsets.topic.replication.factor", typ: kmsg.ConfigTypeShort, defaultText: text("1"), check: atLeast(1), derived: true,
		doc: "Replication factor of __consumer_offsets. Sluice default min(3, number of controller.quorum.voters), so 1 on a single node " +
			"(Kafka: 3); on combined nodes it may not exceed the voter count.",
		field: func(b *Broker) any { return &b.OffsetsTopicReplicationFactor }},
	{name: "offsets.topic.segment.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("104857600"), check: atLeast(1),
		doc: "Segment size of __consumer_offsets.", field: func(b *Broker) any { return &b.OffsetsTopicSegmentBytes }},
	{name: "offsets.topic.compression.codec", typ: kmsg.ConfigTypeInt, defaultText: text("0"), inert: true,
		doc: "Compression of offset commits. Accepted; not used yet."},
	{name: "offsets.retention.minutes", typ: kmsg.ConfigTypeInt, defaultText: text("10080"), check: atLeast(1),
		doc: "How long committed offsets of an empty group are kept.", field: func(b *Broker) any { return &b.OffsetsRetentionMinutes }},
	{name: "offsets.retention.check.interval.ms", typ: kmsg.ConfigTypeLong, defaultText: text("600000"), check: atLeast(1),
		doc: "How often stale offsets are looked for.", field: func(b *Broker) any { return &b.OffsetsRetentionCheckIntervalMs }},
	{name: "offsets.commit.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("5000"), check: atLeast(1),
		doc: "Longest wait for an offset commit to be replicated.", field: func(b *Broker) any { return &b.OffsetsCommitTimeoutMs }},
	{name: "offsets.load.buffer.size", typ: kmsg.ConfigTypeInt, defaultText: text("5242880"), check: atLeast(1), inert: true,
		doc: "Read buffer when loading offsets. Accepted; not used."},
	{name: "offset.metadata.max.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("4096"),
		doc: "Largest metadata string of an offset commit.", field: func(b *Broker) any { return &b.OffsetMetadataMaxBytes }},

	// Transactions and producer IDs.
	{name: "transaction.state.log.num.partitions", typ: kmsg.ConfigTypeInt, defaultText: text("50"), check: atLeast(1),
		doc: "Partitions of __transaction_state.", field: func(b *Broker) any { return &b.TransactionStateLogNumPartitions }},
	{name: "transaction.state.log.replication.factor", typ: kmsg.ConfigTypeShort, defaultText: text("1"), check: atLeast(1), derived: true,
		doc: "Replication factor of __transaction_state. Sluice default min(3, number of controller.quorum.voters), so 1 on a single node " +
			"(Kafka: 3); on combined nodes it may not exceed the voter count.",
		field: func(b *Broker) any { return &b.TransactionStateLogReplicationFactor }},
	{name: "transaction.state.log.min.isr", typ: kmsg.ConfigTypeInt, defaultText: text("1"), check: atLeast(1), derived: true,
		doc: "min.insync.replicas of __transaction_state; at most transaction.state.log.replication.factor. " +
			"Sluice default min(2, transaction.state.log.replication.factor), so 1 on a single node (Kafka: 2).",
		field: func(b *Broker) any { return &b.TransactionStateLogMinISR }},
	{name: "transaction.state.log.segment.bytes", typ: kmsg.ConfigTypeInt, defaultText: text("104857600"), check: atLeast(1),
		doc: "Segment size of __transaction_state.", field: func(b *Broker) any { return &b.TransactionStateLogSegmentBytes }},
	{name: "transaction.state.log.load.buffer.size", typ: kmsg.ConfigTypeInt, defaultText: text("5242880"), check: atLeast(1), inert: true,
		doc: "Read buffer when loading transaction state. Accepted; not used."},
	{name: "transactional.id.expiration.ms", typ: kmsg.ConfigTypeInt, defaultText: text("604800000"), check: atLeast(1),
		doc: "A transactional ID unused this long is expired.", field: func(b *Broker) any { return &b.TransactionalIDExpirationMs }},
	{name: "transaction.max.timeout.ms", typ: kmsg.ConfigTypeInt, defaultText: text("900000"), check: atLeast(1),
		doc: "Largest transaction timeout a producer may ask for.", field: func(b *Broker) any { return &b.TransactionMaxTimeoutMs }},
	{name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("10000"), check: atLeast(1),
		doc:   "How often timed-out transactions are aborted.",
		field: func(b *Broker) any { return &b.TransactionAbortTimedOutTransactionCleanupIntervalMs }},
	{name: "transaction.remove.expired.transaction.cleanup.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("3600000"), check: atLeast(1),
		doc:   "How often expired transactional IDs are removed.",
		field: func(b *Broker) any { return &b.TransactionRemoveExpiredTransactionCleanupIntervalMs }},
	{name: "transaction.partition.verification.enable", typ: kmsg.ConfigTypeBoolean, defaultText: text("true"),
		doc:   "Verify a partition is in the transaction before a transactional write (KIP-890).",
		field: func(b *Broker) any { return &b.TransactionPartitionVerificationEnable }},
	{name: "producer.id.expiration.ms", typ: kmsg.ConfigTypeInt, defaultText: text("86400000"), check: atLeast(1),
		doc: "Idempotent producer state unused this long is dropped.", field: func(b *Broker) any { return &b.ProducerIDExpirationMs }},
	{name: "producer.id.expiration.check.interval.ms", typ: kmsg.ConfigTypeInt, defaultText: text("600000"), check: atLeast(1),
		doc: "How often expired producer IDs are looked for.", field: func(b *Broker) any { return &b.ProducerIDExpirationCheckIntervalMs }},

	// Share groups (Kafka 4's server.properties sets these).
	{name: "share.coordinator.state.topic.replication.factor", typ: kmsg.ConfigTypeShort, defaultText: text("3"), check: atLeast(1), inert: true,
		doc: "Share groups. Accepted; Sluice has no share groups yet."},
	{name: "share.coordinator.state.topic.min.isr", typ: kmsg.ConfigTypeShort, defaultText: text("2"), check: atLeast(1), inert: true,
		doc: "Share groups. Accepted; Sluice has no share groups yet."},
}

// brokerRegistry lists every broker setting, sorted by name.
var brokerRegistry = buildBrokerRegistry(brokerSettings, topicRegistry)

// brokerRegistryByName indexes brokerRegistry.
var brokerRegistryByName = func() map[string]*brokerDefinition {
	index := make(map[string]*brokerDefinition, len(brokerRegistry))
	for i := range brokerRegistry {
		index[brokerRegistry[i].name] = &brokerRegistry[i]
	}
	return index
}()

// buildBrokerRegistry adds a definition for each broker synonym of a topic
// config, parses every default and sorts by name.
func buildBrokerRegistry(settings []brokerDefinition, topics []topicDefinition) []brokerDefinition {
	registry := slices.Clone(settings)
	for i := range topics {
		for _, synonym := range topics[i].synonyms {
			registry = append(registry, synonymDefinition(&topics[i], synonym))
		}
	}
	for i := range registry {
		if registry[i].defaultText == nil {
			continue
		}
		// A malformed built-in default leaves defaultValue nil, which
		// TestRegistryDefaultsAreValid reports.
		registry[i].defaultValue, _ = parseValue(registry[i].typ, *registry[i].defaultText)
	}
	slices.SortFunc(registry, func(a, b brokerDefinition) int { return cmp.Compare(a.name, b.name) })
	return registry
}

// synonymDefinition makes the broker definition of a topic config synonym:
// by default it shares the topic config's type, range and default.
func synonymDefinition(topic *topicDefinition, synonym brokerSynonym) brokerDefinition {
	if synonym.own {
		return brokerDefinition{
			name: synonym.name, typ: synonym.typ, defaultText: synonym.defaultText,
			check: synonym.check, doc: synonym.doc, topicName: topic.name,
		}
	}
	return brokerDefinition{
		name: synonym.name, typ: topic.typ, defaultText: text(topic.defaultText),
		check: topic.check, doc: "Default " + topic.name + " for topics. " + topic.doc, topicName: topic.name,
	}
}

// clusterID accepts a Kafka cluster ID: 16 bytes in unpadded URL-safe
// base64 (22 characters), or empty (generate one).
func clusterID(value any) string {
	id := value.(string)
	if id == "" {
		return ""
	}
	decoded, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(decoded) != 16 {
		return "is not a valid cluster ID: expected 22 characters of URL-safe base64 encoding 16 bytes (as kafka-storage random-uuid prints)"
	}
	return ""
}

// hostPortOrEmpty accepts "" or host:port with a port in 0..65535.
func hostPortOrEmpty(value any) string {
	address := value.(string)
	if address == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return "must be host:port (or empty to disable)"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "must have a port between 0 and 65535"
	}
	return ""
}

// RackAwareReplicaSelector is Kafka's rack-aware replica selector class,
// the one value of replica.selector.class that Sluice implements.
const RackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// replicaSelector accepts no selector or Kafka's rack-aware one: a Kafka
// broker would fail to load any other class, and so does Sluice, at start.
func replicaSelector(value any) string {
	if name := value.(string); name == "" || name == RackAwareReplicaSelector {
		return ""
	}
	return "is not a replica selector Sluice has: use " + RackAwareReplicaSelector + " or leave it unset (always the leader)"
}

// rebalanceProtocols accepts a subset of Kafka's group protocols that
// includes classic (GroupCoordinatorConfig requires it).
func rebalanceProtocols(value any) string {
	if reason := listOf("classic", "consumer", "share", "streams")(value); reason != "" {
		return reason
	}
	if !slices.Contains(value.([]string), "classic") {
		return `must include "classic"`
	}
	return ""
}
