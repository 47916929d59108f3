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
)

func strPtr(s string) *string { return &s }

// sequentialIDs returns a deterministic topic ID source: 0x10, 0x11, ...
func sequentialIDs() func() [16]byte {
	next := byte(0x10)
	return func() [16]byte {
		id := [16]byte{next, 0xee}
		next++
		return id
	}
}

func testConfig() *Config {
	cfg := DefaultConfig()
	cfg.NumPartitions = 2
	cfg.DefaultReplicationFactor = 1
	cfg.TopicConfigs = fakeTopicConfigs{}
	cfg.NewTopicID = sequentialIDs()
	cfg.Rand = func(int) int { return 0 }
	return &cfg
}

// fakeTopicConfigs knows three configs: retention.ms (a number),
// cleanup.policy (a list of delete/compact, default "delete") and
// flush.ms.
type fakeTopicConfigs struct{}

func (fakeTopicConfigs) Validate(name string, value *string) error {
	switch name {
	case "retention.ms", "flush.ms":
		if value != nil && (*value == "" || (*value)[0] < '0' || (*value)[0] > '9') {
			return fmt.Errorf("Invalid value %s for configuration %s: Not a number of type LONG", *value, name)
		}
		return nil
	case "cleanup.policy":
		if value != nil && *value != "delete" && *value != "compact" && *value != "compact,delete" && *value != "delete,compact" && *value != "" {
			return fmt.Errorf("Invalid value %s for configuration cleanup.policy", *value)
		}
		return nil
	}
	return fmt.Errorf("Unknown topic config name: %s", name)
}

func (fakeTopicConfigs) IsList(name string) bool { return name == "cleanup.policy" }

func (fakeTopicConfigs) Default(name string) (string, bool) {
	if name == "cleanup.policy" {
		return "delete", true
	}
	return "", false
}

func (fakeTopicConfigs) Describe(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	return describeOverrides(overrides)
}

var (
	ordersID = [16]byte{0xa1}
	abID     = [16]byte{0xa2}
)

// fixtureImage has brokers 1-3, topic "orders" (3 partitions, replication
// factor 2, retention.ms=1000) and topic "a_b" (1 partition).
func fixtureImage(t testing.TB) *metadata.Image {
	t.Helper()
	records := []metadata.Record{&metadata.ClusterIDRecord{ID: "cluster"}}
	for id := int32(1); id <= 3; id++ {
		records = append(records, &metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: id}})
	}
	records = append(records,
		&metadata.TopicRecord{Name: "orders", ID: ordersID},
		&metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic, ResourceName: "orders", Key: "retention.ms", Value: strPtr("1000")},
		&metadata.TopicRecord{Name: "a_b", ID: abID},
		&metadata.PartitionRecord{TopicID: abID, Partition: newPartition(0, []int32{1})},
	)
	for i := int32(0); i < 3; i++ {
		records = append(records, &metadata.PartitionRecord{TopicID: ordersID, Partition: newPartition(i, []int32{1 + i%3, 1 + (i+1)%3})})
	}
	img, err := metadata.NewImage().Apply(records)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return img
}

func mustApply(t testing.TB, img *metadata.Image, records []metadata.Record) *metadata.Image {
	t.Helper()
	next, err := img.Apply(records)
	if err != nil {
		t.Fatalf("apply planned records: %v", err)
	}
	return next
}

// wantError checks an error code and, unless message is "*", the message
// (message "" means a null message).
func wantError(t *testing.T, what string, code int16, message *string, want *kerr.Error, wantMessage string) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if code != wantCode {
		t.Fatalf("%s: error code %d (%v), want %d (%v); message %v", what, code, kerr.ErrorForCode(code), wantCode, want, deref(message))
	}
	if wantMessage == "*" {
		return
	}
	if wantMessage == "" && message != nil || wantMessage != "" && (message == nil || *message != wantMessage) {
		t.Fatalf("%s: message %q, want %q", what, deref(message), wantMessage)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// fakeQuorum applies proposals to an in-memory image, each at the next log
// offset as the Raft FSM does, or fails them with err.
type fakeQuorum struct {
	mu        sync.Mutex
	image     *metadata.Image
	err       error
	proposals int
}

func (q *fakeQuorum) Image() *metadata.Image {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.image
}

func (q *fakeQuorum) Propose(_ context.Context, records []metadata.Record) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.proposals++
	if q.err != nil {
		return q.err
	}
	next, err := q.image.ApplyAt(records, q.image.Offset()+1)
	if err != nil {
		return err
	}
	q.image = next
	return nil
}

func newTestController(t *testing.T, img *metadata.Image) (*Controller, *fakeQuorum) {
	t.Helper()
	q := &fakeQuorum{image: img}
	c, err := New(*testConfig(), q)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, q
}

var errFake = errors.New("fake")
