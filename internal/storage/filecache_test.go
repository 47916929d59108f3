package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// countingFS counts the descriptors open through it (files, and the
// directory a SyncDir, ReadDir or RemoveAll opens on a real system) and
// remembers the most open at once.
type countingFS struct {
	vfs.FS
	mu        sync.Mutex
	open, max int
}

func (c *countingFS) add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open += n
	c.max = max(c.max, c.open)
}

func (c *countingFS) counts() (open, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.max
}

func (c *countingFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	c.add(1)
	return &countedFile{File: f, fs: c}, nil
}

func (c *countingFS) Create(name string) (vfs.File, error)     { return c.wrap(c.FS.Create(name)) }
func (c *countingFS) OpenAppend(name string) (vfs.File, error) { return c.wrap(c.FS.OpenAppend(name)) }
func (c *countingFS) Open(name string) (vfs.File, error)       { return c.wrap(c.FS.Open(name)) }
func (c *countingFS) OpenReadWrite(name string) (vfs.File, error) {
	return c.wrap(c.FS.OpenReadWrite(name))
}

func (c *countingFS) SyncDir(dir string) error {
	c.add(1)
	defer c.add(-1)
	return c.FS.SyncDir(dir)
}

func (c *countingFS) ReadDir(dir string) ([]string, error) {
	c.add(1)
	defer c.add(-1)
	return c.FS.ReadDir(dir)
}

func (c *countingFS) RemoveAll(dir string) error {
	c.add(1)
	defer c.add(-1)
	return c.FS.RemoveAll(dir)
}

type countedFile struct {
	vfs.File
	fs   *countingFS
	once sync.Once
}

func (f *countedFile) Close() error {
	f.once.Do(func() { f.fs.add(-1) })
	return f.File.Close()
}

// evictAll closes every idle descriptor of c, as if other partitions had
// needed the room.
func evictAll(c *FileCache) {
	var files []vfs.File
	c.mu.Lock()
	for victim := c.lruIdleLocked(nil); victim != nil; victim = c.lruIdleLocked(nil) {
		files = append(files, c.evictLocked(victim))
	}
	c.mu.Unlock()
	c.closeAll(files)
}

// pinOthers creates n files outside any log and pins each, taking n
// descriptors of c's budget.
func pinOthers(t *testing.T, fsys vfs.FS, c *FileCache, n int) []pins {
	t.Helper()
	if err := fsys.MkdirAll("other"); err != nil {
		t.Fatal(err)
	}
	held := make([]pins, n)
	for i := range held {
		f := c.file(fsys, fmt.Sprintf("other/%d", i), true, true)
		p, err := f.pin(mayRefuse, true)
		if err != nil {
			t.Fatal(err)
		}
		held[i] = p
	}
	return held
}

func releaseAll(held []pins) {
	for i := range held {
		held[i].release()
	}
}

// partitionModel is what a test appended to one log: the stored batch at
// each base offset (one record per batch).
type partitionModel map[int64][]byte

// TestFileCacheKeepsDescriptorsWithinBudget runs appends, fsyncs, rolls,
// reads, truncations, DeleteRecords and reopens over eight logs that share
// a six-descriptor cache: the descriptors open never exceed the budget
// (plus any overdraft the cache counted), files are evicted and reopened
// all along, every read returns what was appended, and closing the logs
// closes every descriptor.
func TestFileCacheKeepsDescriptorsWithinBudget(t *testing.T) {
	fsys := &countingFS{FS: newMemFS(t)}
	cache := NewFileCache(FileCacheConfig{Budget: 6})
	opts := testOptions(t)
	opts.Files = cache
	cfg := testConfig()
	cfg.SegmentBytes, cfg.IndexIntervalBytes = 2000, 200
	logs := make([]*Log, 8)
	models := make([]partitionModel, len(logs))
	for i := range logs {
		logs[i] = mustOpen(t, fsys, fmt.Sprintf("t-%d", i), cfg, opts)
		models[i] = partitionModel{}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 3000 {
		i := rng.IntN(len(logs))
		logs[i] = randomStep(t, fsys, logs[i], models[i], rng, cfg, opts, step)
	}
	for i, l := range logs {
		checkModel(t, l, models[i])
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s := cache.Stats()
	open, most := fsys.counts()
	t.Logf("most descriptors open at once %d; cache %+v", most, s)
	if most > s.Budget+int(s.Overdrafts) {
		t.Errorf("%d descriptors open at once with a budget of %d and %d overdrafts", most, s.Budget, s.Overdrafts)
	}
	if s.Evictions == 0 || s.Reopens == 0 {
		t.Errorf("no file was evicted and reopened: %+v", s)
	}
	if open != 0 || s.Open != 0 {
		t.Errorf("%d descriptors (cache: %d) still open after every log closed", open, s.Open)
	}
}

// randomStep runs one random operation on l, checking reads against m, and
// returns the log (reopened by some steps).
func randomStep(t *testing.T, fsys vfs.FS, l *Log, m partitionModel, rng *rand.Rand, cfg Config, opts Options, step int) *Log {
	t.Helper()
	start, end := l.LogStartOffset(), l.LogEndOffset()
	var err error
	switch r := rng.IntN(100); {
	case r < 55:
		b := testBatch(t, 1, int64(step), 50+rng.IntN(400), byte(step))
		res := mustAppend(t, l, b)
		m[res.BaseOffset] = withOffset(b, res.BaseOffset, 7)
	case r < 70:
		err = l.Sync(end)
	case r < 90 && end > start:
		offset := start + rng.Int64N(end-start)
		var got []byte
		if got, err = l.Read(offset, 1, end, true); err == nil && !bytes.Equal(got, m[offset]) {
			t.Fatalf("step %d: read at %d returned other bytes", step, offset)
		}
	case r < 94:
		cut := max(start, end-rng.Int64N(4))
		err = l.Truncate(cut)
		forgetFrom(m, cut)
	case r < 97 && end > start:
		to := start + rng.Int64N(end-start)/2
		err = l.DeleteRecordsBefore(to)
		forgetBelow(m, to)
	case r >= 97:
		if err = l.Close(); err == nil {
			l = mustOpen(t, fsys, l.dir, cfg, opts)
		}
	}
	if err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
	return l
}

func forgetFrom(m partitionModel, offset int64) {
	for o := range m {
		if o >= offset {
			delete(m, o)
		}
	}
}

func forgetBelow(m partitionModel, offset int64) {
	for o := range m {
		if o < offset {
			delete(m, o)
		}
	}
}

// checkModel reads l whole and compares it with m.
func checkModel(t *testing.T, l *Log, m partitionModel) {
	t.Helper()
	var want []byte
	for o := l.LogStartOffset(); o < l.LogEndOffset(); o++ {
		b, ok := m[o]
		if !ok {
			t.Fatalf("%s: no batch appended at offset %d", l.dir, o)
		}
		want = append(want, b...)
	}
	if got := readAll(t, l); !bytes.Equal(got, want) {
		t.Fatalf("%s: log holds %d bytes, %d appended", l.dir, len(got), len(want))
	}
}

// TestFileCacheRefusesWhenEveryDescriptorIsPinned: with the whole budget
// pinned by others, an append and a read that need a descriptor wait,
// then fail with ErrTooManyOpenFiles naming the numbers; the log is not
// failed, and both work once the descriptors are released.
func TestFileCacheRefusesWhenEveryDescriptorIsPinned(t *testing.T) {
	fsys := newMemFS(t)
	cache := NewFileCache(FileCacheConfig{Budget: minFileBudget, Wait: 20 * time.Millisecond})
	opts := testOptions(t)
	opts.Files = cache
	l := mustOpen(t, fsys, "t-0", testConfig(), opts)
	defer l.Close()
	first := testBatch(t, 1, 0, 100, 'a')
	mustAppend(t, l, first)
	held := pinOthers(t, fsys, cache, minFileBudget)
	_, err := l.Append(testBatch(t, 1, 1, 100, 'b'), 7)
	var tooMany *TooManyOpenFilesError
	if !errors.As(err, &tooMany) || tooMany.Budget != minFileBudget || tooMany.InUse != minFileBudget {
		t.Fatalf("append with every descriptor pinned: %v", err)
	}
	if _, err := l.Read(0, 1<<20, 1, true); !errors.Is(err, ErrTooManyOpenFiles) {
		t.Fatalf("read with every descriptor pinned: %v", err)
	}
	if err := l.writable(); err != nil {
		t.Fatalf("the refusal failed the log: %v", err)
	}
	releaseAll(held)
	second := testBatch(t, 1, 1, 100, 'b')
	mustAppend(t, l, second)
	if got := readAll(t, l); !bytes.Equal(got, append(withOffset(first, 0, 7), withOffset(second, 1, 7)...)) {
		t.Fatal("log holds other bytes after the refusals")
	}
	if s := cache.Stats(); s.Refusals < 2 || s.Waits < 2 {
		t.Errorf("refusals not counted: %+v", s)
	}
}

// TestFileCacheOpenWaitsForARelease: an append that finds every
// descriptor pinned waits, and completes as soon as one is released.
func TestFileCacheOpenWaitsForARelease(t *testing.T) {
	fsys := newMemFS(t)
	cache := NewFileCache(FileCacheConfig{Budget: minFileBudget, Wait: time.Minute})
	opts := testOptions(t)
	opts.Files = cache
	l := mustOpen(t, fsys, "t-0", testConfig(), opts)
	defer l.Close()
	held := pinOthers(t, fsys, cache, minFileBudget)
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(testBatch(t, 1, 0, 100, 'a'), 7)
		done <- err
	}()
	waitFor(t, func() bool { return cache.Stats().Waits > 0 })
	releaseAll(held)
	if err := <-done; err != nil {
		t.Fatalf("append after the release: %v", err)
	}
	if l.LogEndOffset() != 1 {
		t.Fatalf("log end %d after one append", l.LogEndOffset())
	}
}

// outOfDescriptors fails the operations of kinds with EMFILE while armed,
// as an operating system out of descriptors does.
type outOfDescriptors struct {
	armed atomic.Bool
	kinds []vfs.OpKind
}

func (o *outOfDescriptors) MaybeFail(op vfs.Op) error {
	if !o.armed.Load() {
		return nil
	}
	for _, k := range o.kinds {
		if op.Kind == k {
			return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: syscall.EMFILE}
		}
	}
	return nil
}

// TestOutOfDescriptorsNeverFailsTheLog: EMFILE from the operating system
// is ErrTooManyOpenFiles (wrapping it) for an fsync, an append and a read
// whose files the cache had closed, and for a roll's directory fsync; the
// log stays writable, and an append written through a descriptor closed
// since is made durable by the fsync that follows through a new one.
func TestOutOfDescriptorsNeverFailsTheLog(t *testing.T) {
	mem := newMemFS(t)
	emfile := &outOfDescriptors{kinds: []vfs.OpKind{vfs.OpOpen, vfs.OpCreate, vfs.OpSyncDir}}
	fsys := vfs.NewFaultFS(mem, emfile)
	cache := NewFileCache(FileCacheConfig{Budget: 64, Wait: 20 * time.Millisecond})
	opts := testOptions(t)
	opts.Files = cache
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l := mustOpen(t, fsys, "t-0", cfg, opts)
	acked := testBatch(t, 1, 0, 300, 'a')
	mustAppend(t, l, acked)
	pending := testBatch(t, 1, 1, 300, 'b')
	mustAppend(t, l, pending) // not fsynced yet
	evictAll(cache)
	emfile.armed.Store(true)
	if err := l.Sync(2); !errors.Is(err, ErrTooManyOpenFiles) || !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("sync out of descriptors: %v", err)
	}
	if _, err := l.Append(testBatch(t, 1, 2, 300, 'c'), 7); !errors.Is(err, ErrTooManyOpenFiles) {
		t.Fatalf("append out of descriptors: %v", err)
	}
	if _, err := l.Read(0, 1<<20, 2, true); !errors.Is(err, ErrTooManyOpenFiles) {
		t.Fatalf("read out of descriptors: %v", err)
	}
	emfile.armed.Store(false)
	if err := l.Sync(2); err != nil {
		t.Fatalf("sync once descriptors are back: %v", err)
	}
	emfile.kinds = []vfs.OpKind{vfs.OpSyncDir}
	emfile.armed.Store(true)
	if _, err := l.Append(testBatch(t, 1, 2, 600, 'c'), 7); !errors.Is(err, ErrTooManyOpenFiles) {
		t.Fatalf("append rolling out of descriptors: %v", err)
	}
	emfile.armed.Store(false)
	if err := l.writable(); err != nil {
		t.Fatalf("running out of descriptors failed the log: %v", err)
	}
	mem.Crash()
	l.Close()
	l = mustOpen(t, fsys, "t-0", cfg, opts)
	defer l.Close()
	if got := readAll(t, l); !bytes.Equal(got, append(withOffset(acked, 0, 7), withOffset(pending, 1, 7)...)) {
		t.Fatalf("after the crash the log holds %d bytes, not the two fsynced batches", len(got))
	}
}

// TestAbortIndexWaitsForTheSealWithoutDescriptors: an abort marker whose
// .txnindex cannot be opened is still published, and the file is written
// whole when the segment is sealed, so a reopen finds the abort.
func TestAbortIndexWaitsForTheSealWithoutDescriptors(t *testing.T) {
	mem := newMemFS(t)
	emfile := &outOfDescriptors{kinds: []vfs.OpKind{vfs.OpCreate}}
	fsys := vfs.NewFaultFS(mem, vfs.InjectorFunc(func(op vfs.Op) error {
		if filepathExt(op.Path) != txnIndexSuffix {
			return nil
		}
		return emfile.MaybeFail(op)
	}))
	opts := testOptions(t)
	opts.Files = NewFileCache(FileCacheConfig{Budget: 64, Wait: 20 * time.Millisecond})
	l := mustOpen(t, fsys, "t-0", testConfig(), opts)
	mustProduce(t, l, txnBatch(t, 1, 0, 0, 2))
	emfile.armed.Store(true)
	mustMarker(t, l, 1, 0, false, 0)
	emfile.armed.Store(false)
	want := l.AbortedTransactions(0, math.MaxInt64)
	if len(want) != 1 {
		t.Fatalf("aborted transactions %v, want the one", want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := txnIndexEntries(t, mem, "t-0"); n != 1 {
		t.Fatalf("the sealed segment's .txnindex holds %d entries", n)
	}
	l = mustOpen(t, fsys, "t-0", testConfig(), Options{Logger: opts.Logger, Files: opts.Files, CleanShutdown: true})
	defer l.Close()
	if got := l.AbortedTransactions(0, math.MaxInt64); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("after a clean reopen: %v, want %v", got, want)
	}
}

func filepathExt(name string) string {
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			return name[i:]
		}
	}
	return ""
}

// TestReadersOfADeletedSegment: a reader holding a segment that retention
// deletes finishes on the descriptor open at the deletion; one whose
// descriptor had been closed reads again and gets OFFSET_OUT_OF_RANGE,
// never another file's bytes.
func TestReadersOfADeletedSegment(t *testing.T) {
	cache := NewFileCache(FileCacheConfig{Budget: 64})
	opts := testOptions(t)
	opts.Files = cache
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l := mustOpen(t, newMemFS(t), "t-0", cfg, opts)
	defer l.Close()
	var batches [][]byte
	for i := range 8 {
		b := testBatch(t, 1, int64(i), 300, byte(i))
		res := mustAppend(t, l, b)
		batches = append(batches, withOffset(b, res.BaseOffset, 7))
	}
	readHeld := func(v *segmentView) ([]byte, error) {
		out, _, err := readSegment(nil, v, v.seg.baseOffset, 1<<20, math.MaxInt64, true, false)
		return out, err
	}
	open, ok, err := l.viewAt(0, true)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := readHeld(&open); err != nil { // its descriptor is open now
		t.Fatal(err)
	}
	closed, ok, err := l.viewAt(open.nextOffset, true)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	evictAll(cache)
	if _, err := readHeld(&open); err != nil { // open again; the next one's stays closed
		t.Fatal(err)
	}
	if err := l.DeleteRecordsBefore(closed.nextOffset); err != nil {
		t.Fatal(err)
	}
	if got, err := readHeld(&open); err != nil || !bytes.Equal(got, bytes.Join(batches[:open.nextOffset], nil)) {
		t.Fatalf("reader of a deleted segment with its descriptor open: %v", err)
	}
	if _, err := readHeld(&closed); !errors.Is(err, errFileRetired) {
		t.Fatalf("reader of a deleted segment whose descriptor was closed: %v", err)
	}
	open.seg.release()
	closed.seg.release()
	if _, err := l.Read(open.seg.baseOffset, 1<<20, l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new log start: %v", err)
	}
	if s := cache.Stats(); s.Open != s.Idle+s.InUse {
		t.Errorf("descriptors kept for released segments: %+v", s)
	}
}

// TestCompactionKeepsReplacedSegmentForReaders: a reader holding a segment
// that a compaction swap replaces under the same name reads the old bytes,
// even when the cache had closed its descriptor before the swap; the
// descriptor kept for it closes once the reader lets go.
func TestCompactionKeepsReplacedSegmentForReaders(t *testing.T) {
	cache := NewFileCache(FileCacheConfig{Budget: 64})
	opts := testOptions(t)
	opts.Files = cache
	l := mustOpen(t, newMemFS(t), "t-0", compactConfig(), opts)
	defer l.Close()
	newModel().appendRandom(t, l, rand.New(rand.NewPCG(3, 3)), 400, 10, 0, 0)
	forceRoll(t, l)
	v, ok, err := l.viewAt(0, true)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	before, _, err := readSegment(nil, &v, 0, 1<<30, math.MaxInt64, true, false)
	if err != nil {
		t.Fatal(err)
	}
	evictAll(cache)
	if res := mustCompact(t, l, 0); !res.Cleaned || res.BytesAfter >= res.BytesBefore {
		t.Fatalf("compaction did not shrink the log: %+v", res)
	}
	if l.segments[0] == v.seg {
		t.Fatal("the first segment was not replaced")
	}
	after, _, err := readSegment(nil, &v, 0, 1<<30, math.MaxInt64, true, false)
	if err != nil || !bytes.Equal(after, before) {
		t.Fatalf("reader of a replaced segment read other bytes (%d, had %d): %v", len(after), len(before), err)
	}
	if s := cache.Stats(); s.Open == s.Idle+s.InUse {
		t.Errorf("no descriptor kept for the replaced segment's reader: %+v", s)
	}
	v.seg.release()
	if s := cache.Stats(); s.Open != s.Idle+s.InUse {
		t.Errorf("descriptor kept after the reader let go: %+v", s)
	}
}

// TestNoReopenAfterCrash: after a simulated crash, a log whose files the
// cache had closed cannot reopen them (its process is dead, as its handles
// would be), so it writes nothing into the recovered file system; a log
// opened afterwards works.
func TestNoReopenAfterCrash(t *testing.T) {
	fsys := newMemFS(t)
	cache := NewFileCache(FileCacheConfig{Budget: 64})
	opts := testOptions(t)
	opts.Files = cache
	l := mustOpen(t, fsys, "t-0", testConfig(), opts)
	acked := testBatch(t, 1, 0, 100, 'a')
	mustAppend(t, l, acked)
	if err := l.Sync(1); err != nil {
		t.Fatal(err)
	}
	evictAll(cache)
	fsys.Crash()
	if _, err := l.Append(testBatch(t, 1, 1, 100, 'b'), 7); !errors.Is(err, vfs.ErrCrashed) {
		t.Fatalf("append by the crashed process: %v", err)
	}
	l.Close()
	l = mustOpen(t, fsys, "t-0", testConfig(), opts)
	defer l.Close()
	next := testBatch(t, 1, 1, 100, 'c')
	mustAppend(t, l, next)
	if got := readAll(t, l); !bytes.Equal(got, append(withOffset(acked, 0, 7), withOffset(next, 1, 7)...)) {
		t.Fatal("the reopened log holds other bytes")
	}
}

// slowSyncs holds every fsync of a segment log until released, counting
// how many are held at once, as a disk with a long fsync queue does.
type slowSyncs struct {
	release chan struct{}
	mu      sync.Mutex
	held    int
	most    int
}

func (s *slowSyncs) MaybeFail(op vfs.Op) error {
	if op.Kind != vfs.OpSync || filepathExt(op.Path) != ".log" {
		return nil
	}
	s.mu.Lock()
	s.held++
	s.most = max(s.most, s.held)
	s.mu.Unlock()
	<-s.release
	s.mu.Lock()
	s.held--
	s.mu.Unlock()
	return nil
}

func (s *slowSyncs) counts() (held, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held, s.most
}

// TestSyncsOfManyLogsLeaveRoomForOthers: an acks=all produce to many
// partitions fsyncs all of them at once. With slow fsyncs those in flight
// pin at most half the budget, so an append to another log still gets its
// descriptors, and every waiting fsync completes once the disk catches up
// instead of giving up with ErrTooManyOpenFiles after the cache's wait
// (without the bound, the first fsyncs pin the whole budget and the rest
// are refused).
func TestSyncsOfManyLogsLeaveRoomForOthers(t *testing.T) {
	const budget, logs = 16, 40
	slow := &slowSyncs{release: make(chan struct{})}
	fsys := vfs.NewFaultFS(newMemFS(t), slow)
	cache := NewFileCache(FileCacheConfig{Budget: budget, Wait: 50 * time.Millisecond})
	opts := testOptions(t)
	opts.Files = cache
	all := make([]*Log, logs+1)
	for i := range all {
		all[i] = mustOpen(t, fsys, fmt.Sprintf("t-%d", i), testConfig(), opts)
		defer all[i].Close()
	}
	for _, l := range all[:logs] {
		mustAppend(t, l, testBatch(t, 1, 0, 100, 'a'))
	}
	evictAll(cache)
	errs := make(chan error, logs)
	for _, l := range all[:logs] {
		go func() { errs <- l.Sync(1) }()
	}
	waitFor(t, func() bool { held, _ := slow.counts(); return held >= syncSlotsFor(budget) })
	other := all[logs]
	if _, err := other.Append(testBatch(t, 1, 0, 100, 'b'), 7); err != nil {
		t.Fatalf("append beside %d fsyncs in flight: %v", syncSlotsFor(budget), err)
	}
	close(slow.release)
	for range logs {
		if err := <-errs; err != nil {
			t.Errorf("fsync: %v", err)
		}
	}
	if _, most := slow.counts(); most > syncSlotsFor(budget) {
		t.Errorf("%d fsyncs in flight at once, more than the %d slots", most, syncSlotsFor(budget))
	}
	if s := cache.Stats(); s.Refusals != 0 {
		t.Errorf("%d opens refused", s.Refusals)
	}
}
