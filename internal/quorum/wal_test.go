package quorum

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"

	"github.com/sluice-io/sluice/internal/vfs"
)

// openTestLog opens the metadata log in dir/wal on fsys the way a Node
// does (walFS segments, metaStore state).
func openTestLog(t *testing.T, fsys vfs.FS, dir string) *wal.WAL {
	t.Helper()
	w, _, err := openLog(Config{Dir: dir, FS: fsys, Logger: slog.New(slog.DiscardHandler)}, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("open metadata log: %v", err)
	}
	return w
}

// fileSystems are the file systems the log is tested on: the real one and
// the simulation the power-cut tests use.
func fileSystems(t *testing.T) map[string]func() (vfs.FS, string) {
	return map[string]func() (vfs.FS, string){
		"OS":  func() (vfs.FS, string) { return vfs.OS{}, t.TempDir() },
		"Mem": func() (vfs.FS, string) { return vfs.NewMem(), "/node" },
	}
}

// TestMetadataLogReopensAfterTailTruncation: Raft deletes the tail of its
// log when a new leader's log disagrees with it (a follower drops entries
// an old leader appended but never committed), which happens whenever a
// leader dies with entries in flight. raft-wal v0.4.0 then recorded the
// tail segment as sealed without writing its index block, and the next
// open of the log failed every read with "sealed segment has no index
// block", which raft.NewRaft turns into a panic: the node could never
// start again (hashicorp/raft-wal#31, fixed in v0.4.1).
func TestMetadataLogReopensAfterTailTruncation(t *testing.T) {
	for name, newFS := range fileSystems(t) {
		t.Run(name, func(t *testing.T) {
			fsys, dir := newFS()
			w := openTestLog(t, fsys, dir)
			if err := w.StoreLogs(testEntries(1, 10, 1)); err != nil {
				t.Fatal(err)
			}
			// A new leader's log ends at 8: drop 9 and 10, then append its entry.
			if err := w.DeleteRange(9, 10); err != nil {
				t.Fatal(err)
			}
			if err := w.StoreLog(&raft.Log{Index: 9, Term: 2, Type: raft.LogCommand, Data: []byte("new")}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			w = openTestLog(t, fsys, dir)
			defer w.Close()
			for i := uint64(1); i <= 9; i++ {
				var got raft.Log
				if err := w.GetLog(i, &got); err != nil {
					t.Fatalf("after reopening, entry %d: %v", i, err)
				}
				if want := map[bool]uint64{true: 2, false: 1}[i == 9]; got.Term != want {
					t.Errorf("entry %d has term %d, want %d", i, got.Term, want)
				}
			}
		})
	}
}

func testEntries(first, last, term uint64) []*raft.Log {
	var logs []*raft.Log
	for i := first; i <= last; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: entryData(i)})
	}
	return logs
}

// entryData is entry i's payload: a few hundred bytes, so that a small
// segment size makes the log rotate.
func entryData(i uint64) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("entry %d;", i)), 20+int(i%7))
}

// TestMetadataLogSurvivesPowerCutDuringAppends cuts the power of a MemFS
// at a random moment while the log is appending (and rotating small
// segments, so the state file and segment creation are cut too), with
// clean and torn crashes: the reopened log must hold every entry whose
// StoreLogs returned, contiguous from the first, each byte for byte.
func TestMetadataLogSurvivesPowerCutDuringAppends(t *testing.T) {
	for seed := range uint64(12) {
		mem := vfs.NewMem()
		power := vfs.NewPowerFS(mem)
		w, _, err := openLog(Config{Dir: "/node", FS: power, Logger: slog.New(slog.DiscardHandler), segmentSize: 8 << 10}, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 5))
		acked := appendUntilCut(t, w, power, mem, rng, seed%2 == 1)
		_ = w.Close() // its files died with the power

		w = openTestLog(t, vfs.NewPowerFS(mem), "/node")
		last, err := w.LastIndex()
		if err != nil {
			t.Fatal(err)
		}
		if last < acked {
			t.Fatalf("seed %d: log ends at %d after the cut, but StoreLogs acknowledged up to %d", seed, last, acked)
		}
		for i := uint64(1); i <= last; i++ {
			var got raft.Log
			if err := w.GetLog(i, &got); err != nil {
				t.Fatalf("seed %d: entry %d of %d: %v", seed, i, last, err)
			}
			if !bytes.Equal(got.Data, entryData(i)) {
				t.Fatalf("seed %d: entry %d holds other bytes", seed, i)
			}
		}
		t.Logf("seed %d: %d entries acknowledged before the cut, %d after recovery", seed, acked, last)
		w.Close()
	}
}

// appendUntilCut appends batches of 1-5 entries from one goroutine and
// cuts the power from another after a random number of batches; it
// returns the last index a StoreLogs acknowledged.
func appendUntilCut(t *testing.T, w *wal.WAL, power *vfs.PowerFS, mem *vfs.MemFS, rng *rand.Rand, torn bool) uint64 {
	t.Helper()
	cutAfter := 20 + rng.IntN(60)
	cutSeed := rng.Uint64()
	var acked uint64
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Go(func() {
		<-started
		power.Cut(func() {
			if torn {
				mem.CrashTorn(rand.New(rand.NewPCG(cutSeed, 1)))
			} else {
				mem.Crash()
			}
		})
	})
	next := uint64(1)
	for batch := 0; ; batch++ {
		if batch == cutAfter {
			close(started)
		}
		n := 1 + uint64(rng.IntN(5))
		err := w.StoreLogs(testEntries(next, next+n-1, 1))
		if errors.Is(err, vfs.ErrCrashed) || (err != nil && batch >= cutAfter) {
			break
		}
		if err != nil {
			t.Fatalf("StoreLogs before the cut: %v", err)
		}
		acked = next + n - 1
		next += n
	}
	wg.Wait()
	return acked
}
