package api

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
)

// TestMarkerErrorCode: a remote coordinator decides by the code
// WriteTxnMarkers answers, so a fenced write must not come back as a
// retriable storage error, nor a lost leadership as a fatal one.
func TestMarkerErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("marker: %w", storage.ErrInvalidProducerEpoch), kerr.InvalidProducerEpoch},
		{fmt.Errorf("marker: %w", storage.ErrTransactionCoordinatorFenced), kerr.TransactionCoordinatorFenced},
		{fmt.Errorf("marker: %w", replica.ErrNotLeader), kerr.NotLeaderForPartition},
		{fmt.Errorf("marker: %w", replica.ErrNotEnoughReplicasAfterAppend), kerr.NotEnoughReplicasAfterAppend},
		{errors.New("disk on fire"), kerr.KafkaStorageError},
	} {
		if got := MarkerErrorCode(tc.err); got != tc.want {
			t.Errorf("MarkerErrorCode(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
