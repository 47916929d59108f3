package server

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
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
