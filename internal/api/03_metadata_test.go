package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// autoCreator is a controller that creates topics in the test's metadata
// the way the real one does (committed and applied before it returns),
// with one partition led by broker 1. Only AutoCreateTopic is called.
type autoCreator struct {
	Controller
	md      *testMetadata
	created []string
	// err fails the creation; during runs inside it (a concurrent change).
	err    error
	during func()
}

func (c *autoCreator) AutoCreateTopic(_ context.Context, name string) error {
	c.created = append(c.created, name)
	if c.during != nil {
		c.during()
	}
	if c.err != nil {
		return c.err
	}
	id := [16]byte{0xc0, byte(len(c.created))}
	c.md.apply(&metadata.TopicRecord{Name: name, ID: id},
		&metadata.PartitionRecord{TopicID: id, Partition: metadata.Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}})
	return nil
}

func (m *testMetadata) apply(recs ...metadata.Record) {
	img, err := m.Image().Apply(recs)
	if err != nil {
		panic(err)
	}
	m.img.Store(img)
}

type metadataFixture struct {
	b       *Broker
	md      *testMetadata
	ctrl    *autoCreator
	hosting *replica.Manager
}

// newMetadataFixture is broker 1 of a one-broker cluster that hosts no
// partition yet, with auto.create.topics.enable as given.
func newMetadataFixture(t *testing.T, autoCreateEnable bool) *metadataFixture {
	t.Helper()
	f := &metadataFixture{md: &testMetadata{}}
	f.md.img.Store(metadata.NewImage())
	f.md.apply(&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 1,
		Endpoints: []metadata.Endpoint{{Listener: "PLAINTEXT", Host: "b1", Port: 9092}}}})
	f.ctrl = &autoCreator{md: f.md}
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 1, AwaitRole: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f.hosting = m
	cfg := config.DefaultBroker()
	cfg.NodeID, cfg.AutoCreateTopicsEnable = 1, autoCreateEnable
	f.b = New(Config{Broker: cfg, Metadata: f.md, Controller: f.ctrl, Partitions: m})
	return f
}

func (f *metadataFixture) metadata(t *testing.T, version int16, allowAutoCreate bool, names ...string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version, req.AllowAutoTopicCreation = version, allowAutoCreate
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, name := range names {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return handle(t, f.b, req, kmsg.NewPtrMetadataResponse())
}

func wantTopicCode(t *testing.T, what string, topic kmsg.MetadataResponseTopic, want *kerr.Error) {
	t.Helper()
	var code int16
	if want != nil {
		code = want.Code
	}
	if topic.ErrorCode != code {
		t.Errorf("%s: error %v, want %v", what, kerr.ErrorForCode(topic.ErrorCode), want)
	}
}

// The Metadata request that creates a topic answers it with
// LEADER_NOT_AVAILABLE and no partitions, in every version (v0-v3 always
// allow auto-creation, v4+ when the client asks); the next Metadata has
// the partitions.
func TestMetadataJustAutoCreatedTopic(t *testing.T) {
	for _, version := range []int16{0, 1, 3, 4, 12} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			f := newMetadataFixture(t, true)
			first := f.metadata(t, version, true, "fresh")
			if len(first.Topics) != 1 || first.Topics[0].Topic == nil || *first.Topics[0].Topic != "fresh" {
				t.Fatalf("first answer: %+v", first.Topics)
			}
			wantTopicCode(t, "first answer", first.Topics[0], kerr.LeaderNotAvailable)
			if n := len(first.Topics[0].Partitions); n != 0 {
				t.Errorf("first answer has %d partitions, want none", n)
			}
			if !slices.Equal(f.ctrl.created, []string{"fresh"}) {
				t.Fatalf("created %v, want [fresh]", f.ctrl.created)
			}
			next := f.metadata(t, version, true, "fresh")
			wantTopicCode(t, "next answer", next.Topics[0], nil)
			if n := len(next.Topics[0].Partitions); n != 1 || next.Topics[0].Partitions[0].Leader != 1 {
				t.Errorf("next answer's partitions: %+v, want one led by broker 1", next.Topics[0].Partitions)
			}
			if len(f.ctrl.created) != 1 {
				t.Errorf("created %v: the topic was created again", f.ctrl.created)
			}
		})
	}
}

// Without permission (the v4+ flag off, or auto.create.topics.enable off)
// an unknown topic is UNKNOWN_TOPIC_OR_PARTITION; an invalid name is
// INVALID_TOPIC_EXCEPTION whatever the flags; an internal topic is never
// auto-created here. None reaches the controller.
func TestMetadataUncreatableTopics(t *testing.T) {
	f := newMetadataFixture(t, true)
	wantTopicCode(t, "v12 without the flag", f.metadata(t, 12, false, "nope").Topics[0], kerr.UnknownTopicOrPartition)
	wantTopicCode(t, "invalid name", f.metadata(t, 12, true, "bad/name").Topics[0], kerr.InvalidTopicException)
	wantTopicCode(t, "invalid name, no auto-create", f.metadata(t, 12, false, "..").Topics[0], kerr.InvalidTopicException)
	wantTopicCode(t, "internal topic", f.metadata(t, 12, true, metadata.TransactionStateTopic).Topics[0], kerr.UnknownTopicOrPartition)
	disabled := newMetadataFixture(t, false)
	wantTopicCode(t, "auto.create.topics.enable=false, v1", disabled.metadata(t, 1, false, "nope").Topics[0], kerr.UnknownTopicOrPartition)
	wantTopicCode(t, "auto.create.topics.enable=false, v12", disabled.metadata(t, 12, true, "nope").Topics[0], kerr.UnknownTopicOrPartition)
	if len(f.ctrl.created)+len(disabled.ctrl.created) != 0 {
		t.Fatalf("created %v and %v, want nothing", f.ctrl.created, disabled.ctrl.created)
	}
}

// A topic whose deletion is committed but not yet applied here (the image
// no longer has it, this broker still hosts its partition) is not
// recreated: UNKNOWN_TOPIC_OR_PARTITION until the old partition is gone;
// then a Metadata creates it anew.
func TestMetadataDoesNotRecreateATopicBeingDeleted(t *testing.T) {
	f := newMetadataFixture(t, true)
	id := [16]byte{0xde}
	f.md.apply(&metadata.TopicRecord{Name: "doomed", ID: id},
		&metadata.PartitionRecord{TopicID: id, Partition: metadata.Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}})
	if _, err := f.hosting.Ensure("doomed", id, 0, 0, storage.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	f.md.apply(&metadata.RemoveTopicRecord{TopicID: id})

	wantTopicCode(t, "while its partition is still hosted", f.metadata(t, 12, true, "doomed").Topics[0], kerr.UnknownTopicOrPartition)
	if len(f.ctrl.created) != 0 {
		t.Fatalf("created %v while the deletion was being applied", f.ctrl.created)
	}
	if err := f.hosting.Remove("doomed", 0); err != nil {
		t.Fatal(err)
	}
	wantTopicCode(t, "once deleted here", f.metadata(t, 12, true, "doomed").Topics[0], kerr.LeaderNotAvailable)
	if !slices.Equal(f.ctrl.created, []string{"doomed"}) {
		t.Fatalf("created %v, want [doomed]", f.ctrl.created)
	}
}

// One image answers the whole request: a topic it holds is described from
// it even when its deletion commits while the request runs (here, during
// another topic's creation), and is not recreated by the same request.
func TestMetadataAnswersFromOneImage(t *testing.T) {
	f := newMetadataFixture(t, true)
	id := [16]byte{0xaa}
	f.md.apply(&metadata.TopicRecord{Name: "existing", ID: id},
		&metadata.PartitionRecord{TopicID: id, Partition: metadata.Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}})
	f.ctrl.during = func() {
		if f.md.Image().TopicByName("existing") != nil {
			f.md.apply(&metadata.RemoveTopicRecord{TopicID: id})
		}
	}
	resp := f.metadata(t, 12, true, "fresh", "existing", "fresh")
	if len(resp.Topics) != 2 {
		t.Fatalf("%d topics answered, want 2 (each name once)", len(resp.Topics))
	}
	wantTopicCode(t, "fresh", resp.Topics[0], kerr.LeaderNotAvailable)
	wantTopicCode(t, "existing", resp.Topics[1], nil)
	if resp.Topics[1].TopicID != id || len(resp.Topics[1].Partitions) != 1 {
		t.Errorf("existing answered as %+v, want its ID and partition", resp.Topics[1])
	}
	if !slices.Equal(f.ctrl.created, []string{"fresh"}) {
		t.Fatalf("created %v, want only [fresh]", f.ctrl.created)
	}
}

// A failed creation, whatever the controller's reason, is
// UNKNOWN_TOPIC_OR_PARTITION, as KRaft Kafka answers it: clients retry
// that code, and the reason may pass (INVALID_REPLICATION_FACTOR while the
// brokers are still fenced at start-up). A topic created concurrently
// elsewhere (TOPIC_ALREADY_EXISTS) is LEADER_NOT_AVAILABLE, like one
// created here.
func TestMetadataAutoCreateFailures(t *testing.T) {
	tests := []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("create topic %q: %w", "x", kerr.InvalidReplicationFactor), kerr.UnknownTopicOrPartition},
		{kerr.PolicyViolation, kerr.UnknownTopicOrPartition},
		{fmt.Errorf("create topic %q: %w", "x", kerr.NotController), kerr.UnknownTopicOrPartition},
		{errors.New("connection reset"), kerr.UnknownTopicOrPartition},
		{fmt.Errorf("create topic %q: %w", "x", kerr.TopicAlreadyExists), kerr.LeaderNotAvailable},
	}
	for _, tt := range tests {
		f := newMetadataFixture(t, true)
		f.ctrl.err = tt.err
		wantTopicCode(t, tt.err.Error(), f.metadata(t, 12, true, "x").Topics[0], tt.want)
	}
}
