package replica

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// A partition whose log will not open (here: its segment cannot be
// created, as on a full disk) is reported by EnsureAll, answered as
// failed (OpenFailed, so the api layer says KAFKA_STORAGE_ERROR), not
// retried within openRetryBackoff, and opened by the first attempt after
// it once the disk has room again; the partitions that could open serve
// meanwhile.
func TestFailedOpenBacksOffThenRetries(t *testing.T) {
	var full atomic.Bool
	var attempts atomic.Int64
	fsys := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpCreate && strings.Contains(op.Path, "/bad-0/") {
			attempts.Add(1)
			if full.Load() {
				return syscall.ENOSPC
			}
		}
		return nil
	}))
	now := time.Unix(1_000_000, 0)
	m, err := NewManager(ManagerConfig{FS: fsys, LogDir: "/data", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	full.Store(true)
	reqs := []OpenRequest{
		{Topic: "good", TopicID: [16]byte{1}, Config: storage.DefaultConfig()},
		{Topic: "bad", TopicID: [16]byte{2}, Config: storage.DefaultConfig()},
	}
	failures := m.EnsureAll(reqs)
	if len(failures) != 1 || failures[0].Topic != "bad" || !errors.Is(failures[0].Err, syscall.ENOSPC) {
		t.Fatalf("EnsureAll failures %+v, want bad-0 with ENOSPC", failures)
	}
	if _, ok := m.Get("good", 0); !ok {
		t.Fatal("good-0 was not opened alongside the failed one")
	}
	if !m.OpenFailed("bad", 0) || m.OpenFailed("good", 0) || m.FailedOpens() != 1 {
		t.Fatalf("OpenFailed bad=%v good=%v, %d failed; want only bad-0", m.OpenFailed("bad", 0), m.OpenFailed("good", 0), m.FailedOpens())
	}
	count, first, firstErr := SummarizeOpenFailures(failures)
	if count != 1 || len(first) != 1 || first[0] != "bad-0" || !errors.Is(firstErr, syscall.ENOSPC) {
		t.Fatalf("summary %d %v %v", count, first, firstErr)
	}

	tried := attempts.Load()
	full.Store(false)
	now = now.Add(openRetryBackoff / 2)
	if _, err := m.Ensure("bad", [16]byte{2}, 0, 0, storage.DefaultConfig()); !errors.Is(err, ErrOpenFailed) {
		t.Fatalf("Ensure within the backoff: %v, want ErrOpenFailed", err)
	}
	if m.EnsureAll(reqs) != nil || attempts.Load() != tried {
		t.Fatal("the failed partition was retried within the backoff")
	}

	now = now.Add(openRetryBackoff)
	if failures := m.EnsureAll(reqs); failures != nil {
		t.Fatalf("retry after the backoff failed: %+v", failures)
	}
	if _, ok := m.Get("bad", 0); !ok || m.OpenFailed("bad", 0) {
		t.Fatal("bad-0 not hosted after a successful retry")
	}
}
