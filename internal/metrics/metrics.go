// Package metrics defines Sluice's Prometheus metrics in one place so that
// names stay consistent: the server counts requests, the api layer counts
// bytes per topic, and partition sizes are read from the logs at scrape time
// (a collector, so the produce path pays nothing for them).
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
}

// PartitionStat is one partition's sizes, reported at scrape time.
type PartitionStat struct {
	Topic          string
	Partition      int32
	SizeBytes      int64
	LogStartOffset int64
	LogEndOffset   int64
}

// New registers the broker metrics; partitions is called at each scrape to
// report per-partition sizes and offsets.
func New(partitions func() []PartitionStat) *Broker {
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
	}
	m.registry.MustRegister(m.requests, m.requestSeconds, m.bytesIn, m.bytesOut, m.recordsIn,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if partitions != nil {
		m.registry.MustRegister(&partitionCollector{stats: partitions})
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

// partitionCollector reads partition sizes when Prometheus scrapes.
type partitionCollector struct {
	stats func() []PartitionStat
}

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- partitionSizeDesc
	ch <- partitionStartDesc
	ch <- partitionEndDesc
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		p := itoa(s.Partition)
		ch <- prometheus.MustNewConstMetric(partitionSizeDesc, prometheus.GaugeValue, float64(s.SizeBytes), s.Topic, p)
		ch <- prometheus.MustNewConstMetric(partitionStartDesc, prometheus.GaugeValue, float64(s.LogStartOffset), s.Topic, p)
		ch <- prometheus.MustNewConstMetric(partitionEndDesc, prometheus.GaugeValue, float64(s.LogEndOffset), s.Topic, p)
	}
}

func itoa(v int32) string { return strconv.FormatInt(int64(v), 10) }
