package metadata

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrInvalidRecord marks a record that cannot be replayed against the image
// (a partition of an unknown topic, a second topic with the same name, ...).
// Records come from the controller, which checks all of this first, so the
// error means a bug or a log written by something else. Test with errors.Is.
var ErrInvalidRecord = errors.New("invalid metadata record")

// Apply replays records in order and returns the resulting image. The batch
// is atomic: if any record is invalid, Apply returns the receiver unchanged
// and an error wrapping ErrInvalidRecord, so every replica that replays the
// same batch ends with the same image either way.
//
// Apply never modifies the receiver or anything it shares; it copies the maps
// and topics it changes. The records' slices are copied too, so the caller
// may reuse them afterwards.
//
// Apply keeps the image's Offset; ApplyAt is Apply for a batch read from
// the log at a known offset.
func (img *Image) Apply(records []Record) (*Image, error) {
	return img.ApplyAt(records, img.offset)
}

// ApplyAt is Apply for the batch at log offset offset (the Raft index of its
// entry): the new image's Offset is offset, and brokers the batch registers
// remember it as their RegisteredAt. Offsets only grow, so an offset below
// the image's is refused (ErrInvalidRecord) like an invalid record.
func (img *Image) ApplyAt(records []Record, offset int64) (*Image, error) {
	if offset < img.offset {
		return img, fmt.Errorf("%w: batch offset %d is below the image offset %d", ErrInvalidRecord, offset, img.offset)
	}
	if len(records) == 0 && offset == img.offset {
		return img, nil
	}
	b := builder{next: *img, baseOffset: img.offset}
	b.next.offset = offset
	for i, r := range records {
		b.index = i
		if err := b.apply(r); err != nil {
			return img, fmt.Errorf("replay record %d (%T): %w", i, r, err)
		}
	}
	return &b.next, nil
}

// builder accumulates one Apply. The own* flags say which maps of next were
// already copied (and so may be written); ownTopics holds the topics cloned
// during this Apply. baseOffset is the receiver's offset and index the
// position of the record being applied, for SnapshotOffsetRecord's rule.
type builder struct {
	next                 Image
	baseOffset           int64
	index                int
	ownBrokers           bool
	ownTopicMaps         bool
	ownBrokerConfigs     bool
	ownTopics            map[*Topic]bool
	ownBrokerConfigNames map[string]bool
}

func (b *builder) apply(r Record) error {
	switch r := r.(type) {
	case *ClusterIDRecord:
		return b.clusterID(r)
	case *RegisterBrokerRecord:
		return b.registerBroker(r)
	case *TopicRecord:
		return b.topic(r)
	case *PartitionRecord:
		return b.partition(r)
	case *ConfigRecord:
		return b.config(r)
	case *RemoveTopicRecord:
		return b.removeTopic(r)
	case *ProducerIDsRecord:
		return b.producerIDs(r)
	case *BrokerRegistrationChangeRecord:
		return b.brokerRegistrationChange(r)
	case *SnapshotOffsetRecord:
		return b.snapshotOffset(r)
	case nil:
		return fmt.Errorf("%w: nil record", ErrInvalidRecord)
	}
	return fmt.Errorf("%w: unsupported record type %T", ErrInvalidRecord, r)
}

func (b *builder) clusterID(r *ClusterIDRecord) error {
	if r.ID == "" {
		return fmt.Errorf("%w: empty cluster ID", ErrInvalidRecord)
	}
	if b.next.clusterID != "" && b.next.clusterID != r.ID {
		return fmt.Errorf("%w: cluster ID is already %q, record says %q", ErrInvalidRecord, b.next.clusterID, r.ID)
	}
	b.next.clusterID = r.ID
	return nil
}

// registerBroker replaces the node's registration. RegisteredAt is the
// batch's offset unless the record carries one (a snapshot), which cannot
// lie in the future.
func (b *builder) registerBroker(r *RegisterBrokerRecord) error {
	if r.NodeID < 0 {
		return fmt.Errorf("%w: negative node ID %d", ErrInvalidRecord, r.NodeID)
	}
	if r.RegisteredAt < 0 || r.RegisteredAt > b.next.offset {
		return fmt.Errorf("%w: broker %d registered at offset %d, outside [0, %d]", ErrInvalidRecord, r.NodeID, r.RegisteredAt, b.next.offset)
	}
	b.ownBrokersNow()
	broker := r.Broker
	if broker.RegisteredAt == 0 {
		broker.RegisteredAt = b.next.offset
	}
	broker.Endpoints = nil
	if len(r.Endpoints) > 0 {
		broker.Endpoints = slices.Clone(r.Endpoints)
	}
	if r.Rack != nil {
		rack := *r.Rack
		broker.Rack = &rack
	}
	b.next.brokers[r.NodeID] = &broker
	return nil
}

// brokerRegistrationChange fences, unfences or marks in controlled shutdown
// the registration with the record's epoch (Kafka's
// ClusterControlManager.replayRegistrationChange).
func (b *builder) brokerRegistrationChange(r *BrokerRegistrationChangeRecord) error {
	current := b.next.brokers[r.BrokerID]
	switch {
	case current == nil:
		return fmt.Errorf("%w: registration change for unregistered broker %d", ErrInvalidRecord, r.BrokerID)
	case current.BrokerEpoch != r.BrokerEpoch:
		return fmt.Errorf("%w: registration change for broker %d epoch %d, registered epoch is %d", ErrInvalidRecord, r.BrokerID, r.BrokerEpoch, current.BrokerEpoch)
	case r.Fenced < UnfenceBroker || r.Fenced > FenceBroker:
		return fmt.Errorf("%w: fencing change %d for broker %d", ErrInvalidRecord, r.Fenced, r.BrokerID)
	case r.InControlledShutdown < ShutdownUnchanged || r.InControlledShutdown > ShutdownInControlledShutdown:
		return fmt.Errorf("%w: controlled shutdown change %d for broker %d", ErrInvalidRecord, r.InControlledShutdown, r.BrokerID)
	}
	b.ownBrokersNow()
	next := *current
	switch r.Fenced {
	case FenceBroker:
		next.Fenced = true
	case UnfenceBroker:
		next.Fenced = false
	}
	if r.InControlledShutdown == ShutdownInControlledShutdown {
		next.InControlledShutdown = true
	}
	b.next.brokers[r.BrokerID] = &next
	return nil
}

// snapshotOffset gives a snapshot's image its offset: only as the first
// record, replayed onto an image at offset 0 (an empty one, in practice).
func (b *builder) snapshotOffset(r *SnapshotOffsetRecord) error {
	if b.index != 0 || b.baseOffset != 0 {
		return fmt.Errorf("%w: snapshot offset record outside the start of a snapshot", ErrInvalidRecord)
	}
	if r.Offset < b.next.offset {
		return fmt.Errorf("%w: snapshot offset %d is below the batch offset %d", ErrInvalidRecord, r.Offset, b.next.offset)
	}
	b.next.offset = r.Offset
	return nil
}

// ownBrokersNow makes the broker map private to this Apply.
func (b *builder) ownBrokersNow() {
	if b.ownBrokers {
		return
	}
	b.next.brokers = maps.Clone(b.next.brokers)
	if b.next.brokers == nil {
		b.next.brokers = make(map[int32]*Broker)
	}
	b.ownBrokers = true
}

func (b *builder) topic(r *TopicRecord) error {
	if r.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalidRecord)
	}
	if r.ID == ([16]byte{}) {
		return fmt.Errorf("%w: topic %q has the zero ID", ErrInvalidRecord, r.Name)
	}
	if b.next.topicsByName[r.Name] != nil {
		return fmt.Errorf("%w: topic %q already exists", ErrInvalidRecord, r.Name)
	}
	if b.next.topicsByID[r.ID] != nil {
		return fmt.Errorf("%w: topic ID of %q already in use", ErrInvalidRecord, r.Name)
	}
	b.ownTopicMapsNow()
	t := &Topic{Name: r.Name, ID: r.ID}
	b.ownTopics[t] = true
	b.next.topicsByName[t.Name] = t
	b.next.topicsByID[t.ID] = t
	return nil
}

func (b *builder) partition(r *PartitionRecord) error {
	t := b.next.topicsByID[r.TopicID]
	if t == nil {
		return fmt.Errorf("%w: partition %d of unknown topic ID", ErrInvalidRecord, r.Index)
	}
	if r.Index < 0 || int(r.Index) > len(t.Partitions) {
		return fmt.Errorf("%w: partition %d of %q is not in [0, %d]", ErrInvalidRecord, r.Index, t.Name, len(t.Partitions))
	}
	if len(r.Replicas) == 0 {
		return fmt.Errorf("%w: partition %d of %q has no replicas", ErrInvalidRecord, r.Index, t.Name)
	}
	if r.LeaderRecoveryState != LeaderRecovered && r.LeaderRecoveryState != LeaderRecovering {
		return fmt.Errorf("%w: partition %d of %q has leader recovery state %d", ErrInvalidRecord, r.Index, t.Name, r.LeaderRecoveryState)
	}
	if err := checkReassignment(t, &r.Partition); err != nil {
		return err
	}
	if int(r.Index) < len(t.Partitions) {
		if err := checkPartitionChange(t, &t.Partitions[r.Index], &r.Partition); err != nil {
			return err
		}
	}
	t = b.ownTopic(t)
	p := r.Partition
	p.Replicas = cloneInt32s(r.Replicas)
	p.ISR = cloneInt32s(r.ISR)
	p.AddingReplicas = cloneInt32s(r.AddingReplicas)
	p.RemovingReplicas = cloneInt32s(r.RemovingReplicas)
	if int(p.Index) == len(t.Partitions) {
		t.Partitions = append(t.Partitions, p)
		return nil
	}
	t.Partitions[p.Index] = p
	return nil
}

// checkReassignment enforces the shape of a reassignment in progress:
// adding and removing replicas are replicas, each named once, and no
// replica is both (Kafka's PartitionRegistration keeps the same
// invariants), and at least one replica is not being removed.
func checkReassignment(t *Topic, p *Partition) error {
	seen := make(map[int32]bool, len(p.AddingReplicas)+len(p.RemovingReplicas))
	for _, list := range [][]int32{p.AddingReplicas, p.RemovingReplicas} {
		for _, r := range list {
			if seen[r] || !slices.Contains(p.Replicas, r) {
				return fmt.Errorf("%w: partition %d of %q: adding replicas %v and removing replicas %v must be distinct replicas of %v",
					ErrInvalidRecord, p.Index, t.Name, p.AddingReplicas, p.RemovingReplicas, p.Replicas)
			}
			seen[r] = true
		}
	}
	if len(p.RemovingReplicas) >= len(p.Replicas) {
		return fmt.Errorf("%w: partition %d of %q: every replica of %v is being removed", ErrInvalidRecord, p.Index, t.Name, p.Replicas)
	}
	return nil
}

// checkPartitionChange enforces the epoch rules of a change to an existing
// partition: the partition epoch grows with every change and the leader
// epoch never goes back, so a change planned against an older state than
// the current one cannot be replayed over it.
func checkPartitionChange(t *Topic, current, next *Partition) error {
	if next.PartitionEpoch <= current.PartitionEpoch {
		return fmt.Errorf("%w: partition %d of %q: partition epoch %d does not grow from %d",
			ErrInvalidRecord, next.Index, t.Name, next.PartitionEpoch, current.PartitionEpoch)
	}
	if next.LeaderEpoch < current.LeaderEpoch {
		return fmt.Errorf("%w: partition %d of %q: leader epoch %d is below %d",
			ErrInvalidRecord, next.Index, t.Name, next.LeaderEpoch, current.LeaderEpoch)
	}
	return nil
}

func (b *builder) config(r *ConfigRecord) error {
	if r.Key == "" {
		return fmt.Errorf("%w: empty config key for %s %q", ErrInvalidRecord, r.ResourceType, r.ResourceName)
	}
	switch r.ResourceType {
	case ConfigResourceTopic:
		return b.topicConfig(r)
	case ConfigResourceBroker:
		b.brokerConfig(r)
		return nil
	}
	return fmt.Errorf("%w: config resource type %s", ErrInvalidRecord, r.ResourceType)
}

func (b *builder) topicConfig(r *ConfigRecord) error {
	t := b.next.topicsByName[r.ResourceName]
	if t == nil {
		return fmt.Errorf("%w: config %q of unknown topic %q", ErrInvalidRecord, r.Key, r.ResourceName)
	}
	t = b.ownTopic(t)
	t.Configs = setConfig(t.Configs, r.Key, r.Value)
	return nil
}

func (b *builder) brokerConfig(r *ConfigRecord) {
	if !b.ownBrokerConfigs {
		b.next.brokerConfigs = maps.Clone(b.next.brokerConfigs)
		if b.next.brokerConfigs == nil {
			b.next.brokerConfigs = make(map[string]map[string]string)
		}
		b.ownBrokerConfigNames = make(map[string]bool)
		b.ownBrokerConfigs = true
	}
	configs := b.next.brokerConfigs[r.ResourceName]
	if !b.ownBrokerConfigNames[r.ResourceName] {
		configs = maps.Clone(configs)
		b.ownBrokerConfigNames[r.ResourceName] = true
	}
	configs = setConfig(configs, r.Key, r.Value)
	if len(configs) == 0 {
		delete(b.next.brokerConfigs, r.ResourceName)
		delete(b.ownBrokerConfigNames, r.ResourceName)
		return
	}
	b.next.brokerConfigs[r.ResourceName] = configs
}

func (b *builder) removeTopic(r *RemoveTopicRecord) error {
	t := b.next.topicsByID[r.TopicID]
	if t == nil {
		return fmt.Errorf("%w: removal of unknown topic ID", ErrInvalidRecord)
	}
	b.ownTopicMapsNow()
	delete(b.next.topicsByID, t.ID)
	delete(b.next.topicsByName, t.Name)
	return nil
}

// producerIDs moves the producer-ID high-water mark: blocks never overlap,
// so it must grow (Kafka's ProducerIdControlManager refuses the same).
func (b *builder) producerIDs(r *ProducerIDsRecord) error {
	if r.BrokerID < -1 {
		return fmt.Errorf("%w: producer IDs for broker %d", ErrInvalidRecord, r.BrokerID)
	}
	if r.NextProducerID <= b.next.nextProducerID {
		return fmt.Errorf("%w: next producer ID %d is not above the current %d", ErrInvalidRecord, r.NextProducerID, b.next.nextProducerID)
	}
	b.next.nextProducerID = r.NextProducerID
	return nil
}

// ownTopicMapsNow makes both topic maps private to this Apply.
func (b *builder) ownTopicMapsNow() {
	if b.ownTopicMaps {
		return
	}
	b.next.topicsByName = maps.Clone(b.next.topicsByName)
	b.next.topicsByID = maps.Clone(b.next.topicsByID)
	if b.next.topicsByName == nil {
		b.next.topicsByName = make(map[string]*Topic)
		b.next.topicsByID = make(map[[16]byte]*Topic)
	}
	b.ownTopics = make(map[*Topic]bool)
	b.ownTopicMaps = true
}

// ownTopic returns a copy of t private to this Apply (t itself if it was
// already copied or created here), installed in both topic maps.
func (b *builder) ownTopic(t *Topic) *Topic {
	b.ownTopicMapsNow()
	if b.ownTopics[t] {
		return t
	}
	clone := &Topic{
		Name:       t.Name,
		ID:         t.ID,
		Partitions: slices.Clone(t.Partitions),
		Configs:    maps.Clone(t.Configs),
	}
	b.ownTopics[clone] = true
	b.next.topicsByName[clone.Name] = clone
	b.next.topicsByID[clone.ID] = clone
	return clone
}

// setConfig sets key to *value in configs (which the caller owns), deleting
// it for a nil value, and returns the map (nil once empty).
func setConfig(configs map[string]string, key string, value *string) map[string]string {
	if value == nil {
		delete(configs, key)
		if len(configs) == 0 {
			return nil
		}
		return configs
	}
	if configs == nil {
		configs = make(map[string]string)
	}
	configs[key] = *value
	return configs
}

// cloneInt32s copies values, normalising empty to nil so that an image and
// its decoded snapshot compare equal.
func cloneInt32s(values []int32) []int32 {
	if len(values) == 0 {
		return nil
	}
	return slices.Clone(values)
}
