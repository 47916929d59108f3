package storage

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

// TestShutdownStatesMarker: the states a marker records read back as
// written; an earlier release's marker (version 1) is clean without
// states; a marker damaged anywhere, or cut short, is not clean.
func TestShutdownStatesMarker(t *testing.T) {
	states := ShutdownStates{
		"a-0": {Base: 0, Size: 0, NextOffset: 0, MaxTimestamp: -1, OffsetOfMaxTimestamp: -1, FirstTimestamp: -1},
		"topic-17": {Base: 1000, Size: 4096, NextOffset: 1234, MaxTimestamp: 1700000000000, OffsetOfMaxTimestamp: 1200, FirstTimestamp: 1690000000000,
			OffsetEntries: 7, TimeEntries: 6, LastOffsetRelative: 200, LastOffsetPosition: 3000, LastTimeTimestamp: 1699999999999, LastTimeRelative: 190,
			checkpointed: true, checkpoint: checkpoint{logStartOffset: 10, recoveryPoint: 1234, firstDirtyOffset: -1},
			epochsKnown: true, epochs: epochEntries{{epoch: 3, startOffset: 0}, {epoch: 5, startOffset: 900}}},
		"x.y_z-123": {Base: 5, Size: 70, NextOffset: 6, MaxTimestamp: 9, OffsetOfMaxTimestamp: 5, FirstTimestamp: 9},
	}
	// A log whose newest leader epoch has no batch under it yet (a leader
	// elected, nothing appended since): its epochs are not in its state,
	// and the marker must still decode, for it and for the logs after it.
	mem := newMemFS(t)
	l := mustOpen(t, mem, "t-0", testConfig(), testOptions(t))
	mustAppend(t, l, testBatch(t, 1, 1, 10, 1))
	if err := l.AssignLeaderEpoch(9); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	unsynced, _ := l.ShutdownState()
	if unsynced.epochsKnown || unsynced.epochs != nil {
		t.Fatalf("state of a log with an unsynced leader epoch: epochs known %v, %v; want not known, none", unsynced.epochsKnown, unsynced.epochs)
	}
	states["a-1-unsynced-epoch"] = unsynced
	states["zz-last"] = states["x.y_z-123"]
	withEpochs := unsynced
	withEpochs.epochs = epochEntries{{epoch: 9, startOffset: 1}} // unknown: not encoded
	if got, ok := decodeShutdownStates(encodeShutdownStates(ShutdownStates{"a-0": withEpochs, "b-0": states["topic-17"]})); !ok ||
		!reflect.DeepEqual(got["b-0"], states["topic-17"]) || got["a-0"].epochs != nil {
		t.Fatalf("a state whose unknown epochs are set: decoded %v (ok %v)", got, ok)
	}
	encoded := encodeShutdownStates(states)
	got, ok := decodeShutdownStates(encoded)
	if !ok || len(got) != len(states) {
		t.Fatalf("decoded %d states (ok %v), want %d", len(got), ok, len(states))
	}
	for name, want := range states {
		if !reflect.DeepEqual(got[name], want) {
			t.Errorf("%s: decoded %+v, want %+v", name, got[name], want)
		}
	}
	if got, ok := decodeShutdownStates(cleanShutdownV1); !ok || got != nil {
		t.Errorf("version 1 marker: %v states, ok %v; want clean without states", len(got), ok)
	}
	for i := range encoded {
		damaged := bytes.Clone(encoded)
		damaged[i] ^= 0x10
		if _, ok := decodeShutdownStates(damaged); ok {
			t.Fatalf("marker with byte %d of %d flipped reads as clean", i, len(encoded))
		}
	}
	for n := range len(encoded) {
		if _, ok := decodeShutdownStates(encoded[:n]); ok {
			t.Fatalf("marker cut to %d of %d bytes reads as clean", n, len(encoded))
		}
	}

	fsys := newMemFS(t)
	fsys.MkdirAll("logs")
	fsys.SyncDir("/")
	if err := WriteCleanShutdown(fsys, "logs", states); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	clean, taken, err := TakeCleanShutdown(fsys, "logs")
	if err != nil || !clean || len(taken) != len(states) {
		t.Fatalf("after a crash: clean %v, %d states, err %v; want the %d written", clean, len(taken), err, len(states))
	}
}

// openCounter counts, through a vfs.FaultFS that fails nothing, opens of
// segment files (.log, .index, .timeindex) and of the checkpoint and
// leader-epoch files.
type openCounter struct {
	*vfs.FaultFS
	opens, checkpointOpens atomic.Int64
}

func newOpenCounter(inner vfs.FS) *openCounter {
	c := &openCounter{}
	c.FaultFS = vfs.NewFaultFS(inner, vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind != vfs.OpOpen {
			return nil
		}
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if strings.HasSuffix(op.Path, suffix) {
				c.opens.Add(1)
			}
		}
		if base := filepath.Base(op.Path); base == checkpointName || base == epochCheckpointName {
			c.checkpointOpens.Add(1)
		}
		return nil
	}))
	return c
}

// activeShape is what loading gives the active segment, for comparing a
// load from the shutdown state with one that reads the segment.
type activeShape struct {
	size, nextOffset, maxTimestamp, offsetOfMaxTimestamp, firstTimestamp int64
	offsets                                                              string
	times                                                                string
	indexer                                                              indexer
	checkpointed                                                         checkpoint
	epochs                                                               string
}

func shapeOf(l *Log) activeShape {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	s := l.activeLocked()
	return activeShape{s.size, s.nextOffset, s.maxTimestamp, s.offsetOfMaxTimestamp, s.firstTimestamp,
		fmt.Sprint(s.offsets), fmt.Sprint(s.times), s.indexer, l.checkpointed, fmt.Sprint(l.epochs)}
}

// TestOpenFromShutdownState: a log opened after a clean shutdown from the
// state its Close recorded has the active segment a load that reads the
// segment gives it (and reads, looks up timestamps and appends as that
// one does), without opening a segment file when the indexes are empty.
// A state that does not match the files is not used.
func TestOpenFromShutdownState(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 8000
	cfg.IndexIntervalBytes = 300
	for _, tc := range []struct {
		name    string
		batches int
	}{{"empty", 0}, {"one batch", 1}, {"indexed active segment", 12}, {"several segments", 90}} {
		t.Run(tc.name, func(t *testing.T) {
			// The same log twice, on two file systems: one is opened from
			// its shutdown state, the other by reading its files.
			build := func() (*openCounter, ShutdownState) {
				fsys := newOpenCounter(newMemFS(t))
				l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
				for i := range tc.batches {
					mustAppend(t, l, testBatch(t, 1+i%3, int64(1000+i*10-(i%4)*7), 30+i%40, byte(i)))
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				state, ok := l.ShutdownState()
				if !ok {
					t.Fatal("no shutdown state after a clean Close")
				}
				return fsys, state
			}
			stateFS, state := build()
			readFS, _ := build()
			before, checkpointsBefore := stateFS.opens.Load(), stateFS.checkpointOpens.Load()
			fromState := mustOpen(t, stateFS, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true, ShutdownState: &state})
			defer fromState.Close()
			opened := stateFS.opens.Load() - before
			if n := stateFS.checkpointOpens.Load() - checkpointsBefore; n != 0 {
				t.Errorf("loading from the state opened the checkpoint or leader-epoch file %d times", n)
			}
			if state.OffsetEntries <= 1 && state.TimeEntries <= 1 && opened != 0 {
				t.Errorf("loading from a state holding its indexes (%+v) opened %d segment files", state, opened)
			}
			if tc.batches == 1 && (state.TimeEntries != 1 || opened != 0) {
				t.Errorf("one batch: state %+v, %d segment files opened; want the time index's one entry in the state and none", state, opened)
			}
			read := mustOpen(t, readFS, "t-0", cfg, Options{Logger: testOptions(t).Logger, CleanShutdown: true})
			defer read.Close()
			for i := range 21 {
				if got, want := shapeOf(fromState), shapeOf(read); got != want {
					t.Fatalf("after %d appends, active segment of the log opened from its state:\n%+v\nof the one that read its files:\n%+v", i, got, want)
				}
				if got, want := readAll(t, fromState), readAll(t, read); !bytes.Equal(got, want) {
					t.Fatalf("after %d appends, read %d bytes from the log opened from its state, %d from the other", i, len(got), len(want))
				}
				b := testBatch(t, 2, int64(5000+i), 100, byte(i))
				mustAppend(t, fromState, b)
				mustAppend(t, read, b)
			}
		})
	}

	t.Run("mismatch", func(t *testing.T) {
		fsys := newMemFS(t)
		l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
		for i := range 3 {
			mustAppend(t, l, testBatch(t, 1, int64(i), 50, byte(i)))
		}
		l.Close()
		state, _ := l.ShutdownState()
		read := mustOpen(t, fsys, "t-0", cfg, Options{CleanShutdown: true})
		want := shapeOf(read)
		read.Close()
		for _, bad := range []ShutdownState{
			func() ShutdownState { s := state; s.Size--; return s }(),
			func() ShutdownState { s := state; s.Base++; return s }(),
			func() ShutdownState { s := state; s.OffsetEntries = 3; return s }(),
			func() ShutdownState { s := state; s.NextOffset = s.Base - 1; return s }(),
		} {
			reopened := mustOpen(t, fsys, "t-0", cfg, Options{CleanShutdown: true, ShutdownState: &bad})
			if got := shapeOf(reopened); got != want {
				t.Errorf("state %+v was used: active segment %+v, want %+v", bad, got, want)
			}
			reopened.Close()
		}
	})
}

// logSyncCounter counts, through a vfs.FaultFS that fails nothing,
// fsyncs of .log files.
type logSyncCounter struct {
	*vfs.FaultFS
	syncs atomic.Int64
}

func newLogSyncCounter(inner vfs.FS) *logSyncCounter {
	c := &logSyncCounter{}
	c.FaultFS = vfs.NewFaultFS(inner, vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpSync && strings.HasSuffix(op.Path, logSuffix) {
			c.syncs.Add(1)
		}
		return nil
	}))
	return c
}

// TestRecoveryAtRecoveryPointSyncsNothing: a recovery scan that finds the
// log ending at its checkpoint's recovery point does not fsync it again
// (everything below that point was fsynced before the checkpoint said so);
// one that finds bytes past it does.
func TestRecoveryAtRecoveryPointSyncsNothing(t *testing.T) {
	mem := newMemFS(t)
	fsys := newLogSyncCounter(mem)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	for i := range 3 {
		res := mustAppend(t, l, testBatch(t, 2, int64(i), 20, byte(i)))
		if err := l.Sync(res.LastOffset + 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.syncs.Store(0)
	l = mustOpen(t, fsys, "t-0", testConfig(), testOptions(t)) // not clean: scanned
	if n := fsys.syncs.Load(); n != 0 || l.LogEndOffset() != 6 {
		t.Fatalf("recovery of a log ending at its recovery point: %d fsyncs of its .log, log end %d; want none and 6", n, l.LogEndOffset())
	}
	res := mustAppend(t, l, testBatch(t, 2, 9, 20, 9))
	if err := l.Sync(res.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	mem.Crash() // the append is durable, the checkpoint still says 6
	fsys.syncs.Store(0)
	l = mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if n := fsys.syncs.Load(); n != 1 || l.LogEndOffset() != 8 {
		t.Fatalf("recovery of a log past its recovery point: %d fsyncs of its .log, log end %d; want 1 and 8", n, l.LogEndOffset())
	}
}
