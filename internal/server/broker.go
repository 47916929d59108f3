package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/controller"
	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/quorum"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/txn"
	"github.com/sluice-io/sluice/internal/vfs"
)

// BrokerOptions is what StartBroker needs; the cli layer builds it.
type BrokerOptions struct {
	// Config is the validated broker configuration.
	Config config.Broker
	// StaticConfig holds the keys set explicitly at start-up, reported by
	// DescribeConfigs as STATIC_BROKER_CONFIG.
	StaticConfig map[string]string
	// FS holds the partition logs and the metadata quorum's log and
	// snapshots; nil means the operating system's.
	FS vfs.FS
	// Logger receives the broker's structured logs.
	Logger *slog.Logger
}

// Broker is one running Sluice node: metadata quorum, controller, partition
// logs, the Kafka listeners and the metrics endpoint, assembled and torn
// down in dependency order.
//
// The same pieces run on a single node and in a cluster: the node
// registers with and heartbeats to the active controller (itself, on a
// single node), an applier goroutine gives every hosted partition the role
// the metadata log names (leader, or follower fetching from the leader),
// leaders send ISR changes to the controller, and while this node leads
// the quorum a driver ticks the controller's broker sessions.
type Broker struct {
	cfg          config.Broker
	log          *slog.Logger
	quorum       *quorum.Node
	ctrl         *controller.Controller
	partitions   *replica.Manager
	fetchers     *replica.Fetchers
	groups       *coord.Runtime[*group.Shard]
	txns         *coord.Runtime[*txn.Shard]
	markers      *markerSender // the transaction coordinator's (txn_markers.go)
	handlers     *api.Broker
	applier      *applier
	lifecycle    *lifecycle
	isrSender    *isrSender
	toController *controllerChannel
	peers        *peerClients
	raftStream   *quorum.StreamLayer
	server       *Server
	metricsSrv   *http.Server
	metricsURL   string
	addrs        []string
	endpoints    []metadata.Endpoint
	// clusterMetrics counts replication events for /metrics (metrics_cluster.go).
	clusterMetrics clusterMetrics
	// files splits the open-file limit (limits_broker.go).
	files FileBudget
	// metrics is set once before anything serves (metrics_resources.go).
	metrics *metrics.Broker
	// dirLock holds log.dirs' lock files from start to the end of close
	// (datadir_lock.go).
	dirLock *dataDirLock

	// serving is closed once this incarnation first serves (waitServing:
	// unfenced, and the image that unfenced it applied); the listeners
	// hold client requests until then (catchup.go, requestGate).
	serving     chan struct{}
	servingOnce sync.Once

	stop chan struct{}
	wg   sync.WaitGroup // background loops

	closeOnce sync.Once
	closeErr  error
}

// startupProgressInterval is how often a single node still opening its
// partitions says how far it got.
const startupProgressInterval = 10 * time.Second

// StartBroker opens the data directory, recovers the logs, joins (or
// bootstraps) the metadata quorum and starts serving. On error everything
// already started is closed again. A single node returns once it serves
// its partitions; a cluster node returns once its listeners accept, and
// joins the cluster in the background (its peers may not be up yet).
func StartBroker(ctx context.Context, opts BrokerOptions) (_ *Broker, err error) {
	cfg := opts.Config
	if len(cfg.LogDirs) != 1 {
		return nil, fmt.Errorf("log.dirs: Sluice uses exactly one log directory for now, got %d", len(cfg.LogDirs))
	}
	if opts.FS == nil {
		opts.FS = vfs.OS{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Broker{cfg: cfg, log: opts.Logger, stop: make(chan struct{}), serving: make(chan struct{})}
	if b.dirLock, err = lockDataDirs(opts.FS, cfg.LogDirs, b.log); err != nil { // before anything in them is opened
		return nil, err
	}
	b.files = planFileBudget(cfg, b.log)
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	logDir := cfg.LogDirs[0]
	b.toController = newControllerChannel(b)
	b.peers = newPeerClients(b)
	b.isrSender = newISRSender(b)
	b.applier = newApplier(b)
	b.lifecycle = newLifecycle(b)
	b.groups = newGroupRuntime(cfg, b.log.With("component", "group"))
	if b.partitions, err = replica.NewManager(replica.ManagerConfig{FS: opts.FS, LogDir: logDir, Logger: b.log,
		ProducerIDExpirationMs: int64(cfg.ProducerIDExpirationMs),
		NodeID:                 cfg.NodeID, ReplicaLagTimeMaxMs: cfg.ReplicaLagTimeMaxMs,
		ISRProposer: b.isrSender, AwaitRole: !cfg.SingleNode(), ReplicaEligible: b.replicaEligible,
		HighWatermarkCheckpointIntervalMs: cfg.ReplicaHighWatermarkCheckpointIntervalMs,
		Files:                             storage.NewFileCache(storage.FileCacheConfig{Budget: b.files.Storage, Logger: b.log})}); err != nil {
		return nil, err
	}
	b.fetchers = replica.NewFetchers(b.fetcherConfig())
	b.markers = b.newMarkers()
	b.txns = newTxnRuntime(cfg, b.partitions, b.markers, b.log.With("component", "txn"))
	b.startMarkers()
	listeners, err := listen(cfg.Listeners)
	if err != nil {
		return nil, err
	}
	b.endpoints = advertised(cfg, listeners)
	controllerListener, err := b.listenController()
	if err != nil {
		closeAll(listeners)
		return nil, err
	}
	if controllerListener != nil {
		listeners = append(listeners, controllerListener)
	}
	if err := b.openQuorum(opts.FS); err != nil {
		closeAll(listeners)
		return nil, err
	}
	if err := b.startController(); err != nil {
		closeAll(listeners)
		return nil, err
	}
	m := b.newMetrics()
	b.handlers = api.New(api.Config{
		Broker: cfg, StaticConfig: opts.StaticConfig, Metadata: b.quorum,
		Controller: &forwardingController{b: b, local: b.ctrl}, ClusterController: b.ctrl,
		Partitions: b.partitions, Groups: b.groups, Transactions: b.txns, Markers: localMarkers{partitions: b.partitions, groups: b.groups},
		Metrics: m, Logger: b.log.With("component", "api"), ActiveController: b.quorum.Leader,
		Quorum: b.quorumDescriber(),
	})
	serverCfg := b.serverConfig(m, listeners)
	serverCfg.Handler = b.gatedHandler(serverCfg.Handler) // no client request before the catch-up (catchup.go)
	b.server = New(serverCfg)
	for _, l := range listeners {
		b.addrs = append(b.addrs, l.Addr().String())
		if err := b.server.Serve(l, b.diverts()...); err != nil {
			return nil, err
		}
	}
	if err := b.serveMetrics(cfg.MetricsListener, m); err != nil {
		return nil, err
	}
	b.startCluster()
	b.startBackground()
	if cfg.SingleNode() {
		if err := b.waitServing(ctx); err != nil {
			return nil, err
		}
		b.markServing()
	} else if cfg.IsBroker() {
		b.wg.Go(b.serveWhenReady)
	}
	return b, nil
}

// snapshotMetadata snapshots the metadata image at a clean shutdown, so
// that the next start restores it instead of replaying the log since the
// last snapshot: each restart of a broker with 100,000 partitions adds two
// batches of 100,000 leader changes (fenced at the stop, elected at the
// start), and replaying a few of them cost a second before the broker
// could open a partition. A failure only costs that replay.
func (b *Broker) snapshotMetadata() {
	if err := b.quorum.Snapshot(); err != nil {
		b.log.Warn("metadata snapshot at shutdown failed; the next start replays the log", "err", err)
	}
}

// markServing opens the request gate, once.
func (b *Broker) markServing() { b.servingOnce.Do(func() { close(b.serving) }) }

// serveWhenReady opens the request gate of a cluster node once it serves
// (waitServing), or gives up when the broker stops.
func (b *Broker) serveWhenReady() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := b.waitServing(ctx); err == nil {
		b.markServing()
	}
}

// replicaEligible reports whether a broker may join an ISR: registered,
// unfenced and not in controlled shutdown (KIP-841), as the controller
// checks AlterPartition, so leaders do not propose what it would refuse.
func (b *Broker) replicaEligible(id int32) bool {
	if b.quorum == nil {
		return true
	}
	br := b.quorum.Image().Broker(id)
	return br != nil && br.Active()
}

// listenController binds the CONTROLLER listener of a controller node
// (nil for a single node without one, and for broker-only nodes).
func (b *Broker) listenController() (net.Listener, error) {
	l, ok := b.cfg.ControllerListener()
	if !ok || !b.cfg.IsController() {
		return nil, nil
	}
	ls, err := listen([]config.Listener{l})
	if err != nil {
		return nil, err
	}
	return ls[0], nil
}

// openQuorum starts this node's member of the metadata quorum: a lone
// voter in memory on a single node, else hashicorp/raft over TCP on the
// node's listeners (the CONTROLLER listener of a voter, the inter-broker
// listener of a broker-only observer).
func (b *Broker) openQuorum(fsys vfs.FS) error {
	qcfg := quorum.Config{
		Dir:      filepath.Join(b.cfg.LogDirs[0], "__cluster_metadata"),
		FS:       fsys, // the partition logs' file system: one seam for all the node writes
		NodeID:   b.cfg.NodeID,
		Logger:   b.log.With("component", "quorum"),
		OnChange: b.metadataChanged, // the applier, and the replication counters (metrics_cluster.go)
	}
	if !b.cfg.SingleNode() {
		advertise, err := b.raftAddress()
		if err != nil {
			return err
		}
		stream, transport, err := quorum.NewTransport(quorum.TransportConfig{Advertise: advertise, Logger: b.log.With("component", "raft-net")})
		if err != nil {
			return fmt.Errorf("start metadata quorum transport: %w", err)
		}
		b.raftStream = stream
		qcfg.Transport = transport
		qcfg.Observer = !b.cfg.IsController()
		for _, v := range b.cfg.ControllerQuorumVoters {
			qcfg.Voters = append(qcfg.Voters, quorum.Voter{NodeID: v.NodeID, Address: v.Address()})
		}
	}
	q, err := quorum.Open(qcfg)
	if err != nil {
		return fmt.Errorf("start metadata quorum: %w", err)
	}
	b.quorum = q
	return nil
}

// raftAddress is where peers reach this node's Raft: its own entry in
// controller.quorum.voters, or for a broker-only node its inter-broker
// listener.
func (b *Broker) raftAddress() (string, error) {
	for _, v := range b.cfg.ControllerQuorumVoters {
		if v.NodeID == b.cfg.NodeID {
			return v.Address(), nil
		}
	}
	l, ok := b.cfg.InterBrokerListener()
	if !ok {
		return "", fmt.Errorf("inter.broker.listener.name: no listener to reach node %d's metadata replica on", b.cfg.NodeID)
	}
	for _, e := range b.endpoints {
		if e.Listener == l.Name {
			return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), nil
		}
	}
	return l.Address(), nil
}

// diverts hands Raft connections on any listener to the quorum transport.
func (b *Broker) diverts() []Divert {
	if b.raftStream == nil {
		return nil
	}
	return []Divert{{Magic: quorum.TransportMagic, Handle: b.raftStream.Handoff}}
}

// startController builds the controller over the quorum.
func (b *Broker) startController() error {
	ccfg := controller.ConfigFromBroker(b.cfg)
	ccfg.Logger = b.log.With("component", "controller")
	ccfg.MaxPartitions = b.partitionCap()
	ccfg.PartitionCapRefused = func(n int) {
		for range n {
			b.metrics.Refused(metrics.RefusedMaxPartitions) // b.metrics is set before anything serves
		}
	}
	ctrl, err := controller.New(ccfg, b.quorum)
	if err != nil {
		return fmt.Errorf("start controller: %w", err)
	}
	b.ctrl = ctrl
	return nil
}

// partitionCap resolves sluice.max.partitions from this machine's memory
// limit (cgroup v2 memory.max, else MemTotal) and logs it; the controller
// applies it to every broker while this node is the active controller.
func (b *Broker) partitionCap() int32 {
	resolved := b.cfg.ResolvePartitionCap(os.DirFS("/"))
	args := []any{"sluice.max.partitions", resolved.Value, "source", resolved.Source}
	if resolved.MemoryLimit > 0 {
		args = append(args, "memory_limit_bytes", resolved.MemoryLimit)
	}
	if resolved.Err != nil {
		args = append(args, "err", resolved.Err)
	}
	b.log.Info("partition replicas per broker capped", args...)
	return resolved.Value
}

// startCluster starts the goroutines that make this node part of the
// cluster: the controller driver (controllers), and for brokers the
// metadata applier, the lifecycle (registration and heartbeats) and the
// ISR change sender.
func (b *Broker) startCluster() {
	if b.cfg.IsController() {
		b.wg.Go(func() { b.runControllerDriver(b.stop) })
	}
	if !b.cfg.IsBroker() {
		return
	}
	b.wg.Go(func() { b.applier.run(b.stop) })
	b.wg.Go(func() { b.lifecycle.run(b.stop) })
	b.wg.Go(func() { b.isrSender.run(b.stop) })
}

// waitServing waits until a single node is unfenced and has opened every
// partition of the metadata image, so the first client sees what was
// there before the restart. It waits as long as that takes (the caller's
// ctx, cancelled by a signal, still ends it): recovering 100,000 logs
// after a crash on a slow disk may take minutes, and a broker that gave up
// after a fixed time would fail the same way at every restart. Every
// startupProgressInterval it logs how many partitions are open.
func (b *Broker) waitServing(ctx context.Context) error {
	stop := b.logStartupProgress()
	defer stop()
	if err := b.lifecycle.waitUnfenced(ctx); err != nil {
		return fmt.Errorf("join the metadata quorum: %w", err)
	}
	if err := b.applier.WaitApplied(ctx, b.quorum.Image().Offset()); err != nil {
		return fmt.Errorf("open partitions: %w", err)
	}
	// The heartbeat that said unfenced may come before this node's own
	// image holds the unfencing; what it serves must show it.
	unfenced := func(img *metadata.Image) bool {
		br := img.Broker(b.cfg.NodeID)
		return br != nil && !br.Fenced && br.IncarnationID == b.lifecycle.incarnation
	}
	if err := b.applier.waitAppliedImage(ctx, unfenced); err != nil {
		return fmt.Errorf("apply the unfencing: %w", err)
	}
	return nil
}

// hostedReplicas counts the partitions img assigns to broker.
func hostedReplicas(img *metadata.Image, broker int32) int {
	n := 0
	for _, t := range img.Topics() {
		for i := range t.Partitions {
			if slices.Contains(t.Partitions[i].Replicas, broker) {
				n++
			}
		}
	}
	return n
}

// logStartupProgress logs the partitions opened so far every
// startupProgressInterval until the returned function is called.
func (b *Broker) logStartupProgress() (stop func()) {
	done := make(chan struct{})
	began := time.Now()
	go func() {
		ticker := time.NewTicker(startupProgressInterval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				b.log.Info("still opening partitions before serving", "open", b.partitions.Len(),
					"hosted", hostedReplicas(b.quorum.Image(), b.cfg.NodeID), "elapsed", time.Since(began).Round(time.Second))
			}
		}
	}()
	return func() { close(done) }
}

// fetcherConfig maps replica.fetch.* onto the replica fetchers.
func (b *Broker) fetcherConfig() replica.FetcherConfig {
	return replica.FetcherConfig{
		NodeID:            b.cfg.NodeID,
		Client:            b.clusterMetrics.observeFetches(b.peers.fetchClient), // leaders' high watermarks for the follower lag gauge
		NumFetchers:       int(b.cfg.NumReplicaFetchers),
		PartitionMaxBytes: b.cfg.ReplicaFetchMaxBytes,
		ResponseMaxBytes:  b.cfg.ReplicaFetchResponseMaxBytes,
		MaxWait:           millis(int64(b.cfg.ReplicaFetchWaitMaxMs)),
		MinBytes:          b.cfg.ReplicaFetchMinBytes,
		Backoff:           millis(int64(b.cfg.ReplicaFetchBackoffMs)),
		Logger:            b.log.With("component", "replica-fetcher"),
	}
}

// quorumDescriber answers DescribeQuorum from this node's Raft state and
// the controller's view of every node's metadata offset.
func (b *Broker) quorumDescriber() *quorumDescriber {
	name := ""
	if l, ok := b.cfg.ControllerListener(); ok {
		name = l.Name
	}
	return &quorumDescriber{Node: b.quorum, ListenerName: name, Forward: b.toController.send,
		Progress: func() []quorum.ReplicaProgress {
			states := b.ctrl.ReplicaStates()
			out := make([]quorum.ReplicaProgress, 0, len(states))
			for _, s := range states {
				out = append(out, quorum.ReplicaProgress{NodeID: s.NodeID, Offset: s.MetadataOffset, At: s.LastContact})
			}
			return out
		}}
}

// MetricsURL is where Prometheus scrapes this broker, "" when disabled.
func (b *Broker) MetricsURL() string { return b.metricsURL }

// Addrs are the addresses the Kafka listeners are bound to.
func (b *Broker) Addrs() []string { return b.addrs }

func listen(ls []config.Listener) ([]net.Listener, error) {
	var out []net.Listener
	for _, l := range ls {
		nl, err := net.Listen("tcp", net.JoinHostPort(l.Host, strconv.Itoa(l.Port)))
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("listeners: %s://%s:%d: %w", l.Name, l.Host, l.Port, err)
		}
		out = append(out, nl)
	}
	return out, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// advertised builds the endpoints clients are told about; a listener bound
// to port 0 advertises the port it actually got.
func advertised(cfg config.Broker, bound []net.Listener) []metadata.Endpoint {
	src := cfg.AdvertisedListeners
	if len(src) == 0 {
		src = cfg.Listeners
	}
	var out []metadata.Endpoint
	for i, l := range src {
		port := l.Port
		if port == 0 && i < len(bound) {
			port = bound[i].Addr().(*net.TCPAddr).Port
		}
		host := l.Host
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		out = append(out, metadata.Endpoint{Listener: l.Name, Host: host, Port: int32(port)})
	}
	return out
}

// newGroupRuntime builds the group coordinator's shard runtime from the
// broker's group.* and offsets.* settings.
func newGroupRuntime(cfg config.Broker, logger *slog.Logger) *coord.Runtime[*group.Shard] {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	return coord.NewRuntime(coord.Config[*group.Shard]{
		Logger: logger,
		NewShard: func(partition int32, timers coord.Timers) *group.Shard {
			return group.NewShard(group.Config{
				Partition:                     partition,
				MinSessionTimeout:             ms(int64(cfg.GroupMinSessionTimeoutMs)),
				MaxSessionTimeout:             ms(int64(cfg.GroupMaxSessionTimeoutMs)),
				InitialRebalanceDelay:         ms(int64(cfg.GroupInitialRebalanceDelayMs)),
				MaxSize:                       cfg.GroupMaxSize,
				OffsetsRetention:              time.Duration(cfg.OffsetsRetentionMinutes) * time.Minute,
				OffsetsRetentionCheckInterval: ms(cfg.OffsetsRetentionCheckIntervalMs),
				OffsetMetadataMaxBytes:        cfg.OffsetMetadataMaxBytes,
				ConsumerSessionTimeout:        ms(int64(cfg.GroupConsumerSessionTimeoutMs)),
				ConsumerHeartbeatInterval:     ms(int64(cfg.GroupConsumerHeartbeatIntervalMs)),
				ConsumerMaxSize:               cfg.GroupConsumerMaxSize,
				ConsumerAssignors:             cfg.GroupConsumerAssignors,
				Logger:                        logger.With("partition", partition),
			}, timers)
		},
	})
}

// newTxnRuntime builds the transaction coordinator's shard runtime from
// the broker's transaction.* settings. A shard's coordinator epoch is its
// partition's leader epoch when it loads.
func newTxnRuntime(cfg config.Broker, partitions *replica.Manager, markers txn.MarkerSender, logger *slog.Logger) *coord.Runtime[*txn.Shard] {
	ms := func(v int32) time.Duration { return time.Duration(v) * time.Millisecond }
	return coord.NewRuntime(coord.Config[*txn.Shard]{
		Logger: logger,
		NewShard: func(partition int32, timers coord.Timers) *txn.Shard {
			var epoch int32
			if p, ok := partitions.Get(metadata.TransactionStateTopic, partition); ok {
				epoch = p.LeaderEpoch()
			}
			return txn.NewCoordinatorShard(txn.CoordinatorConfig{
				Partition:               partition,
				CoordinatorEpoch:        epoch,
				MaxTimeout:              ms(cfg.TransactionMaxTimeoutMs),
				IDExpiration:            ms(cfg.TransactionalIDExpirationMs),
				ExpirationCheckInterval: ms(cfg.TransactionRemoveExpiredTransactionCleanupIntervalMs),
				Markers:                 markers,
				Logger:                  logger.With("partition", partition),
			}, timers)
		},
	})
}

// storageConfig maps a topic's effective config onto its log's settings.
func storageConfig(tc config.Topic) storage.Config {
	return storage.Config{
		SegmentBytes:       tc.SegmentBytes,
		SegmentMs:          tc.SegmentMs,
		IndexIntervalBytes: tc.IndexIntervalBytes,
		RetentionMs:        tc.RetentionMs,
		RetentionBytes:     tc.RetentionBytes,
		FlushMessages:      tc.FlushMessages,
		FlushMs:            tc.FlushMs,

		Compact:                tc.Compact(),
		Delete:                 tc.Delete(),
		MinCleanableDirtyRatio: tc.MinCleanableDirtyRatio,
		MinCompactionLagMs:     tc.MinCompactionLagMs,
		MaxCompactionLagMs:     tc.MaxCompactionLagMs,
		DeleteRetentionMs:      tc.DeleteRetentionMs,
	}
}

// partitionStats is what a metrics scrape reads: each hosted partition's
// sizes, offsets and replication state, and the cluster-wide counts
// (metrics_cluster.go).
func (b *Broker) partitionStats() metrics.Stats {
	var stats metrics.Stats
	img := b.quorum.Image()
	minISRs := b.minISRs(img)
	parts := b.partitions.Partitions()
	stats.Partitions = make([]metrics.PartitionStat, 0, len(parts))
	followed := map[replica.TopicPartition]int64{}
	for _, p := range parts {
		role, state := p.Role(), p.LeaderAndISR()
		minISR, ok := minISRs[p.Topic]
		if !ok {
			minISR = b.cfg.TopicDefaults.MinInsyncReplicas
		}
		s := metrics.PartitionStat{
			Topic: p.Topic, Partition: p.Partition, SizeBytes: p.Size(),
			LogStartOffset: p.LogStartOffset(), LogEndOffset: p.LogEndOffset(),
			Leader: role == replica.RoleLeader, Follower: role == replica.RoleFollower,
			Replicas: len(state.Replicas), ISR: len(state.ISR), FollowerLag: -1,
		}
		s.UnderMinISR = s.Leader && p.UnderMinISR(minISR)
		if s.Follower {
			followed[replica.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = s.LogEndOffset
		}
		stats.Partitions = append(stats.Partitions, s)
	}
	lags := b.clusterMetrics.followerLags(followed)
	for i := range stats.Partitions {
		s := &stats.Partitions[i]
		if s.Follower {
			s.FollowerLag = lags[replica.TopicPartition{Topic: s.Topic, Partition: s.Partition}]
		}
	}
	stats.Cluster.OfflinePartitions = offlinePartitions(img)
	b.clusterMetrics.counters(&stats.Cluster)
	return stats
}

// handleProfiles serves Go's runtime profiles (net/http/pprof) under
// /debug/pprof/ next to /metrics: the metrics listener is the operator's
// port (localhost:9644 by default, none with an empty
// sluice.metrics.listener), and a CPU or heap profile of the live broker
// is how one finds what costs at 100,000 partitions or under a load a
// benchmark does not reproduce. A profile costs only while requested.
func handleProfiles(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

func (b *Broker) serveMetrics(addr string, m *metrics.Broker) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sluice.metrics.listener %s: %w", addr, err)
	}
	b.metricsURL = "http://" + l.Addr().String() + "/metrics"
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	handleProfiles(mux)
	b.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.wg.Go(func() {
		if err := b.metricsSrv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("metrics server stopped", "err", err)
		}
	})
	return nil
}

// startBackground runs retention (every log.retention.check.interval.ms),
// recovery-point checkpoints (log.flush.offset.checkpoint.interval.ms),
// producer-ID expiry (producer.id.expiration.check.interval.ms), the ISR
// shrink check (every replica.lag.time.max.ms / 2, as Kafka's
// isr-expiration task) and the
// write-cache flusher (flush.messages and flush.ms are checked every
// 100 ms), and the log cleaner on its own goroutine.
func (b *Broker) startBackground() {
	if b.cfg.LogCleanerEnable {
		b.wg.Go(b.runCleaner)
	}
	b.wg.Go(func() {
		retention := time.NewTicker(millis(b.cfg.LogRetentionCheckIntervalMs))
		defer retention.Stop()
		checkpoint := time.NewTicker(millis(int64(b.cfg.LogFlushOffsetCheckpointIntervalMs)))
		defer checkpoint.Stop()
		flush := time.NewTicker(writeCacheCheckInterval)
		defer flush.Stop()
		producers := time.NewTicker(millis(int64(b.cfg.ProducerIDExpirationCheckIntervalMs)))
		defer producers.Stop()
		isr := time.NewTicker(millis(b.cfg.ReplicaLagTimeMaxMs / 2))
		defer isr.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-retention.C:
				b.partitions.EnforceRetention()
			case <-checkpoint.C:
				b.partitions.Checkpoint()
			case <-flush.C:
				b.partitions.FlushDue()
			case <-producers.C:
				b.partitions.ExpireProducers()
			case now := <-isr.C:
				b.partitions.CheckISR(now.UnixMilli())
			}
		}
	})
}

// runCleaner compacts the compacted partitions every log.cleaner.backoff.ms
// (Kafka's cleaner thread), apart from the other background work so that
// a long pass never holds up flushes, retention or checkpoints. A pass in
// progress finishes before Close returns.
func (b *Broker) runCleaner() {
	ticker := time.NewTicker(millis(b.cfg.LogCleanerBackoffMs))
	defer ticker.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-ticker.C:
			b.partitions.Compact()
		}
	}
}

// writeCacheCheckInterval is how often write-cached logs are checked
// against flush.messages and flush.ms.
const writeCacheCheckInterval = 100 * time.Millisecond

func millis(ms int64) time.Duration { return time.Duration(max(ms, 1)) * time.Millisecond }

// controlledShutdownWait bounds how long SIGTERM waits for the controller
// to move this broker's leaderships away before the process stops anyway.
const controlledShutdownWait = 10 * time.Second

// Close stops serving, then flushes and closes logs and the quorum, leaving
// the clean-shutdown marker so the next start skips recovery. A cluster
// node first shuts down in a controlled way (controlled.shutdown.enable):
// the controller moves its leaderships to other in-sync replicas while it
// still serves, and an active controller hands Raft leadership to another
// voter, so clients and peers see at most a retriable error.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close(true) })
	return b.closeErr
}

// close tears the broker down; controlled first moves its leaderships and
// the active controller away (shutDownControlled), Halt skips that.
func (b *Broker) close(controlled bool) error {
	if controlled {
		b.shutDownControlled()
	}
	var errs []error
	if b.server != nil {
		errs = append(errs, b.server.Close())
	}
	if b.metricsSrv != nil {
		errs = append(errs, b.metricsSrv.Close())
	}
	close(b.stop)
	b.wg.Wait()
	if b.fetchers != nil {
		b.fetchers.Close()
	}
	if b.quorum != nil {
		if controlled {
			b.snapshotMetadata()
		}
		errs = append(errs, b.quorum.Close())
	}
	b.toController.close()
	b.peers.close()
	if b.groups != nil {
		b.groups.Close()
	}
	if b.txns != nil {
		b.txns.Close()
	}
	if b.markers != nil {
		b.markers.stop()
	}
	if b.partitions != nil {
		errs = append(errs, b.partitions.Close())
	}
	if b.markers != nil {
		b.markers.wait()
	}
	b.dirLock.release() // last: everything in the directories is closed
	return errors.Join(errs...)
}

// quorumLossGrace is how long a controlled shutdown waits on without any
// quorum leader: with none (the other voters are gone too, as when a whole
// cluster is stopped at once) nobody can move leadership, so waiting out
// controlledShutdownWait would only delay the exit.
const quorumLossGrace = time.Second

// cancelWithoutQuorum cancels ctx once the metadata quorum has had no
// leader for quorumLossGrace; the returned function stops watching.
func (b *Broker) cancelWithoutQuorum(ctx context.Context, cancel context.CancelFunc) (stop func()) {
	done := make(chan struct{})
	go func() {
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		var leaderless time.Time
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-ticker.C:
				if _, ok := b.quorum.Leader(); ok {
					leaderless = time.Time{}
					continue
				}
				if leaderless.IsZero() {
					leaderless = now
				} else if now.Sub(leaderless) >= quorumLossGrace {
					b.log.Warn("no metadata quorum leader: stopping without a controlled shutdown")
					cancel()
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

// shutDownControlled moves leadership away before a cluster node stops.
func (b *Broker) shutDownControlled() {
	if b.cfg.SingleNode() || b.quorum == nil || b.server == nil {
		return
	}
	if b.cfg.IsBroker() && b.cfg.ControlledShutdownEnable {
		ctx, cancel := context.WithTimeout(context.Background(), controlledShutdownWait)
		stopWatching := b.cancelWithoutQuorum(ctx, cancel)
		err := b.lifecycle.controlledShutdown(ctx)
		stopWatching()
		if err != nil {
			b.log.Warn("controlled shutdown did not finish, stopping anyway", "err", err)
		} else {
			b.log.Info("controlled shutdown finished: no partition leads here any more")
		}
		cancel()
	}
	if b.quorum.IsLeader() {
		if err := b.quorum.TransferLeadership(); err != nil {
			b.log.Warn("handing over the active controller failed", "err", err)
		}
	}
}

// Partitions is the broker's hosted partitions. Tests reach through it to
// write what no client API writes yet (transaction markers before
// WriteTxnMarkers exists) and to inspect partition state.
func (b *Broker) Partitions() *replica.Manager { return b.partitions }
