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
		&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 0, Replicas: []int32{9}, Leader: 9, LeaderEpoch: 1, PartitionEpoch: 1}},
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
		{"partition change without a new epoch", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 0, Replicas: []int32{1}, Leader: 1}}}},
		{"unknown leader recovery state", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 1, Replicas: []int32{1}, LeaderRecoveryState: 2}}}},
		{"change of an unregistered broker", []Record{&BrokerRegistrationChangeRecord{BrokerID: 9, Fenced: FenceBroker}}},
		{"adding replica not a replica", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 1, Replicas: []int32{1, 2}, AddingReplicas: []int32{3}}}}},
		{"removing replica not a replica", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 1, Replicas: []int32{1, 2}, RemovingReplicas: []int32{3}}}}},
		{"replica both adding and removing", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 1, Replicas: []int32{1, 2}, AddingReplicas: []int32{2}, RemovingReplicas: []int32{2}}}}},
		{"adding replica twice", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 1, Replicas: []int32{1, 2}, AddingReplicas: []int32{2, 2}}}}},
		{"every replica removed", []Record{&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 1, Replicas: []int32{1, 2}, RemovingReplicas: []int32{1, 2}}}}},
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

// A snapshot (SnapshotRecords, encoded and decoded) replayed on an empty
// image equals the image built by full replay, log position included, and
// a snapshot plus the tail equals full replay of everything. Batch i is
// applied at offset 10*(i+1), as the FSM applies Raft entries.
func TestSnapshotPlusTailEqualsFullReplay(t *testing.T) {
	history := [][]Record{
		{&ClusterIDRecord{ID: "c"}, &RegisterBrokerRecord{Broker: Broker{NodeID: 1, Rack: strPtr("r"), BrokerEpoch: 1, Fenced: true}}},
		createTopicRecords("orders", ordersID, 3, map[string]string{"cleanup.policy": "compact"}),
		{&RegisterBrokerRecord{Broker: Broker{NodeID: 2, BrokerEpoch: 21, IncarnationID: [16]byte{2}}}},
		{&BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 1, Fenced: UnfenceBroker}},
		createTopicRecords("payments", paymentsID, 1, nil),
		{&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Key: "k", Value: strPtr("v")}},
		{&RemoveTopicRecord{TopicID: ordersID}},
		{&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "payments", Key: "retention.ms", Value: strPtr("1")}},
		{&ProducerIDsRecord{BrokerID: 1, NextProducerID: 1000}},
		{&PartitionRecord{TopicID: paymentsID, Partition: Partition{Index: 0, Replicas: []int32{1}, ISR: []int32{}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 1}}},
		{&BrokerRegistrationChangeRecord{BrokerID: 2, BrokerEpoch: 21, InControlledShutdown: ShutdownInControlledShutdown}},
		{&ProducerIDsRecord{BrokerID: 1, NextProducerID: 2000}},
		// A reassignment of payments-0 from [1] to [2] in progress.
		{&PartitionRecord{TopicID: paymentsID, Partition: Partition{Index: 0, Replicas: []int32{2, 1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2,
			AddingReplicas: []int32{2}, RemovingReplicas: []int32{1}}}},
	}
	offsetOf := func(i int) int64 { return int64(10 * (i + 1)) }
	full := NewImage()
	for i, batch := range history {
		full = mustApplyAt(t, full, offsetOf(i), batch...)
	}
	for cut := 0; cut <= len(history); cut++ {
		prefix := NewImage()
		for i, batch := range history[:cut] {
			prefix = mustApplyAt(t, prefix, offsetOf(i), batch...)
		}
		restored, err := DecodeBatch(EncodeBatch(prefix.SnapshotRecords()))
		if err != nil {
			t.Fatalf("decode snapshot: %v", err)
		}
		replayed := mustApply(t, NewImage(), restored...)
		if !reflect.DeepEqual(replayed, prefix) {
			t.Fatalf("cut %d: restored snapshot differs from the image it was taken of:\n got %+v\nwant %+v", cut, replayed, prefix)
		}
		for i, batch := range history[cut:] {
			replayed = mustApplyAt(t, replayed, offsetOf(cut+i), batch...)
		}
		if !reflect.DeepEqual(replayed, full) {
			t.Fatalf("cut %d: snapshot+tail differs from full replay:\n got %+v\nwant %+v", cut, replayed, full)
		}
		if !bytes.Equal(EncodeBatch(replayed.SnapshotRecords()), EncodeBatch(full.SnapshotRecords())) {
			t.Fatalf("cut %d: snapshot bytes differ", cut)
		}
	}
	if full.Offset() != offsetOf(len(history)-1) {
		t.Fatalf("Offset = %d, want %d", full.Offset(), offsetOf(len(history)-1))
	}
	if got := full.Broker(2).RegisteredAt; got != offsetOf(2) {
		t.Fatalf("broker 2 RegisteredAt = %d, want the offset of its batch %d", got, offsetOf(2))
	}
}

func mustApplyAt(t *testing.T, img *Image, offset int64, records ...Record) *Image {
	t.Helper()
	next, err := img.ApplyAt(records, offset)
	if err != nil {
		t.Fatalf("ApplyAt(%d): %v", offset, err)
	}
	return next
}

// Records is the image's content without its log position: images built
// at different offsets encode alike, and SnapshotRecords differs only by
// the position.
func TestRecordsLeaveOutTheLogPosition(t *testing.T) {
	batch := []Record{&ClusterIDRecord{ID: "c"}, &RegisterBrokerRecord{Broker: Broker{NodeID: 1, BrokerEpoch: 4}}}
	early := mustApplyAt(t, NewImage(), 4, batch...)
	late := mustApplyAt(t, NewImage(), 900, batch...)
	if !bytes.Equal(EncodeBatch(early.Records()), EncodeBatch(late.Records())) {
		t.Fatalf("Records depend on the offset")
	}
	records := late.SnapshotRecords()
	if first, ok := records[0].(*SnapshotOffsetRecord); !ok || first.Offset != 900 {
		t.Fatalf("first snapshot record = %#v, want SnapshotOffset 900", records[0])
	}
	if len(NewImage().SnapshotRecords()) != 0 {
		t.Fatalf("empty image has snapshot records")
	}
}

// ApplyAt moves Offset forward only; brokers remember the offset of the
// batch that registered them; an empty batch still moves the offset.
func TestApplyAtOffsets(t *testing.T) {
	img := mustApplyAt(t, NewImage(), 5, &RegisterBrokerRecord{Broker: Broker{NodeID: 1}})
	if img.Offset() != 5 || img.Broker(1).RegisteredAt != 5 {
		t.Fatalf("offset %d, RegisteredAt %d, want 5 and 5", img.Offset(), img.Broker(1).RegisteredAt)
	}
	img = mustApplyAt(t, img, 9)
	if img.Offset() != 9 || img.Broker(1).RegisteredAt != 5 {
		t.Fatalf("empty batch: offset %d, RegisteredAt %d", img.Offset(), img.Broker(1).RegisteredAt)
	}
	if same := mustApply(t, img); same != img {
		t.Fatalf("Apply of nothing made a new image")
	}
	img = mustApply(t, img, &RegisterBrokerRecord{Broker: Broker{NodeID: 2}})
	if img.Offset() != 9 || img.Broker(2).RegisteredAt != 9 {
		t.Fatalf("Apply keeps the offset: %d, RegisteredAt %d", img.Offset(), img.Broker(2).RegisteredAt)
	}
	if next, err := img.ApplyAt([]Record{&RegisterBrokerRecord{Broker: Broker{NodeID: 3}}}, 8); !errors.Is(err, ErrInvalidRecord) || next != img {
		t.Fatalf("offset going back: err = %v", err)
	}
}

// Kafka's replayRegistrationChange: the registration must exist and carry
// the record's epoch; fencing and controlled shutdown change independently.
func TestBrokerRegistrationChange(t *testing.T) {
	base := mustApplyAt(t, NewImage(), 3, &RegisterBrokerRecord{Broker: Broker{NodeID: 1, BrokerEpoch: 3, Fenced: true}})
	unfenced := mustApply(t, base, &BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 3, Fenced: UnfenceBroker})
	if b := unfenced.Broker(1); b.Fenced || !b.Active() || b.RegisteredAt != 3 {
		t.Fatalf("after unfence: %+v", b)
	}
	if !base.Broker(1).Fenced {
		t.Fatalf("the change modified the previous image")
	}
	shutting := mustApply(t, unfenced, &BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 3, InControlledShutdown: ShutdownInControlledShutdown})
	if b := shutting.Broker(1); b.Fenced || !b.InControlledShutdown || b.Active() {
		t.Fatalf("after controlled shutdown: %+v", b)
	}
	fenced := mustApply(t, shutting, &BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 3, Fenced: FenceBroker})
	if b := fenced.Broker(1); !b.Fenced || !b.InControlledShutdown {
		t.Fatalf("after fence: %+v", b)
	}
	reregistered := mustApplyAt(t, fenced, 8, &RegisterBrokerRecord{Broker: Broker{NodeID: 1, BrokerEpoch: 8, Fenced: true}})
	if b := reregistered.Broker(1); b.InControlledShutdown || b.RegisteredAt != 8 {
		t.Fatalf("a new registration replaces the state: %+v", b)
	}

	for name, r := range map[string]*BrokerRegistrationChangeRecord{
		"unregistered broker": {BrokerID: 2, BrokerEpoch: 3, Fenced: FenceBroker},
		"older epoch":         {BrokerID: 1, BrokerEpoch: 2, Fenced: UnfenceBroker},
		"unknown fencing":     {BrokerID: 1, BrokerEpoch: 3, Fenced: 2},
		"unknown shutdown":    {BrokerID: 1, BrokerEpoch: 3, InControlledShutdown: -1},
	} {
		if _, err := base.Apply([]Record{r}); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: err = %v, want ErrInvalidRecord", name, err)
		}
	}
}

// A change to an existing partition must grow the partition epoch and keep
// or grow the leader epoch (the contract's replay rule); a new partition
// may start at any epochs.
func TestPartitionChangeEpochRules(t *testing.T) {
	base := mustApply(t, NewImage(), &TopicRecord{Name: "orders", ID: ordersID},
		&PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7}})
	change := func(leaderEpoch, partitionEpoch int32) *PartitionRecord {
		return &PartitionRecord{TopicID: ordersID, Partition: Partition{Index: 0, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1,
			LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch}}
	}
	tests := []struct {
		name                        string
		leaderEpoch, partitionEpoch int32
		ok                          bool
	}{
		{"ISR change", 4, 8, true},
		{"leader change", 5, 8, true},
		{"epochs jump", 9, 20, true},
		{"same partition epoch", 4, 7, false},
		{"older partition epoch", 5, 6, false},
		{"older leader epoch", 3, 8, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := base.Apply([]Record{change(tt.leaderEpoch, tt.partitionEpoch)})
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	// Two changes to one partition in a batch: each against the one before.
	if _, err := base.Apply([]Record{change(4, 8), change(4, 8)}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("second change with the same epoch: err = %v", err)
	}
	img := mustApply(t, base, change(4, 8), change(5, 9))
	if p := img.TopicByName("orders").Partition(0); p.LeaderEpoch != 5 || p.PartitionEpoch != 9 {
		t.Fatalf("partition = %+v", p)
	}
}

// The snapshot offset record may only open a snapshot.
func TestSnapshotOffsetRecordOnlyOpensASnapshot(t *testing.T) {
	img := mustApply(t, NewImage(), &SnapshotOffsetRecord{Offset: 40}, &RegisterBrokerRecord{Broker: Broker{NodeID: 1}})
	if img.Offset() != 40 || img.Broker(1).RegisteredAt != 40 {
		t.Fatalf("offset %d, RegisteredAt %d, want 40", img.Offset(), img.Broker(1).RegisteredAt)
	}
	if _, err := img.ApplyAt([]Record{&SnapshotOffsetRecord{Offset: 50}}, 41); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("onto a non-empty image: err = %v", err)
	}
	if _, err := NewImage().Apply([]Record{&ClusterIDRecord{ID: "c"}, &SnapshotOffsetRecord{Offset: 50}}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("not first: err = %v", err)
	}
	if _, err := NewImage().Apply([]Record{&RegisterBrokerRecord{Broker: Broker{NodeID: 1, RegisteredAt: 3}}}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("registration in the future: err = %v", err)
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
