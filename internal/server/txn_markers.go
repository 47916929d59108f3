package server

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/replica"
)

// localMarkers writes the transaction coordinator's markers to this
// broker's partitions (txn.MarkerWriter): on a single node no
// WriteTxnMarkers request is needed.
type localMarkers struct {
	partitions *replica.Manager
}

// WriteMarker appends the marker (replica.Partition.AppendTxnMarker, which
// returns once it is durable).
func (m localMarkers) WriteMarker(topic string, partition int32, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) error {
	p, ok := m.partitions.Get(topic, partition)
	if !ok {
		return fmt.Errorf("write marker to %s-%d: partition not hosted here", topic, partition)
	}
	if _, err := p.AppendTxnMarker(producerID, producerEpoch, commit, coordinatorEpoch); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	return nil
}
