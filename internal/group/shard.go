package group

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// Config holds the group coordinator settings (Kafka's names in comments).
type Config struct {
	// Partition is the `__consumer_offsets` partition this shard owns.
	Partition int32
	// MinSessionTimeout and MaxSessionTimeout bound a member's session
	// timeout (group.min.session.timeout.ms, group.max.session.timeout.ms).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay delays the first rebalance of an empty group so
	// that members starting together join one generation
	// (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// MaxSize caps a group's members (group.max.size).
	MaxSize int32
	// OffsetsRetention is how long committed offsets of an empty group are
	// kept (offsets.retention.minutes).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expiry runs
	// (offsets.retention.check.interval.ms).
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes caps commit metadata (offset.metadata.max.bytes).
	OffsetMetadataMaxBytes int32
	// ConsumerSessionTimeout is how long a consumer-protocol (KIP-848)
	// member may go without heartbeating before it is fenced
	// (group.consumer.session.timeout.ms; default 45s).
	ConsumerSessionTimeout time.Duration
	// ConsumerHeartbeatInterval is the interval consumer-protocol members
	// are told to heartbeat at (group.consumer.heartbeat.interval.ms;
	// default 5s).
	ConsumerHeartbeatInterval time.Duration
	// ConsumerMaxSize caps a consumer group's members
	// (group.consumer.max.size; zero means no limit).
	ConsumerMaxSize int32
	// ConsumerAssignors are the server assignors consumer groups may use,
	// preferred first (group.consumer.assignors: "uniform", "range" or
	// Kafka's class names for them; default uniform, range).
	ConsumerAssignors []string
	// Logger receives the shard's logs.
	Logger *slog.Logger
}

// Shard is the state of one `__consumer_offsets` partition's groups.
// It is owned by one coord loop goroutine and is not safe for concurrent use.
type Shard struct {
	cfg      Config
	log      *slog.Logger
	timers   coord.Timers
	classic  classicState
	consumer consumerState
	offsets  offsetState
	// txnOffsets holds offsets of open transactions (offsets_txn.go).
	txnOffsets txnOffsetState
}

// NewShard returns an empty shard; the runtime replays the partition into
// it before serving.
func NewShard(cfg Config, timers coord.Timers) *Shard {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Shard{cfg: cfg, log: cfg.Logger, timers: timers}
	s.classic.init()
	s.consumer.init()
	s.offsets.init()
	s.txnOffsets.init()
	return s
}

// Replay applies one record of the partition, written by this shard or
// read back at load time.
func (s *Shard) Replay(r coord.Record) error {
	if len(r.Key) < 2 {
		return fmt.Errorf("group record key of %d bytes has no version", len(r.Key))
	}
	switch version := int16(binary.BigEndian.Uint16(r.Key)); version {
	case 0, 1:
		key := kmsg.NewOffsetCommitKey()
		if err := key.ReadFrom(r.Key); err != nil {
			return fmt.Errorf("decode offset commit key: %w", err)
		}
		var value *kmsg.OffsetCommitValue
		if r.Value != nil {
			v := kmsg.NewOffsetCommitValue()
			if err := v.ReadFrom(r.Value); err != nil {
				return fmt.Errorf("decode offset commit value for group %q: %w", key.Group, err)
			}
			value = &v
		}
		if r.Transactional {
			s.replayTxnOffsetCommit(r.ProducerID, &key, value)
			return nil
		}
		s.replayOffsetCommit(&key, value)
	case 2:
		key := kmsg.NewGroupMetadataKey()
		if err := key.ReadFrom(r.Key); err != nil {
			return fmt.Errorf("decode group metadata key: %w", err)
		}
		var value *kmsg.GroupMetadataValue
		if r.Value != nil {
			v := kmsg.NewGroupMetadataValue()
			if err := v.ReadFrom(r.Value); err != nil {
				return fmt.Errorf("decode group metadata value for group %q: %w", key.Group, err)
			}
			value = &v
		}
		s.replayGroupMetadata(&key, value)
	case consumerGroupMetadataType, consumerGroupPartitionMetadataType, consumerMemberMetadataType,
		consumerTargetMetadataType, consumerTargetMemberType, consumerCurrentAssignmentType:
		return s.replayConsumer(version, r)
	default:
		// Later record types (regular expressions, share and streams
		// groups) are not produced by this version; skip rather than
		// refuse to load.
		s.log.Debug("skipping unknown group record", "key_version", version)
	}
	return nil
}

// Loaded runs once after the partition has been replayed, before the shard
// serves: it restarts the timers that replay cannot (member sessions,
// offset expiry).
func (s *Shard) Loaded(fx *coord.Effects) {
	s.classicLoaded(fx)
	s.consumerLoaded()
	s.offsetsLoaded(fx)
}

// ClientInfo identifies the connection a request came from; classic groups
// report it in DescribeGroups and store it with members.
type ClientInfo struct {
	ClientID   string
	ClientHost string
}
