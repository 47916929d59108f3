package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/quorum"
)

// Quorum is what the controller needs from the metadata log; *quorum.Node
// implements it.
type Quorum interface {
	// Image returns the latest applied image; it never blocks.
	Image() *metadata.Image
	// Propose commits records as one atomic batch and returns once they are
	// applied to Image, or with an error (quorum.ErrNotLeader,
	// quorum.ErrClosed, the context's error, or the replay error that left
	// the image unchanged).
	Propose(ctx context.Context, records []metadata.Record) error
}

// leadership is implemented by quorums that know whether this node leads
// (*quorum.Node). The controller then answers the broker RPCs with
// NOT_CONTROLLER on a standby, as Kafka's ControllerApis does, instead of
// acting on soft state only the active controller keeps. A Quorum without
// it counts as leading.
type leadership interface {
	IsLeader() bool
}

// standby reports whether the quorum says another node leads.
func (c *Controller) standby() bool {
	l, ok := c.quorum.(leadership)
	return ok && !l.IsLeader()
}

// TopicConfigs is the controller's view of the topic config registry
// (internal/config). Methods must be safe for concurrent use.
type TopicConfigs interface {
	// Validate checks one topic config override; a nil value is a delete.
	// The error text is returned to the client with INVALID_CONFIG.
	Validate(name string, value *string) error
	// IsList reports whether the config holds a comma-separated list, the
	// only kind IncrementalAlterConfigs may APPEND to or SUBTRACT from.
	IsList(name string) bool
	// Default returns the value a topic without an override has.
	Default(name string) (string, bool)
	// Describe lists every topic config in force given the overrides,
	// ordered by name, as CreateTopics v5+ returns them.
	Describe(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig
}

// Config configures a Controller.
type Config struct {
	// NodeID is this node's node.id.
	NodeID int32
	// NumPartitions is num.partitions: the partition count of a topic created
	// with -1 partitions or auto-created.
	NumPartitions int32
	// DefaultReplicationFactor is default.replication.factor, used for -1 and
	// auto-created topics.
	DefaultReplicationFactor int16
	// DeleteTopicEnable is delete.topic.enable.
	DeleteTopicEnable bool
	// TopicConfigs validates and describes topic configs; ConfigFromBroker
	// sets it to internal/config's registry. Nil accepts every key and value
	// and describes only the overrides (for tests of other packages).
	TopicConfigs TopicConfigs
	// NewTopicID returns a fresh random UUID. Nil uses crypto/rand. Tests
	// inject a deterministic source.
	NewTopicID func() [16]byte
	// Rand returns a random number in [0, n), used to spread replica
	// placement. Nil uses math/rand/v2.
	Rand func(n int) int
	// Logger receives the controller's logs. Nil discards them.
	Logger *slog.Logger

	// SessionTimeout is broker.session.timeout.ms: an unfenced broker not
	// heard from for longer is fenced by Tick. Zero means
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// KeepSelfUnfenced exempts this node's own broker from session expiry.
	// A single node sets it: the controller ticking is proof the broker in
	// the same process lives, and fencing the only broker would only take
	// every partition offline until its next heartbeat.
	KeepSelfUnfenced bool
	// UncleanLeaderElectionEnable is the broker default of
	// unclean.leader.election.enable, for topics without an override.
	UncleanLeaderElectionEnable bool
	// AutoLeaderRebalanceEnable is auto.leader.rebalance.enable: Tick moves
	// leadership back to preferred replicas every
	// LeaderImbalanceCheckInterval.
	AutoLeaderRebalanceEnable bool
	// LeaderImbalanceCheckInterval is
	// leader.imbalance.check.interval.seconds. Zero means
	// DefaultLeaderImbalanceCheckInterval.
	LeaderImbalanceCheckInterval time.Duration
	// MaxPartitions is sluice.max.partitions as resolved at start-up
	// (config.Broker.ResolvePartitionCap): the most partition replicas any
	// broker may host. CreateTopics, CreatePartitions and
	// AlterPartitionReassignments that would put more on a broker are
	// refused per topic or partition with POLICY_VIOLATION. This
	// controller applies its own value to every broker while it is
	// active. 0: no cap.
	MaxPartitions int32
	// PartitionCapRefused, if set, is told how many topics or partitions
	// an answered request refused because of MaxPartitions (validate_only
	// included). The server counts them in
	// sluice_refusals_total{reason="max_partitions"}: internal/metrics is
	// not among this package's imports.
	PartitionCapRefused func(n int)
	// Now is the clock for broker sessions. Nil uses time.Now; tests inject
	// a fake one.
	Now func() time.Time
}

// Defaults of the cluster settings. The session timeout is Sluice's (Kafka:
// 9 s) so that a dead broker is fenced within 1.5 s; the imbalance check
// interval is Kafka's.
const (
	DefaultSessionTimeout               = 1500 * time.Millisecond
	DefaultLeaderImbalanceCheckInterval = 300 * time.Second
)

// maxElectionsPerImbalance bounds the preferred leader elections one
// rebalance plans (Kafka's QuorumController maxElectionsPerImbalance); the
// next Tick carries on.
const maxElectionsPerImbalance = 1000

// DefaultConfig returns Kafka's defaults: num.partitions=1,
// default.replication.factor=1, delete.topic.enable=true,
// auto.leader.rebalance.enable=true, leader.imbalance.check.interval.seconds
// =300, unclean.leader.election.enable=false, and Sluice's
// broker.session.timeout.ms=1500.
func DefaultConfig() Config {
	return Config{
		NumPartitions: 1, DefaultReplicationFactor: 1, DeleteTopicEnable: true,
		SessionTimeout: DefaultSessionTimeout, AutoLeaderRebalanceEnable: true,
		LeaderImbalanceCheckInterval: DefaultLeaderImbalanceCheckInterval,
	}
}

// Validate checks the settings New cannot default.
func (c Config) Validate() error {
	if c.NumPartitions < 1 {
		return fmt.Errorf("controller config: num.partitions %d must be at least 1", c.NumPartitions)
	}
	if c.DefaultReplicationFactor < 1 {
		return fmt.Errorf("controller config: default.replication.factor %d must be at least 1", c.DefaultReplicationFactor)
	}
	if c.SessionTimeout < 0 {
		return fmt.Errorf("controller config: broker.session.timeout.ms %v must not be negative", c.SessionTimeout)
	}
	if c.MaxPartitions < 0 {
		return fmt.Errorf("controller config: %s %d must not be negative", maxPartitionsKey, c.MaxPartitions)
	}
	if c.LeaderImbalanceCheckInterval < 0 {
		return fmt.Errorf("controller config: leader.imbalance.check.interval.seconds %v must not be negative", c.LeaderImbalanceCheckInterval)
	}
	return nil
}

// Controller makes the active controller's decisions: each request is
// planned against the current image by a pure function that returns records
// and a response (Kafka's ControllerResult), then the records are proposed to
// the quorum.
//
// Threading: safe for concurrent use. Requests that write are serialised by
// mu, held from planning until the records are applied, so each plan sees
// every earlier decision (Kafka's controller is a single event queue). This
// holds mu across a Raft commit (an fsync); metadata writes are rare enough
// that one at a time is fine. Read-only work (validate_only) takes no lock.
//
// Broker sessions (Kafka's BrokerHeartbeatManager: soft state, never in the
// log) are guarded by sessionMu alone, so a heartbeat records its contact,
// and ReplicaStates reads, without waiting for a commit in flight. Lock
// order: mu, then sessionMu; sessionMu is never held across a proposal.
type Controller struct {
	cfg    Config
	quorum Quorum

	// mu serialises plan+propose and guards lastBalance.
	mu sync.Mutex
	// lastBalance is when Tick last rebalanced leaders.
	lastBalance time.Time

	sessionMu sync.Mutex
	// sessions holds the session of every broker heard from (or
	// registered) since this controller became active, by node ID.
	sessions map[int32]*session
}

// New returns a controller deciding for quorum. cfg must pass Validate.
func New(cfg Config, q Quorum) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if q == nil {
		return nil, errors.New("controller: nil quorum")
	}
	if cfg.TopicConfigs == nil {
		cfg.TopicConfigs = permissiveTopicConfigs{}
	}
	if cfg.NewTopicID == nil {
		cfg.NewTopicID = randomUUID
	}
	if cfg.Rand == nil {
		cfg.Rand = mathrand.IntN
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.LeaderImbalanceCheckInterval == 0 {
		cfg.LeaderImbalanceCheckInterval = DefaultLeaderImbalanceCheckInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Controller{cfg: cfg, quorum: q, sessions: make(map[int32]*session)}, nil
}

// Image returns the quorum's current image, for callers that answer reads.
func (c *Controller) Image() *metadata.Image { return c.quorum.Image() }

// write plans against the current image and proposes the records, holding
// mu throughout. plan returns the records and the error code to report for
// every item should the proposal fail. It returns nil, or the Kafka error to
// give every item that was going to succeed.
func (c *Controller) write(ctx context.Context, plan func(img *metadata.Image) []metadata.Record) *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proposeLocked(ctx, plan(c.quorum.Image()))
}

// proposeLocked proposes records (nothing for none) with mu held and
// returns nil, or the Kafka error for the client.
func (c *Controller) proposeLocked(ctx context.Context, records []metadata.Record) *kerr.Error {
	if len(records) == 0 {
		return nil
	}
	err := c.quorum.Propose(ctx, records)
	if err == nil {
		return nil
	}
	code := proposeErrorCode(err)
	c.cfg.Logger.Warn("metadata proposal failed", "records", len(records), "code", code.Message, "err", err)
	return code
}

// proposeErrorCode maps a Propose error to what the client sees.
func proposeErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, quorum.ErrNotLeader), errors.Is(err, quorum.ErrClosed):
		return kerr.NotController
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut
	}
	return kerr.UnknownServerError
}

// RegisterBroker is the single-node registration: it records this node's
// listeners and rack unfenced, at once, with a new broker epoch, keeping its
// partitions as they are. It is what a combined node used before broker
// heartbeats existed; cluster mode uses BrokerRegistration and
// BrokerHeartbeat instead. A broker registered this way that does not
// heartbeat is fenced by Tick once its session (started here) expires.
func (c *Controller) RegisterBroker(ctx context.Context, broker metadata.Broker) error {
	if broker.NodeID < 0 {
		return fmt.Errorf("register broker: negative node ID %d", broker.NodeID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.quorum.Image()
	broker.BrokerEpoch = nextBrokerEpoch(img, broker.NodeID)
	broker.Fenced, broker.InControlledShutdown, broker.RegisteredAt = false, false, 0
	if code := c.proposeLocked(ctx, []metadata.Record{&metadata.RegisterBrokerRecord{Broker: broker}}); code != nil {
		return fmt.Errorf("register broker %d: %w", broker.NodeID, code)
	}
	c.startSession(broker.NodeID, c.cfg.Now())
	return nil
}

// EnsureClusterID returns the cluster ID, first committing a new random one
// (Kafka's format: a UUID in unpadded URL-safe base64) if the metadata log
// has none yet. The node calls it once at start-up.
func (c *Controller) EnsureClusterID(ctx context.Context) (string, error) {
	if id := c.quorum.Image().ClusterID(); id != "" {
		return id, nil
	}
	newID := c.cfg.NewTopicID()
	code := c.write(ctx, func(img *metadata.Image) []metadata.Record {
		if img.ClusterID() != "" {
			return nil
		}
		return []metadata.Record{&metadata.ClusterIDRecord{ID: base64.RawURLEncoding.EncodeToString(newID[:])}}
	})
	if code != nil {
		return "", fmt.Errorf("create cluster ID: %w", code)
	}
	return c.quorum.Image().ClusterID(), nil
}

// randomUUID returns a random version-4 UUID, as Java's UUID.randomUUID.
func randomUUID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+).
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// permissiveTopicConfigs is the TopicConfigs of a Config built without
// ConfigFromBroker: it accepts every config and describes only the overrides.
type permissiveTopicConfigs struct{}

func (permissiveTopicConfigs) Validate(string, *string) error { return nil }
func (permissiveTopicConfigs) IsList(string) bool             { return false }
func (permissiveTopicConfigs) Default(string) (string, bool)  { return "", false }

func (permissiveTopicConfigs) Describe(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	return describeOverrides(overrides)
}
