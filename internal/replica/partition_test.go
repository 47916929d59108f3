package replica

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

func openPartition(t *testing.T, cfg storage.Config) *Partition {
	t.Helper()
	m, err := NewManager(ManagerConfig{FS: vfs.NewMem(), LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("t", [16]byte{1}, 0, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func batch(t *testing.T, records int) []byte {
	t.Helper()
	specs := make([]record.RecordSpec, records)
	for i := range specs {
		specs[i] = record.RecordSpec{Timestamp: 1, Value: []byte("v")}
	}
	b, err := record.AppendBatch(nil, record.NewBatchSpec(), specs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// By default the high watermark moves only when appended data is fsynced,
// so consumers never see what a power cut could take back.
func TestHighWatermarkFollowsFsyncByDefault(t *testing.T) {
	p := openPartition(t, storage.DefaultConfig())
	wake := make(chan struct{}, 1)
	defer p.Watch(wake)()
	res, err := p.Append(batch(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before commit, want 0", hw)
	}
	select {
	case <-wake:
		t.Fatal("watcher woken before the data was durable")
	default:
	}
	if err := p.Commit(res.LastOffset); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d after commit, want 3", hw)
	}
	select {
	case <-wake:
	default:
		t.Fatal("watcher not woken when the high watermark moved")
	}
}

// With write caching (flush.messages > 1) records are visible and
// acknowledged at once, as in Kafka.
func TestHighWatermarkFollowsAppendWithWriteCaching(t *testing.T) {
	cfg := storage.DefaultConfig()
	cfg.FlushMessages = 10000
	p := openPartition(t, cfg)
	if _, err := p.Append(batch(t, 2)); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d with write caching, want 2", hw)
	}
	if got := p.Log().FlushedOffset(); got != 0 {
		t.Fatalf("flushed offset %d: write caching must not fsync per append", got)
	}
}

// An unwatched channel gets no more wake-ups.
func TestUnwatchStopsWakeups(t *testing.T) {
	p := openPartition(t, storage.DefaultConfig())
	wake := make(chan struct{}, 1)
	p.Watch(wake)()
	res, err := p.Append(batch(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(res.LastOffset); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
		t.Fatal("woken after unwatch")
	default:
	}
}

// A run that closes without having opened every partition log in the
// directory (start-up failed early, or an open failed) must not mark the
// directory clean: the next start has to recover those logs.
func TestCloseMarksCleanOnlyWhenEveryLogWasOpened(t *testing.T) {
	fs := vfs.NewMem()
	first, err := NewManager(ManagerConfig{FS: fs, LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Ensure("t", [16]byte{1}, 0, 0, storage.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	failedStart, err := NewManager(ManagerConfig{FS: fs, LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	if err := failedStart.Close(); err != nil {
		t.Fatal(err)
	}
	if clean, _, err := storage.TakeCleanShutdown(fs, "/data"); err != nil || clean {
		t.Fatalf("after a run that never opened t-0: clean=%v err=%v, want not clean", clean, err)
	}
}

// segmentOpens counts, through a vfs.FaultFS that fails nothing, opens of
// partition segment files (.log, .index, .timeindex).
type segmentOpens struct {
	*vfs.FaultFS
	opens atomic.Int64
}

func newSegmentOpens(inner vfs.FS) *segmentOpens {
	s := &segmentOpens{}
	s.FaultFS = vfs.NewFaultFS(inner, vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpOpen && (strings.HasSuffix(op.Path, ".log") || strings.HasSuffix(op.Path, ".index") || strings.HasSuffix(op.Path, ".timeindex")) {
			s.opens.Add(1)
		}
		return nil
	}))
	return s
}

// After a clean shutdown the marker carries each log's active segment
// (storage.ShutdownState), so a restart opens small partitions
// without touching their segment files, and they serve what they held.
func TestCleanRestartOpensNoSegmentFile(t *testing.T) {
	fsys := newSegmentOpens(vfs.NewMem())
	first, err := NewManager(ManagerConfig{FS: fsys, LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range int32(3) {
		p, err := first.Ensure("t", [16]byte{1}, i, 0, storage.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		for range i {
			if _, err := p.Log().Append(batch(t, 2), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.opens.Store(0)
	second, err := NewManager(ManagerConfig{FS: fsys, LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	for i := range int32(3) {
		p, err := second.Ensure("t", [16]byte{1}, i, 0, storage.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if end, want := p.Log().LogEndOffset(), int64(2*i); end != want {
			t.Errorf("t-%d: log end %d after the clean restart, want %d", i, end, want)
		}
	}
	if n := fsys.opens.Load(); n != 0 {
		t.Errorf("the clean restart opened %d segment files of three small partitions, want none", n)
	}
}
