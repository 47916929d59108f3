package server

import (
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metrics"
)

// FileBudget is how a broker splits the process's open-file limit
// (RLIMIT_NOFILE) so that no user of descriptors can starve another:
// client connections are capped at Connections, storage keeps at most
// Storage files open (its file cache closes idle ones), and Reserve is kept
// for everything else. Limit = Connections + Reserve + Storage, unless the
// limit is too small for the minimum storage budget (then a warning is
// logged at start).
type FileBudget struct {
	// Limit is RLIMIT_NOFILE's soft limit after raising it to the hard
	// limit.
	Limit int
	// Connections is the most client connections served at once:
	// max.connections when set, else a quarter of what Reserve leaves.
	Connections int
	// Reserve covers the listeners, the metadata log, the accept loop's
	// reserved descriptor and reserveSpareFiles more (outgoing connections
	// to other brokers, stdio, the runtime's poller, the metrics endpoint's
	// connections).
	Reserve int
	// Storage is what the partition logs may keep open.
	Storage int
}

const (
	// reserveSpareFiles are descriptors no budget line names: stdio, the
	// Go runtime's epoll and timers, outgoing connections to peers
	// (replica fetchers, Raft, the controller channel), metrics scrapes.
	reserveSpareFiles = 64
	// metadataLogFiles bounds the metadata quorum's open files (its log
	// segment, snapshot and lock files).
	metadataLogFiles = 16
	// minStorageFiles is the least storage is given, even when the limit
	// minus the other uses is smaller: a broker must open some logs.
	minStorageFiles = 64
	// connectionShare is the part of the unreserved descriptors client
	// connections may take when max.connections is not set.
	connectionShare = 4
	// minConnections is the least the derived connection cap allows.
	minConnections = 16
	// assumedFileLimit is used where the limit cannot be read.
	assumedFileLimit = 1024
)

// planFileBudget raises the open-file limit, splits it for cfg and logs the
// numbers. Brokers started in one process (tests) each plan the whole
// limit.
func planFileBudget(cfg config.Broker, log *slog.Logger) FileBudget {
	before, limit, err := raiseFileLimit()
	if err != nil {
		log.Warn("open-file limit not raised", "err", err)
	}
	if limit == 0 {
		limit = assumedFileLimit
	}
	budget := fileBudgetFor(int(min(limit, math.MaxInt32)), cfg)
	args := []any{"limit", budget.Limit, "limit_at_start", before, "connections", budget.Connections,
		"reserve", budget.Reserve, "storage", budget.Storage}
	if budget.Connections+budget.Reserve+budget.Storage > budget.Limit {
		log.Warn("open-file limit too small for max.connections and the minimum storage budget: raise the hard limit (ulimit -n) or lower max.connections", args...)
	} else {
		log.Info("open-file budget", args...)
	}
	return budget
}

// fileBudgetFor splits limit descriptors for cfg (see FileBudget).
func fileBudgetFor(limit int, cfg config.Broker) FileBudget {
	listeners := len(cfg.Listeners)
	if _, ok := cfg.ControllerListener(); ok && cfg.IsController() {
		listeners++
	}
	if cfg.MetricsListener != "" {
		listeners++
	}
	b := FileBudget{Limit: limit, Reserve: reserveSpareFiles + metadataLogFiles + listeners + 1}
	free := max(limit-b.Reserve, 0)
	if cfg.MaxConnections < math.MaxInt32 {
		b.Connections = int(cfg.MaxConnections)
	} else {
		b.Connections = max(free/connectionShare, minConnections)
	}
	b.Storage = max(free-b.Connections, minStorageFiles)
	return b
}

// FileBudget is the open-file split this broker planned at start; Storage
// is the budget for the partition logs' open files.
func (b *Broker) FileBudget() FileBudget { return b.files }

// serverConfig maps the broker's socket settings onto the Kafka server:
// Kafka's limits, the planned connection cap, and the listeners whose
// connections are exempt from the client limits (protectedAddrs).
func (b *Broker) serverConfig(m *metrics.Broker, listeners []net.Listener) Config {
	cfg := b.cfg
	m.SetFileBudget(b.files.Storage, b.files.Connections, b.files.Reserve)
	overrides := map[string]int{}
	for host, n := range cfg.PerIPConnectionOverrides() {
		overrides[host] = int(n)
	}
	return Config{
		Handler:                      b.handlers,
		MaxRequestBytes:              cfg.SocketRequestMaxBytes,
		Logger:                       b.log,
		Metrics:                      m,
		QueuedMaxRequestBytes:        cfg.QueuedMaxRequestBytes,
		MaxConnections:               serverLimit(int32(min(b.files.Connections, math.MaxInt32))),
		MaxConnectionsPerIP:          serverLimit(cfg.MaxConnectionsPerIP),
		MaxConnectionsPerIPOverrides: overrides,
		IdleTimeout:                  positiveMillis(cfg.ConnectionsMaxIdleMs),
		RequestReadTimeout:           positiveMillis(int64(cfg.RequestReadTimeoutMs)),
		ResponseWriteTimeout:         positiveMillis(int64(cfg.ResponseWriteTimeoutMs)),
		ProtectedAddrs:               b.protectedAddrs(listeners),
	}
}

// serverLimit maps a Kafka connection limit onto Config's: MaxInt32
// (Kafka's unbounded default) is 0, and 0 (nobody) is -1.
func serverLimit(kafka int32) int {
	switch kafka {
	case math.MaxInt32:
		return 0
	case 0:
		return -1
	}
	return int(kafka)
}

func positiveMillis(ms int64) time.Duration {
	if ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// protectedAddrs names the listeners exempt from max.connections and
// queued.max.request.bytes: the controller listener (Kafka runs it in a
// socket server of its own) and the inter-broker listener when clients have
// another one (Kafka's ConnectionQuotas.protectedListener). Replication and
// the quorum then keep working while clients exhaust the limits. On the
// other listeners brokers' requests pass the byte budget anyway
// (brokerRequest), so an acks=all produce holding request bytes never
// waits on a follower fetch that waits for those bytes. listeners are the
// client listeners in cfg.Listeners order, then the controller listener if
// any.
func (b *Broker) protectedAddrs(listeners []net.Listener) []string {
	var out []string
	for i, l := range listeners {
		controller := i >= len(b.cfg.Listeners)
		interBroker := !controller && len(b.cfg.Listeners) > 1 && b.cfg.Listeners[i].Name == b.cfg.InterBrokerListenerName
		if controller || interBroker {
			out = append(out, l.Addr().String())
		}
	}
	return out
}
