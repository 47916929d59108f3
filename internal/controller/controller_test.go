package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/quorum"
)

func TestProposalFailuresBecomeKafkaErrors(t *testing.T) {
	tests := []struct {
		err  error
		code *kerr.Error
	}{
		{fmt.Errorf("x: %w", quorum.ErrNotLeader), kerr.NotController},
		{quorum.ErrClosed, kerr.NotController},
		{context.DeadlineExceeded, kerr.RequestTimedOut},
		{metadata.ErrInvalidRecord, kerr.UnknownServerError},
	}
	for _, tt := range tests {
		c, q := newTestController(t, fixtureImage(t))
		q.err = tt.err
		resp := c.CreateTopics(t.Context(), createRequest(createTopic("new", 1, 1), createTopic("orders", 1, 1)))
		for _, r := range resp.Topics {
			wantError(t, r.Topic, r.ErrorCode, r.ErrorMessage, tt.code, tt.code.Description)
			if r.TopicID != ([16]byte{}) {
				t.Fatalf("failed proposal reported a topic ID")
			}
		}
		if q.Image().TopicByName("new") != nil {
			t.Fatalf("failed proposal changed the image")
		}
	}
}

func TestCreateAndDeleteThroughQuorum(t *testing.T) {
	c, q := newTestController(t, fixtureImage(t))
	resp := c.CreateTopics(t.Context(), createRequest(createTopic("fresh", 2, 2)))
	if resp.Topics[0].ErrorCode != 0 || q.Image().TopicByName("fresh") == nil {
		t.Fatalf("create: %+v", resp.Topics[0])
	}
	again := c.CreateTopics(t.Context(), createRequest(createTopic("fresh", 2, 2)))
	wantError(t, "again", again.Topics[0].ErrorCode, again.Topics[0].ErrorMessage, kerr.TopicAlreadyExists, "Topic 'fresh' already exists.")

	grown := c.CreatePartitions(t.Context(), growRequest(grow("fresh", 3)))
	if grown.Topics[0].ErrorCode != 0 || len(q.Image().TopicByName("fresh").Partitions) != 3 {
		t.Fatalf("grow: %+v", grown.Topics[0])
	}
	deleted := c.DeleteTopics(t.Context(), deleteByName("fresh"))
	if deleted.Topics[0].ErrorCode != 0 || q.Image().TopicByName("fresh") != nil {
		t.Fatalf("delete: %+v", deleted.Topics[0])
	}
}

func TestValidateOnlyWritesNothing(t *testing.T) {
	c, q := newTestController(t, fixtureImage(t))
	req := createRequest(createTopic("dry", 1, 1))
	req.ValidateOnly = true
	if resp := c.CreateTopics(t.Context(), req); resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("validate_only create: %+v", resp.Topics[0])
	}
	grow := growRequest(grow("orders", 9))
	grow.ValidateOnly = true
	if resp := c.CreatePartitions(t.Context(), grow); resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("validate_only grow: %+v", resp.Topics[0])
	}
	if q.proposals != 0 || q.Image().TopicByName("dry") != nil {
		t.Fatalf("validate_only proposed %d batches", q.proposals)
	}
}

func TestAutoCreateTopic(t *testing.T) {
	c, q := newTestController(t, fixtureImage(t))
	if err := c.AutoCreateTopic(t.Context(), "auto"); err != nil {
		t.Fatalf("AutoCreateTopic: %v", err)
	}
	topic := q.Image().TopicByName("auto")
	if topic == nil || len(topic.Partitions) != 2 || len(topic.Partitions[0].Replicas) != 1 {
		t.Fatalf("auto-created topic = %+v, want num.partitions=2, default.replication.factor=1", topic)
	}
	if err := c.AutoCreateTopic(t.Context(), "auto"); err != nil {
		t.Fatalf("existing topic: %v", err)
	}
	err := c.AutoCreateTopic(t.Context(), "bad name")
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("invalid name: err = %v, want INVALID_TOPIC_EXCEPTION", err)
	}
}

// Concurrent creations of one name: exactly one wins, the rest see
// TOPIC_ALREADY_EXISTS, because plan+propose is serialised.
func TestConcurrentCreatesSerialise(t *testing.T) {
	c, q := newTestController(t, fixtureImage(t))
	const racers = 8
	codes := make(chan int16, racers)
	var wg sync.WaitGroup
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- c.CreateTopics(context.Background(), createRequest(createTopic("contended", 1, 1))).Topics[0].ErrorCode
		}()
	}
	wg.Wait()
	close(codes)
	wins := 0
	for code := range codes {
		switch code {
		case 0:
			wins++
		case kerr.TopicAlreadyExists.Code:
		default:
			t.Fatalf("unexpected code %d", code)
		}
	}
	if wins != 1 || q.proposals != 1 {
		t.Fatalf("%d winners, %d proposals; want 1 and 1", wins, q.proposals)
	}
}

func TestRegisterBrokerAndClusterID(t *testing.T) {
	c, q := newTestController(t, metadata.NewImage())
	rack := "r1"
	broker := metadata.Broker{NodeID: 4, Endpoints: []metadata.Endpoint{{Listener: "PLAINTEXT", Host: "localhost", Port: 9092}}, Rack: &rack}
	if err := c.RegisterBroker(t.Context(), broker); err != nil {
		t.Fatalf("RegisterBroker: %v", err)
	}
	if got := q.Image().Broker(4); got == nil || got.Endpoints[0].Port != 9092 || *got.Rack != "r1" {
		t.Fatalf("registered broker = %+v", got)
	}
	id, err := c.EnsureClusterID(t.Context())
	if err != nil || len(id) != 22 {
		t.Fatalf("EnsureClusterID = %q, %v; want a 22-character base64 UUID", id, err)
	}
	again, err := c.EnsureClusterID(t.Context())
	if err != nil || again != id || q.proposals != 2 {
		t.Fatalf("second EnsureClusterID = %q, %v after %d proposals", again, err, q.proposals)
	}
	if err := c.RegisterBroker(t.Context(), metadata.Broker{NodeID: -1}); err == nil {
		t.Fatalf("negative node ID accepted")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	q := &fakeQuorum{image: metadata.NewImage()}
	for _, mutate := range []func(*Config){
		func(c *Config) { c.NumPartitions = 0 },
		func(c *Config) { c.DefaultReplicationFactor = 0 },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		if _, err := New(cfg, q); err == nil {
			t.Fatalf("New accepted %+v", cfg)
		}
	}
	if _, err := New(DefaultConfig(), nil); err == nil {
		t.Fatalf("New accepted a nil quorum")
	}
}

// The real path: a one-voter quorum.Node under the controller.
func TestControllerOnRealQuorum(t *testing.T) {
	node, err := quorum.Open(quorum.Config{Dir: t.TempDir(), NodeID: 1})
	if err != nil {
		t.Fatalf("quorum.Open: %v", err)
	}
	defer node.Close()
	c, err := New(DefaultConfig(), node)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := c.EnsureClusterID(t.Context()); err != nil {
		t.Fatalf("EnsureClusterID: %v", err)
	}
	if err := c.RegisterBroker(t.Context(), metadata.Broker{NodeID: 1}); err != nil {
		t.Fatalf("RegisterBroker: %v", err)
	}
	resp := c.CreateTopics(t.Context(), createRequest(createTopic("real", 3, -1, "retention.ms", "100")))
	if r := resp.Topics[0]; r.ErrorCode != 0 || r.NumPartitions != 3 || r.ReplicationFactor != 1 || len(r.Configs) != 1 {
		t.Fatalf("create on real quorum: %+v", r)
	}
	topic := node.Image().TopicByName("real")
	if topic == nil || topic.ID != resp.Topics[0].TopicID || topic.Partitions[2].Leader != 1 {
		t.Fatalf("image = %+v", topic)
	}
	tooMany := c.CreateTopics(t.Context(), createRequest(createTopic("rf2", 1, 2)))
	wantError(t, "rf2", tooMany.Topics[0].ErrorCode, tooMany.Topics[0].ErrorMessage, kerr.InvalidReplicationFactor,
		"Unable to replicate the partition 2 time(s): The target replication factor of 2 cannot be reached because only 1 broker(s) are registered.")
	byID := kmsg.NewPtrDeleteTopicsRequest()
	byID.Version = 6
	byID.Topics = []kmsg.DeleteTopicsRequestTopic{deleteEntry(nil, topic.ID)}
	if r := c.DeleteTopics(t.Context(), byID).Topics[0]; r.ErrorCode != 0 || deref(r.Topic) != "real" {
		t.Fatalf("delete by ID: %+v", r)
	}
	if node.Image().TopicByName("real") != nil {
		t.Fatalf("topic survived deletion")
	}
}

func BenchmarkCreateTopicOnRealQuorum(b *testing.B) {
	node, err := quorum.Open(quorum.Config{Dir: b.TempDir(), NodeID: 1})
	if err != nil {
		b.Fatalf("quorum.Open: %v", err)
	}
	defer node.Close()
	c, _ := New(DefaultConfig(), node)
	if err := c.RegisterBroker(context.Background(), metadata.Broker{NodeID: 1}); err != nil {
		b.Fatalf("RegisterBroker: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp := c.CreateTopics(context.Background(), createRequest(createTopic(fmt.Sprintf("t%d", i), 1, 1)))
		if resp.Topics[0].ErrorCode != 0 {
			b.Fatalf("create: %+v", resp.Topics[0])
		}
	}
}
