package metrics

import "github.com/prometheus/client_golang/prometheus"

// The server's connection and request-memory limits (internal/server
// limits.go), each counted so an operator can see which limit bites:
//
//	sluice_connections                       client connections open now
//	sluice_connections_refused_total{reason} connections closed at accept:
//	    max_connections, max_connections_per_ip, too_many_open_files
//	sluice_connections_closed_total{reason}  connections the broker dropped:
//	    idle (connections.max.idle.ms), request_read_timeout
//	    (sluice.request.read.timeout.ms), response_write_timeout
//	    (sluice.response.write.timeout.ms)
//	sluice_queued_request_bytes              request bytes read, not yet answered
//	sluice_queued_request_bytes_limit        queued.max.request.bytes (0: unbounded)
//	sluice_fd_budget{use}                    the open-file limit split into
//	    storage, connections and reserve (the process collector's
//	    process_open_fds and process_max_fds are the current count and limit)

// Refusal and close reasons, the values of the reason label.
const (
	RefusedMaxConnections      = "max_connections"
	RefusedMaxConnectionsPerIP = "max_connections_per_ip"
	RefusedTooManyOpenFiles    = "too_many_open_files"

	ClosedIdle                 = "idle"
	ClosedRequestReadTimeout   = "request_read_timeout"
	ClosedResponseWriteTimeout = "response_write_timeout"
)

// network holds the server's limit metrics.
type network struct {
	connections      prometheus.Gauge
	refused          *prometheus.CounterVec
	closed           *prometheus.CounterVec
	queuedBytes      prometheus.Gauge
	queuedBytesLimit prometheus.Gauge
	fdBudget         *prometheus.GaugeVec
	collectors       []prometheus.Collector
}

func newNetwork() *network {
	n := &network{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_connections", Help: "Client connections open now.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connections_refused_total",
			Help: "Connections closed as soon as they were accepted, by the limit that refused them.",
		}, []string{"reason"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_connections_closed_total",
			Help: "Connections the broker closed because a client was idle, too slow to send a request or not reading its responses.",
		}, []string{"reason"}),
		queuedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_queued_request_bytes", Help: "Bytes of requests read but not yet answered (bounded by queued.max.request.bytes).",
		}),
		queuedBytesLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_queued_request_bytes_limit", Help: "queued.max.request.bytes in effect (0: unbounded).",
		}),
		fdBudget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_fd_budget",
			Help: "The open-file limit split by use: storage (the log files' budget), connections, reserve (listeners, metadata log, spare).",
		}, []string{"use"}),
	}
	for _, reason := range []string{RefusedMaxConnections, RefusedMaxConnectionsPerIP, RefusedTooManyOpenFiles} {
		n.refused.WithLabelValues(reason)
	}
	for _, reason := range []string{ClosedIdle, ClosedRequestReadTimeout, ClosedResponseWriteTimeout} {
		n.closed.WithLabelValues(reason)
	}
	n.collectors = []prometheus.Collector{n.connections, n.refused, n.closed, n.queuedBytes, n.queuedBytesLimit, n.fdBudget}
	return n
}

// AddConnections moves the open client connection gauge by delta.
func (m *Broker) AddConnections(delta int) {
	if m == nil {
		return
	}
	m.network.connections.Add(float64(delta))
}

// ConnectionRefused counts a connection closed at accept (a Refused* reason).
func (m *Broker) ConnectionRefused(reason string) {
	if m == nil {
		return
	}
	m.network.refused.WithLabelValues(reason).Inc()
}

// ConnectionClosed counts a connection the broker dropped (a Closed* reason).
func (m *Broker) ConnectionClosed(reason string) {
	if m == nil {
		return
	}
	m.network.closed.WithLabelValues(reason).Inc()
}

// AddQueuedRequestBytes moves the queued request bytes gauge by delta.
func (m *Broker) AddQueuedRequestBytes(delta int64) {
	if m == nil {
		return
	}
	m.network.queuedBytes.Add(float64(delta))
}

// SetQueuedRequestBytesLimit reports queued.max.request.bytes (0: unbounded).
func (m *Broker) SetQueuedRequestBytesLimit(limit int64) {
	if m == nil {
		return
	}
	m.network.queuedBytesLimit.Set(float64(max(limit, 0)))
}

// SetFileBudget reports how the open-file limit is split.
func (m *Broker) SetFileBudget(storage, connections, reserve int) {
	if m == nil {
		return
	}
	m.network.fdBudget.WithLabelValues("storage").Set(float64(storage))
	m.network.fdBudget.WithLabelValues("connections").Set(float64(connections))
	m.network.fdBudget.WithLabelValues("reserve").Set(float64(reserve))
}
