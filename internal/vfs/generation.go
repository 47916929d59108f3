package vfs

// Generationer is implemented by file systems that simulate crashes: the
// generation counts the crashes so far. A handle opened before a crash
// fails with ErrCrashed (its process died with the power); a cache that
// closes idle handles and reopens files on demand (storage's file cache)
// compares generations to refuse the same reopen after a crash, which a
// real process could never make.
type Generationer interface {
	Generation() uint64
}

// Generation implements Generationer.
func (m *MemFS) Generation() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.generation
}

// Generation implements Generationer for the file system it wraps (0 if
// that one does not simulate crashes).
func (f *FaultFS) Generation() uint64 { return generationOf(f.inner) }

// Generation implements Generationer for the file system it supplies (0 if
// that one does not simulate crashes).
func (p *PowerFS) Generation() uint64 { return generationOf(p.inner) }

func generationOf(fsys FS) uint64 {
	if g, ok := fsys.(Generationer); ok {
		return g.Generation()
	}
	return 0
}
