package storage

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

func entries(pairs ...int64) epochEntries {
	var es epochEntries
	for i := 0; i < len(pairs); i += 2 {
		es = append(es, epochEntry{epoch: int32(pairs[i]), startOffset: pairs[i+1]})
	}
	return es
}

// Kafka's LeaderEpochFileCacheTest, case by case: assign keeps the cache
// monotonic, dropping what a newer assignment contradicts.
func TestEpochAssign(t *testing.T) {
	tests := []struct {
		name    string
		start   epochEntries
		assign  epochEntry
		want    epochEntries
		changed bool
	}{
		{"first entry", nil, epochEntry{2, 10}, entries(2, 10), true},
		{"newer epoch", entries(2, 10), epochEntry{3, 20}, entries(2, 10, 3, 20), true},
		{"latest epoch again, later offset", entries(2, 10), epochEntry{2, 15}, entries(2, 10), false},
		{"latest epoch again, same offset", entries(2, 10), epochEntry{2, 10}, entries(2, 10), false},
		{"latest epoch, earlier offset", entries(2, 10, 3, 20), epochEntry{3, 15}, entries(2, 10, 3, 15), true},
		{"older epoch drops newer ones", entries(2, 10, 3, 20, 4, 30), epochEntry{3, 25}, entries(2, 10, 3, 20), true},
		{"older epoch at a new offset", entries(2, 10, 5, 20), epochEntry{3, 20}, entries(2, 10, 3, 20), true},
		{"newer epoch at an earlier offset", entries(2, 10, 3, 20), epochEntry{4, 15}, entries(2, 10, 4, 15), true},
		{"newer epoch below everything", entries(2, 10, 3, 20), epochEntry{4, 5}, entries(4, 5), true},
		{"lower epoch below everything", entries(2, 10, 3, 20), epochEntry{1, 5}, entries(1, 5), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.start)
			got, changed := tt.start.assign(tt.assign)
			if !slices.Equal(got, tt.want) || changed != tt.changed {
				t.Fatalf("assign %+v to %+v = %+v, %v; want %+v, %v", tt.assign, tt.start, got, changed, tt.want, tt.changed)
			}
			if !slices.Equal(tt.start, before) {
				t.Fatalf("assign changed its receiver: %+v, was %+v", tt.start, before)
			}
		})
	}
}

// assignNewer (recovery, rebuilds) only ever adds newer epochs.
func TestEpochAssignNewer(t *testing.T) {
	es := entries(2, 10, 4, 30)
	if got, changed := es.assignNewer(epochEntry{3, 40}); changed || !slices.Equal(got, es) {
		t.Fatalf("older epoch: %+v, %v", got, changed)
	}
	if got, _ := es.assignNewer(epochEntry{5, 40}); !slices.Equal(got, entries(2, 10, 4, 30, 5, 40)) {
		t.Fatalf("newer epoch: %+v", got)
	}
}

// Kafka's truncateFromEnd and truncateFromStart ("exclusive: truncating
// from start at 6 retains an entry at 6").
func TestEpochTruncation(t *testing.T) {
	es := entries(1, 0, 3, 10, 4, 20)
	for _, tt := range []struct {
		end  int64
		want epochEntries
	}{{25, es}, {21, es}, {20, entries(1, 0, 3, 10)}, {11, entries(1, 0, 3, 10)}, {10, entries(1, 0)}, {0, nil}} {
		if got, changed := es.truncateFromEnd(tt.end); !slices.Equal(got, tt.want) || changed != (len(got) != len(es)) {
			t.Errorf("truncateFromEnd(%d) = %+v, %v; want %+v", tt.end, got, changed, tt.want)
		}
	}
	for _, tt := range []struct {
		start int64
		want  epochEntries
	}{{0, es}, {5, entries(1, 5, 3, 10, 4, 20)}, {10, entries(3, 10, 4, 20)}, {15, entries(3, 15, 4, 20)}, {20, entries(4, 20)}, {99, entries(4, 99)}} {
		got, changed := es.truncateFromStart(tt.start)
		if !slices.Equal(got, tt.want) || changed != !slices.Equal(got, es) {
			t.Errorf("truncateFromStart(%d) = %+v, %v; want %+v", tt.start, got, changed, tt.want)
		}
	}
	if got, changed := epochEntries(nil).truncateFromStart(5); got != nil || changed {
		t.Errorf("truncateFromStart of an empty cache = %+v, %v", got, changed)
	}
}

// Kafka's LeaderEpochFileCache.endOffsetFor.
func TestEpochEndOffsetFor(t *testing.T) {
	es := entries(2, 10, 4, 20, 7, 35)
	const leo = 50
	tests := []struct {
		requested int32
		epoch     int32
		offset    int64
	}{
		{-1, -1, -1},  // UNDEFINED_EPOCH asked
		{7, 7, leo},   // the latest epoch: the log end offset
		{4, 4, 35},    // a known epoch ends where the next begins
		{2, 2, 20},    // the first one too
		{5, 4, 35},    // an unknown epoch between: the epoch below it
		{6, 4, 35},    // ...
		{1, 1, 10},    // below every entry: itself, at the first start offset
		{0, 0, 10},    // ...
		{8, -1, -1},   // above every entry: undefined
		{100, -1, -1}, // ...
	}
	for _, tt := range tests {
		if epoch, offset := es.endOffsetFor(tt.requested, leo); epoch != tt.epoch || offset != tt.offset {
			t.Errorf("endOffsetFor(%d) = (%d, %d), want (%d, %d)", tt.requested, epoch, offset, tt.epoch, tt.offset)
		}
	}
	if epoch, offset := epochEntries(nil).endOffsetFor(3, leo); epoch != -1 || offset != -1 {
		t.Errorf("endOffsetFor on an empty cache = (%d, %d), want (-1, -1)", epoch, offset)
	}
}

// The checkpoint is Kafka's LeaderEpochCheckpointFile text, and anything
// else is refused rather than half-read.
func TestEpochCheckpointFormat(t *testing.T) {
	es := entries(0, 0, 3, 1540, 12, 99999999999)
	text := string(encodeEpochCheckpoint(es))
	if want := "0\n3\n0 0\n3 1540\n12 99999999999\n"; text != want {
		t.Fatalf("encoded %q, want %q", text, want)
	}
	if got, err := decodeEpochCheckpoint([]byte(text)); err != nil || !slices.Equal(got, es) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	if got, err := decodeEpochCheckpoint([]byte("0\n0\n")); err != nil || len(got) != 0 {
		t.Fatalf("empty checkpoint = %+v, %v", got, err)
	}
	// Kafka splits on any whitespace.
	if got, err := decodeEpochCheckpoint([]byte("0\n1\n5   7")); err != nil || !slices.Equal(got, entries(5, 7)) {
		t.Fatalf("checkpoint with spaces and no final newline = %+v, %v", got, err)
	}
	// Kafka builds its cache by assigning each entry: non-monotonic ones go.
	if got, err := decodeEpochCheckpoint([]byte("0\n3\n1 0\n4 20\n3 30\n")); err != nil || !slices.Equal(got, entries(1, 0, 3, 30)) {
		t.Fatalf("non-monotonic checkpoint = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "0\n", "1\n0\n", "0\n2\n1 0\n", "0\n1\n1 0\n2 5\n", "0\n1\n1\n", "0\n1\n-1 0\n", "0\n1\n1 -5\n",
		"0\nx\n", "0\n-1\n", "0\n1\n1 0 3\n", "0\n1\n9999999999 0\n", "0\n3\n1 0\n2 3"} {
		if _, err := decodeEpochCheckpoint([]byte(bad)); !errors.Is(err, errBadEpochCheckpoint) {
			t.Errorf("decode %q: err = %v, want errBadEpochCheckpoint", bad, err)
		}
	}
}

func epochFile(t *testing.T, fsys vfs.FS, dir string) (string, bool) {
	t.Helper()
	b, err := readBoundedFile(fsys, filepath.Join(dir, epochCheckpointName), maxEpochCheckpointBytes)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func epochsOf(l *Log) epochEntries {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.epochs)
}

func mustAppendEpoch(t testing.TB, l *Log, batch []byte, epoch int32) AppendResult {
	t.Helper()
	res, err := l.Append(batch, epoch)
	if err != nil {
		t.Fatalf("append under epoch %d: %v", epoch, err)
	}
	return res
}

// Appends record each new leader epoch at its first offset, durably, and
// a log that never saw an epoch writes no file.
func TestAppendRecordsLeaderEpochs(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("a new log knows an epoch")
	}
	if _, found := epochFile(t, fsys, "t-0"); found {
		t.Fatal("a new log wrote a leader epoch checkpoint")
	}
	mustAppendEpoch(t, l, testBatch(t, 3, 0, 10, 'a'), 0) // 0..2
	mustAppendEpoch(t, l, testBatch(t, 2, 0, 10, 'b'), 0) // 3..4
	mustAppendEpoch(t, l, testBatch(t, 2, 0, 10, 'c'), 4) // 5..6
	mustProduce(t, l, producerBatch(t, 1, 0, 0, 1, 0))    // 7, epoch 7
	if epoch, ok := l.LatestEpoch(); !ok || epoch != 7 {
		t.Fatalf("LatestEpoch = %d, %v; want 7", epoch, ok)
	}
	if got, want := epochsOf(l), entries(0, 0, 4, 5, 7, 7); !slices.Equal(got, want) {
		t.Fatalf("epochs = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, fsys, "t-0"); text != "0\n3\n0 0\n4 5\n7 7\n" {
		t.Fatalf("checkpoint = %q", text)
	}
	for _, tt := range []struct {
		requested, epoch int32
		offset           int64
	}{{0, 0, 5}, {4, 4, 7}, {5, 4, 7}, {7, 7, 8}, {8, -1, -1}} {
		if epoch, offset := l.EndOffsetForEpoch(tt.requested); epoch != tt.epoch || offset != tt.offset {
			t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", tt.requested, epoch, offset, tt.epoch, tt.offset)
		}
	}
}

// A deposed leader's appends are fenced before anything is written: data,
// producer state, markers, and the epoch cache all stay as they were.
func TestAppendsFencedByOlderLeaderEpoch(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	mustProduce(t, l, txnBatch(t, 1, 0, 0, 1)) // epoch 7
	before, producers := l.LogEndOffset(), l.Producers()
	checkpoint, _ := epochFile(t, fsys, "t-0")
	if _, err := l.Append(testBatch(t, 1, 0, 1, 'x'), 6); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("Append under epoch 6: %v, want ErrFencedLeaderEpoch", err)
	}
	if _, err := l.AppendProduced(producerBatch(t, 2, 0, 0, 1, 0), 6); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("AppendProduced under epoch 6: %v, want ErrFencedLeaderEpoch", err)
	}
	// Even a retry that would be a duplicate: the epoch comes first.
	if _, err := l.AppendProduced(txnBatch(t, 1, 0, 0, 1), 6); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("duplicate under epoch 6: %v, want ErrFencedLeaderEpoch", err)
	}
	if _, err := l.AppendTxnMarker(1, 0, true, 0, 6); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("AppendTxnMarker under epoch 6: %v, want ErrFencedLeaderEpoch", err)
	}
	if _, err := l.Append(testBatch(t, 1, 0, 1, 'x'), -1); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("Append with no epoch: %v, want ErrFencedLeaderEpoch", err)
	}
	if l.LogEndOffset() != before || !slices.EqualFunc(l.Producers(), producers, producerStateEqual) {
		t.Fatalf("fenced appends changed the log: end %d (was %d), producers %+v (were %+v)", l.LogEndOffset(), before, l.Producers(), producers)
	}
	if got, _ := epochFile(t, fsys, "t-0"); got != checkpoint {
		t.Fatalf("fenced appends changed the checkpoint to %q", got)
	}
	if l.LastStableOffset(1<<62) != 0 {
		t.Fatal("a fenced marker ended the transaction")
	}
	// The current epoch and newer ones still write.
	mustMarker(t, l, 1, 0, true, 0)
	mustAppendEpoch(t, l, testBatch(t, 1, 0, 1, 'y'), 9)
	if _, err := l.Append(testBatch(t, 1, 0, 1, 'z'), 7); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("Append under epoch 7 after 9: %v, want ErrFencedLeaderEpoch", err)
	}
}

func producerStateEqual(a, b ProducerState) bool {
	return a.ProducerID == b.ProducerID && a.Epoch == b.Epoch && a.LastSequence == b.LastSequence &&
		a.LastTimestamp == b.LastTimestamp && a.CoordinatorEpoch == b.CoordinatorEpoch &&
		a.CurrentTxnFirstOffset == b.CurrentTxnFirstOffset && slices.Equal(a.Batches, b.Batches)
}

// A new leader records its epoch before appending anything (Kafka's
// makeLeader), so followers asking about the previous epoch are answered
// at once and older leaders are fenced.
func TestAssignLeaderEpoch(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 1, 'a'), 3) // 0..4
	if err := l.AssignLeaderEpoch(5); err != nil {
		t.Fatal(err)
	}
	if epoch, offset := l.EndOffsetForEpoch(3); epoch != 3 || offset != 5 {
		t.Fatalf("EndOffsetForEpoch(3) = (%d, %d), want (3, 5)", epoch, offset)
	}
	if err := l.AssignLeaderEpoch(5); err != nil {
		t.Fatalf("assigning the latest epoch again: %v", err)
	}
	if err := l.AssignLeaderEpoch(4); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("assigning an older epoch: %v, want ErrFencedLeaderEpoch", err)
	}
	if _, err := l.Append(testBatch(t, 1, 0, 1, 'b'), 3); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("append under the old epoch: %v", err)
	}
	mustAppendEpoch(t, l, testBatch(t, 1, 0, 1, 'b'), 5)
	if got, want := epochsOf(l), entries(3, 0, 5, 5); !slices.Equal(got, want) {
		t.Fatalf("epochs = %+v, want %+v", got, want)
	}
	// An epoch assigned with no batch after it describes no data: a reopen
	// drops it, as Kafka's LogLoader truncates the cache to the log end.
	if err := l.AssignLeaderEpoch(6); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if got, want := epochsOf(l), entries(3, 0, 5, 5); !slices.Equal(got, want) {
		t.Fatalf("epochs after reopening = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, fsys, "t-0"); text != "0\n2\n3 0\n5 5\n" {
		t.Fatalf("checkpoint after reopening = %q", text)
	}
}

// Truncate drops the epochs that start at or after the new log end, which
// may lie below the requested offset (a whole batch goes).
func TestTruncateDropsLaterEpochs(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 1, 'a'), 1) // 0..4
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 1, 'b'), 2) // 5..9
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 1, 'c'), 3) // 10..14
	if err := l.Truncate(12); err != nil {               // the batch 10..14 goes whole
		t.Fatal(err)
	}
	if got, want := epochsOf(l), entries(1, 0, 2, 5); !slices.Equal(got, want) {
		t.Fatalf("epochs = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, fsys, "t-0"); text != "0\n2\n1 0\n2 5\n" {
		t.Fatalf("checkpoint = %q", text)
	}
	if epoch, offset := l.EndOffsetForEpoch(2); epoch != 2 || offset != 10 {
		t.Fatalf("EndOffsetForEpoch(2) = (%d, %d), want the log end 10", epoch, offset)
	}
	// The follower now takes its new leader's epoch 2 batches, then epoch 4.
	mustAppendEpoch(t, l, testBatch(t, 1, 0, 1, 'd'), 2)
	mustAppendEpoch(t, l, testBatch(t, 1, 0, 1, 'e'), 4)
	if got, want := epochsOf(l), entries(1, 0, 2, 5, 4, 11); !slices.Equal(got, want) {
		t.Fatalf("epochs = %+v, want %+v", got, want)
	}
}

// A truncation at or past the log end cuts no data but still drops the
// epochs starting there (Kafka's UnifiedLog.truncateTo): a broker that
// became leader (AssignLeaderEpoch at its log end) and lost the leadership
// before writing must not keep reporting that epoch as its latest when it
// follows again.
func TestTruncateAtLogEndDropsEmptyEpoch(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 1, 'a'), 1) // 0..4
	if err := l.AssignLeaderEpoch(2); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if got, want := epochsOf(l), entries(1, 0); !slices.Equal(got, want) {
		t.Fatalf("epochs = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, fsys, "t-0"); text != "0\n1\n1 0\n" {
		t.Fatalf("checkpoint = %q", text)
	}
	if l.LogEndOffset() != 5 {
		t.Fatalf("log end %d, want 5", l.LogEndOffset())
	}
}

// Moving the log start (DeleteRecords, retention) keeps the epoch of the
// new first offset, moved to it (Kafka's truncateFromStart).
func TestLogStartMovesTrimEpochs(t *testing.T) {
	fsys := newMemFS(t)
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	l := mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	for epoch := range int32(6) {
		for range 4 {
			mustAppendEpoch(t, l, testBatch(t, 2, 0, 100, 'a'), epoch) // 8 offsets an epoch
		}
	}
	if err := l.DeleteRecordsBefore(12); err != nil {
		t.Fatal(err)
	}
	if got, want := epochsOf(l), entries(1, 12, 2, 16, 3, 24, 4, 32, 5, 40); !slices.Equal(got, want) {
		t.Fatalf("epochs after DeleteRecordsBefore(12) = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, fsys, "t-0"); !strings.HasPrefix(text, "0\n5\n1 12\n") {
		t.Fatalf("checkpoint = %q", text)
	}
	cfg.RetentionBytes = 1500
	l.SetConfig(cfg)
	if _, err := l.EnforceRetention(time.Now()); err != nil {
		t.Fatal(err)
	}
	start := l.LogStartOffset()
	if start <= 12 {
		t.Fatalf("retention deleted nothing: log start %d", start)
	}
	got := epochsOf(l)
	if len(got) == 0 || got[0].startOffset != start || got[len(got)-1].epoch != 5 {
		t.Fatalf("epochs after retention to %d = %+v", start, got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", cfg, testOptions(t))
	defer l.Close()
	if reopened := epochsOf(l); !slices.Equal(reopened, got) {
		t.Fatalf("epochs after reopening = %+v, want %+v", reopened, got)
	}
}

// A start move that the epoch checkpoint missed (a crash right after the
// offsets checkpoint) is trimmed at open.
func TestOpenTrimsEpochsBelowLogStart(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 1, 'a'), 1) // 0..4
	mustAppendEpoch(t, l, testBatch(t, 5, 0, 1, 'b'), 2) // 5..9
	if err := l.DeleteRecordsBefore(7); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	writeEpochFile(t, fsys, "t-0", "0\n2\n1 0\n2 5\n")
	l = mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if got, want := epochsOf(l), entries(2, 7); !slices.Equal(got, want) {
		t.Fatalf("epochs = %+v, want %+v", got, want)
	}
	if text, _ := epochFile(t, fsys, "t-0"); text != "0\n1\n2 7\n" {
		t.Fatalf("checkpoint = %q, want it rewritten", text)
	}
}

func writeEpochFile(t *testing.T, fsys vfs.FS, dir, text string) {
	t.Helper()
	if err := writeFileAtomic(fsys, dir, filepath.Join(dir, epochCheckpointName), []byte(text)); err != nil {
		t.Fatal(err)
	}
}

// An old data directory (no checkpoint) opens with an empty cache and
// writes nothing until an epoch is appended; a checkpoint that fails its
// checks is rebuilt from the batches' own epochs.
func TestMissingOrBadEpochCheckpoint(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	mustAppendEpoch(t, l, testBatch(t, 2, 0, 1, 'a'), 1) // 0..1
	mustAppendEpoch(t, l, testBatch(t, 2, 0, 1, 'b'), 1) // 2..3
	mustAppendEpoch(t, l, testBatch(t, 2, 0, 1, 'c'), 4) // 4..5
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join("t-0", epochCheckpointName)
	if err := fsys.Remove(name); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, fsys, "t-0", testConfig(), Options{Logger: testOptions(t).Logger, CleanShutdown: true})
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("a log without a checkpoint knows an epoch")
	}
	if _, found := epochFile(t, fsys, "t-0"); found {
		t.Fatal("opening wrote an empty checkpoint")
	}
	mustAppendEpoch(t, l, testBatch(t, 1, 0, 1, 'd'), 4)
	if got, want := epochsOf(l), entries(4, 6); !slices.Equal(got, want) {
		t.Fatalf("epochs after the first append = %+v, want %+v", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"0\n3\n1 0\n4", "garbage", "7\n0\n"} {
		writeEpochFile(t, fsys, "t-0", bad)
		var logs strings.Builder
		l = mustOpen(t, fsys, "t-0", testConfig(), Options{Logger: slogTo(&logs)})
		if got, want := epochsOf(l), entries(1, 0, 4, 4); !slices.Equal(got, want) {
			t.Fatalf("epochs rebuilt from %q = %+v, want %+v", bad, got, want)
		}
		if !strings.Contains(logs.String(), "rebuilding unreadable leader epoch checkpoint") {
			t.Errorf("no warning for %q: %s", bad, logs.String())
		}
		if text, _ := epochFile(t, fsys, "t-0"); text != "0\n2\n1 0\n4 4\n" {
			t.Fatalf("checkpoint rewritten as %q", text)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// AssignLeaderEpoch writes nothing (a restart making 100,000 partitions
// leaders must not cost two fsyncs each), yet the epoch is in the
// checkpoint before the first batch under it is durable. The batch's
// segment is then sealed and below the recovery point, so after a power
// cut no scan can rebuild the entry from the batches: it must come from
// the checkpoint.
func TestAssignedEpochWrittenWithItsFirstBatch(t *testing.T) {
	fsys := newMemFS(t)
	l := mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	mustAppendEpoch(t, l, testBatch(t, 3, 0, 1, 'a'), 2) // 0..2
	before, _ := epochFile(t, fsys, "t-0")
	if err := l.AssignLeaderEpoch(7); err != nil {
		t.Fatal(err)
	}
	if after, _ := epochFile(t, fsys, "t-0"); after != before {
		t.Fatalf("AssignLeaderEpoch rewrote the checkpoint: %q, was %q", after, before)
	}
	mustAppendEpoch(t, l, testBatch(t, 2, 0, 10_000, 'b'), 7)   // 3..4, fills the segment
	res := mustAppendEpoch(t, l, testBatch(t, 1, 0, 1, 'c'), 7) // 5, in a new segment
	if err := l.Sync(res.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	l.Close()
	l = mustOpen(t, fsys, "t-0", testConfig(), testOptions(t))
	defer l.Close()
	if got, want := epochsOf(l), entries(2, 0, 7, 3); !slices.Equal(got, want) {
		t.Fatalf("epochs after a power cut = %+v, want %+v", got, want)
	}
}
