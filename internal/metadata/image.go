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

// Records returns records that rebuild this image when applied to an empty
// one: the content of a snapshot. The order is deterministic (cluster ID,
// brokers by ID, broker configs, then topics by name each followed by its
// configs and partitions), so equal images encode to equal bytes.
func (img *Image) Records() []Record {
	var records []Record
	if img.clusterID != "" {
		records = append(records, &ClusterIDRecord{ID: img.clusterID})
	}
	for _, b := range img.Brokers() {
		records = append(records, &RegisterBrokerRecord{Broker: *b})
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
