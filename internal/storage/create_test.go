package storage

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

// syncCountingFS counts the fsyncs (of files and of directories) that go
// through it.
func syncCountingFS(inner vfs.FS) (*vfs.FaultFS, *atomic.Int64, *atomic.Int64) {
	var fileSyncs, dirSyncs atomic.Int64
	return vfs.NewFaultFS(inner, vfs.InjectorFunc(func(op vfs.Op) error {
		switch op.Kind {
		case vfs.OpSync:
			fileSyncs.Add(1)
		case vfs.OpSyncDir:
			dirSyncs.Add(1)
		}
		return nil
	})), &fileSyncs, &dirSyncs
}

// TestNewLogWritesNoCheckpoint: a brand-new log leaves its checkpoint
// unwritten, and a crash at any point afterwards (with or without torn
// directory listings) reopens to the state the checkpoint would have
// given: an empty log at offset 0 that then appends and keeps what it
// fsynced.
func TestNewLogWritesNoCheckpoint(t *testing.T) {
	for seed := range uint64(8) {
		fsys := newMemFS(t)
		l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
		if _, err := fsys.Stat(filepath.Join("t-0", checkpointName)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("new log wrote a checkpoint (stat: %v)", err)
		}
		if seed%2 == 0 {
			fsys.Crash()
		} else {
			fsys.CrashTorn(rand.New(rand.NewPCG(seed, 1)))
		}
		l.Close()
		l = mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
		if l.LogStartOffset() != 0 || l.LogEndOffset() != 0 || l.FlushedOffset() != 0 {
			t.Fatalf("seed %d: reopened new log at start %d, end %d, flushed %d; want 0, 0, 0",
				seed, l.LogStartOffset(), l.LogEndOffset(), l.FlushedOffset())
		}
		batch := testBatch(t, 2, 1000, 50, byte(seed))
		res := mustAppend(t, l, batch)
		if err := l.Sync(res.LastOffset + 1); err != nil {
			t.Fatal(err)
		}
		fsys.CrashTorn(rand.New(rand.NewPCG(seed, 2)))
		l.Close()
		l = mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
		if got := readAll(t, l); !bytes.Equal(got, withOffset(batch, 0, 7)) {
			t.Fatalf("seed %d: after a crash the fsynced batch reads back as %d bytes", seed, len(got))
		}
		l.Close()
	}
}

// TestCleanReopenOfNewLogWritesNothing: an empty log closed cleanly and
// reopened with the clean-shutdown marker costs no fsync and writes no
// checkpoint (a broker restart with many idle partitions).
func TestCleanReopenOfNewLogWritesNothing(t *testing.T) {
	fsys, fileSyncs, dirSyncs := syncCountingFS(newMemFS(t))
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fileSyncs.Store(0)
	dirSyncs.Store(0)
	opts := testOptions(t)
	opts.CleanShutdown = true
	l = mustOpen(t, fsys, "t-0", testConfig(), opts)
	defer l.Close()
	if n, m := fileSyncs.Load(), dirSyncs.Load(); n != 0 || m != 0 {
		t.Errorf("clean reopen of an empty log made %d file and %d directory fsyncs, want none", n, m)
	}
	if _, err := fsys.Stat(filepath.Join("t-0", checkpointName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("clean reopen wrote a checkpoint (stat: %v)", err)
	}
}

// TestCreateLogDirsSyncsParentOnce: many partition directories cost one
// fsync of the log directory, they survive a crash, and logs opened in
// them do not fsync the log directory again.
func TestCreateLogDirsSyncsParentOnce(t *testing.T) {
	mem := newMemFS(t)
	if err := mem.MkdirAll("logs"); err != nil {
		t.Fatal(err)
	}
	if err := mem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	var parentSyncs atomic.Int64
	fsys := vfs.NewFaultFS(mem, vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpSyncDir && op.Path == "logs" {
			parentSyncs.Add(1)
		}
		return nil
	}))
	var dirs []string
	for i := range 50 {
		dirs = append(dirs, filepath.Join("logs", "t-"+string(rune('a'+i%26))+string(rune('a'+i/26))))
	}
	created, err := CreateLogDirs(fsys, testFileCache(t), "logs", dirs)
	if err != nil || created != len(dirs) {
		t.Fatalf("CreateLogDirs = %d, %v; want %d, nil", created, err, len(dirs))
	}
	for _, dir := range dirs[:5] {
		l := mustOpen(t, fsys, dir, testConfig(), testOptions(t))
		l.Close()
	}
	if n := parentSyncs.Load(); n != 1 {
		t.Errorf("%d fsyncs of the log directory for %d new partitions, want 1", n, len(dirs))
	}
	mem.Crash()
	for _, dir := range dirs {
		if info, err := mem.Stat(dir); err != nil || !info.IsDir {
			t.Fatalf("%s lost in a crash after CreateLogDirs: %v", dir, err)
		}
	}
	if created, err := CreateLogDirs(fsys, testFileCache(t), "logs", dirs); err != nil || created != 0 {
		t.Errorf("CreateLogDirs of existing directories = %d, %v; want 0, nil", created, err)
	}
	if n := parentSyncs.Load(); n != 2 {
		t.Errorf("CreateLogDirs of existing directories did not fsync the log directory (%d fsyncs in all)", n)
	}
}

// TestRecoveredActiveIndexesRebuiltAfterCrash: after a crash, recovery
// rewrites the active segment's indexes without fsyncing them. Whether
// the next event is another crash (the rewritten indexes lost: recovery
// rebuilds them) or a clean shutdown followed by a power cut (Close's seal
// fsyncs them before a marker could vouch for them), every offset is
// found again, through the index files on the clean path.
func TestRecoveredActiveIndexesRebuiltAfterCrash(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20 // one segment: everything in the active one
	cfg.IndexIntervalBytes = 128
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	var batches [][]byte
	for i := range 40 {
		batch := testBatch(t, 1, int64(1000+i), 100, byte(i))
		res := mustAppend(t, l, batch)
		batches = append(batches, withOffset(batch, res.BaseOffset, 7))
	}
	if err := l.Sync(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	reopen := func(what string, clean bool) {
		t.Helper()
		opts := testOptions(t)
		opts.CleanShutdown = clean
		l = mustOpen(t, fsys, "t-0", cfg, opts)
		for i, want := range batches {
			got, err := l.Read(int64(i), 1<<20, int64(i)+1, true)
			if err != nil || !bytes.HasPrefix(got, want) {
				t.Fatalf("%s: read at offset %d: %v (%d bytes)", what, i, err, len(got))
			}
		}
	}
	fsys.Crash()
	l.Close()
	reopen("after a crash", false)
	fsys.Crash()
	l.Close()
	reopen("after a crash right after recovery", false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	reopen("after a clean shutdown and a power cut", true)
	if n := len(l.activeLocked().offsets); n < 10 {
		t.Errorf("clean reopen found %d offset index entries in the index file, want about 40", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
