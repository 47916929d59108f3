package metadata

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var (
	ordersID   = [16]byte{0xa1}
	paymentsID = [16]byte{0xb2}
)

func createTopicRecords(name string, id [16]byte, partitions int, configs map[string]string) []Record {
	records := []Record{&TopicRecord{Name: name, ID: id}}
	for key, value := range configs {
		records = append(records, &ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: name, Key: key, Value: strPtr(value)})
	}
	for i := 0; i < partitions; i++ {
		records = append(records, &PartitionRecord{TopicID: id, Partition: Partition{
			Index: int32(i), Replicas: []int32{1}, ISR: []int32{1}, Leader: 1,
		}})
	}
	return records
}

func mustApply(t *testing.T, img *Image, records ...Record) *Image {
	t.Helper()
	next, err := img.Apply(records)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return next
}

func TestApplyBuildsImage(t *testing.T) {
	img := mustApply(t, NewImage(),
		&ClusterIDRecord{ID: "cluster-1"},
		&RegisterBrokerRecord{Broker: Broker{NodeID: 1, Endpoints: []Endpoint{{Listener: "PLAINTEXT", Host: "h", Port: 9092}}}},
	)
	img = mustApply(t, img, createTopicRecords("orders", ordersID, 3, map[string]string{"retention.ms": "5"})...)

	if img.ClusterID() != "cluster-1" {
		t.Fatalf("ClusterID = %q", img.ClusterID())
	}
	if b := img.Broker(1); b == nil || b.Endpoints[0].Port != 9092 {
		t.Fatalf("Broker(1) = %+v", b)
	}
	topic := img.TopicByName("orders")
	if topic == nil || img.TopicByID(ordersID) != topic {
		t.Fatalf("topic lookup by name and ID disagree")
	}
	if len(topic.Partitions) != 3 || topic.Partition(2).Leader != 1 || topic.Partition(3) != nil {
		t.Fatalf("partitions = %+v", topic.Partitions)
	}
	if topic.Configs["retention.ms"] != "5" {
		t.Fatalf("configs = %v", topic.Configs)
	}
}

func TestApplyPartitionChangeReplacesState(t *testing.T) {
	img := mustApply(t, NewImage(), createTopicRecords("orders", ordersID, 1, nil)...)
	img = mustApply(t, img, &PartitionRecord{TopicID: ordersID, Partition: Partition{
		Index: 0, Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1,
	}})
	p := img.TopicByName("orders").Partition(0)
	if p.Leader != 2 || p.LeaderEpoch != 1 || !reflect.DeepEqual(p.ISR, []int32{2}) {
		t.Fatalf("partition = %+v", p)
	}
}

// Apply is copy on write: the image a reader holds never changes.
func TestApplyLeavesPreviousImageUntouched(t *testing.T) {
	before := mustApply(t, NewImage(), createTopicRecords("orders", ordersID, 2, map[string]string{"a": "1"})...)
	snapshot := EncodeBatch(before.Records())

	after := mustApply(t, before,
		&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 0, Replicas: []int32{9}, Leader: 9}},
		&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 2, Replicas: []int32{1}, Leader: 1}},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "orders", Key: "a", Value: strPtr("2")},
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "1", Key: "b", Value: strPtr("3")},
		&RegisterBrokerRecord{Broker: Broker{NodeID: 9}},
	)
	if !bytes.Equal(EncodeBatch(before.Records()), snapshot) {
		t.Fatalf("Apply modified the previous image")
	}
	if got := after.TopicByName("orders"); len(got.Partitions) != 3 || got.Configs["a"] != "2" || got.Partitions[0].Leader != 9 {
		t.Fatalf("new image = %+v", got)
	}
	removed := mustApply(t, after, &RemoveTopicRecord{TopicID: ordersID})
	if removed.TopicByName("orders") != nil || removed.TopicByID(ordersID) != nil {
		t.Fatalf("topic still present after RemoveTopic")
	}
	if after.TopicByName("orders") == nil {
		t.Fatalf("RemoveTopic modified the previous image")
	}
}

// The records' slices are copied: reusing them after Apply changes nothing.
func TestApplyCopiesRecordSlices(t *testing.T) {
	replicas := []int32{1, 2}
	img := mustApply(t, NewImage(), &TopicRecord{Name: "orders", ID: ordersID},
		&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 0, Replicas: replicas, Leader: 1}})
	replicas[0] = 99
	if got := img.TopicByName("orders").Partitions[0].Replicas[0]; got != 1 {
		t.Fatalf("replica changed through the record's slice: %d", got)
	}
}

func TestApplyRejectsInvalidBatchAtomically(t *testing.T) {
	base := mustApply(t, NewImage(), &ClusterIDRecord{ID: "c"})
	base = mustApply(t, base, createTopicRecords("orders", ordersID, 1, nil)...)
	tests := []struct {
		name    string
		records []Record
	}{
		{"duplicate topic name", []Record{&TopicRecord{Name: "orders", ID: paymentsID}}},
		{"duplicate topic ID", []Record{&TopicRecord{Name: "payments", ID: ordersID}}},
		{"zero topic ID", []Record{&TopicRecord{Name: "payments"}}},
		{"empty topic name", []Record{&TopicRecord{ID: paymentsID}}},
		{"partition of unknown topic", []Record{&PartitionRecord{TopicID: paymentsID, Partition: Partition{Replicas: []int32{1}}}}},
		{"partition gap", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 2, Replicas: []int32{1}}}}},
		{"negative partition", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: -1, Replicas: []int32{1}}}}},
		{"partition without replicas", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 1}}}},
		{"config of unknown topic", []Record{&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "nope", Key: "k", Value: strPtr("v")}}},
		{"config with empty key", []Record{&ConfigRecord{ResourceType: ConfigResourceBroker, Value: strPtr("v")}}},
		{"unknown config resource", []Record{&ConfigRecord{ResourceType: 8, Key: "k"}}},
		{"remove unknown topic", []Record{&RemoveTopicRecord{TopicID: paymentsID}}},
		{"other cluster ID", []Record{&ClusterIDRecord{ID: "d"}}},
		{"negative node ID", []Record{&RegisterBrokerRecord{Broker: Broker{NodeID: -1}}}},
		{"nil record", []Record{nil}},
		{"producer IDs not growing", []Record{&ProducerIDsRecord{BrokerID: 1, NextProducerID: 0}}},
		{"producer IDs for a bad broker", []Record{&ProducerIDsRecord{BrokerID: -2, NextProducerID: 5000}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A valid record first proves the whole batch is dropped.
			records := append([]Record{&RegisterBrokerRecord{Broker: Broker{NodeID: 5}}}, tt.records...)
			next, err := base.Apply(records)
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("err = %v, want ErrInvalidRecord", err)
			}
			if next != base || base.Broker(5) != nil {
				t.Fatalf("failed batch changed the image")
			}
		})
	}
}

// A snapshot (Records, encoded and decoded) replayed on an empty image equals
// the image built by full replay, and a snapshot plus the tail equals full
// replay of everything.
func TestSnapshotPlusTailEqualsFullReplay(t *testing.T) {
	history := [][]Record{
		{&ClusterIDRecord{ID: "c"}, &RegisterBrokerRecord{Broker: Broker{NodeID: 1, Rack: strPtr("r")}}},
		createTopicRecords("orders", ordersID, 3, map[string]string{"cleanup.policy": "compact"}),
		createTopicRecords("payments", paymentsID, 1, nil),
		{&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Key: "k", Value: strPtr("v")}},
		{&RemoveTopicRecord{TopicID: ordersID}},
		{&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "payments", Key: "retention.ms", Value: strPtr("1")}},
		{&ProducerIDsRecord{BrokerID: 1, NextProducerID: 1000}},
		{&PartitionRecord{TopicID: paymentsID, Partition: Partition{Index: 0, Replicas: []int32{1}, ISR: []int32{}, Leader: -1, LeaderEpoch: 1}}},
		{&ProducerIDsRecord{BrokerID: 1, NextProducerID: 2000}},
	}
	for cut := 0; cut <= len(history); cut++ {
		full := NewImage()
		for _, batch := range history {
			full = mustApply(t, full, batch...)
		}
		prefix := NewImage()
		for _, batch := range history[:cut] {
			prefix = mustApply(t, prefix, batch...)
		}
		restored, err := DecodeBatch(EncodeBatch(prefix.Records()))
		if err != nil {
			t.Fatalf("decode snapshot: %v", err)
		}
		replayed := mustApply(t, NewImage(), restored...)
		for _, batch := range history[cut:] {
			replayed = mustApply(t, replayed, batch...)
		}
		if !reflect.DeepEqual(replayed, full) {
			t.Fatalf("cut %d: snapshot+tail differs from full replay:\n got %+v\nwant %+v", cut, replayed, full)
		}
		if !bytes.Equal(EncodeBatch(replayed.Records()), EncodeBatch(full.Records())) {
			t.Fatalf("cut %d: snapshot bytes differ", cut)
		}
	}
}

func TestBrokerConfigDeleteDropsEmptyResource(t *testing.T) {
	img := mustApply(t, NewImage(), &ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "1", Key: "k", Value: strPtr("v")})
	if img.BrokerConfigs("1")["k"] != "v" {
		t.Fatalf("broker config not set")
	}
	next := mustApply(t, img, &ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "1", Key: "k"})
	if next.BrokerConfigs("1") != nil || img.BrokerConfigs("1")["k"] != "v" {
		t.Fatalf("delete: new %v, old %v", next.BrokerConfigs("1"), img.BrokerConfigs("1"))
	}
}

func TestListsAreSorted(t *testing.T) {
	img := mustApply(t, NewImage(),
		&RegisterBrokerRecord{Broker: Broker{NodeID: 3}}, &RegisterBrokerRecord{Broker: Broker{NodeID: 1}},
		&TopicRecord{Name: "b", ID: [16]byte{2}}, &TopicRecord{Name: "a", ID: [16]byte{1}})
	if b := img.Brokers(); len(b) != 2 || b[0].NodeID != 1 || b[1].NodeID != 3 {
		t.Fatalf("Brokers not ordered: %+v", b)
	}
	if ts := img.Topics(); len(ts) != 2 || ts[0].Name != "a" || ts[1].Name != "b" {
		t.Fatalf("Topics not ordered: %+v", ts)
	}
	if img.TopicCount() != 2 || img.BrokerCount() != 2 {
		t.Fatalf("counts: %d topics, %d brokers", img.TopicCount(), img.BrokerCount())
	}
}

// Producer-ID blocks only move forward: a replayed block at or below the
// current mark is refused, so two brokers can never be given the same IDs.
func TestProducerIDBlocksOnlyGrow(t *testing.T) {
	img := mustApply(t, NewImage(), &ProducerIDsRecord{BrokerID: 1, NextProducerID: 1000})
	img = mustApply(t, img, &ProducerIDsRecord{BrokerID: 2, NextProducerID: 2000})
	if img.NextProducerID() != 2000 {
		t.Fatalf("NextProducerID = %d, want 2000", img.NextProducerID())
	}
	for _, next := range []int64{2000, 1999, -1} {
		if _, err := img.Apply([]Record{&ProducerIDsRecord{BrokerID: 1, NextProducerID: next}}); !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("next %d: err = %v, want ErrInvalidRecord", next, err)
		}
	}
}
