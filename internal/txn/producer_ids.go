package txn

import (
	"context"
	"errors"
	"fmt"
)

// BlockAllocator commits a new block of producer IDs to a broker: the IDs
// [first, first+count) are the broker's alone once it returns. It fails
// with the Kafka error of a failed metadata commit (wrapped) or the
// context's error. *controller.Controller implements it.
type BlockAllocator interface {
	AllocateProducerIDs(ctx context.Context, brokerID int32) (first, count int64, err error)
}

// ProducerIDManager hands out producer IDs from the blocks its broker was
// given (Kafka's ProducerIdManager), asking for the next block when one is
// used up.
type ProducerIDManager struct {
	brokerID int32
	blocks   BlockAllocator

	// lock is a one-slot semaphore rather than a mutex so that a caller
	// waiting behind a slow block commit can give up when its context
	// ends. It guards next and end.
	lock chan struct{}
	next int64 // the next ID to hand out
	end  int64 // the end (exclusive) of the current block; next == end: used up
}

// NewProducerIDManager returns a manager for brokerID that fetches blocks
// from blocks. It holds no block until the first ID is asked for.
func NewProducerIDManager(brokerID int32, blocks BlockAllocator) *ProducerIDManager {
	return &ProducerIDManager{brokerID: brokerID, blocks: blocks, lock: make(chan struct{}, 1)}
}

// NextProducerID returns an ID no producer was ever given before. It
// commits a new block first when the current one is used up, which may take
// a metadata-log round trip; a failed commit is returned (wrapped) and the
// next call tries again.
func (m *ProducerIDManager) NextProducerID(ctx context.Context) (int64, error) {
	select {
	case m.lock <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("wait for a producer ID: %w", ctx.Err())
	}
	defer func() { <-m.lock }()
	if m.next == m.end {
		if err := m.fetchBlockLocked(ctx); err != nil {
			return 0, err
		}
	}
	id := m.next
	m.next++
	return id, nil
}

// fetchBlockLocked replaces the used-up block with a newly committed one.
func (m *ProducerIDManager) fetchBlockLocked(ctx context.Context) error {
	if m.blocks == nil {
		return errors.New("allocate a producer ID block: no block allocator configured")
	}
	first, count, err := m.blocks.AllocateProducerIDs(ctx, m.brokerID)
	if err != nil {
		return fmt.Errorf("allocate a producer ID block: %w", err)
	}
	if first < 0 || count <= 0 || first > first+count {
		return errors.New("allocate a producer ID block: got an invalid block")
	}
	m.next, m.end = first, first+count
	return nil
}
