package vfs

import (
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// MemFS is an in-memory FS that can simulate power loss. It tracks, for every
// file, the bytes made durable by Sync apart from the bytes merely written,
// and for every directory the listing made durable by SyncDir apart from the
// live one. Crash and CrashTorn throw away what was not made durable.
//
// One RWMutex guards the whole tree: reads share it, every mutation and the
// crash itself take it exclusively, so a crash is atomic with respect to
// every Write and Sync.
type MemFS struct {
	mu sync.RWMutex
	// root is the top directory; it always exists and cannot be removed.
	root *memDir
	// generation counts crashes; handles from an older generation are dead.
	generation uint64
}

type memDir struct {
	entries map[string]any // *memDir or *memFile
	durable map[string]any // entries as of the last SyncDir
}

type memFile struct {
	data []byte
	// durable holds the bytes that survive a crash. When durableIsPrefix is
	// true they are also data[:len(durable)], so a torn crash may keep part
	// of the unsynced tail data[len(durable):]. A Truncate below the
	// durable size or a WriteAt over durable bytes makes it false until the
	// next Sync: the file then differs from its durable state inside, not
	// only past its end, and a crash of either kind restores the durable
	// bytes exactly (the unsynced change is lost whole, never half-applied).
	durable         []byte
	durableIsPrefix bool
}

// handleMode is what an open handle may do besides reading.
type handleMode uint8

const (
	modeRead   handleMode = iota // Open: reads only
	modeAppend                   // Create, OpenAppend: Write and Truncate
	modeRandom                   // OpenReadWrite: WriteAt and Truncate
)

func newMemDir() *memDir {
	return &memDir{entries: map[string]any{}, durable: map[string]any{}}
}

// NewMem returns an empty in-memory filesystem.
func NewMem() *MemFS {
	return &MemFS{root: newMemDir()}
}

// splitPath cleans name into its path elements below the root; "", "." and
// "/" all name the root.
func splitPath(name string) []string {
	clean := path.Clean("/" + filepath.ToSlash(name))
	if clean == "/" {
		return nil
	}
	return strings.Split(clean[1:], "/")
}

// lookupDirLocked walks to the directory named by elems.
func (m *MemFS) lookupDirLocked(op, name string, elems []string) (*memDir, error) {
	dir := m.root
	for _, elem := range elems {
		next, ok := dir.entries[elem].(*memDir)
		if !ok {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		dir = next
	}
	return dir, nil
}

// parentLocked returns the directory holding name and name's last element.
func (m *MemFS) parentLocked(op, name string) (*memDir, string, error) {
	elems := splitPath(name)
	if len(elems) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir, err := m.lookupDirLocked(op, name, elems[:len(elems)-1])
	return dir, elems[len(elems)-1], err
}

func (m *MemFS) fileLocked(op, name string) (*memFile, error) {
	dir, base, err := m.parentLocked(op, name)
	if err != nil {
		return nil, err
	}
	switch node := dir.entries[base].(type) {
	case *memFile:
		return node, nil
	case *memDir:
		return nil, &fs.PathError{Op: op, Path: name, Err: syscall.EISDIR}
	}
	return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (m *MemFS) handle(name string, file *memFile, mode handleMode) *memHandle {
	return &memHandle{fs: m, file: file, name: name, generation: m.generation, mode: mode}
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("create", name)
	if err != nil {
		return nil, err
	}
	switch node := dir.entries[base].(type) {
	case *memDir:
		return nil, &fs.PathError{Op: "create", Path: name, Err: syscall.EISDIR}
	case *memFile:
		node.truncateLocked(0)
		return m.handle(name, node, modeAppend), nil
	}
	file := &memFile{durableIsPrefix: true}
	dir.entries[base] = file
	return m.handle(name, file, modeAppend), nil
}

// OpenAppend implements FS.
func (m *MemFS) OpenAppend(name string) (File, error) { return m.open(name, modeAppend) }

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.open(name, modeRead) }

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, modeRandom) }

func (m *MemFS) open(name string, mode handleMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	file, err := m.fileLocked("open", name)
	if err != nil {
		return nil, err
	}
	return m.handle(name, file, mode), nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parentLocked("remove", name)
	if err != nil {
		return err
	}
	switch node := dir.entries[base].(type) {
	case nil:
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	case *memDir:
		if len(node.entries) > 0 {
			return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
		}
	}
	delete(dir.entries, base)
	return nil
}

// RemoveAll implements FS.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	elems := splitPath(name)
	if len(elems) == 0 {
		m.root.entries = map[string]any{}
		return nil
	}
	dir, err := m.lookupDirLocked("removeall", name, elems[:len(elems)-1])
	if err != nil {
		return nil // nothing there to remove
	}
	delete(dir.entries, elems[len(elems)-1])
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldDir, oldBase, err := m.parentLocked("rename", oldname)
	if err != nil {
		return err
	}
	node, ok := oldDir.entries[oldBase]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	newDir, newBase, err := m.parentLocked("rename", newname)
	if err != nil {
		return err
	}
	if _, isDir := newDir.entries[newBase].(*memDir); isDir {
		return &fs.PathError{Op: "rename", Path: newname, Err: syscall.EISDIR}
	}
	delete(oldDir.entries, oldBase)
	newDir.entries[newBase] = node
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir := m.root
	for _, elem := range splitPath(name) {
		switch node := dir.entries[elem].(type) {
		case *memDir:
			dir = node
		case *memFile:
			return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
		default:
			next := newMemDir()
			dir.entries[elem] = next
			dir = next
		}
	}
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(name string) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	dir, err := m.lookupDirLocked("readdir", name, splitPath(name))
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(dir.entries)), nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	elems := splitPath(name)
	if len(elems) == 0 {
		return FileInfo{IsDir: true}, nil
	}
	dir, err := m.lookupDirLocked("stat", name, elems[:len(elems)-1])
	if err != nil {
		return FileInfo{}, err
	}
	switch node := dir.entries[elems[len(elems)-1]].(type) {
	case *memDir:
		return FileInfo{IsDir: true}, nil
	case *memFile:
		return FileInfo{Size: int64(len(node.data))}, nil
	}
	return FileInfo{}, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// SyncDir implements FS: the directory's current listing becomes durable.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, err := m.lookupDirLocked("syncdir", name, splitPath(name))
	if err != nil {
		return err
	}
	dir.durable = maps.Clone(dir.entries)
	return nil
}

// Crash simulates power loss: every byte not fsynced and every directory
// change not made durable by SyncDir is gone, and every open File fails
// with ErrCrashed from now on.
func (m *MemFS) Crash() {
	m.crash(nil)
}

// CrashTorn is Crash with torn writes: each file keeps its fsynced bytes plus
// a random prefix of its unsynced tail (sometimes with the end of that prefix
// zeroed, as when a filesystem grows a file before its data lands), and a
// file created since its directory was last synced survives half the time.
// A file truncated below, or overwritten inside, its fsynced bytes since
// its last Sync keeps exactly those bytes, as with Crash. rng drives every
// choice, so a seed reproduces a run.
func (m *MemFS) CrashTorn(rng *rand.Rand) {
	m.crash(rng)
}

func (m *MemFS) crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.generation++
	visited := map[*memFile]bool{}
	m.root.crash(rng, visited)
}

func (d *memDir) crash(rng *rand.Rand, visited map[*memFile]bool) {
	next := maps.Clone(d.durable)
	if rng != nil {
		for name, node := range d.entries {
			if _, known := next[name]; !known && rng.IntN(2) == 0 {
				next[name] = node
			}
		}
	}
	d.entries = next
	d.durable = maps.Clone(next)
	for _, node := range next {
		switch node := node.(type) {
		case *memDir:
			node.crash(rng, visited)
		case *memFile:
			if !visited[node] {
				visited[node] = true
				node.crash(rng)
			}
		}
	}
}

func (f *memFile) crash(rng *rand.Rand) {
	kept := slices.Clone(f.durable)
	if rng != nil && f.durableIsPrefix && len(f.data) > len(f.durable) {
		tail := f.data[len(f.durable):]
		torn := slices.Clone(tail[:rng.IntN(len(tail)+1)])
		if len(torn) > 0 && rng.IntN(4) == 0 {
			clear(torn[rng.IntN(len(torn)):])
		}
		kept = append(kept, torn...)
	}
	f.data = kept
	f.durable = slices.Clone(kept)
	f.durableIsPrefix = true
}

func (f *memFile) truncateLocked(size int64) {
	if size <= int64(len(f.data)) {
		f.data = slices.Clip(f.data[:size])
	} else {
		f.data = append(f.data, make([]byte, size-int64(len(f.data)))...)
	}
	if size < int64(len(f.durable)) {
		f.durableIsPrefix = false
	}
}

// writeAtLocked writes p at off, growing the file with zeros up to off if
// it is shorter.
func (f *memFile) writeAtLocked(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(f.data)) {
		f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
	}
	copy(f.data[off:], p)
	if off < int64(len(f.durable)) {
		f.durableIsPrefix = false
	}
}

func (f *memFile) syncLocked() {
	if f.durableIsPrefix {
		f.durable = append(f.durable, f.data[len(f.durable):]...)
		return
	}
	f.durable = slices.Clone(f.data)
	f.durableIsPrefix = true
}

// memHandle is an open MemFS file.
type memHandle struct {
	fs         *MemFS
	file       *memFile
	name       string
	generation uint64
	mode       handleMode
	closed     bool // guarded by fs.mu
}

// checkLocked fails an operation on a closed or crashed handle, and one
// that needs a mode (any of modes; none: any handle) the handle lacks.
func (h *memHandle) checkLocked(op string, modes ...handleMode) error {
	switch {
	case h.closed:
		return &fs.PathError{Op: op, Path: h.name, Err: fs.ErrClosed}
	case h.generation != h.fs.generation:
		return &fs.PathError{Op: op, Path: h.name, Err: ErrCrashed}
	case len(modes) > 0 && !slices.Contains(modes, h.mode):
		return &fs.PathError{Op: op, Path: h.name, Err: syscall.EBADF}
	}
	return nil
}

func (h *memHandle) Name() string { return h.name }

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.RLock()
	defer h.fs.mu.RUnlock()
	if err := h.checkLocked("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: h.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(h.file.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.file.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.checkLocked("write", modeAppend); err != nil {
		return 0, err
	}
	h.file.data = append(h.file.data, p...)
	return len(p), nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.checkLocked("writeat", modeRandom); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "writeat", Path: h.name, Err: fs.ErrInvalid}
	}
	h.file.writeAtLocked(p, off)
	return len(p), nil
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.checkLocked("sync"); err != nil {
		return err
	}
	h.file.syncLocked()
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.checkLocked("truncate", modeAppend, modeRandom); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: h.name, Err: fs.ErrInvalid}
	}
	h.file.truncateLocked(size)
	return nil
}

func (h *memHandle) Size() (int64, error) {
	h.fs.mu.RLock()
	defer h.fs.mu.RUnlock()
	if err := h.checkLocked("stat"); err != nil {
		return 0, err
	}
	return int64(len(h.file.data)), nil
}

func (h *memHandle) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return &fs.PathError{Op: "close", Path: h.name, Err: fs.ErrClosed}
	}
	h.closed = true
	return nil
}
