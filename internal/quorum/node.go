package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/segment"

	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/vfs"
)

// Errors Propose returns; test with errors.Is.
var (
	// ErrNotLeader: this node is not the Raft leader (the active
	// controller), or lost leadership before the batch committed. Kafka
	// callers answer NOT_CONTROLLER. A batch that was appended before
	// leadership was lost may still commit later.
	ErrNotLeader = errors.New("not the metadata quorum leader")
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("metadata quorum closed")
)

// Voter is one member of the initial voter set written at bootstrap.
type Voter struct {
	// NodeID is the member's node.id.
	NodeID int32
	// Address is where Config.Transport reaches it (host:port for TCP).
	Address string
}

// Config configures a Node. Dir and NodeID are required; every other field
// has a default.
type Config struct {
	// Dir holds the Raft log (wal/) and snapshots (snapshots/). Created if
	// missing.
	Dir string
	// FS is the file system Dir is on; everything the node persists goes
	// through it (the seam tests cut the power on). Nil means the
	// operating system's (vfs.OS).
	FS vfs.FS
	// NodeID is this node's node.id, its Raft server ID.
	NodeID int32
	// Logger receives this package's logs and hashicorp/raft's at warn and
	// above. Nil discards them.
	Logger *slog.Logger
	// Transport carries Raft RPCs between voters. Nil uses an in-memory
	// transport, which is enough for a single voter; a cluster passes a TCP
	// transport (raft.NewTCPTransport) bound to its controller listener.
	// The node owns the transport and closes it on Close.
	Transport raft.Transport
	// Voters is the voter set written on first start (bootstrap); it is
	// ignored once the log has state. Empty means this node alone, the
	// single-node quorum. With several voters Transport must be set.
	Voters []Voter
	// Observer marks a broker-only node: it never bootstraps the voter set
	// (it would vote otherwise) and waits until the active controller adds
	// it as a non-voting member (AddObserver), then follows the log.
	Observer bool
	// OnChange is called after every committed batch and every snapshot
	// restore, in commit order, on the FSM goroutine, with the image before
	// and after. It must return quickly and must not call Propose (Propose
	// waits for this goroutine). Nil means nobody listens.
	OnChange func(prev, next *metadata.Image)
	// HeartbeatTimeout and ElectionTimeout are Raft's failure-detection
	// timeouts. Zero picks by voter count: 20ms for a single voter, so a
	// one-node quorum elects itself in well under a second, and Raft's
	// defaults (1s) for a cluster.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// SnapshotThreshold is how many log entries accumulate before Raft
	// snapshots the image and truncates the log (0: 8192).
	SnapshotThreshold uint64
	// SnapshotInterval is how often Raft checks the threshold (0: 2m).
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries survive log truncation so that a
	// slightly lagging follower needs no snapshot (0: 10240).
	TrailingLogs uint64
	// ReadyTimeout bounds how long Open waits for a single-voter quorum to
	// elect itself and replay its log (0: 30s).
	ReadyTimeout time.Duration

	// segmentSize is the metadata log's segment size (0: raft-wal's, 64
	// MiB). Tests shrink it so that the log rotates.
	segmentSize int
}

// commitTimeout is hashicorp/raft's CommitTimeout: how long the leader's
// replication loop for a follower waits for new entries before it sends
// an AppendEntries anyway (a random wait of 1-2x this), which is how a
// follower learns that what it already holds has committed. Raft's
// default, 50 ms, made every broker learn a new partition leader 50-100
// ms after the election committed, most of a SIGTERM's pause; 10 ms makes
// it 10-20 ms, for about 3 % of a core more on the leader of an idle
// cluster and 1 % on each follower (docs/performance.md, "Metadata commit
// latency"; 5 ms would cost 7-8 % more on the leader).
const commitTimeout = 10 * time.Millisecond

// singleVoterTimeout is the heartbeat and election timeout of a one-voter
// quorum: the first election starts after 1-2x this, and there is no peer
// whose slowness it must tolerate.
const singleVoterTimeout = 20 * time.Millisecond

// Node is one member of the metadata quorum: a Raft replica of the metadata
// log and the image replayed from it.
//
// Threading: every method is safe for concurrent use. The image is published
// through an atomic pointer; proposals are serialised by Raft.
type Node struct {
	raft      *raft.Raft
	fsm       *fsm
	logStore  *wal.WAL
	metaStore *metaStore
	transport raft.Transport
	logger    *slog.Logger

	// waiters counts Propose helper goroutines still waiting on a Raft
	// future; Close waits for them (Raft resolves every future on shutdown).
	waiters   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open starts (or restarts) this node's Raft replica in cfg.Dir. On first
// start it bootstraps the voter set. For a single voter it waits until the
// node has elected itself and replayed the whole log, so Image is complete
// and Propose works as soon as Open returns.
func Open(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n, err := start(cfg)
	if err != nil {
		return nil, err
	}
	if len(cfg.Voters) == 1 && !cfg.Observer {
		if err := n.waitReady(cfg.ReadyTimeout); err != nil {
			return nil, errors.Join(err, n.Close())
		}
	}
	return n, nil
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Dir == "" {
		return cfg, errors.New("quorum config: Dir is required")
	}
	if cfg.NodeID < 0 {
		return cfg, fmt.Errorf("quorum config: negative NodeID %d", cfg.NodeID)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS{}
	}
	if len(cfg.Voters) == 0 {
		cfg.Voters = []Voter{{NodeID: cfg.NodeID}}
	}
	if len(cfg.Voters) > 1 && cfg.Transport == nil {
		return cfg, errors.New("quorum config: several voters need a Transport")
	}
	timeout := singleVoterTimeout
	if len(cfg.Voters) > 1 {
		timeout = time.Second
	}
	cfg.HeartbeatTimeout = cmpOr(cfg.HeartbeatTimeout, timeout)
	cfg.ElectionTimeout = cmpOr(cfg.ElectionTimeout, timeout)
	cfg.SnapshotThreshold = cmpOr(cfg.SnapshotThreshold, 8192)
	cfg.SnapshotInterval = cmpOr(cfg.SnapshotInterval, 2*time.Minute)
	cfg.TrailingLogs = cmpOr(cfg.TrailingLogs, 10240)
	cfg.ReadyTimeout = cmpOr(cfg.ReadyTimeout, 30*time.Second)
	return cfg, nil
}

func cmpOr[T comparable](value, fallback T) T {
	var zero T
	if value == zero {
		return fallback
	}
	return value
}

func serverID(nodeID int32) raft.ServerID {
	return raft.ServerID(strconv.FormatInt(int64(nodeID), 10))
}

func (cfg Config) raftConfig(logger hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = serverID(cfg.NodeID)
	rc.Logger = logger
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, cfg.HeartbeatTimeout)
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.CommitTimeout = commitTimeout
	rc.NoLegacyTelemetry = true
	return rc
}

// start opens the stores and starts Raft, bootstrapping an empty log.
func start(cfg Config) (*Node, error) {
	hlog := newHCLogAdapter(cfg.Logger, hclog.Warn)
	logStore, metaStore, err := openLog(cfg, hlog)
	if err != nil {
		return nil, err
	}
	n := &Node{
		fsm:       newFSM(cfg.OnChange, cfg.Logger),
		logStore:  logStore,
		metaStore: metaStore,
		logger:    cfg.Logger,
	}
	snapshots, err := newSnapshotStore(cfg.FS, cfg.Dir, retainSnapshots, cfg.Logger.With("store", "snapshots"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open metadata snapshots in %s: %w", cfg.Dir, err), n.closeStores())
	}
	transport := cfg.Transport
	if transport == nil {
		_, transport = raft.NewInmemTransport(raft.ServerAddress("sluice-node-" + string(serverID(cfg.NodeID))))
	}
	n.transport = transport
	rc := cfg.raftConfig(hlog.Named("raft"))
	if err := bootstrapIfEmpty(rc, cfg, logStore, snapshots, transport); err != nil {
		return nil, errors.Join(err, n.closeStores())
	}
	stores := raftStores{WAL: logStore}
	cachedLog, err := raft.NewLogCache(512, stores)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("metadata log cache: %w", err), n.closeStores())
	}
	r, err := raft.NewRaft(rc, n.fsm, cachedLog, stores, snapshots, transport)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start metadata raft: %w", err), n.closeStores())
	}
	n.raft = r
	return n, nil
}

// retainSnapshots is how many metadata snapshots are kept (as raft's
// FileSnapshotStore was configured before): the newest, and one more in
// case the newest cannot be read.
const retainSnapshots = 2

// openLog opens the Raft log in Dir/wal on cfg.FS: raft-wal's segment
// format through walFS, its state and Raft's stable store in a metaStore.
// The WAL is both the LogStore and the StableStore; it fsyncs every append
// before returning, and Raft acknowledges nothing before that.
//
// The node owns the meta store and closes it after the WAL (a second Close
// does nothing). raft-wal v0.4.1 is the minimum: v0.4.0 marked the tail
// segment sealed without an index block when Raft truncated the log's
// tail, and the node could not start again
// (TestMetadataLogReopensAfterTailTruncation).
func openLog(cfg Config, hlog hclog.Logger) (*wal.WAL, *metaStore, error) {
	walDir := filepath.Join(cfg.Dir, "wal")
	if err := vfs.MkdirAllDurable(cfg.FS, walDir); err != nil {
		return nil, nil, fmt.Errorf("create metadata log directory %s: %w", walDir, err)
	}
	metaStore := newMetaStore(cfg.FS, cfg.Logger.With("store", "wal-state"))
	logStore, err := wal.Open(walDir, wal.WithLogger(hlog.Named("wal")), wal.WithMetaStore(metaStore),
		wal.WithSegmentFiler(segment.NewFiler(walDir, walFS{fsys: cfg.FS})), wal.WithSegmentSize(cfg.segmentSize))
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("open metadata log %s: %w", walDir, err), metaStore.Close())
	}
	return logStore, metaStore, nil
}

func bootstrapIfEmpty(rc *raft.Config, cfg Config, logStore *wal.WAL, snapshots raft.SnapshotStore, transport raft.Transport) error {
	existing, err := raft.HasExistingState(logStore, logStore, snapshots)
	if err != nil {
		return fmt.Errorf("inspect metadata log: %w", err)
	}
	if existing || cfg.Observer {
		return nil
	}
	configuration := raft.Configuration{}
	for _, v := range cfg.Voters {
		address := raft.ServerAddress(v.Address)
		if v.NodeID == cfg.NodeID && address == "" {
			address = transport.LocalAddr()
		}
		configuration.Servers = append(configuration.Servers, raft.Server{
			Suffrage: raft.Voter, ID: serverID(v.NodeID), Address: address,
		})
	}
	if err := raft.BootstrapCluster(rc, logStore, logStore, snapshots, transport, configuration); err != nil {
		return fmt.Errorf("bootstrap metadata quorum: %w", err)
	}
	cfg.Logger.Info("bootstrapped metadata quorum", "dir", cfg.Dir, "voters", len(cfg.Voters))
	return nil
}

// waitReady waits until this node leads and every committed entry has been
// applied to the image (a Raft barrier).
func (n *Node) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if err := n.waitLeader(deadline); err != nil {
		return err
	}
	if err := n.raft.Barrier(time.Until(deadline)).Error(); err != nil {
		return fmt.Errorf("replay metadata log: %w", err)
	}
	return n.fsm.Err()
}

func (n *Node) waitLeader(deadline time.Time) error {
	changes := make(chan raft.Observation, 8)
	observer := raft.NewObserver(changes, false, func(o *raft.Observation) bool {
		_, isState := o.Data.(raft.RaftState)
		_, isLeader := o.Data.(raft.LeaderObservation)
		return isState || isLeader
	})
	n.raft.RegisterObserver(observer)
	defer n.raft.DeregisterObserver(observer)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for n.raft.State() != raft.Leader {
		select {
		case <-changes:
		case <-timer.C:
			return fmt.Errorf("metadata quorum elected no leader within the ready timeout (state %s)", n.raft.State())
		}
	}
	return nil
}

// Image returns the latest applied metadata image. It never blocks; the
// image is immutable and may be held for as long as the caller likes.
func (n *Node) Image() *metadata.Image { return n.fsm.image.Load() }

// Err returns the fault that stopped metadata replay (an undecodable log
// entry), nil while replay is healthy.
func (n *Node) Err() error { return n.fsm.Err() }

// IsLeader reports whether this node currently leads the quorum, that is,
// whether it is the active controller.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the node ID of the current leader, false when none is known.
func (n *Node) Leader() (int32, bool) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return 0, false
	}
	nodeID, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(nodeID), true
}

// Propose appends records to the metadata log as one atomic batch and
// returns once it is committed and applied to the image (so Image reflects
// it), or with the error Image.Apply gave, which left the image unchanged.
//
// Errors: ErrNotLeader when this node does not lead; ErrClosed after Close;
// the context's error when ctx ends first, in which case the batch may still
// commit later.
func (n *Node) Propose(ctx context.Context, records []metadata.Record) error {
	if len(records) == 0 {
		return nil
	}
	if err := n.fsm.Err(); err != nil {
		return err
	}
	var enqueueTimeout time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		enqueueTimeout = max(time.Until(deadline), time.Millisecond)
	}
	future := n.raft.Apply(metadata.EncodeBatch(records), enqueueTimeout)
	if ctx.Done() == nil {
		return applyResult(future)
	}
	done := make(chan error, 1)
	n.waiters.Add(1)
	go func() {
		defer n.waiters.Done()
		done <- applyResult(future)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("propose metadata: %w", ctx.Err())
	}
}

// applyResult waits for the future and translates Raft's errors.
func applyResult(future raft.ApplyFuture) error {
	if err := future.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
			errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		case errors.Is(err, raft.ErrRaftShutdown):
			return ErrClosed
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return fmt.Errorf("propose metadata: %w", context.DeadlineExceeded)
		}
		return fmt.Errorf("propose metadata: %w", err)
	}
	if err, ok := future.Response().(error); ok {
		return err
	}
	return nil
}

// Snapshot makes Raft snapshot the image now and truncate its log. Raft also
// does this by itself every SnapshotThreshold entries; this is for tests and
// operators, and for a clean shutdown. A log with nothing new since the
// last snapshot is left as it is, without an error.
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot metadata: %w", err)
	}
	return nil
}

// Close stops Raft, waits for pending proposals to resolve (with ErrClosed)
// and closes the log. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		if n.raft != nil {
			if err := n.raft.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("stop metadata raft: %w", err))
			}
		}
		n.waiters.Wait()
		errs = append(errs, n.closeStores())
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

func (n *Node) closeStores() error {
	var errs []error
	if closer, ok := n.transport.(raft.WithClose); ok {
		if err := closer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close metadata transport: %w", err))
		}
	}
	if err := n.logStore.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close metadata log: %w", err))
	}
	if err := n.metaStore.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close metadata log state: %w", err))
	}
	return errors.Join(errs...)
}

// Barrier waits until every entry committed before it has been applied to
// the image. A node that has just become leader calls it before planning
// anything, so its decisions see every earlier leader's records.
func (n *Node) Barrier(timeout time.Duration) error {
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("metadata barrier: %w", err)
	}
	return n.fsm.Err()
}

// TransferLeadership hands Raft leadership to another voter, so that a
// controller shutting down costs the cluster no election timeout.
func (n *Node) TransferLeadership() error {
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("transfer metadata leadership: %w", err)
	}
	return nil
}

// AddObserver makes a broker-only node a non-voting member at address, so
// it receives the metadata log without voting. Only the leader can; an
// existing member at the same address is left as it is.
func (n *Node) AddObserver(nodeID int32, address string) error {
	future := n.raft.GetConfiguration()
	if err := future.Error(); err != nil {
		return fmt.Errorf("read metadata quorum configuration: %w", err)
	}
	for _, s := range future.Configuration().Servers {
		if s.ID == serverID(nodeID) && string(s.Address) == address {
			return nil
		}
	}
	if err := n.raft.AddNonvoter(serverID(nodeID), raft.ServerAddress(address), 0, 10*time.Second).Error(); err != nil {
		return fmt.Errorf("add observer %d at %s: %w", nodeID, address, err)
	}
	return nil
}

// Members returns the node IDs in the current Raft configuration.
func (n *Node) Members() (map[int32]bool, error) {
	future := n.raft.GetConfiguration()
	if err := future.Error(); err != nil {
		return nil, fmt.Errorf("read metadata quorum configuration: %w", err)
	}
	out := map[int32]bool{}
	for _, s := range future.Configuration().Servers {
		if id, err := strconv.ParseInt(string(s.ID), 10, 32); err == nil {
			out[int32(id)] = true
		}
	}
	return out, nil
}
