package quorum

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/types"

	"github.com/sluice-io/sluice/internal/vfs"
)

// raftStableKeys are the keys hashicorp/raft keeps in its StableStore
// (raft.go: keyCurrentTerm, keyLastVoteTerm, keyLastVoteCand), all a
// BoltDB meta store can hold for it: raft-wal's metadb has no way to list
// keys, so a migration asks for these.
var raftStableKeys = []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand"}

// maxBoltMetaSize bounds the BoltDB file a migration copies into memory: a
// meta store holds one small value per key, so a few pages; anything far
// larger is not one.
const maxBoltMetaSize = 64 << 20

// migrateBoltLocked is Load for a WAL directory without a state file: if
// raft-wal's BoltDB meta store is there (a data directory from before the
// metadata log went through the vfs seam), its state and Raft's stable
// keys are read once with raft-wal's own metadb, written durably as the
// state file, and the BoltDB file is renamed aside (boltMetaName +
// migratedSuffix) so nothing reads it again. Without either file the
// store starts empty.
//
// A crash part-way is safe: until the state file's rename is durable the
// next start migrates again from the untouched BoltDB file; after it, the
// state file wins and Load sets a BoltDB file still beside it aside
// without reading it. Going back to a Sluice that reads the BoltDB store
// is not supported after the migration: its state no longer follows the
// log.
func (s *metaStore) migrateBoltLocked() (types.PersistentState, map[string][]byte, error) {
	boltPath := filepath.Join(s.dir, boltMetaName)
	data, err := vfs.ReadFile(s.fsys, boltPath, maxBoltMetaSize)
	if errors.Is(err, fs.ErrNotExist) {
		return types.PersistentState{}, map[string][]byte{}, nil
	}
	if err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("migrate metadata log state from %s: %w", boltPath, err)
	}
	state, stable, err := readBoltMeta(data)
	if err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("migrate metadata log state from %s: %w", boltPath, err)
	}
	if err := s.writeLocked(state, stable); err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("migrate metadata log state from %s: %w", boltPath, err)
	}
	if err := s.setBoltAsideLocked(); err != nil {
		return types.PersistentState{}, nil, err
	}
	s.logger.Info("migrated the metadata log state from raft-wal's BoltDB meta store",
		"from", boltPath, "to", s.path(), "segments", len(state.Segments), "stable_keys", len(stable))
	return state, stable, nil
}

// setBoltAsideLocked renames a migrated BoltDB meta store aside, if it is
// still there, and makes that durable.
func (s *metaStore) setBoltAsideLocked() error {
	boltPath := filepath.Join(s.dir, boltMetaName)
	err := s.fsys.Rename(boltPath, boltPath+migratedSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("set migrated %s aside: %w", boltPath, err)
	}
	if err := s.fsys.SyncDir(s.dir); err != nil { // fsync point: the BoltDB file set aside
		return fmt.Errorf("sync metadata log directory %s: %w", s.dir, err)
	}
	return nil
}

// readBoltMeta reads a BoltDB meta store's contents with raft-wal's
// metadb. bbolt maps a real file, and the store may live on any vfs.FS,
// so the bytes are copied to a private temporary directory first, read
// there and removed: the data directory itself is only read.
func readBoltMeta(data []byte) (types.PersistentState, map[string][]byte, error) {
	tmp, err := os.MkdirTemp("", "sluice-wal-meta-")
	if err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("temporary copy: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, metadb.FileName), data, 0o600); err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("temporary copy: %w", err)
	}
	db := &metadb.BoltMetaDB{}
	state, err := db.Load(tmp)
	if err != nil {
		return types.PersistentState{}, nil, errors.Join(fmt.Errorf("open BoltDB meta store: %w", err), db.Close())
	}
	stable := map[string][]byte{}
	for _, key := range raftStableKeys {
		value, err := db.GetStable([]byte(key))
		if err != nil {
			return types.PersistentState{}, nil, errors.Join(fmt.Errorf("read %s: %w", key, err), db.Close())
		}
		if value != nil {
			stable[key] = value
		}
	}
	if err := db.Close(); err != nil {
		return types.PersistentState{}, nil, fmt.Errorf("close BoltDB meta store: %w", err)
	}
	return state, stable, nil
}
