package api

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/txn"
)

// MetadataSource is the committed cluster metadata as handlers read it.
type MetadataSource interface {
	// Image is the latest applied metadata image; it is immutable.
	Image() *metadata.Image
}

// Controller makes metadata changes; requests that change topics go
// through it and return once the change is committed and applied locally.
type Controller interface {
	CreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse
	DeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse
	CreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse
	AutoCreateTopic(ctx context.Context, name string) error
	CreateInternalTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string) error
	AlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse
	IncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse
	// AllocateProducerIDs commits a block of producer IDs to a broker
	// (txn.BlockAllocator): [first, first+count) are its alone.
	AllocateProducerIDs(ctx context.Context, brokerID int32) (first, count int64, err error)
	ElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse
	// AlterPartitionReassignments starts or cancels partition
	// reassignments (API 45); ListPartitionReassignments lists the ones in
	// progress (API 46).
	AlterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse
	ListPartitionReassignments(ctx context.Context, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse
}

// Config is what the handlers need; the server assembles it.
type Config struct {
	// Broker is this broker's static configuration.
	Broker config.Broker
	// StaticConfig holds the keys set explicitly at start-up (file,
	// environment, flags), reported as STATIC_BROKER_CONFIG.
	StaticConfig map[string]string
	Metadata     MetadataSource
	Controller   Controller
	// ClusterController answers the requests brokers send the active
	// controller (BrokerRegistration, BrokerHeartbeat, AlterPartition,
	// AllocateProducerIds).
	ClusterController ClusterController
	Partitions        *replica.Manager
	// Groups runs the group coordinator's shards.
	Groups GroupCoordinator
	// Transactions runs the transaction coordinator's shards; Markers
	// writes transaction markers to local partitions (WriteTxnMarkers).
	Transactions TxnCoordinator
	Markers      txn.MarkerWriter
	Metrics      *metrics.Broker
	// ActiveController names the node leading the metadata quorum (the
	// active controller), false during an election. Nil means this node
	// (a single node is always its own controller).
	ActiveController func() (int32, bool)
	// Quorum describes the metadata quorum for DescribeQuorum (55); nil
	// answers NOT_LEADER_OR_FOLLOWER.
	Quorum QuorumDescriber
	Logger *slog.Logger
	Now    func() time.Time
}

// Broker is the Kafka API of one broker: the handler registry plus the
// broker-wide state handlers share (fetch sessions, config cache).
type Broker struct {
	cfg           Config
	log           *slog.Logger
	routes        []route
	fetchSessions *fetchSessionCache
	topicConfigs  atomic.Pointer[topicConfigCache]
	// producerIDs hands out idempotent producers' IDs (InitProducerId).
	producerIDs *txn.ProducerIDManager
}

// New builds the handlers.
func New(cfg Config) *Broker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, fetchSessions: newFetchSessionCache(),
		producerIDs: txn.NewProducerIDManager(cfg.Broker.NodeID, cfg.Controller)}
	b.routes = registry()
	return b
}

// registry lists every implemented API with its version range; ApiVersions
// advertises exactly this.
func registry() []route {
	all := []route{
		{kmsg.Produce, 3, 13, handleProduce},
		{kmsg.Fetch, 4, 18, handleFetch},
		{kmsg.ListOffsets, 0, 11, handleListOffsets},
		{kmsg.Metadata, 0, 13, handleMetadata},
		{kmsg.ApiVersions, 0, 5, handleApiVersions},
		{kmsg.CreateTopics, 0, 7, handleCreateTopics},
		{kmsg.DeleteTopics, 0, 6, handleDeleteTopics},
		{kmsg.DeleteRecords, 0, 2, handleDeleteRecords},
		{kmsg.OffsetForLeaderEpoch, 0, 4, handleOffsetForLeaderEpoch},
		{kmsg.DescribeConfigs, 0, 4, handleDescribeConfigs},
		{kmsg.AlterConfigs, 0, 2, handleAlterConfigs},
		{kmsg.DescribeLogDirs, 0, 5, handleDescribeLogDirs},
		{kmsg.CreatePartitions, 0, 3, handleCreatePartitions},
		{kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs},
		{kmsg.DescribeCluster, 0, 2, handleDescribeCluster},
		{kmsg.DescribeQuorum, 0, 2, handleDescribeQuorum},
		{kmsg.DescribeTopicPartitions, 0, 0, handleDescribeTopicPartitions},
		{kmsg.OffsetCommit, 0, 10, handleOffsetCommit},
		{kmsg.OffsetFetch, 0, 10, handleOffsetFetch},
		{kmsg.FindCoordinator, 0, 6, handleFindCoordinator},
		{kmsg.JoinGroup, 0, 9, handleJoinGroup},
		{kmsg.Heartbeat, 0, 4, handleHeartbeat},
		{kmsg.LeaveGroup, 0, 5, handleLeaveGroup},
		{kmsg.SyncGroup, 0, 5, handleSyncGroup},
		{kmsg.DescribeGroups, 0, 6, handleDescribeGroups},
		{kmsg.ListGroups, 0, 5, handleListGroups},
		{kmsg.DeleteGroups, 0, 2, handleDeleteGroups},
		{kmsg.OffsetDelete, 0, 0, handleOffsetDelete},
		{kmsg.InitProducerID, 0, 5, handleInitProducerID},
		{kmsg.AddPartitionsToTxn, 0, 5, handleAddPartitionsToTxn},
		{kmsg.AddOffsetsToTxn, 0, 4, handleAddOffsetsToTxn},
		{kmsg.EndTxn, 0, 4, handleEndTxn},
		{kmsg.TxnOffsetCommit, 0, 4, handleTxnOffsetCommit},
		{kmsg.WriteTxnMarkers, 0, 1, handleWriteTxnMarkers},
		{kmsg.DescribeProducers, 0, 0, handleDescribeProducers},
		{kmsg.DescribeTransactions, 0, 0, handleDescribeTransactions},
		{kmsg.ListTransactions, 0, 1, handleListTransactions},
		{kmsg.ConsumerGroupHeartbeat, 0, 1, handleConsumerGroupHeartbeat},
		{kmsg.ConsumerGroupDescribe, 0, 1, handleConsumerGroupDescribe},
		{kmsg.ElectLeaders, 0, 2, handleElectLeaders},
		{kmsg.AlterPartitionAssignments, 0, 1, handleAlterPartitionReassignments},
		{kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments},
		{kmsg.AlterPartition, 0, 3, handleAlterPartition},
		{kmsg.BrokerRegistration, 0, 4, handleBrokerRegistration},
		{kmsg.BrokerHeartbeat, 0, 1, handleBrokerHeartbeat},
		{kmsg.AllocateProducerIDs, 0, 0, handleAllocateProducerIDs},
	}
	maxKey := kmsg.Key(0)
	for _, r := range all {
		maxKey = max(maxKey, r.key)
	}
	routes := make([]route, maxKey+1)
	for _, r := range all {
		routes[r.key] = r
	}
	return routes
}

// resolveTopic names a request's topic: by ID from v13 of Produce and Fetch
// (KIP-516), by name before. The error is the one to return for it.
func (b *Broker) resolveTopic(name string, id [16]byte, byID bool) (string, *kerr.Error) {
	img := b.cfg.Metadata.Image()
	if byID {
		if t := img.TopicByID(id); t != nil {
			return t.Name, nil
		}
		return "", kerr.UnknownTopicID
	}
	if img.TopicByName(name) == nil {
		return name, kerr.UnknownTopicOrPartition
	}
	return name, nil
}

// fetchTopic resolves a fetch topic to its name and ID; an unknown topic
// keeps what the client sent, and the read reports the error.
func (b *Broker) fetchTopic(name string, id [16]byte, byID bool) (string, [16]byte) {
	img := b.cfg.Metadata.Image()
	if byID {
		if t := img.TopicByID(id); t != nil {
			return t.Name, id
		}
		return "", id
	}
	if t := img.TopicByName(name); t != nil {
		return name, t.ID
	}
	return name, id
}

// topicConfigCache memoises resolved topic configs for one metadata image:
// resolving means parsing every override, too slow for each produce.
type topicConfigCache struct {
	image  *metadata.Image
	mu     sync.Mutex // guards topics
	topics map[string]config.Topic
}

// topicConfig is the effective config of a topic: broker defaults with the
// topic's overrides on top.
func (b *Broker) topicConfig(topic string) config.Topic {
	img := b.cfg.Metadata.Image()
	cache := b.topicConfigs.Load()
	if cache == nil || cache.image != img {
		cache = &topicConfigCache{image: img, topics: map[string]config.Topic{}}
		b.topicConfigs.Store(cache)
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if tc, ok := cache.topics[topic]; ok {
		return tc
	}
	var overrides map[string]string
	if t := img.TopicByName(topic); t != nil {
		overrides = t.Configs
	}
	tc, err := config.ResolveTopic(b.cfg.Broker.TopicDefaults, overrides)
	if err != nil {
		// Overrides were validated when set; fall back to the defaults
		// rather than refuse service, and say so.
		b.log.Error("stored topic config is invalid, using broker defaults", "topic", topic, "err", err)
		tc = b.cfg.Broker.TopicDefaults
	}
	cache.topics[topic] = tc
	return tc
}

// targetCodec maps compression.type to the codec batches are stored with;
// "producer" keeps what the producer sent.
func targetCodec(compressionType string) record.Codec {
	switch compressionType {
	case "none", "uncompressed":
		return record.CodecNone
	case "gzip":
		return record.CodecGzip
	case "snappy":
		return record.CodecSnappy
	case "lz4":
		return record.CodecLZ4
	case "zstd":
		return record.CodecZstd
	}
	return record.CodecProducer
}

func isInternalTopic(name string) bool { return metadata.IsInternalTopic(name) }

// controllerID is the node ID Metadata and DescribeCluster name as the
// controller: the active controller, -1 while none is elected (Kafka's
// MetadataResponse.NO_CONTROLLER_ID).
func (b *Broker) controllerID() int32 {
	if b.cfg.ActiveController == nil {
		return b.cfg.Broker.NodeID
	}
	if id, ok := b.cfg.ActiveController(); ok {
		return id
	}
	return -1
}
