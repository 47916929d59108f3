package storage

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

// The leader epoch checkpoint survives a power cut; an entry written for
// batches the cut lost is dropped at open; a checkpoint write cut short
// (its .tmp torn, never renamed) is ignored and removed, the old file
// standing.
func TestEpochCheckpointSurvivesPowerCut(t *testing.T) {
	mem := newMemFS(t)
	fsys := vfs.NewFaultFS(mem, nil)
	cfg := testConfig()
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 10, 'a'), 1) // 0..4
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 10, 'b'), 2) // 5..9
	if err := l.Sync(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 10, 'c'), 3) // 10..14, never synced
	if got, want := epochsOf(l), entries(1, 0, 2, 5, 3, 10); !slices.Equal(got, want) {
		t.Fatalf("epochs before the cut = %+v, want %+v", got, want)
	}
	mem.Crash()
	l.Close()
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	if l.LogEndOffset() != 10 {
		t.Fatalf("log end after the cut = %d, want 10 (the unsynced batch lost)", l.LogEndOffset())
	}
	if got, want := epochsOf(l), entries(1, 0, 2, 5); !slices.Equal(got, want) {
		t.Fatalf("epochs after the cut = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, mem, "t-0"); text != "0\n2\n1 0\n2 5\n" {
		t.Fatalf("checkpoint after the cut = %q", text)
	}

	// A new epoch whose checkpoint never gets its name: the append fails
	// the log and writes nothing.
	fsys.SetInjector(vfs.FailOn(vfs.OpRename, epochCheckpointName+".tmp", nil))
	if _, err := l.Append(testBatch(t, 1, 0, 10, 'd'), 4); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append whose checkpoint cannot be renamed: %v, want ErrLogFailed", err)
	}
	if l.LogEndOffset() != 10 {
		t.Fatalf("the failed append wrote: log end %d", l.LogEndOffset())
	}
	mem.CrashTorn(rand.New(rand.NewPCG(7, 7)))
	l.Close()
	fsys.SetInjector(nil)
	// Whatever the torn crash kept of the .tmp, make sure a torn one is there.
	tmp := filepath.Join("t-0", epochCheckpointName+".tmp")
	appendToFile(t, mem, tmp, []byte("0\n3\n1 0\n2 5\n4"))
	if err := mem.SyncDir("t-0"); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if got, want := epochsOf(l), entries(1, 0, 2, 5); !slices.Equal(got, want) {
		t.Fatalf("epochs after a torn checkpoint write = %+v, want %+v", got, want)
	}
	if _, err := mem.Stat(tmp); err == nil {
		t.Fatal("the torn .tmp survived the open")
	}
	mustAppendEpoch(t, l, testBatch(t, 1, 0, 10, 'd'), 4)
	if got, want := epochsOf(l), entries(1, 0, 2, 5, 4, 10); !slices.Equal(got, want) {
		t.Fatalf("epochs after the retry = %+v, want %+v", got, want)
	}
}

// Power cuts at random moments while leaders come and go: after each
// reopen the cache is exactly what the surviving batches' own epochs say,
// the property a follower relies on when it asks where an epoch ended.
func TestEpochCacheMatchesLogAfterPowerCuts(t *testing.T) {
	const rounds = 20
	rng := rand.New(rand.NewPCG(3, 4))
	mem := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	epoch := int32(0)
	for round := range rounds {
		l := mustOpen(t, mem, "t-0", cfg, testOptions(t))
		checkEpochsMatchLog(t, l, round)
		if latest, ok := l.LatestEpoch(); ok {
			epoch = max(epoch, latest)
		}
		for range 1 + rng.IntN(4) {
			epoch += int32(rng.IntN(2))
			batch := testBatch(t, 1+rng.IntN(4), 0, 20+rng.IntN(200), byte(round))
			res := mustAppendEpoch(t, l, batch, epoch)
			if rng.IntN(2) == 0 {
				if err := l.Sync(res.LastOffset + 1); err != nil {
					t.Fatal(err)
				}
			}
			if rng.IntN(5) == 0 {
				cut := rng.Int64N(l.LogEndOffset() + 1)
				if err := l.Truncate(max(cut, l.LogStartOffset())); err != nil {
					t.Fatal(err)
				}
			}
		}
		if round%2 == 0 {
			mem.Crash()
		} else {
			mem.CrashTorn(rand.New(rand.NewPCG(uint64(round), 9)))
		}
		l.Close()
	}
	l := mustOpen(t, mem, "t-0", cfg, testOptions(t))
	defer l.Close()
	checkEpochsMatchLog(t, l, rounds)
}

func checkEpochsMatchLog(t *testing.T, l *Log, round int) {
	t.Helper()
	l.appendMu.Lock()
	fromLog, err := l.rebuildEpochsLocked()
	l.appendMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got := epochsOf(l); !slices.Equal(got, fromLog) {
		t.Fatalf("round %d: epoch cache %+v, but the log's batches say %+v (log %d..%d)", round, got, fromLog, l.LogStartOffset(), l.LogEndOffset())
	}
}
