package controller

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// fakeClock is a Config.Now that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer is a log sink safe for the controller's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testBroker describes a registered broker of a cluster fixture. Its epoch
// is 100+id.
type testBroker struct {
	id       int32
	rack     string
	fenced   bool
	shutdown bool
}

func brokerEpoch(id int32) int64 { return 100 + int64(id) }

// testTopic describes a topic of a cluster fixture: one partition per
// entry, each given as replicas, ISR and leader.
type testTopic struct {
	name       string
	id         [16]byte
	partitions []metadata.Partition
	configs    map[string]string
}

// part is a partition with the given replicas, ISR and leader, epochs 0.
func part(replicas, isr []int32, leader int32) metadata.Partition {
	return metadata.Partition{Replicas: replicas, ISR: isr, Leader: leader}
}

// clusterImage builds an image at offset 10 holding the brokers and topics.
func clusterImage(t testing.TB, brokers []testBroker, topics ...testTopic) *metadata.Image {
	t.Helper()
	records := []metadata.Record{&metadata.ClusterIDRecord{ID: "cluster"}}
	for _, b := range brokers {
		broker := metadata.Broker{NodeID: b.id, BrokerEpoch: brokerEpoch(b.id), IncarnationID: [16]byte{byte(b.id)},
			Fenced: b.fenced, InControlledShutdown: b.shutdown,
			Endpoints: []metadata.Endpoint{{Listener: "PLAINTEXT", Host: "h", Port: 9000 + b.id}}}
		if b.rack != "" {
			broker.Rack = strPtr(b.rack)
		}
		records = append(records, &metadata.RegisterBrokerRecord{Broker: broker})
	}
	for _, topic := range topics {
		records = append(records, &metadata.TopicRecord{Name: topic.name, ID: topic.id})
		for key, value := range topic.configs {
			records = append(records, &metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic, ResourceName: topic.name, Key: key, Value: strPtr(value)})
		}
		for i, p := range topic.partitions {
			p.Index = int32(i)
			records = append(records, &metadata.PartitionRecord{TopicID: topic.id, Partition: p})
		}
	}
	img, err := metadata.NewImage().ApplyAt(records, 10)
	if err != nil {
		t.Fatalf("cluster fixture: %v", err)
	}
	return img
}

// unfencedBrokers are brokers 1..n, unfenced.
func unfencedBrokers(n int32) []testBroker {
	var brokers []testBroker
	for id := int32(1); id <= n; id++ {
		brokers = append(brokers, testBroker{id: id})
	}
	return brokers
}

// clusterTest is a controller over a fake quorum with a fake clock and a
// captured log.
type clusterTest struct {
	t     *testing.T
	c     *Controller
	q     *fakeQuorum
	clock *fakeClock
	log   *syncBuffer
}

func newClusterTest(t *testing.T, img *metadata.Image, mutate func(*Config)) *clusterTest {
	t.Helper()
	ct := &clusterTest{t: t, q: &fakeQuorum{image: img}, clock: newFakeClock(), log: &syncBuffer{}}
	cfg := testConfig()
	cfg.Now = ct.clock.Now
	cfg.Logger = slog.New(slog.NewTextHandler(ct.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.AutoLeaderRebalanceEnable = false
	if mutate != nil {
		mutate(cfg)
	}
	c, err := New(*cfg, ct.q)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ct.c = c
	c.BecomeActive()
	return ct
}

func (ct *clusterTest) image() *metadata.Image { return ct.q.Image() }

func (ct *clusterTest) partition(topic string, index int32) metadata.Partition {
	ct.t.Helper()
	tp := ct.image().TopicByName(topic)
	if tp == nil || tp.Partition(index) == nil {
		ct.t.Fatalf("no partition %s-%d", topic, index)
	}
	return *tp.Partition(index)
}

func (ct *clusterTest) broker(id int32) *metadata.Broker {
	ct.t.Helper()
	b := ct.image().Broker(id)
	if b == nil {
		ct.t.Fatalf("broker %d not registered", id)
	}
	return b
}

// heartbeat sends one heartbeat of broker id at its current epoch and
// metadata offset (the image's, as a caught-up broker would report).
func (ct *clusterTest) heartbeat(id int32, mutate func(*kmsg.BrokerHeartbeatRequest)) *kmsg.BrokerHeartbeatResponse {
	ct.t.Helper()
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID = id
	if b := ct.image().Broker(id); b != nil {
		req.BrokerEpoch = b.BrokerEpoch
	}
	req.CurrentMetadataOffset = ct.image().Offset()
	if mutate != nil {
		mutate(req)
	}
	return ct.c.BrokerHeartbeat(ct.t.Context(), req)
}

// tick runs Tick and fails the test on an error.
func (ct *clusterTest) tick() {
	ct.t.Helper()
	if err := ct.c.Tick(ct.t.Context()); err != nil {
		ct.t.Fatalf("Tick: %v", err)
	}
}

// wantPartition checks leader, ISR and epochs of a partition.
func (ct *clusterTest) wantPartition(topic string, index int32, leader int32, isr []int32, leaderEpoch, partitionEpoch int32) {
	ct.t.Helper()
	p := ct.partition(topic, index)
	if p.Leader != leader || !reflect.DeepEqual(p.ISR, isr) || p.LeaderEpoch != leaderEpoch || p.PartitionEpoch != partitionEpoch {
		ct.t.Fatalf("%s-%d = leader %d isr %v epochs %d/%d, want leader %d isr %v epochs %d/%d",
			topic, index, p.Leader, p.ISR, p.LeaderEpoch, p.PartitionEpoch, leader, isr, leaderEpoch, partitionEpoch)
	}
}

// logged reports whether a log line at level contains every fragment.
func (ct *clusterTest) logged(level string, fragments ...string) bool {
	for _, line := range strings.Split(ct.log.String(), "\n") {
		if !strings.Contains(line, "level="+level) {
			continue
		}
		all := true
		for _, f := range fragments {
			all = all && strings.Contains(line, f)
		}
		if all {
			return true
		}
	}
	return false
}
