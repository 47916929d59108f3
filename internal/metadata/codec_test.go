package metadata

import (
	"errors"
	"reflect"
	"testing"
)

func strPtr(s string) *string { return &s }

// sampleRecords has one record of every type with every field set.
func sampleRecords() []Record {
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	return []Record{
		&ClusterIDRecord{ID: "MkU3OEVBNTcwNTJENDM2Qk"},
		&RegisterBrokerRecord{Broker: Broker{
			NodeID: 7,
			Endpoints: []Endpoint{
				{Listener: "PLAINTEXT", Host: "localhost", Port: 9092, SecurityProtocol: 0},
				{Listener: "SSL", Host: "example.org", Port: 9093, SecurityProtocol: 1},
			},
			Rack:                 strPtr("rack-a"),
			IncarnationID:        [16]byte{0xfe, 15: 0x01},
			BrokerEpoch:          1 << 33,
			Fenced:               true,
			InControlledShutdown: true,
			RegisteredAt:         77,
		}},
		&RegisterBrokerRecord{Broker: Broker{NodeID: 8}},
		&TopicRecord{Name: "orders", ID: id},
		&PartitionRecord{TopicID: id, Partition: Partition{
			Index: 0, Replicas: []int32{7, 8}, ISR: []int32{7}, Leader: 7, LeaderEpoch: 3, PartitionEpoch: 9,
		}},
		&PartitionRecord{TopicID: id, Partition: Partition{Index: 1, Replicas: []int32{8}, Leader: -1, LeaderRecoveryState: LeaderRecovering}},
		&PartitionRecord{TopicID: id, Partition: Partition{Index: 2, Replicas: []int32{9, 7, 8}, ISR: []int32{7, 8}, Leader: 7,
			AddingReplicas: []int32{9}, RemovingReplicas: []int32{8}}},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "orders", Key: "retention.ms", Value: strPtr("1000")},
		&ConfigRecord{ResourceType: ConfigResourceTopic, ResourceName: "orders", Key: "retention.ms"},
		&ConfigRecord{ResourceType: ConfigResourceBroker, ResourceName: "", Key: "x", Value: strPtr("")},
		&RemoveTopicRecord{TopicID: id},
		&ProducerIDsRecord{BrokerID: 7, NextProducerID: 1 << 40},
		&ProducerIDsRecord{BrokerID: -1, NextProducerID: 1000},
		&BrokerRegistrationChangeRecord{BrokerID: 7, BrokerEpoch: 1 << 33, Fenced: FenceBroker},
		&BrokerRegistrationChangeRecord{BrokerID: 8, BrokerEpoch: 3, Fenced: UnfenceBroker},
		&BrokerRegistrationChangeRecord{BrokerID: 8, BrokerEpoch: 3, InControlledShutdown: ShutdownInControlledShutdown},
		&SnapshotOffsetRecord{Offset: 123456},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		t.Run(r.Type().String(), func(t *testing.T) {
			encoded := AppendRecord(nil, r)
			if encoded[0] != byte(r.Type()) || encoded[1] != writeVersion(r.Type()) {
				t.Fatalf("header = %x, want type %d version %d", encoded[:2], r.Type(), writeVersion(r.Type()))
			}
			decoded, err := DecodeRecord(encoded)
			if err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			if !reflect.DeepEqual(decoded, r) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", decoded, r)
			}
		})
	}
}

func TestBatchRoundTrip(t *testing.T) {
	records := sampleRecords()
	decoded, err := DecodeBatch(EncodeBatch(records))
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	if !reflect.DeepEqual(decoded, records) {
		t.Fatalf("batch round trip differs:\n got %#v\nwant %#v", decoded, records)
	}
	empty, err := DecodeBatch(EncodeBatch(nil))
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty batch: %v, %d records", err, len(empty))
	}
}

// Every strict prefix of a valid batch is corrupt, and so is every batch with
// a byte appended: replay must stop, not guess.
func TestDecodeBatchRejectsTruncationAndTrailingBytes(t *testing.T) {
	data := EncodeBatch(sampleRecords())
	for n := 0; n < len(data); n++ {
		if _, err := DecodeBatch(data[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrCorrupt", n, len(data), err)
		}
	}
	if _, err := DecodeBatch(append(data, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: err = %v, want ErrCorrupt", err)
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	topic := AppendRecord(nil, &TopicRecord{Name: "a", ID: [16]byte{1}})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{200, 0}},
		{"unknown version", append([]byte{topic[0], 9}, topic[2:]...)},
		{"trailing byte", append(append([]byte{}, topic...), 0)},
		{"string longer than input", []byte{byte(RecordTypeClusterID), 0, 50, 'a'}},
		{"huge replica count", []byte{byte(RecordTypePartition), 0,
			1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"int32 out of range", []byte{byte(RecordTypeRemoveTopic) - 4, 0, 0xfe, 0xff, 0xff, 0xff, 0x3f, 0}},
		{"version above the written one", append([]byte{byte(RecordTypeRegisterBroker), 2}, AppendRecord(nil, &RegisterBrokerRecord{})[2:]...)},
		{"bool other than 0 or 1", registerBrokerWithFenced(2)},
		{"fencing change out of int8 range", []byte{byte(RecordTypeBrokerRegistrationChange), 0, 2, 2, 0x80, 0x02, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeRecord(tt.data); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

// registerBrokerWithFenced is a version-1 RegisterBroker record of node 1
// whose fenced byte is b.
func registerBrokerWithFenced(b byte) []byte {
	encoded := AppendRecord(nil, &RegisterBrokerRecord{Broker: Broker{NodeID: 1}})
	// header 2, node ID 1, endpoint count 1, null rack 1, incarnation 16,
	// epoch 1: the fenced byte follows.
	encoded[2+1+1+1+16+1] = b
	return encoded
}

// Records written before version 1 of RegisterBroker and Partition (by an
// older Sluice, so in existing metadata logs and snapshots) still decode:
// such brokers are unfenced with epoch 0, such partitions recovered.
func TestDecodeVersionZeroRecords(t *testing.T) {
	broker := []byte{byte(RecordTypeRegisterBroker), 0,
		14,                                             // node ID 7
		1,                                              // one endpoint
		9, 'P', 'L', 'A', 'I', 'N', 'T', 'E', 'X', 'T', // listener
		1, 'h', // host
		0xc8, 0x01, // port 100
		0,      // security protocol
		2, 'r', // rack "r"
	}
	got, err := DecodeRecord(broker)
	if err != nil {
		t.Fatalf("decode v0 RegisterBroker: %v", err)
	}
	want := &RegisterBrokerRecord{Broker: Broker{NodeID: 7, Rack: strPtr("r"),
		Endpoints: []Endpoint{{Listener: "PLAINTEXT", Host: "h", Port: 100}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v0 RegisterBroker:\n got %#v\nwant %#v", got, want)
	}

	partition := append([]byte{byte(RecordTypePartition), 0}, make([]byte, 16)...)
	partition = append(partition,
		2,       // index 1
		2, 2, 4, // replicas [1 2]
		1, 2, // isr [1]
		2, // leader 1
		6, // leader epoch 3
		8, // partition epoch 4
	)
	got, err = DecodeRecord(partition)
	if err != nil {
		t.Fatalf("decode v0 Partition: %v", err)
	}
	wantPartition := &PartitionRecord{Partition: Partition{Index: 1, Replicas: []int32{1, 2}, ISR: []int32{1},
		Leader: 1, LeaderEpoch: 3, PartitionEpoch: 4, LeaderRecoveryState: LeaderRecovered}}
	if !reflect.DeepEqual(got, wantPartition) {
		t.Fatalf("v0 Partition:\n got %#v\nwant %#v", got, wantPartition)
	}
}

// A version-1 Partition record (Sluice before reassignment) decodes with
// no reassignment in progress.
func TestDecodeVersionOnePartition(t *testing.T) {
	partition := append([]byte{byte(RecordTypePartition), 1}, make([]byte, 16)...)
	partition = append(partition,
		0,       // index 0
		2, 2, 4, // replicas [1 2]
		2, 2, 4, // isr [1 2]
		4, // leader 2
		2, // leader epoch 1
		6, // partition epoch 3
		2, // leader recovery state 1
	)
	got, err := DecodeRecord(partition)
	if err != nil {
		t.Fatalf("decode v1 Partition: %v", err)
	}
	want := &PartitionRecord{Partition: Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2},
		Leader: 2, LeaderEpoch: 1, PartitionEpoch: 3, LeaderRecoveryState: LeaderRecovering}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 Partition:\n got %#v\nwant %#v", got, want)
	}
	if got.(*PartitionRecord).Reassigning() {
		t.Fatal("a v1 partition is reassigning")
	}
}

func TestPartitionReassignmentViews(t *testing.T) {
	p := Partition{Replicas: []int32{2, 3, 1}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}
	if !p.Reassigning() || !reflect.DeepEqual(p.TargetReplicas(), []int32{2, 3}) || !reflect.DeepEqual(p.OriginalReplicas(), []int32{2, 1}) {
		t.Fatalf("reassigning %v, target %v, original %v", p.Reassigning(), p.TargetReplicas(), p.OriginalReplicas())
	}
	idle := Partition{Replicas: []int32{1, 2}}
	if idle.Reassigning() || !reflect.DeepEqual(idle.TargetReplicas(), []int32{1, 2}) || !reflect.DeepEqual(idle.OriginalReplicas(), []int32{1, 2}) {
		t.Fatalf("idle partition: reassigning %v, target %v, original %v", idle.Reassigning(), idle.TargetReplicas(), idle.OriginalReplicas())
	}
}

func TestDecodeBatchRejectsUnknownFormat(t *testing.T) {
	data := EncodeBatch(sampleRecords())
	data[0] = 2
	if _, err := DecodeBatch(data); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}

// FuzzDecodeBatch: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to bytes that decode to the same records.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(EncodeBatch(sampleRecords()))
	f.Add(EncodeBatch(nil))
	f.Add([]byte{1, 1, 2, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		records, err := DecodeBatch(data)
		if err != nil {
			return
		}
		again, err := DecodeBatch(EncodeBatch(records))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, records) {
			t.Fatalf("re-decode differs")
		}
	})
}
