package server

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/txn"
)

// localMarkers writes the transaction coordinator's markers to this
// broker's partitions (txn.MarkerWriter): on a single node no
// WriteTxnMarkers request is needed.
// A marker on a `__consumer_offsets` partition is also delivered to its
// group shard, which commits or drops the transaction's pending offsets
// (TxnOffsetCommit).
type localMarkers struct {
	partitions *replica.Manager
	groups     *coord.Runtime[*group.Shard]
}

// WriteMarker appends the marker (replica.Partition.AppendTxnMarker, which
// returns once it is durable), then, for a group partition, waits until
// its shard applied it, so offsets fetched after the transaction completes
// reflect it.
func (m localMarkers) WriteMarker(topic string, partition int32, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) error {
	p, ok := m.partitions.Get(topic, partition)
	if !ok {
		return fmt.Errorf("write marker to %s-%d: partition not hosted here", topic, partition)
	}
	if _, err := p.AppendTxnMarker(producerID, producerEpoch, commit, coordinatorEpoch); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	if topic == metadata.GroupMetadataTopic && m.groups != nil {
		m.groups.DeliverMarker(partition, producerID, commit)
	}
	return nil
}

// writeTxnMarkersVersion is the WriteTxnMarkers version sent to other
// brokers (v1 is the flexible one).
const writeTxnMarkersVersion = 1

// markerTimeout bounds one marker write to another broker.
const markerTimeout = 30 * time.Second

// routedMarkers is the transaction coordinator's txn.MarkerWriter in a
// cluster: a marker goes to the partition's current leader, written here
// when that is this broker and sent as WriteTxnMarkers otherwise (Kafka's
// TransactionMarkerChannelManager). An error makes the coordinator retry.
type routedMarkers struct {
	b     *Broker
	local localMarkers
}

// WriteMarker implements txn.MarkerWriter.
func (m routedMarkers) WriteMarker(topic string, partition int32, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) error {
	t := m.b.quorum.Image().TopicByName(topic)
	if t == nil {
		return fmt.Errorf("write marker to %s-%d: %w", topic, partition, kerr.UnknownTopicOrPartition)
	}
	p := t.Partition(partition)
	if p == nil {
		return fmt.Errorf("write marker to %s-%d: %w", topic, partition, kerr.UnknownTopicOrPartition)
	}
	if p.Leader == m.b.cfg.NodeID {
		return m.local.WriteMarker(topic, partition, producerID, producerEpoch, commit, coordinatorEpoch)
	}
	if p.Leader < 0 {
		return fmt.Errorf("write marker to %s-%d: %w", topic, partition, kerr.LeaderNotAvailable)
	}
	client, ok := m.b.peers.controlClient(p.Leader)
	if !ok {
		return fmt.Errorf("write marker to %s-%d: leader %d has no endpoint: %w", topic, partition, p.Leader, kerr.BrokerNotAvailable)
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(writeTxnMarkersVersion)
	marker := kmsg.NewWriteTxnMarkersRequestMarker()
	marker.ProducerID, marker.ProducerEpoch, marker.Committed, marker.CoordinatorEpoch = producerID, producerEpoch, commit, coordinatorEpoch
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{partition}
	marker.Topics = append(marker.Topics, mt)
	req.Markers = append(req.Markers, marker)
	ctx, cancel := context.WithTimeout(context.Background(), markerTimeout)
	defer cancel()
	raw, err := client.Request(ctx, req)
	if err != nil {
		return fmt.Errorf("write marker to %s-%d on broker %d: %w", topic, partition, p.Leader, err)
	}
	resp := raw.(*kmsg.WriteTxnMarkersResponse)
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("write marker to %s-%d on broker %d: %w", topic, partition, p.Leader, err)
				}
			}
		}
	}
	return nil
}

// markerWriter is what the transaction coordinator writes markers with.
func (b *Broker) markerWriter() txn.MarkerWriter {
	local := localMarkers{partitions: b.partitions, groups: b.groups}
	if b.cfg.SingleNode() {
		return local
	}
	return routedMarkers{b: b, local: local}
}
