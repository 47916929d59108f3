package controller

import (
	"context"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/metadata"
)

// ProducerIDBlockSize is how many producer IDs one block holds: Kafka's
// ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE. A broker asks for a new block
// only when it has handed out every ID of the last one, so the metadata log
// sees one record per thousand InitProducerId requests.
const ProducerIDBlockSize = 1000

// AllocateProducerIDs commits the next block of producer IDs to brokerID
// and returns its first ID and size: the IDs [first, first+count) are the
// broker's alone, for good, even if it crashes before using them (Kafka's
// ProducerIdControlManager.generateNextProducerId). An exhausted int64 ID
// space is UNKNOWN_SERVER_ERROR, as in Kafka; a failed commit returns the
// proposal's Kafka error (NOT_CONTROLLER, REQUEST_TIMED_OUT, ...), wrapped.
func (c *Controller) AllocateProducerIDs(ctx context.Context, brokerID int32) (first, count int64, err error) {
	if brokerID < 0 {
		return 0, 0, fmt.Errorf("allocate producer IDs: negative broker ID %d", brokerID)
	}
	var planErr error
	code := c.write(ctx, func(img *metadata.Image) []metadata.Record {
		record, err := planProducerIDBlock(img, brokerID)
		if err != nil {
			planErr = err
			return nil
		}
		first = img.NextProducerID()
		return []metadata.Record{record}
	})
	if planErr != nil {
		return 0, 0, planErr
	}
	if code != nil {
		return 0, 0, fmt.Errorf("allocate producer IDs for broker %d: %w", brokerID, code)
	}
	return first, ProducerIDBlockSize, nil
}

// planProducerIDBlock is the record that gives brokerID the block starting
// at the image's next producer ID.
func planProducerIDBlock(img *metadata.Image, brokerID int32) (*metadata.ProducerIDsRecord, error) {
	first := img.NextProducerID()
	if first > math.MaxInt64-ProducerIDBlockSize {
		return nil, fmt.Errorf("%w: exhausted all producer IDs: the next block would pass the int64 limit", kerr.UnknownServerError)
	}
	return &metadata.ProducerIDsRecord{BrokerID: brokerID, NextProducerID: first + ProducerIDBlockSize}, nil
}
