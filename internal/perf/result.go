package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// bytesPerMegabyte follows Kafka's perf tools, whose "MB" is 2^20 bytes, so
// numbers compare directly with kafka-producer-perf-test.
const bytesPerMegabyte = 1024 * 1024

// Result is the outcome of one run.
type Result struct {
	// Mode is "produce" or "consume".
	Mode string `json:"mode"`
	// Topic is the topic the run used.
	Topic string `json:"topic"`
	// Partitions is the topic's partition count.
	Partitions int `json:"partitions"`
	// Clients is the number of producers or consumers that ran.
	Clients int `json:"clients"`
	// Records counts records acknowledged (produce) or read (consume).
	Records int64 `json:"records"`
	// Bytes counts key and value bytes of those records.
	Bytes int64 `json:"bytes"`
	// Failed counts records whose produce failed.
	Failed int64 `json:"failed"`
	// Seconds is the wall time from the first record sent or fetched to
	// the last acknowledged or read.
	Seconds float64 `json:"seconds"`
	// RecordsPerSecond is Records / Seconds.
	RecordsPerSecond float64 `json:"records_per_sec"`
	// MBPerSecond is Bytes / Seconds in 2^20-byte megabytes.
	MBPerSecond float64 `json:"mb_per_sec"`
	// Transactions counts committed transactions; zero when the run was
	// not transactional.
	Transactions int64 `json:"transactions,omitempty"`
	// TransactionsPerSecond is Transactions / Seconds.
	TransactionsPerSecond float64 `json:"transactions_per_sec,omitempty"`
	// Latency summarises per-record produce (or end-to-end) latency; nil
	// for consume.
	Latency *LatencySummary `json:"latency_ms,omitempty"`
	// Histogram is the latency distribution in a few buckets, the empty
	// ones at either end left out; nil for consume.
	Histogram []HistogramBucket `json:"histogram_ms,omitempty"`
}

// HistogramBucket is one bar of the latency histogram: the observations
// above the previous bucket's bound and at most UpToMs milliseconds.
type HistogramBucket struct {
	UpToMs float64 `json:"le"`
	Count  uint64  `json:"count"`
}

// histogramBounds are the buckets' upper bounds: 1-2-5 steps from 10
// microseconds to 1000 seconds, so any run fits in a dozen lines or so.
var histogramBounds = func() []time.Duration {
	var bounds []time.Duration
	for decade := 10 * time.Microsecond; decade <= 1000*time.Second; decade *= 10 {
		bounds = append(bounds, decade, 2*decade, 5*decade)
	}
	return bounds
}()

// histogramBuckets reads the histogram into buckets, without the empty
// ones before the first and after the last observation.
func histogramBuckets(h *LatencyHistogram) []HistogramBucket {
	counts := h.CountsUpTo(histogramBounds)
	first, last := -1, -1
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	if first < 0 {
		return nil
	}
	buckets := make([]HistogramBucket, 0, last-first+1)
	for i := first; i <= last; i++ {
		buckets = append(buckets, HistogramBucket{UpToMs: milliseconds(histogramBounds[i]), Count: counts[i]})
	}
	return buckets
}

// LatencySummary is a latency distribution in milliseconds: the time from
// handing a record to the client to its acknowledgement.
type LatencySummary struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// summarise reads the percentiles out of a histogram.
func summarise(h *LatencyHistogram) *LatencySummary {
	return &LatencySummary{
		P50:  milliseconds(h.Quantile(0.50)),
		P99:  milliseconds(h.Quantile(0.99)),
		P999: milliseconds(h.Quantile(0.999)),
		Max:  milliseconds(h.Max()),
		Mean: milliseconds(h.Mean()),
	}
}

// newResult fills in the rates from the totals and elapsed time.
func newResult(mode, topic string, partitions, clients int, totals *counters, elapsed time.Duration) Result {
	r := Result{
		Mode:         mode,
		Topic:        topic,
		Partitions:   partitions,
		Clients:      clients,
		Records:      totals.records.Load(),
		Bytes:        totals.bytes.Load(),
		Failed:       totals.failed.Load(),
		Seconds:      elapsed.Seconds(),
		Transactions: totals.transactions.Load(),
	}
	if r.Seconds > 0 {
		r.RecordsPerSecond = float64(r.Records) / r.Seconds
		r.MBPerSecond = megabytes(r.Bytes) / r.Seconds
		r.TransactionsPerSecond = float64(r.Transactions) / r.Seconds
	}
	return r
}

// WriteText prints the result for a person.
func (r Result) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s: %d records (%d bytes) in %.3f s with %d client(s) on %d partition(s), %d failed\n"+
		"%s: %.1f records/s, %.2f MB/s\n",
		r.Mode, r.Records, r.Bytes, r.Seconds, r.Clients, r.Partitions, r.Failed,
		r.Mode, r.RecordsPerSecond, r.MBPerSecond)
	if err == nil && r.Transactions > 0 {
		_, err = fmt.Fprintf(w, "%s: %d transactions committed, %.1f transactions/s\n", r.Mode, r.Transactions, r.TransactionsPerSecond)
	}
	if err != nil || r.Latency == nil {
		return err
	}
	l := r.Latency
	_, err = fmt.Fprintf(w, "%s: latency ms p50 %.3f, p99 %.3f, p99.9 %.3f, max %.3f, mean %.3f\n",
		r.Mode, l.P50, l.P99, l.P999, l.Max, l.Mean)
	if err != nil || len(r.Histogram) == 0 {
		return err
	}
	return r.writeHistogram(w)
}

// histogramWidth is the length of the longest bar.
const histogramWidth = 40

// writeHistogram draws the buckets as horizontal bars scaled to the
// largest.
func (r Result) writeHistogram(w io.Writer) error {
	var largest uint64
	for _, b := range r.Histogram {
		largest = max(largest, b.Count)
	}
	if _, err := fmt.Fprintf(w, "%s: latency histogram (ms)\n", r.Mode); err != nil {
		return err
	}
	for _, b := range r.Histogram {
		cells := int(b.Count * histogramWidth / largest)
		if b.Count > 0 && cells == 0 {
			cells = 1
		}
		_, err := fmt.Fprintf(w, "  <= %-8g %-*s %d\n", b.UpToMs, histogramWidth, strings.Repeat("#", cells), b.Count)
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON prints the result as one JSON line, for scripts.
func (r Result) WriteJSON(w io.Writer) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

func megabytes(b int64) float64 { return float64(b) / bytesPerMegabyte }

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
