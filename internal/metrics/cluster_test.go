package metrics

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
)

// scrape serves the handler once and returns the text exposition.
func scrape(t *testing.T, m *Broker) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, err := io.ReadAll(rec.Result().Body)
	if err != nil || rec.Code != 200 {
		t.Fatalf("scrape: status %d, %v", rec.Code, err)
	}
	return string(body)
}

// value finds one series' value, -1 (and a test error) when it is absent.
func value(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Errorf("series %s not exposed", series)
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Errorf("series %s: %v", series, err)
	}
	return v
}

// The replication gauges are aggregated from the partitions at scrape
// time; the counters and the offline count are passed through.
func TestReplicationMetricsFromStats(t *testing.T) {
	stats := Stats{
		Partitions: []PartitionStat{
			// Led here, fully replicated.
			{Topic: "a", Partition: 0, Leader: true, Replicas: 3, ISR: 3, FollowerLag: -1},
			// Led here, one replica out of sync, still at min.insync.replicas.
			{Topic: "a", Partition: 1, Leader: true, Replicas: 3, ISR: 2, FollowerLag: -1},
			// Led here, alone in the ISR: under min.insync.replicas too.
			{Topic: "a", Partition: 2, Leader: true, Replicas: 3, ISR: 1, UnderMinISR: true, FollowerLag: -1},
			// Followed, 42 behind; followed, nothing fetched yet; no role yet.
			{Topic: "b", Partition: 0, Follower: true, Replicas: 3, ISR: 2, FollowerLag: 42},
			{Topic: "b", Partition: 1, Follower: true, Replicas: 3, ISR: 3, FollowerLag: -1},
			{Topic: "b", Partition: 2, Replicas: 3, ISR: 1, FollowerLag: -1},
		},
		Cluster: ClusterStat{OfflinePartitions: 4, ISRShrinks: 5, ISRExpands: 6, LeaderElections: 7, UncleanLeaderElections: 1},
	}
	body := scrape(t, New(func() Stats { return stats }))
	for series, want := range map[string]float64{
		"sluice_partitions":                                        6,
		"sluice_leader_partitions":                                 3,
		"sluice_under_replicated_partitions":                       2,
		"sluice_under_min_isr_partitions":                          1,
		"sluice_offline_partitions":                                4,
		"sluice_isr_shrinks_total":                                 5,
		"sluice_isr_expands_total":                                 6,
		"sluice_leader_elections_total":                            7,
		"sluice_unclean_leader_elections_total":                    1,
		`sluice_follower_lag_records{partition="0",topic="b"}`:     42,
		`sluice_partition_log_end_offset{partition="2",topic="b"}`: 0,
	} {
		if got := value(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, absent := range []string{`partition="1",topic="b"`, `partition="0",topic="a"`} {
		if regexp.MustCompile(`(?m)^sluice_follower_lag_records\{` + regexp.QuoteMeta(absent)).MatchString(body) {
			t.Errorf("follower lag reported for %s, which has none known", absent)
		}
	}
	if !regexp.MustCompile(`(?m)^# TYPE sluice_isr_shrinks_total counter$`).MatchString(body) {
		t.Error("sluice_isr_shrinks_total is not typed as a counter")
	}
}
