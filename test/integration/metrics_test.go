package integration

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

// The Prometheus endpoint reports requests and latency per API, bytes in
// and out per topic, and partition sizes, all moving with real traffic.
func TestMetricsEndpoint(t *testing.T) {
	b := startBroker(t, testcluster.WithConfig(func(c *config.Broker) { c.MetricsListener = "127.0.0.1:0" }))
	ctx := testContext(t)
	if _, err := b.Admin().CreateTopic(ctx, 1, 1, nil, "metered"); err != nil {
		t.Fatal(err)
	}
	cl := b.Client(kgo.DefaultProduceTopic("metered"), kgo.ConsumeTopics("metered"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("value-" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < 10; {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err(); err != nil {
			t.Fatal(err)
		}
		got += fetches.NumRecords()
	}
	body := scrape(t, b.MetricsURL())
	for _, series := range []string{
		`sluice_requests_total{api="Produce"}`,
		`sluice_requests_total{api="Fetch"}`,
		`sluice_request_duration_seconds_count{api="Produce"}`,
		`sluice_topic_bytes_in_total{topic="metered"}`,
		`sluice_topic_records_in_total{topic="metered"}`,
		`sluice_topic_bytes_out_total{topic="metered"}`,
		`sluice_partition_size_bytes{partition="0",topic="metered"}`,
		`sluice_partition_log_end_offset{partition="0",topic="metered"}`,
	} {
		if v := metricValue(t, body, series); v <= 0 {
			t.Errorf("%s = %v, want > 0", series, v)
		}
	}
	if v := metricValue(t, body, `sluice_topic_records_in_total{topic="metered"}`); v != 10 {
		t.Errorf("records in = %v, want 10", v)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// metricValue finds one series' value in the text exposition format.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("series %s not exposed", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("series %s: value %q: %v", series, m[1], err)
	}
	return v
}
