// Package metrics defines Sluice's Prometheus metrics in one place so that
// names stay consistent: the server counts requests, the api layer counts
// bytes per topic, and partition sizes and the broker's replication state
// are read at scrape time (collectors, so the produce path pays nothing for
// them). cluster.go lists the replication metrics and what each counts.
//
// Every method is safe for concurrent use and safe on a nil *Broker, so
// components built without metrics (unit tests) need no special casing.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Broker holds a broker's metrics and the registry that exposes them.
type Broker struct {
	registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	bytesIn        *prometheus.CounterVec
	bytesOut       *prometheus.CounterVec
	recordsIn      *prometheus.CounterVec
	network        *network               // the server's limits (network.go)
	refusals       *prometheus.CounterVec // resource refusals (resources.go)
}

// PartitionStat is one hosted partition as read at scrape time: its sizes
// and offsets, and this broker's replication state for it.
type PartitionStat struct {
	Topic          string
	Partition      int32
	SizeBytes      int64
	LogStartOffset int64
	LogEndOffset   int64

	// Leader and Follower say what this broker does for the partition
	// (neither: it waits for its role).
	Leader   bool
	Follower bool
	// Replicas and ISR are the sizes of the assigned replica set and of
	// the in-sync replica set, as this broker last applied them.
	Replicas int
	ISR      int
	// UnderMinISR: the ISR is smaller than the topic's
	// min.insync.replicas (capped at the replica count), so acks=all
	// produce is refused.
	UnderMinISR bool
	// FollowerLag is, on a follower, how many offsets the local log end
	// is behind the leader's high watermark as last fetched (0 when
	// caught up); -1 when unknown (not a follower, or nothing fetched
	// yet).
	FollowerLag int64
}

// Stats is what the broker reports at each scrape.
type Stats struct {
	// Partitions are the partitions hosted here.
	Partitions []PartitionStat
	// Cluster is the broker's view of the cluster's replication state.
	Cluster ClusterStat
}

// New registers the broker metrics; stats is called at each scrape to
// report per-partition sizes and offsets and the replication state.
func New(stats func() Stats) *Broker {
	m := &Broker{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_requests_total", Help: "Kafka requests handled, by API.",
		}, []string{"api"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_request_duration_seconds",
			Help:    "Time from a request's arrival to its response being ready, by API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"api"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_topic_bytes_in_total", Help: "Record batch bytes appended, by topic.",
		}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_topic_bytes_out_total", Help: "Record batch bytes served to fetchers, by topic.",
		}, []string{"topic"}),
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_topic_records_in_total", Help: "Records appended, by topic.",
		}, []string{"topic"}),
		network:  newNetwork(),
		refusals: newRefusals(),
	}
	m.registry.MustRegister(m.network.collectors...)
	m.registry.MustRegister(m.refusals)
	m.registry.MustRegister(m.requests, m.requestSeconds, m.bytesIn, m.bytesOut, m.recordsIn,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if stats != nil {
		m.registry.MustRegister(&statsCollector{stats: stats})
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Broker) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// ObserveRequest counts one request of the given API key and its latency.
func (m *Broker) ObserveRequest(key int16, took time.Duration) {
	if m == nil {
		return
	}
	name := kmsg.NameForKey(key)
	m.requests.WithLabelValues(name).Inc()
	m.requestSeconds.WithLabelValues(name).Observe(took.Seconds())
}

// AddBytesIn counts appended batch bytes and records for a topic.
func (m *Broker) AddBytesIn(topic string, bytes, records int) {
	if m == nil {
		return
	}
	m.bytesIn.WithLabelValues(topic).Add(float64(bytes))
	m.recordsIn.WithLabelValues(topic).Add(float64(records))
}

// AddBytesOut counts batch bytes served to consumers for a topic.
func (m *Broker) AddBytesOut(topic string, bytes int) {
	if m == nil {
		return
	}
	m.bytesOut.WithLabelValues(topic).Add(float64(bytes))
}

var (
	partitionSizeDesc = prometheus.NewDesc("sluice_partition_size_bytes",
		"Bytes on disk of a partition's log.", []string{"topic", "partition"}, nil)
	partitionStartDesc = prometheus.NewDesc("sluice_partition_log_start_offset",
		"First offset still in a partition's log.", []string{"topic", "partition"}, nil)
	partitionEndDesc = prometheus.NewDesc("sluice_partition_log_end_offset",
		"Offset the next appended record gets.", []string{"topic", "partition"}, nil)
)

// statsCollector reads partition sizes and the replication state when
// Prometheus scrapes.
type statsCollector struct {
	stats func() Stats
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- partitionSizeDesc
	ch <- partitionStartDesc
	ch <- partitionEndDesc
	describeCluster(ch)
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.stats()
	for _, s := range stats.Partitions {
		p := itoa(s.Partition)
		ch <- prometheus.MustNewConstMetric(partitionSizeDesc, prometheus.GaugeValue, float64(s.SizeBytes), s.Topic, p)
		ch <- prometheus.MustNewConstMetric(partitionStartDesc, prometheus.GaugeValue, float64(s.LogStartOffset), s.Topic, p)
		ch <- prometheus.MustNewConstMetric(partitionEndDesc, prometheus.GaugeValue, float64(s.LogEndOffset), s.Topic, p)
	}
	collectCluster(ch, stats)
}

func itoa(v int32) string { return strconv.FormatInt(int64(v), 10) }
