package server

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
)

// imageSteps applies each batch in turn to an image and feeds the
// observer every (prev, next) pair, as the quorum's OnChange does.
type imageSteps struct {
	t   *testing.T
	img *metadata.Image
	m   *clusterMetrics
	off int64
}

func (s *imageSteps) apply(records ...metadata.Record) {
	s.t.Helper()
	s.off++
	next, err := s.img.ApplyAt(records, s.off)
	if err != nil {
		s.t.Fatalf("apply %T...: %v", records[0], err)
	}
	s.m.observe(1, [16]byte{0xaa}, s.img, next)
	s.img = next
}

var observedTopic = [16]byte{7}

func partitionChange(epoch, leader, leaderEpoch int32, isr ...int32) *metadata.PartitionRecord {
	return &metadata.PartitionRecord{TopicID: observedTopic, Partition: metadata.Partition{
		Index: 0, Replicas: []int32{1, 2, 3}, ISR: isr, Leader: leader, LeaderEpoch: leaderEpoch, PartitionEpoch: epoch}}
}

func (s *imageSteps) want(shrinks, expands, elections, unclean uint64) {
	s.t.Helper()
	got := [4]uint64{s.m.isrShrinks.Load(), s.m.isrExpands.Load(), s.m.elections.Load(), s.m.uncleanElections.Load()}
	if want := [4]uint64{shrinks, expands, elections, unclean}; got != want {
		s.t.Fatalf("shrinks, expands, elections, unclean = %v, want %v", got, want)
	}
}

// The counters see committed partition changes that leave this broker (1)
// leading, only once it is registered under its own incarnation: history
// replayed at start-up (an older incarnation's registration) is not
// counted again.
func TestClusterMetricsCountCommittedChanges(t *testing.T) {
	s := &imageSteps{t: t, img: metadata.NewImage(), m: &clusterMetrics{}}
	s.apply(&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 1, IncarnationID: [16]byte{0x01}, BrokerEpoch: 1}},
		&metadata.TopicRecord{Name: "t", ID: observedTopic}, partitionChange(0, 1, 0, 1, 2, 3))
	s.apply(partitionChange(1, 1, 0, 1, 2)) // replayed history: an older incarnation
	s.want(0, 0, 0, 0)

	s.apply(&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 1, IncarnationID: [16]byte{0xaa}, BrokerEpoch: 5}})
	s.apply(partitionChange(2, 1, 0, 1))       // shrink
	s.apply(partitionChange(3, 1, 0, 1, 2, 3)) // expand by two members: one expansion
	s.want(1, 1, 0, 0)
	s.apply(partitionChange(4, 2, 1, 1, 2, 3)) // broker 2 takes over: its change, not ours
	s.want(1, 1, 0, 0)
	s.apply(partitionChange(5, 1, 2, 1, 2, 3)) // elected back, from the ISR
	s.want(1, 1, 1, 0)
	s.apply(partitionChange(6, -1, 3, 1))  // offline: nobody leads
	s.apply(partitionChange(7, 1, 4, 1))   // the last ISR member returns: clean
	s.apply(partitionChange(8, -1, 5, 1))  // offline again
	s.apply(partitionChange(9, 3, 6, 3))   // broker 3 elected uncleanly: not ours
	s.apply(partitionChange(10, -1, 7, 3)) // offline
	s.apply(partitionChange(11, 1, 8, 1))  // we are elected from outside the ISR [3]
	s.want(2, 2, 3, 1)                     // the unclean one's ISR [3] -> [1] is a shrink and an expansion
	s.apply(&metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic, ResourceName: "t", Key: "retention.ms", Value: new("1")})
	s.want(2, 2, 3, 1) // a config change moves nothing
}

func TestOfflinePartitionsCountsLeaderlessAndFencedLeaders(t *testing.T) {
	img, err := metadata.NewImage().Apply([]metadata.Record{
		&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 1, BrokerEpoch: 1}},
		&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 2, BrokerEpoch: 2, Fenced: true}},
		&metadata.TopicRecord{Name: "t", ID: observedTopic},
		&metadata.PartitionRecord{TopicID: observedTopic, Partition: metadata.Partition{Index: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}},
		&metadata.PartitionRecord{TopicID: observedTopic, Partition: metadata.Partition{Index: 1, Replicas: []int32{2}, ISR: []int32{2}, Leader: 2}},
		&metadata.PartitionRecord{TopicID: observedTopic, Partition: metadata.Partition{Index: 2, Replicas: []int32{3}, ISR: []int32{3}, Leader: -1}},
		&metadata.PartitionRecord{TopicID: observedTopic, Partition: metadata.Partition{Index: 3, Replicas: []int32{4}, ISR: []int32{4}, Leader: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := offlinePartitions(img); got != 3 {
		t.Errorf("offlinePartitions = %d, want 3 (fenced leader, no leader, unregistered leader)", got)
	}
}

// stubRequester answers every request with one Fetch response.
type stubRequester struct{ resp *kmsg.FetchResponse }

func (s stubRequester) Request(context.Context, kmsg.Request) (kmsg.Response, error) {
	return s.resp, nil
}

func TestFollowerLagFromFetchedHighWatermarks(t *testing.T) {
	m := &clusterMetrics{}
	resp := kmsg.NewPtrFetchResponse()
	topic := kmsg.NewFetchResponseTopic()
	topic.Topic = "t"
	for i, hw := range []int64{100, 50} {
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition, p.HighWatermark = int32(i), hw
		topic.Partitions = append(topic.Partitions, p)
	}
	failed := kmsg.NewFetchResponseTopicPartition()
	failed.Partition, failed.HighWatermark, failed.ErrorCode = 2, 999, 6
	topic.Partitions = append(topic.Partitions, failed)
	resp.Topics = append(resp.Topics, topic)

	clients := m.observeFetches(func(int32) (replica.Requester, bool) { return stubRequester{resp}, true })
	client, ok := clients(2)
	if !ok {
		t.Fatal("wrapped client missing")
	}
	if _, err := client.Request(context.Background(), kmsg.NewPtrFetchRequest()); err != nil {
		t.Fatal(err)
	}
	tp := func(p int32) replica.TopicPartition { return replica.TopicPartition{Topic: "t", Partition: p} }
	lags := m.followerLags(map[replica.TopicPartition]int64{tp(0): 60, tp(1): 70, tp(2): 1})
	if lags[tp(0)] != 40 || lags[tp(1)] != 0 || lags[tp(2)] != -1 {
		t.Errorf("lags = %v, want 40 (behind), 0 (ahead of the fetched mark), -1 (error answer only)", lags)
	}
	// A partition no longer followed is forgotten.
	if lags := m.followerLags(map[replica.TopicPartition]int64{tp(1): 10}); len(lags) != 1 || lags[tp(1)] != 40 {
		t.Errorf("lags = %v", lags)
	}
	if len(m.leaderHW) != 1 {
		t.Errorf("remembered high watermarks %v, want only t-1", m.leaderHW)
	}
	if _, ok := m.observeFetches(func(int32) (replica.Requester, bool) { return nil, false })(3); ok {
		t.Error("an unknown broker got a client")
	}
}

// A single node scraped: it leads all its partitions, none under-replicated
// or offline, and follows none.
func TestReplicationMetricsOnASingleNode(t *testing.T) {
	cfg := config.DefaultBroker()
	cfg.LogDirs = []string{t.TempDir()}
	cfg.Listeners = []config.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.AdvertisedListeners = nil
	cfg.MetricsListener = "127.0.0.1:0"
	cfg.TopicDefaults.MinInsyncReplicas = 2 // above the replica count: capped at 1, so not under
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := StartBroker(ctx, BrokerOptions{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	created, err := kadm.NewClient(client).CreateTopic(ctx, 3, 1, nil, "metered")
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		body = scrapeText(t, b.MetricsURL())
		if seriesValue(t, body, "sluice_leader_partitions") == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for series, want := range map[string]float64{
		"sluice_partitions":                     3,
		"sluice_leader_partitions":              3,
		"sluice_under_replicated_partitions":    0,
		"sluice_under_min_isr_partitions":       0,
		"sluice_offline_partitions":             0,
		"sluice_isr_shrinks_total":              0,
		"sluice_unclean_leader_elections_total": 0,
	} {
		if got := seriesValue(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if regexp.MustCompile(`(?m)^sluice_follower_lag_records\{`).MatchString(body) {
		t.Errorf("a single node reports follower lag:\n%s", body)
	}
}

func scrapeText(t *testing.T, url string) string {
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

func seriesValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("series %s not exposed:\n%s", series, body)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("series %s: %v", series, err)
	}
	return v
}
