package storage

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

// TestRollMakesSealedSegmentDurable: a batch appended but not yet synced
// when the segment rolls is covered by the roll's fsync, so a Sync that
// returns at once (the recovery point already passed it) told the truth.
func TestRollMakesSealedSegmentDurable(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	first := testBatch(t, 1, 0, 600, 'a')
	res := mustAppend(t, l, first)
	mustAppend(t, l, testBatch(t, 1, 0, 600, 'b')) // rolls
	if err := l.Sync(res.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	l.Close()
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if got, err := l.Read(0, 1<<20, 1, false); err != nil || !bytes.Equal(got, withOffset(first, 0, 7)) {
		t.Errorf("acknowledged batch lost across a roll: %v", err)
	}
}

// TestRollSyncsDirectory: the new segment's name is made durable by the
// roll itself, not by the checkpoint write that follows (here failing).
func TestRollSyncsDirectory(t *testing.T) {
	mem := newMemFS(t)
	fsys := vfs.NewFaultFS(mem, nil)
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	mustAppend(t, l, testBatch(t, 1, 0, 600, 'a')) // writes the leader epoch checkpoint
	fsys.SetInjector(vfs.FailOn(vfs.OpCreate, "*.tmp", nil))
	second := testBatch(t, 1, 0, 600, 'b')
	res := mustAppend(t, l, second) // rolls; the checkpoint write fails
	if len(l.segments) != 2 {
		t.Fatalf("expected a roll, have %d segments", len(l.segments))
	}
	if err := l.Sync(res.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	mem.Crash()
	l.Close()
	fsys.SetInjector(nil)
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if got, err := l.Read(1, 1<<20, 2, false); err != nil || !bytes.Equal(got, withOffset(second, 1, 7)) {
		t.Errorf("acknowledged batch in the new segment lost: %v (LEO %d)", err, l.LogEndOffset())
	}
}

// TestDiskFullRefusesWriteKeepsAcknowledged: ENOSPC in the middle of an
// append fails that append, leaves no partial batch, keeps the log usable
// once space is back, and loses nothing acknowledged.
func TestDiskFullRefusesWriteKeepsAcknowledged(t *testing.T) {
	mem := newMemFS(t)
	full := vfs.NewDiskFull(1 << 30)
	fsys := vfs.NewFaultFS(mem, full)
	cfg := testConfig()
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	full.SetBudget(5000)
	var acked []byte
	var appendErr error
	for i := 0; appendErr == nil; i++ {
		b := testBatch(t, 2, int64(i), 300, byte(i))
		var res AppendResult
		if res, appendErr = l.Append(b, 7); appendErr == nil {
			if err := l.Sync(res.LastOffset + 1); err != nil {
				t.Fatal(err)
			}
			acked = append(acked, withOffset(b, res.BaseOffset, 7)...)
		}
	}
	if !errors.Is(appendErr, vfs.ENOSPC) || errors.Is(appendErr, ErrLogFailed) {
		t.Fatalf("append on a full disk: %v; want ENOSPC without failing the log", appendErr)
	}
	if l.Size() != int64(len(acked)) {
		t.Errorf("log size %d after the refused append, acknowledged %d", l.Size(), len(acked))
	}
	if got := readAll(t, l); !bytes.Equal(got, acked) {
		t.Error("reads differ from what was acknowledged")
	}
	full.SetBudget(1 << 30)
	more := testBatch(t, 1, 0, 10, 'm')
	res := mustAppend(t, l, more)
	if err := l.Sync(res.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, withOffset(more, res.BaseOffset, 7)...)
	mem.Crash()
	l.Close()
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if got := readAll(t, l); !bytes.Equal(got, acked) {
		t.Errorf("after a crash: %d bytes, acknowledged %d", len(got), len(acked))
	}
}

// TestIndexWriteFailureIsUndone: a failed index write fails the append and
// cuts the log back, so the log and its index never disagree.
func TestIndexWriteFailureIsUndone(t *testing.T) {
	fsys := vfs.NewFaultFS(newMemFS(t), nil)
	cfg := testConfig()
	cfg.IndexIntervalBytes = 100
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	mustAppend(t, l, testBatch(t, 1, 0, 200, 'a'))
	size := l.Size()
	fsys.SetInjector(vfs.FailOn(vfs.OpWrite, "*.index", nil))
	if _, err := l.Append(testBatch(t, 1, 0, 200, 'b'), 7); !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("append with a failing index write: %v", err)
	}
	if l.Size() != size || l.LogEndOffset() != 1 {
		t.Errorf("failed append left size %d (was %d), LEO %d", l.Size(), size, l.LogEndOffset())
	}
	fsys.SetInjector(nil)
	mustAppend(t, l, testBatch(t, 1, 0, 200, 'c'))
	mustAppend(t, l, testBatch(t, 1, 0, 200, 'd'))
	for offset := range int64(3) {
		got, err := l.Read(offset, 1, 3, true)
		if h := mustSplit(t, got); err != nil || h[0].BaseOffset != offset {
			t.Errorf("offset %d: %v", offset, err)
		}
	}
}

// TestFsyncFailureFailsTheLog: after a failed fsync the page cache can no
// longer be trusted (fsyncgate), so the log refuses further writes instead
// of retrying; reopening recovers what was acknowledged.
func TestFsyncFailureFailsTheLog(t *testing.T) {
	mem := newMemFS(t)
	fsys := vfs.NewFaultFS(mem, nil)
	cfg := testConfig()
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	acked := mustAppend(t, l, testBatch(t, 2, 0, 100, 'a'))
	if err := l.Sync(acked.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	fsys.SetInjector(vfs.FailOn(vfs.OpSync, "*.log", nil))
	res := mustAppend(t, l, testBatch(t, 2, 0, 100, 'b'))
	if err := l.Sync(res.LastOffset + 1); !errors.Is(err, ErrLogFailed) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("sync: %v", err)
	}
	fsys.SetInjector(nil)
	if _, err := l.Append(testBatch(t, 1, 0, 1, 'c'), 7); !errors.Is(err, ErrLogFailed) {
		t.Errorf("append after a failed fsync: %v", err)
	}
	if err := l.Sync(res.LastOffset + 1); !errors.Is(err, ErrLogFailed) {
		t.Errorf("a retried fsync must not report success: %v", err)
	}
	mem.Crash()
	l.Close()
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if l.LogEndOffset() < acked.LastOffset+1 {
		t.Errorf("acknowledged offsets lost: LEO %d", l.LogEndOffset())
	}
}

// blockingSync is an injector that parks the first .log fsync until
// released, counting fsyncs of .log files.
type blockingSync struct {
	mu      sync.Mutex
	syncs   int
	entered chan struct{}
	release chan struct{}
}

func (b *blockingSync) MaybeFail(op vfs.Op) error {
	if op.Kind != vfs.OpSync || !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	b.mu.Lock()
	b.syncs++
	first := b.syncs == 1
	b.mu.Unlock()
	if first {
		close(b.entered)
		<-b.release
	}
	return nil
}

// TestGroupCommitSharesFsyncs: while one fsync is in flight, appends go on
// (the append lock is not held), and the callers that queue up behind it
// are all covered by a single further fsync.
func TestGroupCommitSharesFsyncs(t *testing.T) {
	blocker := &blockingSync{entered: make(chan struct{}), release: make(chan struct{})}
	fsys := vfs.NewFaultFS(newMemFS(t), nil)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	fsys.SetInjector(blocker)

	first := mustAppend(t, l, testBatch(t, 1, 0, 10, 'a'))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.Sync(first.LastOffset + 1); err != nil {
			t.Error(err)
		}
	})
	<-blocker.entered // the leader is inside its fsync
	var waiters []AppendResult
	for i := range 5 {
		waiters = append(waiters, mustAppend(t, l, testBatch(t, 1, 0, 10, byte(i)))) // not blocked by the fsync
	}
	for _, res := range waiters {
		wg.Go(func() {
			if err := l.Sync(res.LastOffset + 1); err != nil {
				t.Error(err)
			}
		})
	}
	close(blocker.release)
	wg.Wait()
	if blocker.syncs != 2 {
		t.Errorf("%d fsyncs for 6 Sync callers; want 2 (the leader, then one for the 5 queued)", blocker.syncs)
	}
	if l.FlushedOffset() != 6 {
		t.Errorf("flushed offset %d, want 6", l.FlushedOffset())
	}
}

func TestWriteCachingFlushesByCountAndAge(t *testing.T) {
	counter := &blockingSync{entered: make(chan struct{}), release: make(chan struct{})}
	close(counter.release)
	fsys := vfs.NewFaultFS(newMemFS(t), nil)
	clock := &testClock{ms: 1000}
	cfg := testConfig()
	opts := testOptions(t)
	opts.Now = clock.now
	l := mustOpen(t, fsys, "t-0", cfg, opts)
	defer l.Close()
	fsys.SetInjector(counter)
	if l.WriteCaching() {
		t.Fatal("the default config must not cache writes")
	}
	mustAppend(t, l, testBatch(t, 1, 0, 10, 'a'))
	if err := l.MaybeFlush(clock.now()); err != nil || counter.syncs != 0 {
		t.Errorf("MaybeFlush in durable mode fsynced (%d) or failed (%v)", counter.syncs, err)
	}

	cfg.FlushMessages, cfg.FlushMs = 3, 500
	l.SetConfig(cfg)
	if !l.WriteCaching() {
		t.Fatal("flush.messages=3 should turn on write caching")
	}
	clock.ms += 100
	mustAppend(t, l, testBatch(t, 1, 0, 10, 'b')) // 2 unflushed
	l.MaybeFlush(clock.now())
	if counter.syncs != 0 {
		t.Errorf("flushed with 2 of 3 messages after 100 of 500 ms")
	}
	mustAppend(t, l, testBatch(t, 1, 0, 10, 'c')) // 3 unflushed
	l.MaybeFlush(clock.now())
	if counter.syncs != 1 || l.FlushedOffset() != 3 {
		t.Errorf("flush.messages reached: %d fsyncs, flushed %d", counter.syncs, l.FlushedOffset())
	}
	mustAppend(t, l, testBatch(t, 1, 0, 10, 'd'))
	clock.ms += 499
	l.MaybeFlush(clock.now())
	clock.ms += 1
	l.MaybeFlush(clock.now())
	if counter.syncs != 2 || l.FlushedOffset() != 4 {
		t.Errorf("flush.ms reached: %d fsyncs, flushed %d", counter.syncs, l.FlushedOffset())
	}
}
