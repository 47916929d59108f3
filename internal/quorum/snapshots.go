package quorum

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/vfs"
)

// snapshotStore is a raft.SnapshotStore on a vfs.FS, with the layout and
// the meta.json of hashicorp/raft's FileSnapshotStore, so a data directory
// that store wrote opens unchanged:
//
//	snapshots/<term>-<index>-<unix ms>/
//	    state.bin   what the FSM persisted (package doc: one metadata batch)
//	    meta.json   raft.SnapshotMeta as JSON, plus "CRC": the CRC-64
//	                (ECMA) of state.bin, base64
//
// A snapshot is written in <name>.tmp/: state.bin and meta.json each
// fsynced, the directory fsynced, then renamed to <name> and the parent
// fsynced; only then does Close return, and only complete snapshots have
// a name without .tmp. So a power cut leaves either the whole snapshot or
// a .tmp directory, which List ignores and the next start removes.
// (FileSnapshotStore does not fsync the .tmp directory before the rename;
// a crash could then keep the snapshot's name without its files.) After
// each new snapshot all but the retain newest are removed.
//
// Threading: hashicorp/raft creates one sink at a time and may List and
// Open concurrently; the store holds no mutable state (the directory is the
// state), and a sink belongs to the goroutine writing it.
type snapshotStore struct {
	fsys   vfs.FS
	dir    string
	retain int
	logger *slog.Logger
}

const (
	snapshotDirName   = "snapshots"
	snapshotStateName = "state.bin"
	snapshotMetaName  = "meta.json"
	snapshotTmpSuffix = ".tmp"
	// maxSnapshotMeta bounds a meta.json read (it holds the voter set).
	maxSnapshotMeta = 1 << 20
)

var crc64Table = crc64.MakeTable(crc64.ECMA)

var _ raft.SnapshotStore = (*snapshotStore)(nil)

// snapshotFileMeta is meta.json: FileSnapshotStore's fileSnapshotMeta.
type snapshotFileMeta struct {
	raft.SnapshotMeta
	CRC []byte
}

// newSnapshotStore opens (creating it durably if missing) base/snapshots,
// removing .tmp directories left by a crash.
func newSnapshotStore(fsys vfs.FS, base string, retain int, logger *slog.Logger) (*snapshotStore, error) {
	s := &snapshotStore{fsys: fsys, dir: filepath.Join(base, snapshotDirName), retain: retain, logger: logger}
	if err := vfs.MkdirAllDurable(fsys, s.dir); err != nil {
		return nil, fmt.Errorf("create metadata snapshot directory %s: %w", s.dir, err)
	}
	names, err := fsys.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list metadata snapshots: %w", err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, snapshotTmpSuffix) {
			if err := fsys.RemoveAll(filepath.Join(s.dir, name)); err != nil {
				return nil, fmt.Errorf("remove unfinished metadata snapshot %s: %w", name, err)
			}
			logger.Info("removed an unfinished metadata snapshot", "name", name)
		}
	}
	return s, nil
}

// Create implements raft.SnapshotStore.
func (s *snapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("unsupported metadata snapshot version %d", version)
	}
	name := fmt.Sprintf("%d-%d-%d", term, index, time.Now().UnixMilli())
	tmpDir := filepath.Join(s.dir, name+snapshotTmpSuffix)
	if err := s.fsys.MkdirAll(tmpDir); err != nil {
		return nil, fmt.Errorf("create metadata snapshot %s: %w", name, err)
	}
	state, err := s.fsys.Create(filepath.Join(tmpDir, snapshotStateName))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("create metadata snapshot %s: %w", name, err), s.fsys.RemoveAll(tmpDir))
	}
	sink := &snapshotSink{
		store: s, tmpDir: tmpDir, state: state, hash: crc64.New(crc64Table),
		meta: snapshotFileMeta{SnapshotMeta: raft.SnapshotMeta{
			Version: version, ID: name, Index: index, Term: term,
			Configuration: configuration, ConfigurationIndex: configurationIndex,
			// Peers, the voter list of version-0 snapshots, stays empty:
			// hashicorp/raft reads it only from those.
		}},
	}
	sink.buffered = bufio.NewWriter(io.MultiWriter(state, sink.hash))
	return sink, nil
}

// List implements raft.SnapshotStore: the complete snapshots, newest
// (highest term, then index) first, at most retain of them. A snapshot
// whose meta.json cannot be read is skipped with a warning, as
// FileSnapshotStore does.
func (s *snapshotStore) List() ([]*raft.SnapshotMeta, error) {
	metas, err := s.snapshots()
	if err != nil {
		return nil, err
	}
	out := make([]*raft.SnapshotMeta, 0, min(len(metas), s.retain))
	for _, m := range metas[:min(len(metas), s.retain)] {
		out = append(out, &m.SnapshotMeta)
	}
	return out, nil
}

// snapshots reads every complete snapshot's meta, newest first.
func (s *snapshotStore) snapshots() ([]*snapshotFileMeta, error) {
	names, err := s.fsys.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list metadata snapshots: %w", err)
	}
	var metas []*snapshotFileMeta
	for _, name := range names {
		if strings.HasSuffix(name, snapshotTmpSuffix) {
			continue
		}
		if info, err := s.fsys.Stat(filepath.Join(s.dir, name)); err != nil || !info.IsDir {
			continue
		}
		meta, err := s.readMeta(name)
		if err != nil {
			s.logger.Warn("skipping an unreadable metadata snapshot", "name", name, "err", err)
			continue
		}
		if meta.Version < raft.SnapshotVersionMin || meta.Version > raft.SnapshotVersionMax {
			s.logger.Warn("skipping a metadata snapshot of an unsupported version", "name", name, "version", meta.Version)
			continue
		}
		metas = append(metas, meta)
	}
	slices.SortFunc(metas, func(a, b *snapshotFileMeta) int {
		return -cmp.Or(cmp.Compare(a.Term, b.Term), cmp.Compare(a.Index, b.Index), cmp.Compare(a.ID, b.ID))
	})
	return metas, nil
}

func (s *snapshotStore) readMeta(id string) (*snapshotFileMeta, error) {
	data, err := vfs.ReadFile(s.fsys, filepath.Join(s.dir, id, snapshotMetaName), maxSnapshotMeta)
	if err != nil {
		return nil, err
	}
	meta := &snapshotFileMeta{}
	if err := json.Unmarshal(data, meta); err != nil {
		return nil, fmt.Errorf("decode %s of metadata snapshot %s: %w", snapshotMetaName, id, err)
	}
	return meta, nil
}

// Open implements raft.SnapshotStore: it checks state.bin against the CRC
// in meta.json before returning a reader of it.
func (s *snapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if strings.ContainsAny(id, `/\`) || id == ".." {
		return nil, nil, fmt.Errorf("metadata snapshot id %q is not a name", id)
	}
	meta, err := s.readMeta(id)
	if err != nil {
		return nil, nil, fmt.Errorf("open metadata snapshot %s: %w", id, err)
	}
	f, err := s.fsys.Open(filepath.Join(s.dir, id, snapshotStateName))
	if err != nil {
		return nil, nil, fmt.Errorf("open metadata snapshot %s: %w", id, err)
	}
	size, err := f.Size()
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("open metadata snapshot %s: %w", id, err), f.Close())
	}
	h := crc64.New(crc64Table)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("read metadata snapshot %s: %w", id, err), f.Close())
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, meta.CRC) {
		return nil, nil, errors.Join(fmt.Errorf("metadata snapshot %s: state.bin has CRC %x, meta.json says %x", id, sum, meta.CRC), f.Close())
	}
	return &meta.SnapshotMeta, &snapshotReader{Reader: bufio.NewReader(io.NewSectionReader(f, 0, size)), file: f}, nil
}

// reap removes all but the retain newest snapshots.
func (s *snapshotStore) reap() error {
	metas, err := s.snapshots()
	if err != nil {
		return err
	}
	if len(metas) <= s.retain {
		return nil
	}
	for _, m := range metas[s.retain:] {
		if err := s.fsys.RemoveAll(filepath.Join(s.dir, m.ID)); err != nil {
			return fmt.Errorf("remove old metadata snapshot %s: %w", m.ID, err)
		}
		s.logger.Info("removed an old metadata snapshot", "id", m.ID)
	}
	if err := s.fsys.SyncDir(s.dir); err != nil { // fsync point: the removals (a lost one only costs space)
		return fmt.Errorf("sync metadata snapshot directory: %w", err)
	}
	return nil
}

// snapshotReader reads state.bin and closes it.
type snapshotReader struct {
	*bufio.Reader
	file vfs.File
}

func (r *snapshotReader) Close() error { return r.file.Close() }

// snapshotSink writes one snapshot; see snapshotStore for the steps.
type snapshotSink struct {
	store    *snapshotStore
	tmpDir   string
	state    vfs.File
	hash     hash.Hash64
	buffered *bufio.Writer
	meta     snapshotFileMeta
	done     bool
}

// ID implements raft.SnapshotSink.
func (k *snapshotSink) ID() string { return k.meta.ID }

// Write implements raft.SnapshotSink.
func (k *snapshotSink) Write(p []byte) (int, error) { return k.buffered.Write(p) }

// Close implements raft.SnapshotSink: the snapshot is complete and durable
// when it returns nil; on error nothing of it remains.
func (k *snapshotSink) Close() error {
	if k.done {
		return nil
	}
	k.done = true
	if err := k.finish(); err != nil {
		return errors.Join(err, k.store.fsys.RemoveAll(k.tmpDir))
	}
	return k.store.reap()
}

// Cancel implements raft.SnapshotSink: the snapshot is dropped.
func (k *snapshotSink) Cancel() error {
	if k.done {
		return nil
	}
	k.done = true
	return errors.Join(k.state.Close(), k.store.fsys.RemoveAll(k.tmpDir))
}

// finish makes the snapshot durable under its final name.
func (k *snapshotSink) finish() error {
	fsys, id := k.store.fsys, k.meta.ID
	if err := k.closeState(); err != nil {
		return fmt.Errorf("write metadata snapshot %s: %w", id, err)
	}
	meta, err := json.Marshal(&k.meta)
	if err != nil {
		return fmt.Errorf("encode metadata snapshot %s meta: %w", id, err)
	}
	if err := vfs.WriteFile(fsys, filepath.Join(k.tmpDir, snapshotMetaName), meta); err != nil {
		return fmt.Errorf("write metadata snapshot %s: %w", id, err)
	}
	if err := fsys.SyncDir(k.tmpDir); err != nil { // fsync point: state.bin's and meta.json's names
		return fmt.Errorf("sync metadata snapshot %s: %w", id, err)
	}
	if err := fsys.Rename(k.tmpDir, filepath.Join(k.store.dir, id)); err != nil {
		return fmt.Errorf("complete metadata snapshot %s: %w", id, err)
	}
	if err := fsys.SyncDir(k.store.dir); err != nil { // fsync point: the snapshot's final name
		return fmt.Errorf("sync metadata snapshot directory: %w", err)
	}
	return nil
}

// closeState flushes, fsyncs and closes state.bin and records its size
// and CRC in the meta.
func (k *snapshotSink) closeState() error {
	err := k.buffered.Flush()
	if err == nil {
		err = k.state.Sync() // fsync point: the snapshot's contents
	}
	var size int64
	if err == nil {
		size, err = k.state.Size()
	}
	if closeErr := k.state.Close(); err == nil {
		err = closeErr
	}
	k.meta.Size, k.meta.CRC = size, k.hash.Sum(nil)
	return err
}
