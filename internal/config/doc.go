// Package config is Sluice's typed configuration: one registry of settings
// with Kafka's names, types, defaults and valid ranges, which parses
// server.properties, validates it, supplies defaults, resolves topic
// configs, and answers DescribeConfigs.
//
// # Who uses it
//
// The CLI builds the broker configuration once at start-up and passes the
// Broker value down; nothing below the CLI reads files or the environment
// for configuration:
//
//	file, _ := config.LoadProperties(f)              // server.properties
//	props := config.Merge(file, config.EnvOverrides(os.Environ()), flags)
//	broker, err := config.ParseBroker(props)         // errors name the key
//	for _, key := range config.InertKeys(props) { log accepted-but-unused key }
//
// The api layer validates topic configs from CreateTopics, AlterConfigs and
// IncrementalAlterConfigs with ValidateTopicConfig and ResolveTopic (any
// error is Kafka's INVALID_CONFIG, with the error text as the message), and
// answers DescribeConfigs with DescribeTopic and DescribeBroker. Storage and
// replication take the resolved Topic.
//
// One setting depends on the machine: sluice.max.partitions's automatic
// value (0) comes from the memory limit, which Broker.ResolvePartitionCap
// reads from a file system the caller passes (the server passes the root;
// tests an fstest.MapFS), so this package still opens nothing itself.
//
// Unknown keys are errors, with a hint for a likely typo, for a topic config
// used where a broker setting belongs (and the reverse), and for settings of
// features Sluice does not have yet (ssl.*, sasl.*, zookeeper.*). Settings
// that Kafka 4.0's own server.properties uses but Sluice does not act on yet
// (thread counts, the controller.quorum.* timeouts,
// controller.quorum.bootstrap.servers) are accepted; InertKeys lists them.
//
// # Cluster mode
//
// Sluice follows KRaft. process.roles is broker, controller or both;
// controller.quorum.voters (id@host:port,...) is the static metadata quorum,
// parsed into Broker.ControllerQuorumVoters. With no voters a node is a
// whole cluster on its own (Broker.SingleNode): combined roles, a one-voter
// quorum, no controller listener needed, exactly what a bare `sluice serve`
// runs. With voters, start-up checks Kafka's rules, each error naming the
// key: a controller must be one of the voters and serve a listener named in
// controller.listener.names; a broker-only node must not be a voter, must
// name the controller listener and must not listen on it; a controller-only
// node listens on controller listeners only. Voter IDs must be distinct.
// Broker.ControllerListener is where a controller serves Raft and the
// controller APIs; Broker.InterBrokerListener is the advertised listener
// followers fetch from.
//
// The internal topics' replication settings default from the voter count
// when not set: offsets.topic.replication.factor and
// transaction.state.log.replication.factor are min(3, voters) and at least
// 1, transaction.state.log.min.isr is min(2, that factor); a single node
// keeps 1, 1, 1 (Kafka: 3, 3, 2). On a combined node of a cluster the
// factors may not exceed the voter count (every voter is assumed combined,
// so there are no more brokers), and neither internal topic may require
// more in-sync replicas than it has replicas (transaction.state.log.min.isr,
// and min.insync.replicas for __consumer_offsets).
//
// # Precedence
//
// Topic configs take their defaults from broker settings, resolved with
// Kafka's precedence (ServerTopicConfigSynonyms): the first of a topic
// config's broker synonyms that is set wins, converted to the topic unit;
// with none set, the default applies. The time-unit families are
//
//	retention.ms       ← log.retention.ms ← log.retention.minutes ← log.retention.hours (168)
//	segment.ms         ← log.roll.ms ← log.roll.hours (168)
//	segment.jitter.ms  ← log.roll.jitter.ms ← log.roll.jitter.hours (0)
//	flush.ms           ← log.flush.interval.ms ← log.flush.scheduler.interval.ms
//
// and a negative log.retention.* means unlimited (-1), as in Kafka. Other
// pairs are one-to-one: max.message.bytes ← message.max.bytes, flush.messages
// ← log.flush.interval.messages, segment.bytes ← log.segment.bytes,
// cleanup.policy ← log.cleanup.policy, delete.retention.ms ←
// log.cleaner.delete.retention.ms, and so on. A topic's own overrides come
// before all of them. Environment variables override the file and flags
// override both (Merge). log.dirs wins over log.dir; broker.id is accepted as
// node.id's older name and must agree with it.
//
// # Durability: Sluice's flush defaults
//
// Kafka acknowledges writes that are only in the page cache and leaves fsync
// to the operating system (log.flush.interval.messages and
// log.flush.interval.ms default to "never"). Sluice is safe by default:
//
//	log.flush.interval.messages = 1   (topic flush.messages = 1)
//	log.flush.interval.ms       = 0   (topic flush.ms = 0)
//
// mean "acknowledge only fsynced data": a produce is answered once its batch
// is on disk, and concurrent appends share one group-committed fsync, so the
// cost is one fsync per group commit rather than per message. Setting either
// above its default (per broker or per topic) turns on Kafka-style write
// caching: writes are acknowledged from memory and fsynced after that many
// messages or milliseconds, trading the last moments of data on power loss
// for latency. Topic.WriteCaching reports which mode a topic is in.
//
// # Other differences from Kafka's defaults
//
//   - node.id defaults to 1 and process.roles to broker,controller (Kafka
//     has no defaults), so a bare node is a combined single node.
//   - broker.heartbeat.interval.ms defaults to 500 and
//     broker.session.timeout.ms to 1500 (Kafka: 2000 and 9000), so that a
//     hard-killed broker is fenced and its leaderships move within about
//     3 s.
//   - listeners defaults to PLAINTEXT://localhost:9092 and log.dir to
//     ./sluice-data, so a bare `sluice serve` works in place.
//   - offsets.topic.replication.factor, transaction.state.log.replication.factor
//     and transaction.state.log.min.isr default from the voter count (see
//     Cluster mode): 1 on a single node, as in Kafka's quickstart
//     server.properties, and Kafka's 3, 3, 2 from three voters up.
//   - Only PLAINTEXT listeners are accepted until TLS and SASL exist, and
//     remote.storage.enable must stay false (no tiered storage).
//   - segment.bytes and log.segment.bytes accept 14 bytes and up, as Kafka
//     4.0 does (Kafka 4.1 raised the minimum to 1 MiB).
//   - Sluice-only settings carry a sluice. prefix: sluice.metrics.listener
//     (host:port of /metrics, default localhost:9644, "" disables) and
//     sluice.cluster.id (cluster ID for a fresh data directory; generated
//     when unset).
//   - DescribeConfigs lists all broker synonyms of a topic config
//     (DescribeTopic explains the one case where Kafka shows fewer).
//
// # Threading
//
// Every exported function is safe for concurrent use: the registry is built
// once at package initialisation and never changes, and Broker and Topic are
// plain values that are not modified after they are built. Nothing here
// performs I/O except LoadProperties, which reads the reader it is given.
package config
