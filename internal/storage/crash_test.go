package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

// acked is what appenders were told is durable: batch bytes (with the
// offsets the log assigned) by base offset.
type acked struct {
	mu      sync.Mutex
	batches map[int64][]byte
	count   atomic.Int64
}

func (a *acked) add(base int64, batch []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.batches[base] = batch
	a.count.Add(1)
}

// TestPowerLossKeepsAcknowledgedBatches runs concurrent appenders that each
// Append then Sync and record what Sync acknowledged, pulls the plug at a
// random moment, reopens, and checks that every acknowledged batch is
// there byte for byte, in order, with no gaps. Rounds reuse the same disk,
// so recovery also runs over previously recovered logs.
func TestPowerLossKeepsAcknowledgedBatches(t *testing.T) {
	const rounds, appenders = 12, 6
	rng := rand.New(rand.NewPCG(1, 2))
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 6000 // roll often, so crashes land mid-roll too
	cfg.IndexIntervalBytes = 700
	ack := &acked{batches: map[int64][]byte{}}
	for round := range rounds {
		l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
		checkAcknowledged(t, l, ack, round)
		crashAt := ack.count.Load() + 5 + rng.Int64N(60)
		var wg sync.WaitGroup
		var crashed atomic.Bool
		for w := range appenders {
			wg.Go(func() { appendUntilFailure(t, l, ack, &crashed, round, w) })
		}
		waitFor(t, func() bool { return ack.count.Load() >= crashAt })
		if round%2 == 0 {
			fsys.Crash()
		} else {
			fsys.CrashTorn(rand.New(rand.NewPCG(uint64(round), 3)))
		}
		crashed.Store(true)
		wg.Wait()
		l.Close() // the handles died with the crash; this only releases them
	}
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	checkAcknowledged(t, l, ack, rounds)
	if ack.count.Load() < rounds*5 {
		t.Errorf("only %d acknowledgements in %d rounds", ack.count.Load(), rounds)
	}
}

// appendUntilFailure appends distinct batches, syncing each, until the
// crash makes the log fail or has happened. (A real crash ends the process;
// MemFS lets it run on, and a roll that sealed its segment just before the
// crash carries on in files created after it, which never fail.)
func appendUntilFailure(t *testing.T, l *Log, ack *acked, crashed *atomic.Bool, round, worker int) {
	for seq := 0; !crashed.Load(); seq++ {
		batch := testBatch(t, 1+seq%3, int64(round*1_000_000+seq), 30+seq%200, byte(worker))
		res, err := l.Append(batch, int32(round))
		if err == nil {
			err = l.Sync(res.LastOffset + 1)
		}
		if err != nil {
			if !errors.Is(err, ErrLogFailed) && !errors.Is(err, vfs.ErrCrashed) {
				t.Errorf("worker %d: unexpected error: %v", worker, err)
			}
			return
		}
		ack.add(res.BaseOffset, batch)
	}
}

func checkAcknowledged(t *testing.T, l *Log, ack *acked, round int) {
	t.Helper()
	content := readAll(t, l) // also checks CRCs and contiguous offsets
	headers := mustSplit(t, content)
	positions := map[int64]int{}
	pos := 0
	for _, h := range headers {
		positions[h.BaseOffset] = pos
		pos += h.Size()
	}
	ack.mu.Lock()
	defer ack.mu.Unlock()
	for base, want := range ack.batches {
		at, ok := positions[base]
		if !ok || !bytes.Equal(content[at:at+len(want)], want) {
			t.Fatalf("round %d: acknowledged batch at offset %d lost or changed (log ends at %d)", round, base, l.LogEndOffset())
		}
	}
	if len(headers) > 0 && headers[0].BaseOffset != 0 {
		t.Fatalf("round %d: log starts at %d", round, headers[0].BaseOffset)
	}
}

// waitFor polls cond until it holds (no sleeps: the appenders make progress
// on their own).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 50_000_000 {
			t.Fatal("condition never held")
		}
		runtimeGosched()
	}
}

// closedLog writes n synced batches, closes the log and returns the path of
// its active segment with the batches as stored.
func closedLog(t *testing.T, fsys *vfs.MemFS, n int) (string, [][]byte) {
	t.Helper()
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	var stored [][]byte
	for i := range n {
		b := testBatch(t, 2, int64(i), 100, byte(i))
		res := mustAppend(t, l, b)
		stored = append(stored, withOffset(b, res.BaseOffset, 7))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join("t-0", fmt.Sprintf("%020d.log", 0)), stored
}

// crashedLog writes n batches and syncs them, then loses power without a
// clean close: the checkpoint still says recovery point 0, so recovery must
// tell torn tails from corruption by the bytes alone.
func crashedLog(t *testing.T, fsys *vfs.MemFS, n int) (string, [][]byte) {
	t.Helper()
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	var stored [][]byte
	for i := range n {
		b := testBatch(t, 2, int64(i), 100, byte(i))
		res := mustAppend(t, l, b)
		stored = append(stored, withOffset(b, res.BaseOffset, 7))
	}
	if err := l.Sync(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	l.Close()
	return filepath.Join("t-0", fmt.Sprintf("%020d.log", 0)), stored
}

func appendToFile(t *testing.T, fsys vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.OpenAppend(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, fsys vfs.FS, name string, at int64) {
	t.Helper()
	f, err := fsys.OpenAppend(name)
	if err != nil {
		t.Fatal(err)
	}
	size, _ := f.Size()
	data := make([]byte, size)
	f.ReadAt(data, 0)
	data[at] ^= 0x40
	f.Truncate(0)
	f.Write(data)
	f.Sync()
	f.Close()
}

func TestRecoveryCutsTornTails(t *testing.T) {
	nextBatch := testBatch(t, 3, 500, 100, 'n')
	for name, tail := range map[string][]byte{
		"half a batch":     nextBatch[:len(nextBatch)/2],
		"a short header":   nextBatch[:20],
		"garbage":          bytes.Repeat([]byte{0xAB}, 300),
		"zeros":            make([]byte, 4096),
		"bad crc at end":   corruptCopy(nextBatch, len(nextBatch)-1),
		"batch then zeros": append(corruptCopy(nextBatch, 70), make([]byte, 100)...),
	} {
		t.Run(name, func(t *testing.T) {
			fsys := newMemFS(t)
			segment, stored := crashedLog(t, fsys, 10)
			appendToFile(t, fsys, segment, tail)
			var logs strings.Builder
			opts := testOptions(t)
			opts.Logger = slogTo(&logs)
			l := mustOpen(t, fsys, "t-0", testConfig(), opts)
			defer l.Close()
			if got := readAll(t, l); !bytes.Equal(got, bytes.Join(stored, nil)) || l.LogEndOffset() != 20 {
				t.Errorf("recovered %d bytes, LEO %d; want the 10 synced batches", len(got), l.LogEndOffset())
			}
			if !strings.Contains(logs.String(), "truncating torn write") || !strings.Contains(logs.String(), segment) {
				t.Errorf("no warning naming the file: %s", logs.String())
			}
			info, _ := fsys.Stat(segment)
			if info.Size != int64(len(bytes.Join(stored, nil))) {
				t.Errorf("segment is %d bytes after the cut", info.Size)
			}
			fsys.Crash() // the cut itself was made durable
			l2 := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
			l2.Close()
		})
	}
}

func corruptCopy(b []byte, at int) []byte {
	c := bytes.Clone(b)
	c[at] ^= 0xFF
	return c
}

func TestRecoveryRefusesCorruption(t *testing.T) {
	cases := map[string]func(t *testing.T, fsys *vfs.MemFS) string{
		"bad batch followed by valid ones": func(t *testing.T, fsys *vfs.MemFS) string {
			segment, stored := crashedLog(t, fsys, 10)
			flipByte(t, fsys, segment, int64(len(stored[0])*3+80))
			return segment
		},
		// Sealed segments below the recovery point are trusted without a
		// scan (as in Kafka); without a checkpoint every one is scanned.
		"flipped byte in a sealed segment": func(t *testing.T, fsys *vfs.MemFS) string {
			cfg := testConfig()
			cfg.SegmentBytes = 1000
			l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
			for i := range 10 {
				mustAppend(t, l, testBatch(t, 2, int64(i), 100, byte(i)))
			}
			l.Close()
			fsys.Remove(filepath.Join("t-0", checkpointName))
			segment := filepath.Join("t-0", fmt.Sprintf("%020d.log", 0))
			flipByte(t, fsys, segment, 100)
			return segment
		},
		"flipped last batch below the recovery point": func(t *testing.T, fsys *vfs.MemFS) string {
			segment, stored := closedLog(t, fsys, 10)
			flipByte(t, fsys, segment, int64(len(stored[0])*10-5))
			return segment
		},
		"log shorter than the recovery point": func(t *testing.T, fsys *vfs.MemFS) string {
			segment, stored := closedLog(t, fsys, 10)
			f, _ := fsys.OpenAppend(segment)
			f.Truncate(int64(len(stored[0]) * 9))
			f.Sync()
			f.Close()
			return segment
		},
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			fsys := newMemFS(t)
			segment := corrupt(t, fsys)
			before, _ := fsys.Stat(segment)
			_, err := Open(fsys, "t-0", testConfig(), testOptions(t))
			var ce *CorruptionError
			if !isCorruption(err) || !errors.As(err, &ce) || ce.File != segment {
				t.Fatalf("open: %v; want ErrCorruption naming %s", err, segment)
			}
			if !strings.Contains(err.Error(), "at byte") {
				t.Errorf("error does not say where: %v", err)
			}
			after, _ := fsys.Stat(segment)
			if after.Size != before.Size {
				t.Errorf("a refused recovery changed the segment: %d -> %d bytes", before.Size, after.Size)
			}
		})
	}
}

func TestCorruptCheckpointRefused(t *testing.T) {
	fsys := newMemFS(t)
	closedLog(t, fsys, 3)
	flipByte(t, fsys, filepath.Join("t-0", checkpointName), 6)
	if _, err := Open(fsys, "t-0", testConfig(), testOptions(t)); !isCorruption(err) {
		t.Errorf("open with a corrupt checkpoint: %v", err)
	}
}

func TestRecoveryRebuildsIndexes(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	cfg.IndexIntervalBytes = 100
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	for i := range 30 {
		mustAppend(t, l, testBatch(t, 2, int64(i), 100, byte(i)))
	}
	want := readAll(t, l)
	l.Close()
	// Garble every index: sealed ones are rebuilt on first use, the active
	// one by recovery.
	names, _ := fsys.ReadDir("t-0")
	for _, name := range names {
		if strings.HasSuffix(name, "index") {
			appendToFile(t, fsys, filepath.Join("t-0", name), []byte{1, 2, 3})
		}
	}
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if got := readAll(t, l); !bytes.Equal(got, want) {
		t.Error("reads differ after rebuilding the indexes")
	}
	for offset := int64(0); offset < l.LogEndOffset(); offset++ {
		got, err := l.Read(offset, 1, l.LogEndOffset(), true)
		h := mustSplit(t, got)
		if err != nil || h[0].BaseOffset > offset || h[0].LastOffset() < offset {
			t.Fatalf("offset %d: %v", offset, err)
		}
	}
}

func TestStrayFilesRemoved(t *testing.T) {
	fsys := newMemFS(t)
	closedLog(t, fsys, 3)
	for _, name := range []string{"log-offsets.checkpoint.tmp", "00000000000000000999.index"} {
		f, _ := fsys.Create(filepath.Join("t-0", name))
		f.Close()
	}
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	names, _ := fsys.ReadDir("t-0")
	for _, name := range names {
		if strings.HasSuffix(name, ".tmp") || strings.HasPrefix(name, "00000000000000000999") {
			t.Errorf("stray %s left behind", name)
		}
	}
}

// TestTornCrashesRecover drives many seeds of torn crashes over a log with
// unsynced tails: recovery must always open and keep the synced prefix.
func TestTornCrashesRecover(t *testing.T) {
	for seed := range uint64(40) {
		fsys := newMemFS(t)
		cfg := testConfig()
		cfg.SegmentBytes = 2500
		l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
		rng := rand.New(rand.NewPCG(seed, 9))
		for i := range 5 + rng.IntN(20) {
			mustAppend(t, l, testBatch(t, 1+i%3, int64(i), 50+rng.IntN(300), byte(i)))
			if rng.IntN(3) == 0 {
				l.Sync(l.LogEndOffset())
			}
		}
		synced := l.FlushedOffset()
		want, err := l.Read(0, 1<<30, synced, false)
		if err != nil {
			t.Fatal(err)
		}
		fsys.CrashTorn(rng)
		l.Close()
		l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
		got := readAll(t, l)
		if l.LogEndOffset() < synced || !bytes.HasPrefix(got, want) {
			t.Fatalf("seed %d: recovered to %d, synced was %d", seed, l.LogEndOffset(), synced)
		}
		l.Close()
	}
}
