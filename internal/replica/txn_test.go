package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/storage"
)

func txnBatch(t *testing.T, pid int64, seq int32) []byte {
	t.Helper()
	spec := record.NewBatchSpec()
	spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence, spec.Transactional = pid, 0, seq, true
	b, err := record.AppendBatch(nil, spec, []record.RecordSpec{{Timestamp: time.Now().UnixMilli(), Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An open transaction holds the last stable offset back while the high
// watermark passes it; the marker is durable when AppendTxnMarker returns,
// releases the last stable offset and wakes watchers.
func TestTxnMarkerMovesLastStableOffset(t *testing.T) {
	p := openPartition(t, storage.DefaultConfig())
	if _, err := p.Append(batch(t, 2)); err != nil { // 0..1
		t.Fatal(err)
	}
	open, err := p.AppendProduced(txnBatch(t, 1, 0)) // 2
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(open.LastOffset); err != nil {
		t.Fatal(err)
	}
	if hw, lso := p.HighWatermark(), p.LastStableOffset(); hw != 3 || lso != 2 {
		t.Fatalf("high watermark %d, last stable %d; want 3 and 2", hw, lso)
	}
	woken := make(chan struct{}, 1)
	unwatch := p.Watch(woken)
	defer unwatch()
	offset, err := p.AppendTxnMarker(1, 0, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if offset != 3 {
		t.Fatalf("marker at %d, want 3", offset)
	}
	select {
	case <-woken:
	default:
		t.Fatal("watcher not woken by the marker")
	}
	if hw, lso := p.HighWatermark(), p.LastStableOffset(); hw != 4 || lso != 4 {
		t.Fatalf("after the abort: high watermark %d, last stable %d; want 4 and 4", hw, lso)
	}
	if p.Log().FlushedOffset() < 4 {
		t.Fatalf("marker not durable: flushed offset %d", p.Log().FlushedOffset())
	}
	want := []storage.AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 3, LastStableOffset: 4}}
	if got := p.Log().AbortedTransactions(0, 4); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("aborted = %+v, want %+v", got, want)
	}
	if _, err := p.AppendTxnMarker(1, 0, true, -2); !errors.Is(err, storage.ErrTransactionCoordinatorFenced) {
		t.Fatalf("marker from an older coordinator: %v", err)
	}
}
