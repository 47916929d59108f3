package metadata

import (
	"cmp"
	"maps"
	"slices"
)

// Image is the cluster metadata as of some point in the metadata log. It is
// immutable: Apply returns a new Image and leaves the receiver as it was, so
// any number of goroutines read an *Image without locks.
//
// The zero Image (and NewImage) is the empty cluster before any record.
type Image struct {
	clusterID     string
	brokers       map[int32]*Broker
	topicsByName  map[string]*Topic
	topicsByID    map[[16]byte]*Topic
	brokerConfigs map[string]map[string]string
	// nextProducerID is the first producer ID no broker has been given
	// yet (0 before the first block).
	nextProducerID int64
	// offset is the log offset of the last batch applied (see Offset).
	offset int64
}

// Topic is one topic as the image holds it. Shared between images: callers
// must not modify it, its partitions or its configs.
type Topic struct {
	// Name is the topic name.
	Name string
	// ID is the topic's UUID, fixed at creation.
	ID [16]byte
	// Partitions are indexed by partition number (Partitions[i].Index == i).
	Partitions []Partition
	// Configs are the topic's dynamic config overrides (key to value); keys
	// without an override take the broker default.
	Configs map[string]string
}

// NewImage returns the empty image, before any record was replayed.
func NewImage() *Image { return &Image{} }

// Offset is the log offset (the Raft index) of the last batch applied to
// this image, as given to ApplyAt, or restored from a snapshot; 0 for an
// image built without offsets. Brokers report it in heartbeats as their
// CurrentMetadataOffset, and a registration is caught up once it reaches
// the broker's RegisteredAt.
func (img *Image) Offset() int64 { return img.offset }

// ClusterID returns the cluster ID, "" before the ClusterID record.
func (img *Image) ClusterID() string { return img.clusterID }

// Broker returns the registration of node id, nil if it never registered.
func (img *Image) Broker(id int32) *Broker { return img.brokers[id] }

// Brokers returns every registered broker ordered by node ID.
func (img *Image) Brokers() []*Broker {
	brokers := slices.Collect(maps.Values(img.brokers))
	slices.SortFunc(brokers, func(a, b *Broker) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return brokers
}

// BrokerCount returns how many brokers are registered.
func (img *Image) BrokerCount() int { return len(img.brokers) }

// TopicByName returns the topic called name, nil if there is none.
func (img *Image) TopicByName(name string) *Topic { return img.topicsByName[name] }

// TopicByID returns the topic with the given ID, nil if there is none.
func (img *Image) TopicByID(id [16]byte) *Topic { return img.topicsByID[id] }

// Topics returns every topic ordered by name.
func (img *Image) Topics() []*Topic {
	topics := slices.Collect(maps.Values(img.topicsByName))
	slices.SortFunc(topics, func(a, b *Topic) int { return cmp.Compare(a.Name, b.Name) })
	return topics
}

// TopicCount returns how many topics exist.
func (img *Image) TopicCount() int { return len(img.topicsByName) }

// BrokerConfigs returns the dynamic broker config overrides stored under
// resource name ("" is the cluster-wide default, otherwise a node ID in
// decimal). The map is shared: do not modify it.
func (img *Image) BrokerConfigs(name string) map[string]string {
	return img.brokerConfigs[name]
}

// NextProducerID is the first ID of the next producer-ID block: every ID
// below it has been handed to a broker (ProducerIDsRecord).
func (img *Image) NextProducerID() int64 { return img.nextProducerID }

// Partition returns partition index of the topic, nil when out of range.
func (t *Topic) Partition(index int32) *Partition {
	if index < 0 || int(index) >= len(t.Partitions) {
		return nil
	}
	return &t.Partitions[index]
}

// Internal reports whether the topic is one of Kafka's internal topics.
func (t *Topic) Internal() bool { return IsInternalTopic(t.Name) }

// Records returns records that rebuild this image's content when applied
// to an empty one. They leave out the image's position in the log (Offset
// and each broker's RegisteredAt), so images with the same content encode
// to the same bytes wherever they were built; SnapshotRecords keeps it. The
// order is deterministic (cluster ID, brokers by ID, broker configs, then
// topics by name each followed by its configs and partitions).
func (img *Image) Records() []Record { return img.records(false) }

// SnapshotRecords returns what a snapshot holds: a SnapshotOffsetRecord
// with Offset (when it is not 0), then Records with each broker's
// RegisteredAt kept. Replaying them on an empty image gives an image equal
// to this one, log position included.
func (img *Image) SnapshotRecords() []Record { return img.records(true) }

func (img *Image) records(withPosition bool) []Record {
	var records []Record
	if withPosition && img.offset != 0 {
		records = append(records, &SnapshotOffsetRecord{Offset: img.offset})
	}
	if img.clusterID != "" {
		records = append(records, &ClusterIDRecord{ID: img.clusterID})
	}
	for _, b := range img.Brokers() {
		record := &RegisterBrokerRecord{Broker: *b}
		if !withPosition {
			record.RegisteredAt = 0
		}
		records = append(records, record)
	}
	for _, name := range slices.Sorted(maps.Keys(img.brokerConfigs)) {
		records = appendConfigRecords(records, ConfigResourceBroker, name, img.brokerConfigs[name])
	}
	for _, t := range img.Topics() {
		records = append(records, &TopicRecord{Name: t.Name, ID: t.ID})
		records = appendConfigRecords(records, ConfigResourceTopic, t.Name, t.Configs)
		for _, p := range t.Partitions {
			records = append(records, &PartitionRecord{TopicID: t.ID, Partition: p})
		}
	}
	if img.nextProducerID > 0 {
		records = append(records, &ProducerIDsRecord{BrokerID: -1, NextProducerID: img.nextProducerID})
	}
	return records
}

func appendConfigRecords(records []Record, typ ConfigResourceType, name string, configs map[string]string) []Record {
	for _, key := range slices.Sorted(maps.Keys(configs)) {
		value := configs[key]
		records = append(records, &ConfigRecord{ResourceType: typ, ResourceName: name, Key: key, Value: &value})
	}
	return records
}
