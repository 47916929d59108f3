package replica

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// hwManager opens a manager on fsys's /data: a single node's (partitions
// lead themselves) or, with awaitRole, a cluster node's.
func hwManager(t *testing.T, fsys vfs.FS, awaitRole bool, intervalMs int64) *Manager {
	t.Helper()
	m, err := NewManager(ManagerConfig{FS: fsys, LogDir: "/data", NodeID: 1, AwaitRole: awaitRole,
		ISRProposer: &fakeProposer{}, HighWatermarkCheckpointIntervalMs: intervalMs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func ensure(t *testing.T, m *Manager, topic string, cfg storage.Config) *Partition {
	t.Helper()
	p, err := m.Ensure(topic, [16]byte{1}, 0, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// produceCommitted appends n records on a partition leading itself and
// waits until they are committed.
func produceCommitted(t *testing.T, p *Partition, n int) {
	t.Helper()
	res, err := p.AppendProduced(batch(t, n))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CommitAcks(context.Background(), res.LastOffset, AcksAll); err != nil {
		t.Fatal(err)
	}
}

func checkpointEntries(t *testing.T, fsys vfs.FS) []storage.PartitionOffset {
	t.Helper()
	entries, err := storage.ReadHighWatermarkCheckpoint(fsys, "/data")
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// waitCheckpoint polls the checkpoint file until it equals want.
func waitCheckpoint(t *testing.T, fsys vfs.FS, want []storage.PartitionOffset) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := checkpointEntries(t, fsys)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint holds %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A restarted replica takes its high watermark from the checkpoint Close
// wrote (Kafka's replication-offset-checkpoint), not from its log start:
// as a follower it keeps it, and elected leader it starts from it even
// before any follower has fetched, so what was committed stays visible.
func TestRestartRestoresHighWatermark(t *testing.T) {
	fsys := vfs.NewMem()
	single := hwManager(t, fsys, false, 0)
	produceCommitted(t, ensure(t, single, "t", storage.DefaultConfig()), 5)
	if err := single.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := checkpointEntries(t, fsys), []storage.PartitionOffset{{Topic: "t", Partition: 0, Offset: 5}}; !slices.Equal(got, want) {
		t.Fatalf("checkpoint after Close: %v, want %v", got, want)
	}

	cluster := hwManager(t, fsys, true, 0)
	p := ensure(t, cluster, "t", storage.DefaultConfig())
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("restarted replica's high watermark %d, want the checkpointed 5", hw)
	}
	if err := p.MakeFollower(stateLedBy(2, 1, 1, []int32{1, 2}, []int32{1, 2})); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("follower's high watermark %d, want 5", hw)
	}
	if err := p.MakeLeader(stateLedBy(1, 2, 2, []int32{1, 2}, []int32{1, 2}), time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("new leader's high watermark %d before its follower fetched, want 5", hw)
	}
}

// A checkpoint never puts a high watermark above the log end: with write
// caching the high watermark counts records a power cut can take, and
// after the cut the log ends lower than the checkpoint says. Nor below
// the log start.
func TestCheckpointClampedToTheLog(t *testing.T) {
	fsys := vfs.NewMem()
	cached := storage.DefaultConfig()
	cached.FlushMessages = 10_000
	single := hwManager(t, fsys, false, 0)
	p := ensure(t, single, "t", cached)
	produceCommitted(t, p, 5)
	if err := single.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	single.Close() // its files predate the crash: only stops it

	if got := checkpointEntries(t, fsys); len(got) != 1 || got[0].Offset != 5 {
		t.Fatalf("checkpoint %v, want t-0 at 5", got)
	}
	cluster := hwManager(t, fsys, true, 0)
	p = ensure(t, cluster, "t", cached)
	if end := p.Log().LogEndOffset(); end >= 5 {
		t.Fatalf("log end %d after the power cut: the cached records survived, the test proves nothing", end)
	}
	if hw, end := p.HighWatermark(), p.Log().LogEndOffset(); hw != end {
		t.Fatalf("high watermark %d after the power cut, want the log end %d", hw, end)
	}
	if err := cluster.Close(); err != nil {
		t.Fatal(err)
	}

	// Below the log start: the checkpoint says 1, records before 3 are gone.
	single = hwManager(t, fsys, false, 0)
	p = ensure(t, single, "t", storage.DefaultConfig())
	produceCommitted(t, p, 5)
	if _, err := p.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	if err := single.Close(); err != nil {
		t.Fatal(err)
	}
	if err := storage.WriteHighWatermarkCheckpoint(fsys, "/data", []storage.PartitionOffset{{Topic: "t", Offset: 1}}); err != nil {
		t.Fatal(err)
	}
	p = ensure(t, hwManager(t, fsys, true, 0), "t", storage.DefaultConfig())
	if start, hw := p.Log().LogStartOffset(), p.HighWatermark(); start != 3 || hw != 3 {
		t.Fatalf("log start %d, high watermark %d; want both 3", start, hw)
	}
}

// Above the log end in the file itself (an operator's edit, a log cut by
// hand): the high watermark stops at the log end.
func TestCheckpointAboveTheLogEnd(t *testing.T) {
	fsys := vfs.NewMem()
	single := hwManager(t, fsys, false, 0)
	produceCommitted(t, ensure(t, single, "t", storage.DefaultConfig()), 4)
	if err := single.Close(); err != nil {
		t.Fatal(err)
	}
	if err := storage.WriteHighWatermarkCheckpoint(fsys, "/data", []storage.PartitionOffset{{Topic: "t", Offset: 100}}); err != nil {
		t.Fatal(err)
	}
	p := ensure(t, hwManager(t, fsys, true, 0), "t", storage.DefaultConfig())
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d from a checkpoint of 100, want the log end 4", hw)
	}
}

// One loop writes the checkpoint every interval for all partitions, and
// soon after a partition is removed, without it.
func TestCheckpointLoop(t *testing.T) {
	fsys := vfs.NewMem()
	m := hwManager(t, fsys, false, 10)
	a := ensure(t, m, "a", storage.DefaultConfig())
	ensure(t, m, "b", storage.DefaultConfig())
	produceCommitted(t, a, 3)
	waitCheckpoint(t, fsys, []storage.PartitionOffset{{Topic: "a", Offset: 3}, {Topic: "b", Offset: 0}})

	slow := hwManager(t, vfs.NewMem(), false, 3_600_000)
	ensure(t, slow, "c", storage.DefaultConfig())
	ensure(t, slow, "d", storage.DefaultConfig())
	if err := slow.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	if err := slow.Remove("c", 0); err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, slow.cfg.FS, []storage.PartitionOffset{{Topic: "d", Offset: 0}})
}

// A partition the checkpoint lists but this run has not opened yet (the
// metadata has not reached it) keeps its entry in every write; one whose
// directory is gone (deleted while the broker was down) is dropped.
func TestCheckpointKeepsPartitionsNotOpenedYet(t *testing.T) {
	fsys := vfs.NewMem()
	single := hwManager(t, fsys, false, 0)
	produceCommitted(t, ensure(t, single, "t", storage.DefaultConfig()), 4)
	if err := single.Close(); err != nil {
		t.Fatal(err)
	}
	entries := []storage.PartitionOffset{{Topic: "t", Offset: 4}, {Topic: "gone", Offset: 9}}
	if err := storage.WriteHighWatermarkCheckpoint(fsys, "/data", entries); err != nil {
		t.Fatal(err)
	}
	m := hwManager(t, fsys, true, 0)
	ensure(t, m, "new", storage.DefaultConfig())
	if err := m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	want := []storage.PartitionOffset{{Topic: "new", Offset: 0}, {Topic: "t", Offset: 4}}
	if got := checkpointEntries(t, fsys); !slices.Equal(got, want) {
		t.Fatalf("checkpoint %v, want %v", got, want)
	}
	if hw := ensure(t, m, "t", storage.DefaultConfig()).HighWatermark(); hw != 4 {
		t.Fatalf("partition opened later: high watermark %d, want 4", hw)
	}
}

// An unreadable checkpoint does not stop the broker: high watermarks
// start at the log start, as without one.
func TestCorruptCheckpointStartsAtTheLogStart(t *testing.T) {
	fsys := vfs.NewMem()
	single := hwManager(t, fsys, false, 0)
	produceCommitted(t, ensure(t, single, "t", storage.DefaultConfig()), 4)
	if err := single.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Create("/data/" + storage.HighWatermarkCheckpointName)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("0\n1\nt 0\n"))
	f.Close()
	p := ensure(t, hwManager(t, fsys, true, 0), "t", storage.DefaultConfig())
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d from a corrupt checkpoint, want the log start 0", hw)
	}
}

// Only the first Close writes the checkpoint: a second one, with nothing
// hosted any more, must not empty it.
func TestSecondCloseKeepsTheCheckpoint(t *testing.T) {
	fsys := vfs.NewMem()
	m := hwManager(t, fsys, false, 0)
	produceCommitted(t, ensure(t, m, "t", storage.DefaultConfig()), 2)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := checkpointEntries(t, fsys), []storage.PartitionOffset{{Topic: "t", Offset: 2}}; !slices.Equal(got, want) {
		t.Fatalf("checkpoint after two Closes: %v, want %v", got, want)
	}
}

// A periodic checkpoint that would repeat the last one is not written,
// one after any high watermark moved or the partition set changed is
// (from no partitions to one included), and the file always ends up
// holding every partition's high watermark.
func TestCheckpointSkipsUnchangedWrites(t *testing.T) {
	var renames atomic.Int64 // the checkpoint is replaced through a rename
	fsys := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpRename && strings.Contains(op.Path, storage.HighWatermarkCheckpointName) {
			renames.Add(1)
		}
		return nil
	}))
	m := hwManager(t, fsys, false, 3_600_000)
	writes := renames.Load
	if err := m.CheckpointHighWatermarks(); err != nil { // no partitions yet
		t.Fatal(err)
	}
	a := ensure(t, m, "a", storage.DefaultConfig())
	if err := m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, fsys, []storage.PartitionOffset{{Topic: "a", Partition: 0, Offset: 0}})
	first := writes()
	if err := m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	if writes() != first {
		t.Fatal("an unchanged checkpoint was written again")
	}
	produceCommitted(t, a, 3)
	if err := m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, fsys, []storage.PartitionOffset{{Topic: "a", Partition: 0, Offset: 3}})
	ensure(t, m, "b", storage.DefaultConfig())
	if err := m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, fsys, []storage.PartitionOffset{{Topic: "a", Partition: 0, Offset: 3}, {Topic: "b", Partition: 0, Offset: 0}})
}
