package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

func producerBatch(t *testing.T, pid int64, seq int32, ts int64) []byte {
	t.Helper()
	spec := record.NewBatchSpec()
	spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = pid, 0, seq
	b, err := record.AppendBatch(nil, spec, []record.RecordSpec{{Timestamp: ts, Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A retry answers with the original offset, and committing it waits for
// the original to be durable; the high watermark covers it.
func TestAppendProducedRetry(t *testing.T) {
	p := openPartition(t, storage.DefaultConfig())
	now := time.Now().UnixMilli()
	first, err := p.AppendProduced(producerBatch(t, 1, 0, now))
	if err != nil {
		t.Fatal(err)
	}
	retry, err := p.AppendProduced(producerBatch(t, 1, 0, now))
	if err != nil || !retry.Duplicate || retry.BaseOffset != first.BaseOffset {
		t.Fatalf("retry: %+v, %v", retry, err)
	}
	if err := p.Commit(retry.LastOffset); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d, want 1", hw)
	}
	if _, err := p.AppendProduced(producerBatch(t, 1, 5, now)); !errors.Is(err, storage.ErrOutOfOrderSequence) {
		t.Fatalf("gap: err = %v", err)
	}
}

// ExpireProducers applies producer.id.expiration.ms from the manager's
// config to every partition.
func TestManagerExpiresProducers(t *testing.T) {
	clock := time.UnixMilli(1_000_000)
	m, err := NewManager(ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", ProducerIDExpirationMs: 1000,
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := m.Ensure("t", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendProduced(producerBatch(t, 7, 0, clock.UnixMilli())); err != nil {
		t.Fatal(err)
	}
	m.ExpireProducers()
	if n := len(p.Log().Producers()); n != 1 {
		t.Fatalf("%d producers right after the write, want 1", n)
	}
	clock = clock.Add(time.Second)
	m.ExpireProducers()
	if n := len(p.Log().Producers()); n != 0 {
		t.Fatalf("%d producers after producer.id.expiration.ms, want 0", n)
	}
}
