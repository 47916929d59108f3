package storage

// A broker with many idle partitions restarts them all: each log loaded
// from a clean shutdown, or created empty, is exactly what is on disk, and
// if nothing writes to it before the next Close, that Close has nothing to
// fsync. Sealing it anyway would cost three fsyncs per partition at every
// shutdown (300,000 for 100,000 partitions). The log remembers its active
// segment's shape when it was loaded; Close compares.

// pristineState is the active segment's shape when it was last known to
// be durable as it stands (see Log.pristine).
type pristineState struct {
	active      *segment
	size        int64
	offsets     int
	times       int
	truncations uint64
}

// markPristineLocked records the active segment's shape: the caller knows
// it durable as it is (loaded after a clean shutdown without a scan, or
// created empty and its name fsynced).
func (l *Log) markPristineLocked() {
	s := l.activeLocked()
	l.pristine = &pristineState{active: s, size: s.size, offsets: len(s.offsets), times: len(s.times), truncations: l.truncations}
}

// unchangedSinceLoadLocked reports whether the active segment is still as
// markPristineLocked saw it, with no time-index entry pending: no append,
// roll or truncation since, so every byte of it is durable and its seal
// would write nothing new. Caller holds appendMu.
func (l *Log) unchangedSinceLoadLocked() bool {
	p := l.pristine
	if p == nil || len(l.segments) == 0 {
		return false
	}
	s := l.activeLocked()
	ix := s.indexer
	_, pending := ix.timeEntry(s.baseOffset)
	return s == p.active && s.size == p.size && len(s.offsets) == p.offsets && len(s.times) == p.times &&
		l.truncations == p.truncations && !pending && l.flushed.Load() >= l.logEndOffset
}
