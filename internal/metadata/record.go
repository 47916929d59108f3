package metadata

import "fmt"

// RecordType identifies a record's kind in its first encoded byte. Values are
// persisted: never renumber one.
type RecordType uint8

// The record types, numbered as persisted.
const (
	RecordTypeClusterID      RecordType = 1
	RecordTypeRegisterBroker RecordType = 2
	RecordTypeTopic          RecordType = 3
	RecordTypePartition      RecordType = 4
	RecordTypeConfig         RecordType = 5
	RecordTypeRemoveTopic    RecordType = 6
	RecordTypeProducerIDs    RecordType = 7
	// RecordTypeBrokerRegistrationChange fences, unfences or marks a
	// broker in controlled shutdown (Kafka's BrokerRegistrationChangeRecord,
	// which subsumes FenceBrokerRecord and UnfenceBrokerRecord).
	RecordTypeBrokerRegistrationChange RecordType = 8
	// RecordTypeSnapshotOffset opens a snapshot with the log offset of the
	// image it holds.
	RecordTypeSnapshotOffset RecordType = 9
)

// String names the record type for logs and errors.
func (t RecordType) String() string {
	switch t {
	case RecordTypeClusterID:
		return "ClusterID"
	case RecordTypeRegisterBroker:
		return "RegisterBroker"
	case RecordTypeTopic:
		return "Topic"
	case RecordTypePartition:
		return "Partition"
	case RecordTypeConfig:
		return "Config"
	case RecordTypeRemoveTopic:
		return "RemoveTopic"
	case RecordTypeProducerIDs:
		return "ProducerIDs"
	case RecordTypeBrokerRegistrationChange:
		return "BrokerRegistrationChange"
	case RecordTypeSnapshotOffset:
		return "SnapshotOffset"
	}
	return fmt.Sprintf("RecordType(%d)", uint8(t))
}

// Record is one change to cluster metadata. The concrete types are the
// *Record structs of this package; the set is closed so that every record can
// be encoded, decoded and replayed.
type Record interface {
	// Type is the record's persisted type byte.
	Type() RecordType
	// appendBody appends the body encoding, in the version writeVersion
	// gives for the type, to dst.
	appendBody(dst []byte) []byte
}

// ClusterIDRecord fixes the cluster's ID, written once when the metadata log
// is bootstrapped. Kafka clients see it in Metadata responses.
type ClusterIDRecord struct {
	ID string
}

// Endpoint is one listener a broker accepts connections on, as advertised to
// clients in Metadata responses.
type Endpoint struct {
	// Listener is the listener name (e.g. "PLAINTEXT").
	Listener string
	// Host is the advertised host name or address.
	Host string
	// Port is the advertised TCP port.
	Port int32
	// SecurityProtocol is Kafka's security protocol ID (0 PLAINTEXT, 1 SSL,
	// 2 SASL_PLAINTEXT, 3 SASL_SSL).
	SecurityProtocol int16
}

// Broker is a registered broker as the image holds it.
type Broker struct {
	// NodeID is the broker's node.id.
	NodeID int32
	// Endpoints are the listeners the broker advertises.
	Endpoints []Endpoint
	// Rack is the broker's broker.rack, nil when unset.
	Rack *string
	// IncarnationID is the random ID the broker process chose at start-up:
	// a new one means the broker restarted. Zero in registrations written
	// before version 1 of the record.
	IncarnationID [16]byte
	// BrokerEpoch identifies this registration; the broker quotes it in
	// heartbeats and AlterPartition, and a new registration always gets a
	// larger one (Kafka uses the registration's log offset; Sluice's
	// controller uses the image offset it planned against plus one).
	BrokerEpoch int64
	// Fenced brokers may not lead or be in an ISR. A new registration is
	// fenced until the broker has caught up with the metadata log.
	// Registrations written before version 1 are unfenced.
	Fenced bool
	// InControlledShutdown is set when the broker asked to shut down and
	// the controller is moving its leaderships away.
	InControlledShutdown bool
	// RegisteredAt is the log offset (Image.Offset) of the batch that
	// applied this registration: the broker is caught up, and may be
	// unfenced, once its own image has reached it (Kafka's
	// registerBrokerRecordOffsets). Replay fills it in; a live
	// RegisterBrokerRecord leaves it 0. Image.SnapshotRecords carries it so
	// that a restored image equals the replayed one; Image.Records clears it.
	RegisteredAt int64
}

// Active reports whether the broker may lead partitions, join ISRs and
// receive new replicas: unfenced and not in controlled shutdown (Kafka's
// ClusterControlManager.isActive).
func (b *Broker) Active() bool { return !b.Fenced && !b.InControlledShutdown }

// RegisterBrokerRecord registers (or re-registers) a broker: the latest
// registration for a node ID replaces the previous one, fencing state
// included.
type RegisterBrokerRecord struct {
	Broker
}

// FenceChange is how a BrokerRegistrationChangeRecord changes the fenced
// flag; the values are Kafka's BrokerRegistrationFencingChange.
type FenceChange int8

// The fencing changes.
const (
	FenceUnchanged FenceChange = 0
	FenceBroker    FenceChange = 1
	UnfenceBroker  FenceChange = -1
)

// ShutdownChange is how a BrokerRegistrationChangeRecord changes the
// in-controlled-shutdown flag; the values are Kafka's
// BrokerRegistrationInControlledShutdownChange (a registration leaves
// controlled shutdown only by being replaced).
type ShutdownChange int8

// The controlled shutdown changes.
const (
	ShutdownUnchanged            ShutdownChange = 0
	ShutdownInControlledShutdown ShutdownChange = 1
)

// BrokerRegistrationChangeRecord changes the state of one registration
// (Kafka's BrokerRegistrationChangeRecord; FenceBrokerRecord and
// UnfenceBrokerRecord are its special cases). It applies only to the
// registration with BrokerEpoch, so a change planned for an older
// incarnation fails replay instead of touching the new one.
type BrokerRegistrationChangeRecord struct {
	BrokerID             int32
	BrokerEpoch          int64
	Fenced               FenceChange
	InControlledShutdown ShutdownChange
}

// SnapshotOffsetRecord is the first record of a snapshot
// (Image.SnapshotRecords): the log offset of the image the snapshot holds,
// which the restored image takes as its Offset. It is refused anywhere else.
type SnapshotOffsetRecord struct {
	Offset int64
}

// TopicRecord creates a topic. Its partitions and config overrides follow as
// PartitionRecords and ConfigRecords, usually in the same batch.
type TopicRecord struct {
	Name string
	ID   [16]byte
}

// LeaderRecoveryState says whether a partition's leader holds every
// committed record (Kafka's LeaderRecoveryState, KIP-704).
type LeaderRecoveryState int8

// The leader recovery states.
const (
	// LeaderRecovered: the leader was elected from the ISR.
	LeaderRecovered LeaderRecoveryState = 0
	// LeaderRecovering: the leader was elected uncleanly, from outside the
	// ISR, and has not yet told the controller (AlterPartition) that it
	// has recovered; meanwhile its ISR may not grow.
	LeaderRecovering LeaderRecoveryState = 1
)

// Partition is one partition's replica assignment and leadership.
type Partition struct {
	// Index is the partition number within its topic, 0-based and dense.
	Index int32
	// Replicas are the assigned brokers, preferred leader first.
	Replicas []int32
	// ISR is the in-sync replica set.
	ISR []int32
	// Leader is the leading broker, -1 when the partition has none.
	Leader int32
	// LeaderEpoch increases with every leader change.
	LeaderEpoch int32
	// PartitionEpoch increases with every change to this partition.
	PartitionEpoch int32
	// LeaderRecoveryState is LeaderRecovering after an unclean election
	// until the leader reports it has recovered.
	LeaderRecoveryState LeaderRecoveryState
	// AddingReplicas and RemovingReplicas describe a reassignment in
	// progress (Kafka's PartitionRegistration.addingReplicas and
	// removingReplicas, KIP-455): Replicas is then the target replicas
	// followed by RemovingReplicas, AddingReplicas are the targets that
	// were not replicas when it started, and once every target replica is
	// in the ISR the controller drops RemovingReplicas from Replicas and
	// ISR and clears both lists. Both are subsets of Replicas, disjoint,
	// and empty (nil) when no reassignment is in progress.
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Reassigning reports whether a reassignment is in progress (Kafka's
// PartitionRegistration.isReassigning).
func (p *Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas are the replicas the partition keeps once its
// reassignment completes: Replicas without RemovingReplicas (Replicas
// itself when none is in progress). The slice is new.
func (p *Partition) TargetReplicas() []int32 {
	target := make([]int32, 0, len(p.Replicas))
	for _, r := range p.Replicas {
		if !containsInt32(p.RemovingReplicas, r) {
			target = append(target, r)
		}
	}
	return target
}

// OriginalReplicas are the replicas the partition had before its
// reassignment started, what cancelling it returns to: Replicas without
// AddingReplicas (Kafka's PartitionReassignmentReplicas.originalReplicas).
// The slice is new.
func (p *Partition) OriginalReplicas() []int32 {
	original := make([]int32, 0, len(p.Replicas))
	for _, r := range p.Replicas {
		if !containsInt32(p.AddingReplicas, r) {
			original = append(original, r)
		}
	}
	return original
}

func containsInt32(values []int32, v int32) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

// PartitionRecord creates a partition or replaces its whole state. Index may
// be the topic's current partition count (a new partition) or an existing
// index (a change). A change must increase PartitionEpoch and may not
// decrease LeaderEpoch: replay refuses it otherwise, so a change planned
// against a stale state can never overwrite a newer one.
type PartitionRecord struct {
	TopicID [16]byte
	Partition
}

// ConfigResourceType says what a ConfigRecord configures. The values are
// Kafka's ConfigResource type IDs.
type ConfigResourceType int8

// The config resource types the metadata log stores.
const (
	ConfigResourceTopic  ConfigResourceType = 2
	ConfigResourceBroker ConfigResourceType = 4
)

// String names the resource type as Kafka does.
func (t ConfigResourceType) String() string {
	switch t {
	case ConfigResourceTopic:
		return "TOPIC"
	case ConfigResourceBroker:
		return "BROKER"
	}
	return fmt.Sprintf("ConfigResourceType(%d)", int8(t))
}

// ConfigRecord sets or deletes one dynamic config override.
type ConfigRecord struct {
	// ResourceType is topic or broker.
	ResourceType ConfigResourceType
	// ResourceName is the topic name, or for brokers the node ID in decimal
	// ("" for the cluster-wide broker default).
	ResourceName string
	// Key is the Kafka config name (e.g. "retention.ms").
	Key string
	// Value is the new value; nil deletes the override.
	Value *string
}

// RemoveTopicRecord deletes a topic with its partitions and config overrides.
type RemoveTopicRecord struct {
	TopicID [16]byte
}

// ProducerIDsRecord hands a block of producer IDs to a broker (Kafka's
// ProducerIdsRecord): the IDs from the previous NextProducerID up to, not
// including, this NextProducerID belong to BrokerID, which gives them to
// idempotent and transactional producers. Committing the block before any
// ID of it is used means an ID is never given out twice, across restarts
// and controller failovers.
type ProducerIDsRecord struct {
	// BrokerID is the broker the block went to, -1 in a snapshot (which
	// keeps only where the next block starts).
	BrokerID int32
	// NextProducerID is the first ID of the next block; it only grows.
	NextProducerID int64
}

// Type implements Record.
func (*ClusterIDRecord) Type() RecordType { return RecordTypeClusterID }

// Type implements Record.
func (*RegisterBrokerRecord) Type() RecordType { return RecordTypeRegisterBroker }

// Type implements Record.
func (*TopicRecord) Type() RecordType { return RecordTypeTopic }

// Type implements Record.
func (*PartitionRecord) Type() RecordType { return RecordTypePartition }

// Type implements Record.
func (*ConfigRecord) Type() RecordType { return RecordTypeConfig }

// Type implements Record.
func (*RemoveTopicRecord) Type() RecordType { return RecordTypeRemoveTopic }

// Type implements Record.
func (*ProducerIDsRecord) Type() RecordType { return RecordTypeProducerIDs }

// Type implements Record.
func (*BrokerRegistrationChangeRecord) Type() RecordType {
	return RecordTypeBrokerRegistrationChange
}

// Type implements Record.
func (*SnapshotOffsetRecord) Type() RecordType { return RecordTypeSnapshotOffset }
