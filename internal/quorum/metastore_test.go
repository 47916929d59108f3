package quorum

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/types"

	"github.com/sluice-io/sluice/internal/vfs"
)

func newTestMetaStore(fsys vfs.FS) *metaStore {
	return newMetaStore(fsys, slog.New(slog.DiscardHandler))
}

func sampleState() types.PersistentState {
	created := time.Unix(1700000000, 123456789)
	return types.PersistentState{
		NextSegmentID: 7,
		Segments: []types.SegmentInfo{
			{ID: 5, BaseIndex: 1, MinIndex: 3, MaxIndex: 900, Codec: 1, IndexStart: 4096, CreateTime: created,
				SealTime: created.Add(time.Hour), SizeLimit: 64 << 20},
			{ID: 6, BaseIndex: 901, MinIndex: 901, Codec: 1, CreateTime: created.Add(time.Hour), SizeLimit: 64 << 20},
		},
	}
}

func sampleStable() map[string][]byte {
	return map[string][]byte{"CurrentTerm": {0, 0, 0, 0, 0, 0, 0, 9}, "LastVoteCand": []byte("2"), "empty": {}}
}

// sameState compares states as raft-wal uses them: times by instant (the
// unsealed tail's zero SealTime must stay zero).
func sameState(a, b types.PersistentState) bool {
	if a.NextSegmentID != b.NextSegmentID || len(a.Segments) != len(b.Segments) {
		return false
	}
	for i := range a.Segments {
		x, y := a.Segments[i], b.Segments[i]
		if !x.CreateTime.Equal(y.CreateTime) || !x.SealTime.Equal(y.SealTime) || x.SealTime.IsZero() != y.SealTime.IsZero() {
			return false
		}
		x.CreateTime, y.CreateTime, x.SealTime, y.SealTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}

func TestStateEncodingRoundTrips(t *testing.T) {
	for name, state := range map[string]types.PersistentState{"empty": {}, "segments": sampleState()} {
		data := encodeState(state, sampleStable())
		got, stable, err := decodeState(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !sameState(got, state) || !reflect.DeepEqual(stable, sampleStable()) {
			t.Errorf("%s: decoded %+v %v", name, got, stable)
		}
	}
}

// Every damaged file is refused as corruption, none panics: a flipped bit
// anywhere (the checksum), any truncation, a foreign file, a newer
// version.
func TestStateDecodingRefusesDamage(t *testing.T) {
	data := encodeState(sampleState(), sampleStable())
	var damaged [][]byte
	for i := range data {
		flipped := bytes.Clone(data)
		flipped[i] ^= 0x10
		damaged = append(damaged, flipped, data[:i])
	}
	newer := bytes.Clone(data)
	newer[5] = 2
	damaged = append(damaged, newer, []byte("SQLite format 3\x00 and more bytes"))
	for i, d := range damaged {
		if _, _, err := decodeState(d); !errors.Is(err, types.ErrCorrupt) {
			t.Fatalf("damaged file %d (%d bytes): err = %v, want ErrCorrupt", i, len(d), err)
		}
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(encodeState(sampleState(), sampleStable()))
	f.Add(encodeState(types.PersistentState{}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		state, stable, err := decodeState(data)
		if err != nil {
			return
		}
		again, stable2, err := decodeState(encodeState(state, stable))
		if err != nil || !sameState(state, again) || !reflect.DeepEqual(stable, stable2) {
			t.Fatalf("a decoded state does not re-encode to itself: %v", err)
		}
	})
}

// What CommitState and SetStable return nil for survives a power cut,
// and a fresh directory writes nothing until the first change.
func TestMetaStoreChangesSurvivePowerCut(t *testing.T) {
	mem := vfs.NewMem()
	if err := vfs.MkdirAllDurable(mem, "/wal"); err != nil {
		t.Fatal(err)
	}
	s := newTestMetaStore(mem)
	if state, err := s.Load("/wal"); err != nil || !sameState(state, types.PersistentState{}) {
		t.Fatalf("Load of an empty directory: %+v, %v", state, err)
	}
	if names, _ := mem.ReadDir("/wal"); len(names) != 0 {
		t.Fatalf("Load of an empty directory wrote %v", names)
	}
	if err := s.CommitState(sampleState()); err != nil {
		t.Fatal(err)
	}
	for k, v := range sampleStable() {
		if err := s.SetStable([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetStable([]byte("gone"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStable([]byte("gone"), nil); err != nil {
		t.Fatal(err)
	}
	mem.Crash()

	again := newTestMetaStore(mem)
	state, err := again.Load("/wal")
	if err != nil || !sameState(state, sampleState()) {
		t.Fatalf("after the power cut: %+v, %v", state, err)
	}
	for k, want := range sampleStable() {
		if got, err := again.GetStable([]byte(k)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("stable %s after the power cut: %v, %v; want %v", k, got, err, want)
		}
	}
	if got, err := again.GetStable([]byte("gone")); got != nil || err != nil {
		t.Errorf("deleted key after the power cut: %v, %v", got, err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := again.GetStable([]byte("CurrentTerm")); !errors.Is(err, errMetaStoreClosed) {
		t.Errorf("GetStable after Close: %v", err)
	}
}

// A state file that fails its checksum stops Load: the store never writes
// the file in place, so this is damage, not a torn write to shrug off.
func TestMetaStoreRefusesCorruptFile(t *testing.T) {
	mem := vfs.NewMem()
	s := newTestMetaStore(mem)
	mem.MkdirAll("/wal")
	s.Load("/wal")
	if err := s.CommitState(sampleState()); err != nil {
		t.Fatal(err)
	}
	data, _ := vfs.ReadFile(mem, "/wal/"+stateFileName, 1<<20)
	data[len(data)/2] ^= 1
	if err := vfs.WriteFile(mem, "/wal/"+stateFileName, data); err != nil {
		t.Fatal(err)
	}
	if _, err := newTestMetaStore(mem).Load("/wal"); !errors.Is(err, types.ErrCorrupt) {
		t.Fatalf("Load of a corrupt state file: %v, want ErrCorrupt", err)
	}
}

// writeBoltMeta makes raft-wal's BoltDB meta store in dir (on the real
// disk) holding state and raft's stable keys, as a node before the vfs
// seam left it.
func writeBoltMeta(t *testing.T, dir string, state types.PersistentState, stable map[string][]byte) {
	t.Helper()
	db := &metadb.BoltMetaDB{}
	if _, err := db.Load(dir); err != nil {
		t.Fatal(err)
	}
	if err := db.CommitState(state); err != nil {
		t.Fatal(err)
	}
	for k, v := range stable {
		if err := db.SetStable([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A WAL directory with raft-wal's BoltDB meta store and no state file is
// migrated on Load: the state and raft's stable keys carry over, the
// BoltDB file is set aside, and the next Load reads the state file. On the
// real disk and on a MemFS (where the BoltDB file's bytes are copied in),
// whose power cut right after Load must keep the migration.
func TestMetaStoreMigratesBoltDB(t *testing.T) {
	stable := map[string][]byte{"CurrentTerm": {0, 0, 0, 0, 0, 0, 0, 4}, "LastVoteTerm": {0, 0, 0, 0, 0, 0, 0, 4}, "LastVoteCand": []byte("1")}
	osDir := t.TempDir()
	writeBoltMeta(t, osDir, sampleState(), stable)
	boltBytes, err := os.ReadFile(filepath.Join(osDir, metadb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	mem := vfs.NewMem()
	if err := vfs.MkdirAllDurable(mem, "/wal"); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFile(mem, "/wal/"+metadb.FileName, boltBytes); err != nil {
		t.Fatal(err)
	}
	mem.SyncDir("/wal")
	for name, c := range map[string]struct {
		fsys  vfs.FS
		dir   string
		crash func()
	}{"OS": {vfs.OS{}, osDir, func() {}}, "Mem": {mem, "/wal", mem.Crash}} {
		t.Run(name, func(t *testing.T) {
			check := func(what string) {
				t.Helper()
				s := newTestMetaStore(c.fsys)
				state, err := s.Load(c.dir)
				if err != nil || !sameState(state, sampleState()) {
					t.Fatalf("%s: state %+v, %v", what, state, err)
				}
				for k, want := range stable {
					if got, _ := s.GetStable([]byte(k)); !bytes.Equal(got, want) {
						t.Errorf("%s: stable %s = %v, want %v", what, k, got, want)
					}
				}
				s.Close()
			}
			check("migration")
			c.crash()
			if _, err := c.fsys.Stat(filepath.Join(c.dir, metadb.FileName)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the BoltDB file is still in place after the migration: %v", err)
			}
			if _, err := c.fsys.Stat(filepath.Join(c.dir, metadb.FileName+migratedSuffix)); err != nil {
				t.Errorf("the migrated BoltDB file was not kept aside: %v", err)
			}
			check("after the migration")
		})
	}
}
