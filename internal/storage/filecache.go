package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-io/sluice/internal/vfs"
)

// DefaultFileBudget is the descriptor budget of a FileCache configured
// without one, and of the private cache a Log opened without
// Options.Files gets.
const DefaultFileBudget = 1024

// DefaultFileWait is how long an open waits for a descriptor to be
// released when every descriptor of the budget is in use.
const DefaultFileWait = 2 * time.Second

// maxPinsPerOperation is the most descriptors one operation pins at once
// (a segment's log and its two indexes); a budget below it could never
// serve an append.
const maxPinsPerOperation = 3

// minFileBudget is the smallest budget NewFileCache accepts: one operation's
// pins and a transient open beside them.
const minFileBudget = maxPinsPerOperation + 1

// ErrTooManyOpenFiles means a file could not be opened because every
// descriptor of the broker's file budget stayed in use for the whole wait,
// or because the operating system refused one (EMFILE, ENFILE) and none
// could be freed. Nothing was changed: the operation may be retried. It is
// never a reason to fail a log. errors.As finds a *TooManyOpenFilesError
// with the numbers.
var ErrTooManyOpenFiles = errors.New("storage: too many open files")

// errFileRetired means a segment file was asked for after its segment was
// deleted or replaced while its descriptor was closed: the name no longer
// holds the segment's bytes. Readers treat it as a race with retention or
// compaction and read again from the current segment list.
var errFileRetired = errors.New("storage: segment file retired")

// TooManyOpenFilesError is ErrTooManyOpenFiles with the numbers an operator
// needs to size the budget.
type TooManyOpenFilesError struct {
	File   string        // the file that could not be opened
	Budget int           // the cache's descriptor budget
	Open   int           // descriptors open when it gave up
	InUse  int           // of those, pinned by operations in progress
	Idle   int           // of those, idle (closable), excluding the operation's own files
	Waited time.Duration // how long it waited for a release
	Cause  error         // EMFILE or ENFILE from the OS; nil when the budget was the limit
}

func (e *TooManyOpenFilesError) Error() string {
	if e.Cause != nil {
		reason := e.Cause.Error()
		var errno syscall.Errno
		if errors.As(e.Cause, &errno) {
			reason = errno.Error()
		}
		return fmt.Sprintf("open %s: too many open files: the operating system refused a descriptor (%s) with %d of the %d-descriptor file budget open and none free after %v",
			e.File, reason, e.Open, e.Budget, e.Waited)
	}
	return fmt.Sprintf("open %s: too many open files: %d of the %d-descriptor file budget in use and %d kept for readers of deleted segments for %v (raise RLIMIT_NOFILE or host fewer partitions)",
		e.File, e.InUse, e.Budget, e.Open-e.InUse-e.Idle, e.Waited)
}

// Is makes errors.Is(err, ErrTooManyOpenFiles) true.
func (e *TooManyOpenFilesError) Is(target error) bool { return target == ErrTooManyOpenFiles }

// Unwrap returns the operating system's error, if any.
func (e *TooManyOpenFilesError) Unwrap() error { return e.Cause }

// isOutOfDescriptors reports whether err is the operating system running
// out of file descriptors, for the process (EMFILE) or the system (ENFILE).
func isOutOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// FileCacheConfig configures a FileCache.
type FileCacheConfig struct {
	// Budget is how many descriptors the cache may hold open; the server
	// derives it from RLIMIT_NOFILE. Values below 4 are raised to 4;
	// 0 means DefaultFileBudget.
	Budget int
	// Wait is how long an open waits for a descriptor to be released when
	// the whole budget is in use; 0 means DefaultFileWait.
	Wait time.Duration
	// Logger receives close errors; nil discards.
	Logger *slog.Logger
}

// FileCacheStats are the cache's counters, for metrics.
type FileCacheStats struct {
	Budget int // descriptors the cache may hold open
	Open   int // descriptors open now: idle, in use, retained or transient
	InUse  int // descriptors pinned by operations in progress, transient ones included
	Idle   int // descriptors open and unpinned, closed first when room is needed
	// Opens counts descriptors opened (first opens and reopens), Reopens
	// the reopens of files whose descriptor had been closed to make room.
	Opens, Reopens int64
	// Evictions counts idle descriptors closed to make room.
	Evictions int64
	// Waits counts opens that had to wait for a descriptor to be
	// released; Refusals those that gave up (ErrTooManyOpenFiles).
	Waits, Refusals int64
	// Overdrafts counts opens that went past the budget: opens an
	// operation needs to finish what it has already changed, made while
	// every descriptor was in use (see the package doc, "File handles").
	Overdrafts int64
}

// FileCache is the broker-wide cache of open segment files (like
// pebble's table cache or RocksDB's max_open_files): every Log sharing it
// opens its files through it, so the number of descriptors storage holds
// is bounded by the budget, not by the number of partitions. A file is
// opened on first use and pinned only for the duration of one operation
// (an append, a read, an fsync, an index load, a scan step); an unpinned
// descriptor stays open in LRU order and is closed when another file needs
// room. Safe for concurrent use; see the package doc, "File handles".
type FileCache struct {
	budget int
	wait   time.Duration
	logger *slog.Logger

	// mu guards everything below and the cache-owned fields of every
	// cachedFile and descriptor. It is never held across file I/O.
	mu     sync.Mutex
	open   int        // descriptors open: idle, pinned, retired and transient
	inUse  int        // descriptors with pins, and transient opens
	idle   cachedFile // sentinel of the idle list: next is least recently used
	nIdle  int
	waiter chan struct{} // closed on the next release; nil when nobody waits

	// syncSlots bounds the fsyncs of acknowledged appends pinned at once
	// (Log.Sync): a produce to thousands of partitions asks for one per
	// partition at the same moment, and unbounded they would pin the whole
	// budget and starve every other open past its wait. A token is taken
	// before the pin and given back after the fsync.
	syncSlots chan struct{}

	opens, reopens, evictions, waits, refusals, overdrafts atomic.Int64
}

// NewFileCache returns an empty cache.
func NewFileCache(cfg FileCacheConfig) *FileCache {
	if cfg.Budget == 0 {
		cfg.Budget = DefaultFileBudget
	}
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultFileWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	budget := max(cfg.Budget, minFileBudget)
	c := &FileCache{budget: budget, wait: cfg.Wait, logger: cfg.Logger,
		syncSlots: make(chan struct{}, syncSlotsFor(budget))}
	c.idle.prev, c.idle.next = &c.idle, &c.idle
	return c
}

// maxSyncSlots is the most acknowledged-append fsyncs in flight at once:
// well past what one disk's journal batches into a commit, so the bound
// costs no throughput, and far below any budget a broker runs with.
const maxSyncSlots = 256

// syncSlotsFor is how many fsyncs a budget lets pin at once: at most half
// of it, so opens for appends and reads always find room beside them.
func syncSlotsFor(budget int) int { return max(1, min(maxSyncSlots, budget/2)) }

// acquireSync waits for a sync slot; releaseSync gives it back.
func (c *FileCache) acquireSync() { c.syncSlots <- struct{}{} }
func (c *FileCache) releaseSync() { <-c.syncSlots }

// Stats returns the current counters.
func (c *FileCache) Stats() FileCacheStats {
	c.mu.Lock()
	open, inUse, idle := c.open, c.inUse, c.nIdle
	c.mu.Unlock()
	return FileCacheStats{Budget: c.budget, Open: open, InUse: inUse, Idle: idle,
		Opens: c.opens.Load(), Reopens: c.reopens.Load(), Evictions: c.evictions.Load(),
		Waits: c.waits.Load(), Refusals: c.refusals.Load(), Overdrafts: c.overdrafts.Load()}
}

// openPolicy says what an open does when the whole budget is in use.
type openPolicy uint8

const (
	// mayRefuse is for an operation that has changed nothing yet: wait up
	// to the cache's Wait for a release, then fail with
	// ErrTooManyOpenFiles.
	mayRefuse openPolicy = iota
	// neverRefuse is for an operation finishing what it has already changed
	// on disk, where a refusal would leave memory and disk apart: never
	// wait for the budget; go past it if nothing idle can be closed.
	neverRefuse
)

// cachedFile is one segment file as the cache knows it: a name, how to
// open it, and its descriptor while one is open. Its owner (a segment, a
// compaction pass) closes it when done; the cache may close its
// descriptor whenever no operation pins it.
type cachedFile struct {
	cache *FileCache
	fsys  vfs.FS
	name  string
	// generation is fsys's crash generation when the file was made (see
	// vfs.Generationer): a simulated crash kills the process that held
	// the file, so reopening it afterwards fails as its handle would.
	generation uint64

	// Guarded by cache.mu.
	appendable bool        // (re)open for append: an active segment's file
	create     bool        // the next open creates (or truncates) the file
	opened     bool        // a descriptor was opened before: the next open is a reopen
	cur        *descriptor // the open descriptor, nil when closed
	opening    bool        // an open of cur is in progress; others wait
	retired    bool        // the name no longer holds this file: never reopen
	closed     bool        // the owner is done with it
	prev, next *cachedFile // the idle list, while cur is open and unpinned
}

// descriptor is one open handle of a cachedFile. Its fields are guarded by
// the cache's mu.
type descriptor struct {
	file  vfs.File
	write bool // opened for append
	pins  int
	owner *cachedFile // nil once detached: closed when its last pin goes
}

// fileUse is one file an operation pins, for reading or for writing.
type fileUse struct {
	file  *cachedFile
	write bool
}

// pins are the descriptors one operation holds; release them when done.
type pins struct {
	cache *FileCache
	held  [maxPinsPerOperation]*descriptor
	n     int
}

// file returns the i-th pinned file, in the order the uses were given.
func (p *pins) file(i int) vfs.File { return p.held[i].file }

// release unpins every descriptor.
func (p *pins) release() {
	if p.n == 0 {
		return
	}
	p.cache.release(p.held[:p.n])
	p.n = 0
}

// file returns the cache's entry for name, not opened yet. appendable
// files are opened for append (an active segment's), others read-only;
// create makes the first open create the file, truncating any file there.
func (c *FileCache) file(fsys vfs.FS, name string, appendable, create bool) *cachedFile {
	f := &cachedFile{cache: c, fsys: fsys, name: name, appendable: appendable, create: create}
	if g, ok := fsys.(vfs.Generationer); ok {
		f.generation = g.Generation()
	}
	return f
}

// pin opens (or finds open) every file of uses and pins their
// descriptors, all or none: it never holds a pin while it waits, so
// operations cannot deadlock on the budget. A use for writing reopens a
// file open read-only. At most maxPinsPerOperation uses, each file once.
func (c *FileCache) pin(policy openPolicy, uses ...fileUse) (pins, error) {
	p := pins{cache: c}
	var toOpen [maxPinsPerOperation]bool
	var wait waitClock
	defer wait.stop()
	var toClose []vfs.File
	expired := false
	c.mu.Lock()
	for {
		need, busy, err := c.inspectLocked(uses)
		if err != nil {
			c.mu.Unlock()
			c.closeAll(toClose)
			return p, err
		}
		if busy {
			c.waitLocked(nil) // another goroutine is opening one of them
			continue
		}
		if need == 0 || c.makeRoomLocked(need, policy, uses, &toClose) {
			c.commitLocked(&p, uses, &toOpen, &toClose)
			break
		}
		if expired {
			err := c.refusedLocked(uses[0].file.name, nil)
			c.mu.Unlock()
			c.closeAll(toClose)
			return p, err
		}
		// A release racing the deadline still counts: look once more.
		expired = !c.waitLocked(&wait)
	}
	c.mu.Unlock()
	c.closeAll(toClose)
	if err := c.openPinned(&p, uses, &toOpen, &wait); err != nil {
		p.release()
		return p, err
	}
	return p, nil
}

// pin pins f alone.
func (f *cachedFile) pin(policy openPolicy, write bool) (pins, error) {
	return f.cache.pin(policy, fileUse{file: f, write: write})
}

// inspectLocked counts the uses that need a descriptor opened, and reports
// whether one of them is being opened by someone else (busy), or cannot be
// used at all.
func (c *FileCache) inspectLocked(uses []fileUse) (need int, busy bool, err error) {
	for _, u := range uses {
		f := u.file
		switch {
		case f.closed:
			return 0, false, fmt.Errorf("open %s: %w", f.name, fs.ErrClosed)
		case f.opening:
			busy = true
		case f.cur != nil && (f.cur.write || !u.write):
		case f.retired:
			return 0, false, fmt.Errorf("open %s: %w", f.name, errFileRetired)
		default:
			need++
		}
	}
	return need, busy, nil
}

// makeRoomLocked evicts idle descriptors (never those uses pin; the caller
// closes them, from toClose, after unlocking) until need more fit in the
// budget, and reports whether they do; a neverRefuse operation is told yes
// regardless, and counted as an overdraft when they do not.
func (c *FileCache) makeRoomLocked(need int, policy openPolicy, uses []fileUse, toClose *[]vfs.File) bool {
	for c.open+need > c.budget {
		victim := c.lruIdleLocked(uses)
		if victim == nil {
			break
		}
		*toClose = append(*toClose, c.evictLocked(victim))
	}
	if c.open+need <= c.budget {
		return true
	}
	if policy == neverRefuse {
		c.overdrafts.Add(1)
		return true
	}
	return false
}

// lruIdleLocked returns the least recently used idle file whose
// descriptor uses do not need, or nil.
func (c *FileCache) lruIdleLocked(uses []fileUse) *cachedFile {
	for f := c.idle.next; f != &c.idle; f = f.next {
		if !keeps(uses, f) {
			return f
		}
	}
	return nil
}

// keeps reports whether uses would pin f's current descriptor (not when
// they want it for writing and it is read-only: it is replaced anyway).
func keeps(uses []fileUse, f *cachedFile) bool {
	for _, u := range uses {
		if u.file == f {
			return f.cur.write || !u.write
		}
	}
	return false
}

// evictLocked takes f's idle descriptor away, returning the file to close.
func (c *FileCache) evictLocked(f *cachedFile) vfs.File {
	c.unlinkIdleLocked(f)
	file := f.cur.file
	f.cur = nil
	c.open--
	c.evictions.Add(1)
	return file
}

// commitLocked pins the uses whose descriptors are open and marks the
// others as being opened (toOpen), reserving their descriptors.
func (c *FileCache) commitLocked(p *pins, uses []fileUse, toOpen *[maxPinsPerOperation]bool, toClose *[]vfs.File) {
	for i, u := range uses {
		f := u.file
		if f.cur != nil && (f.cur.write || !u.write) {
			p.held[i] = c.pinLocked(f.cur)
			continue
		}
		if f.cur != nil { // open read-only, wanted for writing: detach it
			if old := c.detachLocked(f); old != nil {
				*toClose = append(*toClose, old)
			}
		}
		f.opening = true
		toOpen[i] = true
		c.open++
		c.inUse++
	}
	p.n = len(uses)
}

// pinLocked adds a pin to d, taking it off the idle list.
func (c *FileCache) pinLocked(d *descriptor) *descriptor {
	if d.pins == 0 {
		c.inUse++
		if d.owner != nil && d.owner.prev != nil {
			c.unlinkIdleLocked(d.owner)
		}
	}
	d.pins++
	return d
}

// detachLocked separates f from its descriptor, which is closed now if
// unpinned (returned) or at its last release otherwise.
func (c *FileCache) detachLocked(f *cachedFile) vfs.File {
	d := f.cur
	f.cur = nil
	d.owner = nil
	if d.pins > 0 {
		return nil
	}
	c.unlinkIdleLocked(f)
	c.open--
	return d.file
}

// openPinned opens the files commitLocked marked, outside the lock, and
// installs their descriptors. On an error the descriptors reserved for the
// files not opened are given back; the caller releases the rest.
func (c *FileCache) openPinned(p *pins, uses []fileUse, toOpen *[maxPinsPerOperation]bool, wait *waitClock) error {
	var firstErr error
	for i, u := range uses {
		if !toOpen[i] {
			continue
		}
		if firstErr != nil {
			c.abandonOpen(u.file)
			p.held[i] = nil
			continue
		}
		d, err := c.openOne(u.file, u.write, wait)
		if err != nil {
			firstErr = err
			p.held[i] = nil
			continue
		}
		p.held[i] = d
	}
	if firstErr != nil {
		p.compact()
	}
	return firstErr
}

// compact drops the nil entries of a partly failed pin, so release sees
// only held descriptors.
func (p *pins) compact() {
	n := 0
	for _, d := range p.held[:p.n] {
		if d != nil {
			p.held[n] = d
			n++
		}
	}
	p.n = n
}

// openOne opens f (its descriptor already reserved) and installs the
// descriptor, pinned once.
func (c *FileCache) openOne(f *cachedFile, write bool, wait *waitClock) (*descriptor, error) {
	c.mu.Lock()
	create, appendable, reopen := f.create, f.appendable || write, f.opened
	c.mu.Unlock()
	var file vfs.File
	err := c.retryOutOfDescriptors(f.name, wait, func() (err error) {
		file, err = f.openFS(create, appendable)
		return err
	})
	if err != nil {
		c.abandonOpen(f)
		return nil, f.openError(err)
	}
	c.countOpen(reopen)
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &descriptor{file: file, write: create || appendable, pins: 1, owner: f}
	f.cur, f.opening, f.create, f.opened = d, false, false, true
	c.broadcastLocked()
	return d, nil
}

// openFS opens the file the way its state says.
func (f *cachedFile) openFS(create, appendable bool) (vfs.File, error) {
	if g, ok := f.fsys.(vfs.Generationer); ok && g.Generation() != f.generation {
		return nil, &fs.PathError{Op: "open", Path: f.name, Err: vfs.ErrCrashed}
	}
	switch {
	case create:
		return f.fsys.Create(f.name)
	case appendable:
		return f.fsys.OpenAppend(f.name)
	default:
		return f.fsys.Open(f.name)
	}
}

// openError reports a failed open. A retired file's name may be gone or
// hold another file: that is errFileRetired, not an I/O error.
func (f *cachedFile) openError(err error) error {
	f.cache.mu.Lock()
	retired := f.retired
	f.cache.mu.Unlock()
	if retired && errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("open %s: %w", f.name, errFileRetired)
	}
	return err
}

func (c *FileCache) countOpen(reopen bool) {
	c.opens.Add(1)
	if reopen {
		c.reopens.Add(1)
	}
}

// abandonOpen gives back the descriptor reserved for f.
func (c *FileCache) abandonOpen(f *cachedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.opening = false
	c.open--
	c.inUse--
	c.broadcastLocked()
}

// release unpins descriptors. One left unpinned goes to the idle list,
// unless its file was retired (kept open for readers until its owner
// closes it) or closed or detached (closed now).
func (c *FileCache) release(held []*descriptor) {
	var toClose []vfs.File
	c.mu.Lock()
	for _, d := range held {
		d.pins--
		if d.pins > 0 {
			continue
		}
		c.inUse--
		switch f := d.owner; {
		case f == nil:
			toClose = append(toClose, d.file)
			c.open--
		case f.closed:
			f.cur = nil
			toClose = append(toClose, d.file)
			c.open--
		case !f.retired:
			c.pushIdleLocked(f)
		}
	}
	c.broadcastLocked()
	c.mu.Unlock()
	c.closeAll(toClose)
}

// retire marks f's name as no longer holding f (its segment is being
// deleted, or replaced by a compacted copy under the same name): a
// descriptor open now stays open, not evictable, until f is closed, so
// readers holding the segment finish on it; without one, opens fail with
// errFileRetired. Call it before the name is removed or reused.
func (f *cachedFile) retire() {
	c := f.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	f.retired = true
	if f.prev != nil {
		c.unlinkIdleLocked(f)
	}
}

// close tells the cache f's owner is done: its descriptor is closed now,
// or at its last release if an operation still pins it.
func (f *cachedFile) close() {
	c := f.cache
	c.mu.Lock()
	f.closed = true
	var file vfs.File
	if d := f.cur; d != nil && d.pins == 0 {
		if f.prev != nil {
			c.unlinkIdleLocked(f)
		}
		f.cur, file = nil, d.file
		c.open--
		c.broadcastLocked()
	}
	c.mu.Unlock()
	if file != nil {
		c.closeAll([]vfs.File{file})
	}
}

// setAppendable says whether f is reopened for append (its segment became
// the active one again) or read-only (sealed). A descriptor open now is
// kept; a write pin on a read-only one reopens it.
func (f *cachedFile) setAppendable(appendable bool) {
	f.cache.mu.Lock()
	f.appendable = appendable
	f.cache.mu.Unlock()
}

// transient runs op, which opens at most one descriptor at a time and
// closes it before returning (an index or checkpoint read or rewrite, a
// directory fsync), inside the budget: room is made first as for a pin,
// and an EMFILE or ENFILE from op is retried once an idle descriptor is
// closed or one is released.
func (c *FileCache) transient(policy openPolicy, name string, op func() error) error {
	var wait waitClock
	defer wait.stop()
	var toClose []vfs.File
	c.mu.Lock()
	for !c.makeRoomLocked(1, policy, nil, &toClose) {
		if !c.waitLocked(&wait) {
			err := c.refusedLocked(name, nil)
			c.mu.Unlock()
			c.closeAll(toClose)
			return err
		}
	}
	c.open++
	c.inUse++
	c.mu.Unlock()
	c.closeAll(toClose)
	err := c.retryOutOfDescriptors(name, &wait, op)
	c.mu.Lock()
	c.open--
	c.inUse--
	c.broadcastLocked()
	c.mu.Unlock()
	return err
}

// retryOutOfDescriptors runs op, and again each time it fails for want of
// descriptors (EMFILE, ENFILE) after an idle descriptor was closed or one
// was released, until the wait runs out: then ErrTooManyOpenFiles.
func (c *FileCache) retryOutOfDescriptors(name string, wait *waitClock, op func() error) error {
	for {
		err := op()
		if err == nil || !isOutOfDescriptors(err) {
			return err
		}
		c.mu.Lock()
		if victim := c.lruIdleLocked(nil); victim != nil {
			file := c.evictLocked(victim)
			c.mu.Unlock()
			c.closeAll([]vfs.File{file})
			continue
		}
		if !c.waitLocked(wait) {
			refused := c.refusedLocked(name, err)
			c.mu.Unlock()
			return refused
		}
		c.mu.Unlock()
	}
}

// refusedLocked counts and describes a refusal.
func (c *FileCache) refusedLocked(name string, cause error) error {
	c.refusals.Add(1)
	return &TooManyOpenFilesError{File: name, Budget: c.budget, Open: c.open, InUse: c.inUse, Idle: c.nIdle, Waited: c.wait, Cause: cause}
}

// waitClock is one operation's deadline for waiting on releases, started
// at its first wait.
type waitClock struct{ timer *time.Timer }

func (w *waitClock) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// waitLocked waits for the next release (or close, or finished open),
// dropping the lock meanwhile. With a clock it reports false once the
// cache's Wait has passed since the clock's first wait; without one it
// waits as long as it takes (an open in progress finishes).
func (c *FileCache) waitLocked(w *waitClock) bool {
	if c.waiter == nil {
		c.waiter = make(chan struct{})
	}
	ch := c.waiter
	var expired <-chan time.Time
	if w != nil {
		if w.timer == nil {
			c.waits.Add(1)
			w.timer = time.NewTimer(c.wait)
		}
		expired = w.timer.C
	}
	c.mu.Unlock()
	ok := true
	select {
	case <-ch:
	case <-expired:
		ok = false
	}
	c.mu.Lock()
	return ok
}

// broadcastLocked wakes every waiter.
func (c *FileCache) broadcastLocked() {
	if c.waiter != nil {
		close(c.waiter)
		c.waiter = nil
	}
}

// pushIdleLocked appends f to the idle list as its most recently used.
func (c *FileCache) pushIdleLocked(f *cachedFile) {
	last := c.idle.prev
	f.prev, f.next = last, &c.idle
	last.next = f
	c.idle.prev = f
	c.nIdle++
}

func (c *FileCache) unlinkIdleLocked(f *cachedFile) {
	if f.prev == nil {
		return
	}
	f.prev.next, f.next.prev = f.next, f.prev
	f.prev, f.next = nil, nil
	c.nIdle--
}

// closeAll closes descriptors the cache no longer counts.
func (c *FileCache) closeAll(files []vfs.File) {
	for _, file := range files {
		if err := file.Close(); err != nil && !errors.Is(err, fs.ErrClosed) {
			c.logger.Warn("close segment file", slog.String("file", file.Name()), slog.Any("error", err))
		}
	}
}
