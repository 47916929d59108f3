package perf

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestEndToEndMeasuresEveryRecord(t *testing.T) {
	ctx := testContext(t)
	cfg := DefaultEndToEndConfig()
	cfg.Bootstrap = newPeer(t)
	cfg.Topic = "e2e"
	cfg.Records = 300
	cfg.Throughput = 3000
	cfg.Partitions = 2
	cfg.ProgressInterval = 0
	start := time.Now()
	result, err := EndToEnd(ctx, cfg)
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	if result.Mode != "e2e" || result.Records != 300 || result.Bytes != 300*100 || result.Partitions != 2 {
		t.Fatalf("result %+v: want 300 records of 100 bytes on 2 partitions", result)
	}
	// 300 records at 3000/s cannot take less than ~0.1 s: the rate is kept.
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("run took %s, want at least 0.1 s at 3000 records/s", elapsed)
	}
	l := result.Latency
	if l == nil || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Fatalf("latency %+v: want 0 < p50 <= p99 <= max", l)
	}
	var counted uint64
	for _, b := range result.Histogram {
		counted += b.Count
	}
	if counted != 300 {
		t.Errorf("histogram %+v counts %d records, want 300", result.Histogram, counted)
	}
}

func TestEndToEndRejectsTinyRecords(t *testing.T) {
	cfg := DefaultEndToEndConfig()
	cfg.RecordSize = 4
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "record size") {
		t.Fatalf("Validate() = %v, want a record size error", err)
	}
}

func TestCountsUpTo(t *testing.T) {
	var h LatencyHistogram
	for _, d := range []time.Duration{400 * time.Microsecond, 900 * time.Microsecond, 1500 * time.Microsecond, 40 * time.Millisecond} {
		h.Record(d)
	}
	got := h.CountsUpTo([]time.Duration{time.Millisecond, 2 * time.Millisecond, 50 * time.Millisecond})
	want := []uint64{2, 1, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("CountsUpTo = %v, want %v", got, want)
		}
	}
	buckets := histogramBuckets(&h)
	if len(buckets) == 0 || buckets[0].UpToMs != 0.5 || buckets[len(buckets)-1].UpToMs != 50 {
		t.Fatalf("buckets %+v: want the first at 0.5 ms and the last at 50 ms, empty ends trimmed", buckets)
	}
}

func TestHistogramText(t *testing.T) {
	r := Result{Mode: "e2e", Latency: &LatencySummary{P50: 1}, Histogram: []HistogramBucket{{UpToMs: 1, Count: 90}, {UpToMs: 2, Count: 0}, {UpToMs: 5, Count: 1}}}
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "latency histogram") || !strings.Contains(text, strings.Repeat("#", histogramWidth)+" 90") {
		t.Fatalf("text %q: want a histogram whose largest bucket has a full bar", text)
	}
	if !strings.Contains(text, "<= 5        #"+strings.Repeat(" ", histogramWidth-1)+" 1") {
		t.Errorf("text %q: a non-empty bucket should show at least one cell", text)
	}
}

func TestBarLine(t *testing.T) {
	line := barLine("produce", 50, 100, 1000, 1.5, 0)
	if !strings.Contains(line, "["+strings.Repeat("#", barWidth/2)+strings.Repeat(".", barWidth/2)+"]") || !strings.Contains(line, " 50%") {
		t.Errorf("bar %q: want half filled at 50%%", line)
	}
	if line := barLine("consume", 5, 0, 10, 0, 2); strings.Contains(line, "[") || !strings.Contains(line, "2 failed") {
		t.Errorf("bar without target %q: want no bar and the failure count", line)
	}
}

func TestProgressBarRedrawsInPlace(t *testing.T) {
	ctx := testContext(t)
	var progress bytes.Buffer
	cfg := produceConfig(newPeer(t), "bar")
	cfg.Progress = &progress // read only after Produce, which stops the reporter first
	cfg.ProgressInterval = time.Millisecond
	cfg.ProgressBar = true
	cfg.Records = 20_000
	if _, err := Produce(ctx, cfg); err != nil {
		t.Fatalf("produce: %v", err)
	}
	text := progress.String()
	if !strings.HasPrefix(text, "\rproduce [") || strings.Count(text, "\n") != 1 || !strings.HasSuffix(text, "\n") {
		t.Errorf("progress %q: want bars redrawn with \\r and one newline at the end", text)
	}
}
