package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
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
	// FS holds the partition logs; nil means the operating system's.
	FS vfs.FS
	// Logger receives the broker's structured logs.
	Logger *slog.Logger
}

// Broker is one running Sluice node: metadata quorum, controller, partition
// logs, the Kafka listeners and the metrics endpoint, assembled and torn
// down in dependency order.
type Broker struct {
	cfg        config.Broker
	log        *slog.Logger
	quorum     *quorum.Node
	partitions *replica.Manager
	groups     *coord.Runtime[*group.Shard]
	txns       *coord.Runtime[*txn.Shard]
	server     *Server
	metricsSrv *http.Server
	metricsURL string
	addrs      []string

	stop chan struct{}
	wg   sync.WaitGroup // background loops

	reconcileMu sync.Mutex // serialises applying metadata images to partitions
}

// StartBroker opens the data directory, recovers the logs, joins (or
// bootstraps) the metadata quorum and starts serving. On error everything
// already started is closed again.
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
	b := &Broker{cfg: cfg, log: opts.Logger, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	logDir := cfg.LogDirs[0]
	b.groups = newGroupRuntime(cfg, b.log.With("component", "group"))
	if b.partitions, err = replica.NewManager(replica.ManagerConfig{FS: opts.FS, LogDir: logDir, Logger: b.log,
		ProducerIDExpirationMs: int64(cfg.ProducerIDExpirationMs)}); err != nil {
		return nil, err
	}
	markers := localMarkers{partitions: b.partitions, groups: b.groups}
	b.txns = newTxnRuntime(cfg, b.partitions, markers, b.log.With("component", "txn"))
	listeners, err := listen(cfg.Listeners)
	if err != nil {
		return nil, err
	}
	if b.quorum, err = quorum.Open(quorum.Config{
		Dir:      filepath.Join(logDir, "__cluster_metadata"),
		NodeID:   cfg.NodeID,
		Logger:   b.log.With("component", "quorum"),
		OnChange: b.reconcile,
	}); err != nil {
		closeAll(listeners)
		return nil, fmt.Errorf("start metadata quorum: %w", err)
	}
	ctrl, err := b.startController(ctx, listeners)
	if err != nil {
		closeAll(listeners)
		return nil, err
	}
	m := metrics.New(b.partitionStats)
	handlers := api.New(api.Config{
		Broker: cfg, StaticConfig: opts.StaticConfig, Metadata: b.quorum, Controller: ctrl,
		Partitions: b.partitions, Groups: b.groups, Transactions: b.txns, Markers: markers,
		Metrics: m, Logger: b.log.With("component", "api"),
	})
	b.server = New(Config{Handler: handlers, MaxRequestBytes: cfg.SocketRequestMaxBytes, Logger: b.log, Metrics: m})
	for _, l := range listeners {
		b.addrs = append(b.addrs, l.Addr().String())
		if err := b.server.Serve(l); err != nil {
			return nil, err
		}
	}
	if err := b.serveMetrics(cfg.MetricsListener, m); err != nil {
		return nil, err
	}
	b.startBackground()
	return b, nil
}

// startController builds the controller over the quorum, fixes the
// cluster ID on first start and registers this broker's endpoints.
func (b *Broker) startController(ctx context.Context, listeners []net.Listener) (*controller.Controller, error) {
	ccfg := controller.ConfigFromBroker(b.cfg)
	ccfg.Logger = b.log.With("component", "controller")
	ctrl, err := controller.New(ccfg, b.quorum)
	if err != nil {
		return nil, fmt.Errorf("start controller: %w", err)
	}
	if _, err := ctrl.EnsureClusterID(ctx); err != nil {
		return nil, fmt.Errorf("establish cluster id: %w", err)
	}
	var rack *string
	if b.cfg.Rack != "" {
		rack = &b.cfg.Rack
	}
	registration := metadata.Broker{NodeID: b.cfg.NodeID, Endpoints: advertised(b.cfg, listeners), Rack: rack}
	if err := ctrl.RegisterBroker(ctx, registration); err != nil {
		return nil, fmt.Errorf("register broker: %w", err)
	}
	return ctrl, nil
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

// reconcile makes the hosted partitions match a newly applied metadata
// image: it opens logs for partitions this node leads, closes and deletes
// those of removed topics, and applies config changes. It runs in commit
// order on the quorum's apply path.
func (b *Broker) reconcile(prev, next *metadata.Image) {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()
	for _, t := range next.Topics() {
		tc, err := config.ResolveTopic(b.cfg.TopicDefaults, t.Configs)
		if err != nil {
			b.log.Error("topic config invalid, using defaults", "topic", t.Name, "err", err)
			tc = b.cfg.TopicDefaults
		}
		for _, p := range t.Partitions {
			if p.Leader != b.cfg.NodeID {
				continue
			}
			part, err := b.partitions.Ensure(t.Name, t.ID, p.Index, p.LeaderEpoch, storageConfig(tc))
			if err != nil {
				b.log.Error("open partition failed", "topic", t.Name, "partition", p.Index, "err", err)
				continue
			}
			switch t.Name {
			case metadata.GroupMetadataTopic:
				b.groups.Load(part)
			case metadata.TransactionStateTopic:
				b.txns.Load(part)
			}
		}
	}
	if prev == nil {
		return
	}
	for _, t := range prev.Topics() {
		if nt := next.TopicByName(t.Name); nt != nil && nt.ID == t.ID {
			continue
		}
		for _, p := range t.Partitions {
			switch t.Name {
			case metadata.GroupMetadataTopic:
				b.groups.Unload(p.Index)
			case metadata.TransactionStateTopic:
				b.txns.Unload(p.Index)
			}
			if err := b.partitions.Remove(t.Name, p.Index); err != nil {
				b.log.Error("delete partition failed", "topic", t.Name, "partition", p.Index, "err", err)
			}
		}
	}
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
func newTxnRuntime(cfg config.Broker, partitions *replica.Manager, markers txn.MarkerWriter, logger *slog.Logger) *coord.Runtime[*txn.Shard] {
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

func (b *Broker) partitionStats() []metrics.PartitionStat {
	parts := b.partitions.Partitions()
	out := make([]metrics.PartitionStat, 0, len(parts))
	for _, p := range parts {
		l := p.Log()
		out = append(out, metrics.PartitionStat{
			Topic: p.Topic, Partition: p.Partition, SizeBytes: l.Size(),
			LogStartOffset: l.LogStartOffset(), LogEndOffset: l.LogEndOffset(),
		})
	}
	return out
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
// producer-ID expiry (producer.id.expiration.check.interval.ms) and the
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

// Close stops serving, then flushes and closes logs and the quorum, leaving
// the clean-shutdown marker so the next start skips recovery.
func (b *Broker) Close() error {
	var errs []error
	if b.server != nil {
		errs = append(errs, b.server.Close())
	}
	if b.metricsSrv != nil {
		errs = append(errs, b.metricsSrv.Close())
	}
	close(b.stop)
	b.wg.Wait()
	if b.quorum != nil {
		errs = append(errs, b.quorum.Close())
	}
	if b.groups != nil {
		b.groups.Close()
	}
	if b.txns != nil {
		b.txns.Close()
	}
	if b.partitions != nil {
		errs = append(errs, b.partitions.Close())
	}
	return errors.Join(errs...)
}

// Partitions is the broker's hosted partitions. Tests reach through it to
// write what no client API writes yet (transaction markers before
// WriteTxnMarkers exists) and to inspect partition state.
func (b *Broker) Partitions() *replica.Manager { return b.partitions }
