package quorum

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft-wal/types"

	"github.com/sluice-io/sluice/internal/vfs"
)

// metaStore is raft-wal's types.MetaStore on a vfs.FS: the WAL's
// persistent state (which segment files make up the log) and Raft's stable
// store (CurrentTerm, LastVoteTerm, LastVoteCand), all in one small file,
// stateFileName in the WAL's directory, rewritten whole on every change
// with vfs.WriteFileAtomic (write a temporary, fsync, rename, fsync the
// directory), so a crash leaves either the old state or the new one. Both
// change rarely: on segment rotation and truncation, and on a new term or
// vote.
//
// # Format (integers big-endian)
//
//	0      4  magic "SLWS"
//	4      2  version = 1
//	6      4  body length N (at most maxStateBody)
//	10     N  body
//	10+N   4  CRC-32C (Castagnoli) of bytes 0 .. 10+N
//
//	body, version 1:
//	  8  NextSegmentID
//	  4  segment count S, then S segments of 68 bytes each:
//	       ID, BaseIndex, MinIndex, MaxIndex, Codec, IndexStart (8 each),
//	       CreateTime, SealTime (8 each: Unix nanoseconds, 0 = none),
//	       SizeLimit (4)
//	  4  stable entry count K, then K entries, keys ascending:
//	       key length (4), key, value length (4), value
//
// A file that fails its checksum or does not parse is corruption (Load
// wraps types.ErrCorrupt): the rename never exposes a half-written file,
// so it cannot be a torn write, and guessing would risk the log.
//
// Data directories written before this store kept the same state in
// raft-wal's BoltDB meta store (boltMetaName); Load migrates it once (see
// migrateBolt).
//
// Threading: raft-wal calls CommitState from one goroutine, GetStable and
// SetStable from any; mu serialises them all, held across the rewrite so
// the file's order of states is the order of the calls.
type metaStore struct {
	fsys   vfs.FS
	logger *slog.Logger

	mu     sync.Mutex
	dir    string // set by Load
	state  types.PersistentState
	stable map[string][]byte
	loaded bool
	closed bool
}

const (
	// stateFileName is the store's file in the WAL directory.
	stateFileName = "wal-state"
	// boltMetaName is raft-wal's BoltDB meta store (metadb.FileName).
	boltMetaName = "wal-meta.db"
	// migratedSuffix marks a BoltDB meta store that was migrated; it is
	// kept as a record, never read again.
	migratedSuffix = ".migrated"

	stateMagic      = "SLWS"
	stateVersion    = 1
	stateHeaderLen  = 10
	stateSegmentLen = 68
	// maxStateBody bounds what Load reads: a metadata log has a handful
	// of segments and three stable keys, a few hundred bytes.
	maxStateBody = 16 << 20
)

var (
	errMetaStoreClosed   = errors.New("metadata log state store is closed")
	errMetaStoreUnloaded = errors.New("metadata log state store used before Load")
	castagnoli           = crc32.MakeTable(crc32.Castagnoli)
)

var _ types.MetaStore = (*metaStore)(nil)

func newMetaStore(fsys vfs.FS, logger *slog.Logger) *metaStore {
	return &metaStore{fsys: fsys, logger: logger, stable: map[string][]byte{}}
}

// Load implements types.MetaStore: it reads dir's state file, or migrates
// a BoltDB meta store found there instead, or starts empty (writing
// nothing until the first change).
func (s *metaStore) Load(dir string) (types.PersistentState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return types.PersistentState{}, errMetaStoreClosed
	}
	s.dir = dir
	if err := s.fsys.Remove(s.path() + ".tmp"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return types.PersistentState{}, fmt.Errorf("remove stale metadata log state: %w", err)
	}
	state, stable, err := s.readLocked()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		state, stable, err = s.migrateBoltLocked()
	case err == nil:
		err = s.setBoltAsideLocked() // a migration cut short after its state file was durable
	}
	if err != nil {
		return types.PersistentState{}, err
	}
	s.state, s.stable, s.loaded = state, stable, true
	return cloneState(state), nil
}

func (s *metaStore) path() string { return filepath.Join(s.dir, stateFileName) }

// readLocked reads the state file; a missing one is fs.ErrNotExist.
func (s *metaStore) readLocked() (types.PersistentState, map[string][]byte, error) {
	data, err := vfs.ReadFile(s.fsys, s.path(), stateHeaderLen+maxStateBody+4)
	if err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("read metadata log state: %w", err)
	}
	state, stable, err := decodeState(data)
	if err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("metadata log state %s: %w", s.path(), err)
	}
	return state, stable, nil
}

// CommitState implements types.MetaStore: the new state is durable when it
// returns nil; on error the old one stays in force.
func (s *metaStore) CommitState(state types.PersistentState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	state = cloneState(state)
	if err := s.writeLocked(state, s.stable); err != nil {
		return err
	}
	s.state = state
	return nil
}

// GetStable implements types.MetaStore: a copy of key's value, nil if unset.
func (s *metaStore) GetStable(key []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return nil, err
	}
	return bytes.Clone(s.stable[string(key)]), nil
}

// SetStable implements types.MetaStore: durable when it returns nil; a nil
// value deletes the key (as raft-wal's BoltDB store does).
func (s *metaStore) SetStable(key, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	stable := maps.Clone(s.stable)
	if value == nil {
		delete(stable, string(key))
	} else {
		stable[string(key)] = bytes.Clone(value)
	}
	if err := s.writeLocked(s.state, stable); err != nil {
		return err
	}
	s.stable = stable
	return nil
}

// Close implements types.MetaStore. Every change is already durable, so
// it writes nothing; it may be called more than once.
func (s *metaStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *metaStore) usableLocked() error {
	switch {
	case s.closed:
		return errMetaStoreClosed
	case !s.loaded:
		return errMetaStoreUnloaded
	}
	return nil
}

func (s *metaStore) writeLocked(state types.PersistentState, stable map[string][]byte) error {
	if err := vfs.WriteFileAtomic(s.fsys, s.path(), encodeState(state, stable)); err != nil {
		return fmt.Errorf("write metadata log state: %w", err)
	}
	return nil
}

func cloneState(state types.PersistentState) types.PersistentState {
	state.Segments = slices.Clone(state.Segments)
	return state
}

// encodeState lays out the format in the metaStore doc.
func encodeState(state types.PersistentState, stable map[string][]byte) []byte {
	body := binary.BigEndian.AppendUint64(nil, state.NextSegmentID)
	body = binary.BigEndian.AppendUint32(body, uint32(len(state.Segments)))
	for _, seg := range state.Segments {
		for _, v := range []uint64{seg.ID, seg.BaseIndex, seg.MinIndex, seg.MaxIndex, seg.Codec, seg.IndexStart,
			uint64(unixNanos(seg.CreateTime)), uint64(unixNanos(seg.SealTime))} {
			body = binary.BigEndian.AppendUint64(body, v)
		}
		body = binary.BigEndian.AppendUint32(body, seg.SizeLimit)
	}
	body = binary.BigEndian.AppendUint32(body, uint32(len(stable)))
	for _, key := range slices.Sorted(maps.Keys(stable)) {
		body = appendBytes(body, []byte(key))
		body = appendBytes(body, stable[key])
	}
	out := append([]byte(stateMagic), 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(out[4:], stateVersion)
	binary.BigEndian.PutUint32(out[6:], uint32(len(body)))
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// unixNanos encodes a time, 0 for the zero time (raft-wal's "not sealed").
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// decodeState parses the format in the metaStore doc; every failure wraps
// types.ErrCorrupt.
func decodeState(data []byte) (types.PersistentState, map[string][]byte, error) {
	if len(data) < stateHeaderLen+4 || string(data[:4]) != stateMagic {
		return types.PersistentState{}, nil, fmt.Errorf("%w: not a metadata log state file (%d bytes)", types.ErrCorrupt, len(data))
	}
	if v := binary.BigEndian.Uint16(data[4:]); v != stateVersion {
		return types.PersistentState{}, nil, fmt.Errorf("%w: unknown state version %d (written by a newer Sluice?)", types.ErrCorrupt, v)
	}
	bodyLen := binary.BigEndian.Uint32(data[6:])
	if uint64(bodyLen) != uint64(len(data)-stateHeaderLen-4) {
		return types.PersistentState{}, nil, fmt.Errorf("%w: body length %d, file has %d bytes", types.ErrCorrupt, bodyLen, len(data))
	}
	end := len(data) - 4
	if got, want := crc32.Checksum(data[:end], castagnoli), binary.BigEndian.Uint32(data[end:]); got != want {
		return types.PersistentState{}, nil, fmt.Errorf("%w: checksum %08x, stored %08x", types.ErrCorrupt, got, want)
	}
	r := stateReader{buf: data[stateHeaderLen:end]}
	state := r.persistentState()
	stable := r.stable()
	if r.err == nil && len(r.buf) > 0 {
		r.err = fmt.Errorf("%d bytes after the last stable entry", len(r.buf))
	}
	if r.err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("%w: %w", types.ErrCorrupt, r.err)
	}
	return state, stable, nil
}

// stateReader takes fields off the front of a state body, bounds-checked;
// the first failure sticks in err and every later read returns zero.
type stateReader struct {
	buf []byte
	err error
}

func (r *stateReader) take(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%s needs %d bytes, %d left", what, n, len(r.buf))
		return nil
	}
	b := r.buf[:n]
	r.buf = r.buf[n:]
	return b
}

func (r *stateReader) uint64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *stateReader) uint32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// count reads an element count and checks that many elements of at least
// minLen bytes fit in what is left, before anything is allocated for them.
func (r *stateReader) count(what string, minLen uint64) int {
	n := uint64(r.uint32(what))
	if r.err == nil && n*minLen > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%d %s do not fit in %d bytes", n, what, len(r.buf))
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *stateReader) persistentState() types.PersistentState {
	state := types.PersistentState{NextSegmentID: r.uint64("next segment id")}
	n := r.count("segments", stateSegmentLen)
	for range n {
		seg := types.SegmentInfo{
			ID: r.uint64("segment id"), BaseIndex: r.uint64("base index"), MinIndex: r.uint64("min index"),
			MaxIndex: r.uint64("max index"), Codec: r.uint64("codec"), IndexStart: r.uint64("index start"),
			CreateTime: fromUnixNanos(int64(r.uint64("create time"))), SealTime: fromUnixNanos(int64(r.uint64("seal time"))),
			SizeLimit: r.uint32("size limit"),
		}
		state.Segments = append(state.Segments, seg)
	}
	return state
}

func (r *stateReader) stable() map[string][]byte {
	stable := map[string][]byte{}
	n := r.count("stable entries", 8)
	for range n {
		key := r.take(uint64(r.uint32("key length")), "key")
		value := r.take(uint64(r.uint32("value length")), "value")
		if r.err != nil {
			return nil
		}
		stable[string(key)] = bytes.Clone(value)
	}
	return stable
}
