package config

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestDefaultBrokerIsValid(t *testing.T) {
	b := DefaultBroker()
	if err := b.Validate(); err != nil {
		t.Fatalf("DefaultBroker().Validate() = %v", err)
	}
	parsed, err := ParseBroker(nil)
	if err != nil {
		t.Fatalf("ParseBroker(nil) = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"node.id", b.NodeID, int32(1)},
		{"listeners", joinListeners(b.Listeners), "PLAINTEXT://localhost:9092"},
		{"advertised.listeners", joinListeners(b.AdvertisedListeners), "PLAINTEXT://localhost:9092"},
		{"inter-broker listener", b.InterBrokerListenerName, "PLAINTEXT"},
		{"log dirs", strings.Join(b.LogDirs, ","), "./sluice-data"},
		{"num.partitions", b.NumPartitions, int32(1)},
		{"default.replication.factor", b.DefaultReplicationFactor, int16(1)},
		{"auto.create.topics.enable", b.AutoCreateTopicsEnable, true},
		{"delete.topic.enable", b.DeleteTopicEnable, true},
		{"message.max.bytes", b.MessageMaxBytes, int32(1048588)},
		{"socket.request.max.bytes", b.SocketRequestMaxBytes, int32(104857600)},
		{"log.retention.check.interval.ms", b.LogRetentionCheckIntervalMs, int64(300000)},
		{"offsets.topic.num.partitions", b.OffsetsTopicNumPartitions, int32(50)},
		{"offsets.topic.replication.factor", b.OffsetsTopicReplicationFactor, int16(1)},
		{"metrics listener", b.MetricsListener, "localhost:9644"},
		{"cluster id", b.ClusterID, ""},
		{"replica.high.watermark.checkpoint.interval.ms", b.ReplicaHighWatermarkCheckpointIntervalMs, int64(5000)},
		{"replica.selector.class (none: always the leader)", b.RackAwareFetch(), false},
		{"flush.messages", b.TopicDefaults.FlushMessages, int64(1)},
		{"flush.ms", b.TopicDefaults.FlushMs, int64(0)},
		{"retention.ms", b.TopicDefaults.RetentionMs, int64(7 * 24 * millisPerHour)},
		{"segment.ms", b.TopicDefaults.SegmentMs, int64(7 * 24 * millisPerHour)},
		{"segment.bytes", b.TopicDefaults.SegmentBytes, int64(1 << 30)},
		{"max.message.bytes", b.TopicDefaults.MaxMessageBytes, int32(1048588)},
		{"write caching", b.TopicDefaults.WriteCaching(), false},
		{"ParseBroker(nil) equals DefaultBroker", joinListeners(parsed.Listeners) + parsed.LogDirs[0], joinListeners(b.Listeners) + b.LogDirs[0]},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s = %v, want %v", check.name, check.got, check.want)
		}
	}
}

// TestParseBrokerValues covers good values of every type, with Kafka's
// lenient parsing (whitespace, boolean case) and the field they land in.
func TestParseBrokerValues(t *testing.T) {
	tests := []struct {
		key, value string
		got        func(b Broker) any
		want       any
	}{
		{"node.id", " 7 ", func(b Broker) any { return b.NodeID }, int32(7)},
		{"broker.id", "3", func(b Broker) any { return b.NodeID }, int32(3)},
		{"num.partitions", "12", func(b Broker) any { return b.NumPartitions }, int32(12)},
		{"default.replication.factor", "3", func(b Broker) any { return b.DefaultReplicationFactor }, int16(3)},
		{"auto.create.topics.enable", "FALSE", func(b Broker) any { return b.AutoCreateTopicsEnable }, false},
		{"delete.topic.enable", "False", func(b Broker) any { return b.DeleteTopicEnable }, false},
		{"message.max.bytes", "2000000", func(b Broker) any { return b.MessageMaxBytes }, int32(2000000)},
		{"message.max.bytes", "0", func(b Broker) any { return b.TopicDefaults.MaxMessageBytes }, int32(0)},
		{"socket.request.max.bytes", "1", func(b Broker) any { return b.SocketRequestMaxBytes }, int32(1)},
		{"log.retention.check.interval.ms", "1000", func(b Broker) any { return b.LogRetentionCheckIntervalMs }, int64(1000)},
		{"offsets.topic.num.partitions", "3", func(b Broker) any { return b.OffsetsTopicNumPartitions }, int32(3)},
		{"offsets.topic.replication.factor", "3", func(b Broker) any { return b.OffsetsTopicReplicationFactor }, int16(3)},
		{"sluice.metrics.listener", "", func(b Broker) any { return b.MetricsListener }, ""},
		{"sluice.metrics.listener", "[::1]:0", func(b Broker) any { return b.MetricsListener }, "[::1]:0"},
		{"sluice.cluster.id", "MkU3OEVBNTcwNTJENDM2Qg", func(b Broker) any { return b.ClusterID }, "MkU3OEVBNTcwNTJENDM2Qg"},
		{"broker.rack", "eu-west-1a", func(b Broker) any { return b.Rack }, "eu-west-1a"},
		{"replica.selector.class", RackAwareReplicaSelector, func(b Broker) any { return b.RackAwareFetch() }, true},
		{"replica.selector.class", " " + RackAwareReplicaSelector + " ", func(b Broker) any { return b.ReplicaSelectorClass }, RackAwareReplicaSelector},
		{"replica.selector.class", "", func(b Broker) any { return b.RackAwareFetch() }, false},
		{"metadata.log.dir", "/meta", func(b Broker) any { return b.MetadataLogDir }, "/meta"},
		{"log.dir", "/data/a", func(b Broker) any { return strings.Join(b.LogDirs, ",") }, "/data/a"},
		{"log.dirs", " /data/a , /data/b ", func(b Broker) any { return strings.Join(b.LogDirs, ",") }, "/data/a,/data/b"},
		{"log.cleanup.policy", "compact, delete", func(b Broker) any { return b.TopicDefaults.CleanupPolicy }, "compact,delete"},
		{"log.cleaner.min.cleanable.ratio", "0.25", func(b Broker) any { return b.TopicDefaults.MinCleanableDirtyRatio }, 0.25},
		{"compression.type", "zstd", func(b Broker) any { return b.TopicDefaults.CompressionType }, "zstd"},
		{"log.segment.bytes", "14", func(b Broker) any { return b.TopicDefaults.SegmentBytes }, int64(14)},
		{"log.retention.bytes", "-5", func(b Broker) any { return b.TopicDefaults.RetentionBytes }, int64(-5)},
		{"unclean.leader.election.enable", "true", func(b Broker) any { return b.TopicDefaults.UncleanLeaderElectionEnable }, true},
		{"unclean.leader.election.enable", "true", func(b Broker) any { return b.UncleanLeaderElectionEnable }, true},
		{"log.flush.interval.messages", "10000", func(b Broker) any { return b.TopicDefaults.WriteCaching() }, true},
		{"log.flush.interval.ms", "1000", func(b Broker) any { return b.TopicDefaults.WriteCaching() }, true},
		{"group.coordinator.rebalance.protocols", "classic", func(b Broker) any { return len(b.GroupCoordinatorRebalanceProtocols) }, 1},
		{"group.consumer.migration.policy", "UPGRADE", func(b Broker) any { return b.GroupConsumerMigrationPolicy }, "UPGRADE"},
		{"replica.lag.time.max.ms", "10000", func(b Broker) any { return b.ReplicaLagTimeMaxMs }, int64(10000)},
		{"process.roles", "controller,broker", func(b Broker) any { return strings.Join(b.ProcessRoles, ",") }, "controller,broker"},
		{"process.roles", "controller,broker", func(b Broker) any { return b.IsBroker() && b.IsController() && b.SingleNode() }, true},
		{"broker.heartbeat.interval.ms", "100", func(b Broker) any { return b.BrokerHeartbeatIntervalMs }, int32(100)},
		{"broker.session.timeout.ms", "9000", func(b Broker) any { return b.BrokerSessionTimeoutMs }, int32(9000)},
		{"controlled.shutdown.enable", "false", func(b Broker) any { return b.ControlledShutdownEnable }, false},
		{"replica.fetch.max.bytes", "2048", func(b Broker) any { return b.ReplicaFetchMaxBytes }, int32(2048)},
		{"replica.fetch.response.max.bytes", "4096", func(b Broker) any { return b.ReplicaFetchResponseMaxBytes }, int32(4096)},
		{"replica.fetch.wait.max.ms", "100", func(b Broker) any { return b.ReplicaFetchWaitMaxMs }, int32(100)},
		{"replica.fetch.min.bytes", "0", func(b Broker) any { return b.ReplicaFetchMinBytes }, int32(0)},
		{"replica.fetch.backoff.ms", "250", func(b Broker) any { return b.ReplicaFetchBackoffMs }, int32(250)},
		{"replica.high.watermark.checkpoint.interval.ms", "1000", func(b Broker) any { return b.ReplicaHighWatermarkCheckpointIntervalMs }, int64(1000)},
		{"num.replica.fetchers", "4", func(b Broker) any { return b.NumReplicaFetchers }, int32(4)},
		{"auto.leader.rebalance.enable", "false", func(b Broker) any { return b.AutoLeaderRebalanceEnable }, false},
		{"leader.imbalance.check.interval.seconds", "30", func(b Broker) any { return b.LeaderImbalanceCheckIntervalSeconds }, int64(30)},
		{"leader.imbalance.per.broker.percentage", "0", func(b Broker) any { return b.LeaderImbalancePerBrokerPercentage }, int32(0)},
		{"transaction.state.log.replication.factor", "2", func(b Broker) any { return b.TransactionStateLogReplicationFactor }, int16(2)},
		{"transaction.state.log.replication.factor", "3", func(b Broker) any { return b.TransactionStateLogMinISR }, int32(2)},
	}
	for _, test := range tests {
		t.Run(test.key+"="+test.value, func(t *testing.T) {
			b, err := ParseBroker(map[string]string{test.key: test.value})
			if err != nil {
				t.Fatalf("ParseBroker: %v", err)
			}
			if got := test.got(b); got != test.want {
				t.Fatalf("got %v (%T), want %v (%T)", got, got, test.want, test.want)
			}
		})
	}
}

// TestParseBrokerRejects covers bad values: each error names the key and
// the value and says why.
func TestParseBrokerRejects(t *testing.T) {
	tests := []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"log.retention.ms": "abc"}, `config "log.retention.ms": value "abc" is not a valid long`},
		{map[string]string{"num.partitions": "1.5"}, `config "num.partitions": value "1.5" is not a valid int`},
		{map[string]string{"num.partitions": "3000000000"}, `config "num.partitions": value "3000000000" is not a valid int`},
		{map[string]string{"offsets.topic.replication.factor": "40000"}, `value "40000" is not a valid short`},
		{map[string]string{"auto.create.topics.enable": "yes"}, `config "auto.create.topics.enable": value "yes" is not a valid boolean`},
		{map[string]string{"log.cleaner.min.cleanable.ratio": "NaN"}, `is not a valid double`},
		{map[string]string{"num.partitions": "0"}, `config "num.partitions": value "0" must be at least 1`},
		{map[string]string{"message.max.bytes": "-1"}, `config "message.max.bytes": value "-1" must be at least 0`},
		{map[string]string{"socket.request.max.bytes": "0"}, `must be at least 1`},
		{map[string]string{"log.segment.bytes": "13"}, `config "log.segment.bytes": value "13" must be at least 14`},
		{map[string]string{"default.replication.factor": "0"}, `must be between 1 and 32767`},
		{map[string]string{"default.replication.factor": "40000"}, `must be between 1 and 32767`},
		{map[string]string{"node.id": "-1"}, `config "node.id": value "-1" must be at least 0`},
		{map[string]string{"log.cleaner.min.cleanable.ratio": "1.5"}, `must be between 0.0 and 1.0`},
		{map[string]string{"compression.type": "brotli"}, `must be one of ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]`},
		{map[string]string{"compression.type": "none"}, `"none" is the producer's name; the topic setting is "uncompressed"`},
		{map[string]string{"compression.gzip.level": "0"}, `must be -1 (default) or between 1 and 9`},
		{map[string]string{"log.cleanup.policy": "compact,compact"}, `lists "compact" twice`},
		{map[string]string{"log.cleanup.policy": "Delete"}, `has element "Delete"`},
		{map[string]string{"log.message.timestamp.type": "createtime"}, `must be one of ["CreateTime", "LogAppendTime"]`},
		{map[string]string{"log.roll.hours": "0"}, `config "log.roll.hours": value "0" must be at least 1`},
		{map[string]string{"log.roll.ms": "0"}, `config "log.roll.ms": value "0" must be at least 1`},
		{map[string]string{"log.retention.ms": "0"}, `config "log.retention.ms": value "0" must be unlimited (-1) or at least 1`},
		{map[string]string{"log.retention.minutes": "0"}, `config "log.retention.minutes": value "0" must be unlimited (-1)`},
		{map[string]string{"log.flush.interval.messages": "0"}, `config "log.flush.interval.messages": value "0" must be at least 1`},
		{map[string]string{"log.flush.interval.ms": "-1"}, `config "log.flush.interval.ms": value "-1" must be at least 0`},
		{map[string]string{"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"},
			`config "log.cleaner.min.compaction.lag.ms": value "10" must not be greater than max.compaction.lag.ms (5)`},
		{map[string]string{"process.roles": ""}, `config "process.roles": value "" must contain "broker", "controller" or both`},
		{map[string]string{"process.roles": "broker,worker"}, `config "process.roles": value "broker,worker" has element "worker"`},
		{map[string]string{"process.roles": "broker,broker"}, `lists "broker" twice`},
		{map[string]string{"controlled.shutdown.enable": "maybe"}, `config "controlled.shutdown.enable": value "maybe" is not a valid boolean`},
		{map[string]string{"replica.lag.time.max.ms": "0"}, `config "replica.lag.time.max.ms": value "0" must be at least 1`},
		{map[string]string{"replica.fetch.min.bytes": "-1"}, `config "replica.fetch.min.bytes": value "-1" must be at least 0`},
		{map[string]string{"num.replica.fetchers": "0"}, `config "num.replica.fetchers": value "0" must be at least 1`},
		{map[string]string{"replica.high.watermark.checkpoint.interval.ms": "0"}, `config "replica.high.watermark.checkpoint.interval.ms": value "0" must be at least 1`},
		{map[string]string{"replica.high.watermark.checkpoint.interval.ms": "soon"}, `config "replica.high.watermark.checkpoint.interval.ms": value "soon" is not a valid long`},
		{map[string]string{"leader.imbalance.per.broker.percentage": "-1"}, `config "leader.imbalance.per.broker.percentage": value "-1" must be at least 0`},
		{map[string]string{"replica.selector.class": "org.apache.kafka.common.replica.MyReplicaSelector"},
			`config "replica.selector.class": value "org.apache.kafka.common.replica.MyReplicaSelector" is not a replica selector Sluice has`},
		{map[string]string{"replica.selector.class": "RackAwareReplicaSelector"}, `config "replica.selector.class": value "RackAwareReplicaSelector" is not a replica selector`},
		{map[string]string{"sluice.cluster.id": "not-a-uuid"}, `config "sluice.cluster.id": value "not-a-uuid" is not a valid cluster ID`},
		{map[string]string{"sluice.metrics.listener": "localhost"}, `must be host:port`},
		{map[string]string{"sluice.metrics.listener": "localhost:99999"}, `must have a port between 0 and 65535`},
		{map[string]string{"log.dirs": ""}, `config "log.dirs": value "" must list at least one element`},
		{map[string]string{"log.dirs": "/a,/a"}, `lists "/a" twice`},
		{map[string]string{"log.dir": "/a,,/b"}, `has an empty element`},
		{map[string]string{"node.id": "1", "broker.id": "2"}, `config "broker.id": value "2" must equal node.id (1) when both are set`},
		{map[string]string{"group.coordinator.rebalance.protocols": "consumer"}, `must include "classic"`},
		{map[string]string{"group.coordinator.rebalance.protocols": "classic,bogus"}, `has element "bogus"`},
		{map[string]string{"group.min.session.timeout.ms": "10", "group.max.session.timeout.ms": "5"},
			`config "group.max.session.timeout.ms": value "5" must be at least group.min.session.timeout.ms (10)`},
		{map[string]string{"group.consumer.session.timeout.ms": "90000"},
			`config "group.consumer.session.timeout.ms": value "90000" must be at most group.consumer.max.session.timeout.ms (60000)`},
		{map[string]string{"group.consumer.heartbeat.interval.ms": "1000"}, `must be at least group.consumer.min.heartbeat.interval.ms (5000)`},
		{map[string]string{"group.consumer.min.session.timeout.ms": "1000", "group.consumer.session.timeout.ms": "5000"},
			`config "group.consumer.heartbeat.interval.ms": value "5000" must be less than group.consumer.session.timeout.ms (5000)`},
		{map[string]string{"replica.fetch.wait.max.ms": "40000"}, `config "replica.socket.timeout.ms": value "30000" must be at least replica.fetch.wait.max.ms (40000)`},
		{map[string]string{"replica.lag.time.max.ms": "100"}, `config "replica.fetch.wait.max.ms": value "500" must be at most replica.lag.time.max.ms (100)`},
		{map[string]string{"broker.heartbeat.interval.ms": "9000"}, `must be less than broker.session.timeout.ms (1500)`},
		{map[string]string{"broker.session.timeout.ms": "500"},
			`config "broker.heartbeat.interval.ms": value "500" must be less than broker.session.timeout.ms (500)`},
	}
	for _, test := range tests {
		t.Run(test.want, func(t *testing.T) {
			_, err := ParseBroker(test.props)
			if err == nil {
				t.Fatalf("ParseBroker(%v) succeeded, want error containing %q", test.props, test.want)
			}
			if !strings.Contains(err.Error(), test.want) {
				t.Fatalf("ParseBroker(%v) error = %q, want it to contain %q", test.props, err, test.want)
			}
			var problem *Error
			if !errors.As(err, &problem) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
		})
	}
}

func TestParseBrokerUnknownKeys(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{"foo.bar", `unknown config "foo.bar"`},
		{"log.retention.hour", `unknown config "log.retention.hour": did you mean "log.retention.hours"?`},
		{"num.partition", `did you mean "num.partitions"?`},
		{"retention.ms", `"retention.ms" is a topic setting; the broker default is "log.retention.ms"`},
		{"max.message.bytes", `the broker default is "message.max.bytes"`},
		{"zookeeper.connect", "has no ZooKeeper"},
		{"ssl.keystore.location", "TLS and SASL are not supported yet"},
		{"sasl.enabled.mechanisms", "TLS and SASL are not supported yet"},
		{"LOG.DIRS", `unknown config "LOG.DIRS"`},
		{"", `unknown config ""`},
	}
	for _, test := range tests {
		t.Run(test.key, func(t *testing.T) {
			_, err := ParseBroker(map[string]string{test.key: "1"})
			var problem *Error
			if !errors.As(err, &problem) || !problem.Unknown {
				t.Fatalf("error = %v, want an unknown-config *Error", err)
			}
			if !strings.Contains(err.Error(), test.want) {
				t.Fatalf("error = %q, want it to contain %q", err, test.want)
			}
		})
	}
}

func TestParseBrokerReportsEveryBadKey(t *testing.T) {
	_, err := ParseBroker(map[string]string{"foo": "1", "num.partitions": "x", "node.id": "2"})
	text := err.Error()
	if !strings.Contains(text, `unknown config "foo"`) || !strings.Contains(text, `config "num.partitions"`) {
		t.Fatalf("error = %q, want both bad keys reported", text)
	}
	if strings.Index(text, `"foo"`) > strings.Index(text, `"num.partitions"`) {
		t.Fatalf("errors not in key order: %q", text)
	}
}

// TestTimeUnitPrecedence follows Kafka's KafkaConfig: log.retention.ms over
// .minutes over .hours, log.roll.ms over log.roll.hours, negative retention
// meaning unlimited.
func TestTimeUnitPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		get   func(Topic) int64
		want  int64
	}{
		{"hours", map[string]string{"log.retention.hours": "24"}, retention, 24 * millisPerHour},
		{"minutes over hours", map[string]string{"log.retention.hours": "24", "log.retention.minutes": "30"}, retention, 30 * millisPerMinute},
		{"ms over minutes and hours", map[string]string{"log.retention.hours": "24", "log.retention.minutes": "30", "log.retention.ms": "1234"}, retention, 1234},
		{"ms over hours", map[string]string{"log.retention.hours": "1", "log.retention.ms": "-1"}, retention, -1},
		{"negative hours mean unlimited", map[string]string{"log.retention.hours": "-5"}, retention, -1},
		{"negative ms mean unlimited", map[string]string{"log.retention.ms": "-7"}, retention, -1},
		{"large hours do not overflow", map[string]string{"log.retention.hours": "2147483647"}, retention, math.MaxInt32 * millisPerHour},
		{"roll hours", map[string]string{"log.roll.hours": "2"}, segment, 2 * millisPerHour},
		{"roll ms over hours", map[string]string{"log.roll.hours": "2", "log.roll.ms": "500"}, segment, 500},
		{"jitter hours", map[string]string{"log.roll.jitter.hours": "1"}, jitter, millisPerHour},
		{"jitter ms over hours", map[string]string{"log.roll.jitter.hours": "1", "log.roll.jitter.ms": "9"}, jitter, 9},
		{"flush interval", map[string]string{"log.flush.interval.ms": "1000"}, flushMs, 1000},
		{"flush scheduler used when interval unset", map[string]string{"log.flush.scheduler.interval.ms": "3000"}, flushMs, 3000},
		{"flush interval over scheduler", map[string]string{"log.flush.scheduler.interval.ms": "3000", "log.flush.interval.ms": "0"}, flushMs, 0},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			b, err := ParseBroker(test.props)
			if err != nil {
				t.Fatal(err)
			}
			if got := test.get(b.TopicDefaults); got != test.want {
				t.Fatalf("got %d, want %d", got, test.want)
			}
		})
	}
}

func retention(t Topic) int64 { return t.RetentionMs }
func segment(t Topic) int64   { return t.SegmentMs }
func jitter(t Topic) int64    { return t.SegmentJitterMs }
func flushMs(t Topic) int64   { return t.FlushMs }

func TestListeners(t *testing.T) {
	tests := []struct {
		name                                   string
		props                                  map[string]string
		listeners, advertised, controller, ibl string
	}{
		{"all interfaces", map[string]string{"listeners": "PLAINTEXT://:9092"}, "PLAINTEXT://:9092", "PLAINTEXT://:9092", "", "PLAINTEXT"},
		{"lower-case name is normalised", map[string]string{"listeners": "plaintext://0.0.0.0:9092", "advertised.listeners": "PLAINTEXT://kafka-1:9092"},
			"PLAINTEXT://0.0.0.0:9092", "PLAINTEXT://kafka-1:9092", "", "PLAINTEXT"},
		{"ipv6", map[string]string{"listeners": "PLAINTEXT://[::1]:9092"}, "PLAINTEXT://[::1]:9092", "PLAINTEXT://[::1]:9092", "", "PLAINTEXT"},
		{"port zero", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0"}, "PLAINTEXT://127.0.0.1:0", "PLAINTEXT://127.0.0.1:0", "", "PLAINTEXT"},
		{"named listeners", map[string]string{
			"listeners":                      "INTERNAL://:9092,EXTERNAL://:9094",
			"advertised.listeners":           "INTERNAL://broker-1:9092,EXTERNAL://public.example:9094",
			"listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
			"inter.broker.listener.name":     "internal",
		}, "INTERNAL://:9092,EXTERNAL://:9094", "INTERNAL://broker-1:9092,EXTERNAL://public.example:9094", "", "INTERNAL"},
		{"controller listener defaults to PLAINTEXT", map[string]string{
			"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093", "controller.listener.names": "CONTROLLER",
		}, "PLAINTEXT://:9092", "PLAINTEXT://:9092", "CONTROLLER://:9093", "PLAINTEXT"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			b, err := ParseBroker(test.props)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{joinListeners(b.Listeners), joinListeners(b.AdvertisedListeners), joinListeners(b.ControllerListeners), b.InterBrokerListenerName}
			want := []string{test.listeners, test.advertised, test.controller, test.ibl}
			if !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			for _, listener := range b.Listeners {
				if listener.SecurityProtocol != "PLAINTEXT" {
					t.Fatalf("listener %s has protocol %q", listener, listener.SecurityProtocol)
				}
			}
		})
	}
}

func TestListenersRejected(t *testing.T) {
	tests := []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"listeners": "localhost:9092"}, `config "listeners": value "localhost:9092" must be NAME://host:port`},
		{map[string]string{"listeners": "PLAINTEXT://localhost"}, `must be NAME://host:port`},
		{map[string]string{"listeners": "PLAINTEXT://localhost:http"}, `has an invalid port "http"`},
		{map[string]string{"listeners": "PLAINTEXT://localhost:65536"}, `has an invalid port "65536"`},
		{map[string]string{"listeners": "PLAINTEXT://local/host:9092"}, `has an invalid host "local/host"`},
		{map[string]string{"listeners": ""}, `must include at least one client listener`},
		{map[string]string{"listeners": "SSL://:9093"}, `uses security protocol "SSL", which Sluice does not support yet`},
		{map[string]string{"listeners": "SASL_PLAINTEXT://:9093", "inter.broker.listener.name": "SASL_PLAINTEXT"}, `security protocol "SASL_PLAINTEXT"`},
		{map[string]string{"listeners": "CLIENT://:9092"}, `names listener CLIENT, which listener.security.protocol.map does not map`},
		{map[string]string{"listeners": "PLAINTEXT://:9092,PLAINTEXT://:9093"}, `repeats listener name PLAINTEXT`},
		{map[string]string{"listeners": "PLAINTEXT://:9092,OTHER://:9092", "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"},
			`repeats port 9092`},
		{map[string]string{"listener.security.protocol.map": "PLAINTEXT"}, `config "listener.security.protocol.map": value "PLAINTEXT" must be NAME:PROTOCOL`},
		{map[string]string{"listener.security.protocol.map": "PLAINTEXT:TLS"}, `names an unknown security protocol`},
		{map[string]string{"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,plaintext:SSL"}, `maps listener PLAINTEXT twice`},
		{map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, `cannot use the nonroutable meta-address 0.0.0.0`},
		{map[string]string{"advertised.listeners": "OTHER://host:9092", "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"},
			`names a listener that is not in listeners`},
		{map[string]string{"advertised.listeners": ""}, `config "advertised.listeners": value "" must include at least one client listener`},
		{map[string]string{"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "PLAINTEXT"},
			`cannot be set together with security.inter.broker.protocol`},
		{map[string]string{"listeners": "CLIENT://:9092", "listener.security.protocol.map": "CLIENT:PLAINTEXT"},
			`config "inter.broker.listener.name": value "PLAINTEXT" must be a listener name defined in advertised.listeners: one of ["CLIENT"]`},
		{map[string]string{"security.inter.broker.protocol": "TLS"}, `must be one of ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]`},
		{map[string]string{"listeners": "CONTROLLER://:9093", "controller.listener.names": "CONTROLLER"}, `must include at least one client listener`},
		{map[string]string{"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093", "controller.listener.names": "CONTROLLER",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT"}, `names listener CONTROLLER`},
	}
	for _, test := range tests {
		t.Run(test.want, func(t *testing.T) {
			_, err := ParseBroker(test.props)
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Fatalf("ParseBroker(%v) error = %v, want it to contain %q", test.props, err, test.want)
			}
		})
	}
}

func TestListenerString(t *testing.T) {
	tests := []struct {
		listener      Listener
		text, address string
	}{
		{Listener{Name: "PLAINTEXT", Host: "localhost", Port: 9092}, "PLAINTEXT://localhost:9092", "localhost:9092"},
		{Listener{Name: "PLAINTEXT", Host: "", Port: 9092}, "PLAINTEXT://:9092", ":9092"},
		{Listener{Name: "PLAINTEXT", Host: "::1", Port: 0}, "PLAINTEXT://[::1]:0", "[::1]:0"},
	}
	for _, test := range tests {
		if got := test.listener.String(); got != test.text {
			t.Errorf("String() = %q, want %q", got, test.text)
		}
		if got := test.listener.Address(); got != test.address {
			t.Errorf("Address() = %q, want %q", got, test.address)
		}
	}
}

// TestValidateBrokerBuiltInCode checks that Validate catches what a caller
// breaks in a Broker it changed by hand.
func TestValidateBrokerBuiltInCode(t *testing.T) {
	tests := []struct {
		name   string
		change func(b *Broker)
		want   string
	}{
		{"num.partitions", func(b *Broker) { b.NumPartitions = 0 }, `config "num.partitions": value "0" must be at least 1`},
		{"segment bytes", func(b *Broker) { b.TopicDefaults.SegmentBytes = 1 }, `config "log.segment.bytes": value "1" must be at least 14`},
		{"retention zero", func(b *Broker) { b.TopicDefaults.RetentionMs = 0 }, `config "log.retention.ms": value "0" must be unlimited`},
		{"remote storage", func(b *Broker) { b.TopicDefaults.RemoteStorageEnable = true }, `Sluice has no tiered storage`},
		{"message.max.bytes out of step", func(b *Broker) { b.MessageMaxBytes = 5 }, `they are the same setting`},
		{"no log dirs", func(b *Broker) { b.LogDirs = nil }, `config "log.dir": value "" must list at least one element`},
		{"SSL listener", func(b *Broker) { b.Listeners[0].SecurityProtocol = "SSL" }, `uses security protocol "SSL"`},
		{"bad port", func(b *Broker) { b.Listeners[0].Port = 70000 }, `has an invalid port "70000"`},
		{"no advertised", func(b *Broker) { b.AdvertisedListeners = nil }, `config "advertised.listeners"`},
		{"bad metrics listener", func(b *Broker) { b.MetricsListener = "nope" }, `config "sluice.metrics.listener": value "nope" must be host:port`},
		{"bad cluster id", func(b *Broker) { b.ClusterID = "short" }, `is not a valid cluster ID`},
		{"cleanup policy", func(b *Broker) { b.TopicDefaults.CleanupPolicy = "shred" }, `config "log.cleanup.policy": value "shred" has element "shred"`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			b := DefaultBroker()
			b.Listeners = slices.Clone(b.Listeners)
			test.change(&b)
			err := b.Validate()
			if err == nil || !strings.Contains(err.Error(), test.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, test.want)
			}
		})
	}
}

func TestInertKeys(t *testing.T) {
	props := map[string]string{"num.io.threads": "8", "num.partitions": "3", "controller.quorum.election.timeout.ms": "1000",
		// Acted on since cluster mode: never reported inert.
		"process.roles": "broker,controller", "broker.heartbeat.interval.ms": "500", "broker.session.timeout.ms": "1500",
		"replica.lag.time.max.ms": "30000", "num.replica.fetchers": "1", "controlled.shutdown.enable": "true"}
	got := InertKeys(props)
	want := []string{"controller.quorum.election.timeout.ms", "num.io.threads"}
	if !slices.Equal(got, want) {
		t.Fatalf("InertKeys = %v, want %v", got, want)
	}
	if _, err := ParseBroker(props); err != nil {
		t.Fatalf("inert keys must still parse: %v", err)
	}
}

// TestRegistryDefaultsAreValid checks the built-in tables: every default
// parses and passes its own check, names are sorted and unique, and each
// topic config's default equals what its broker synonyms' defaults resolve
// to (so a topic sees the same default whichever path supplies it).
func TestRegistryDefaultsAreValid(t *testing.T) {
	for _, def := range topicRegistry {
		value, reason := parseValue(def.typ, def.defaultText)
		if reason == "" && def.check != nil {
			reason = def.check(value)
		}
		if reason != "" || def.defaultValue == nil {
			t.Errorf("topic %s default %q: %s", def.name, def.defaultText, reason)
		}
		if def.doc == "" {
			t.Errorf("topic %s has no documentation", def.name)
		}
	}
	for _, def := range brokerRegistry {
		if def.defaultText == nil {
			continue
		}
		value, reason := parseValue(def.typ, *def.defaultText)
		if reason == "" && def.check != nil {
			reason = def.check(value)
		}
		if reason != "" || def.defaultValue == nil {
			t.Errorf("broker %s default %q: %s", def.name, *def.defaultText, reason)
		}
		if def.doc == "" {
			t.Errorf("broker %s has no documentation", def.name)
		}
	}
	topicNames := TopicConfigNames()
	if !slices.IsSorted(topicNames) || len(slices.Compact(slices.Clone(topicNames))) != len(topicNames) {
		t.Errorf("topic registry not sorted or has duplicates: %v", topicNames)
	}
	for i := 1; i < len(brokerRegistry); i++ {
		if brokerRegistry[i-1].name >= brokerRegistry[i].name {
			t.Errorf("broker registry out of order or duplicated at %s, %s", brokerRegistry[i-1].name, brokerRegistry[i].name)
		}
	}
	for _, def := range topicRegistry {
		for _, synonym := range def.synonyms {
			broker := brokerRegistryByName[synonym.name]
			if broker.defaultValue == nil {
				continue
			}
			got := formatValue(synonym.toTopicUnit(broker.defaultValue))
			if got != formatValue(def.defaultValue) {
				t.Errorf("%s default %s but first defaulted synonym %s gives %s", def.name, formatValue(def.defaultValue), synonym.name, got)
			}
			break
		}
	}
}

// TestBrokerFieldsAllFilled guards against a Broker field that no setting
// fills: every field must differ from its zero value in some configuration.
func TestBrokerFieldsAllFilled(t *testing.T) {
	for _, def := range brokerRegistry {
		if def.field == nil || def.defaultValue == nil {
			continue
		}
		b := DefaultBroker()
		if got := formatValue(read(def.typ, def.field(&b))); got != formatValue(def.defaultValue) {
			t.Errorf("%s: DefaultBroker field = %s, want default %s", def.name, got, formatValue(def.defaultValue))
		}
	}
}

func TestLogDirsOverLogDir(t *testing.T) {
	b, err := ParseBroker(map[string]string{"log.dir": "/one", "log.dirs": "/two,/three"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(b.LogDirs, ","); got != "/two,/three" {
		t.Fatalf("LogDirs = %s, want log.dirs to win", got)
	}
}
