package replica

import (
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// FlushDue flushes exactly the write-caching partitions, including one
// switched to write caching after it opened (a topic config change), and
// stops flushing one switched back: the list it walks follows SetConfig.
func TestFlushDueFollowsWriteCachingConfig(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	m, err := NewManager(ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	cached := storage.DefaultConfig()
	cached.FlushMessages, cached.FlushMs = 1<<40, 1000
	durable := storage.DefaultConfig()
	a, err := m.Ensure("a", [16]byte{1}, 0, 0, cached)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Ensure("b", [16]byte{2}, 0, 0, durable)
	if err != nil {
		t.Fatal(err)
	}
	appendUnflushed := func(p *Partition) {
		t.Helper()
		if _, err := p.Append(batch(t, 2)); err != nil {
			t.Fatal(err)
		}
	}
	appendUnflushed(a)
	appendUnflushed(b)
	now = now.Add(2 * time.Second)
	m.FlushDue()
	if got := a.Log().FlushedOffset(); got != a.LogEndOffset() {
		t.Fatalf("write-caching partition flushed to %d, want its end %d", got, a.LogEndOffset())
	}
	if got := b.Log().FlushedOffset(); got != 0 {
		t.Fatalf("durable-mode partition flushed to %d by FlushDue, want 0 (its appends wait for their own fsync)", got)
	}

	m.SetConfig(b, cached)
	appendUnflushed(b)
	now = now.Add(2 * time.Second)
	m.FlushDue()
	if got := b.Log().FlushedOffset(); got != b.LogEndOffset() {
		t.Fatalf("partition switched to write caching flushed to %d, want its end %d", got, b.LogEndOffset())
	}
	m.SetConfig(a, durable)
	if _, writeCached := m.scans(); len(writeCached) != 1 || writeCached[0] != b {
		t.Fatalf("FlushDue walks %d partitions after a left write caching, want only b", len(writeCached))
	}
}
