package coord

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// marker is one transaction end a recordingShard was told of.
type marker struct {
	producerID int64
	commit     bool
}

// recordingShard remembers what it replayed; only its loop touches it.
type recordingShard struct {
	records []Record
	markers []marker
}

func (s *recordingShard) Replay(r Record) error {
	r.Key, r.Value = slices.Clone(r.Key), slices.Clone(r.Value)
	s.records = append(s.records, r)
	return nil
}

func (s *recordingShard) Loaded(*Effects) {}

func (s *recordingShard) ReplayMarker(producerID int64, commit bool) {
	s.markers = append(s.markers, marker{producerID, commit})
}

// snapshot is what a recordingShard holds, copied on its loop.
type snapshot struct {
	records []Record
	markers []marker
}

// runOn runs op on the partition's shard once it has loaded and waits for
// its completion; it returns the shard's state after op's records were
// replayed.
func runOn(t *testing.T, rt *Runtime[*recordingShard], op func(s *recordingShard, fx *Effects)) snapshot {
	t.Helper()
	done := make(chan snapshot, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := rt.Do(0, func(s *recordingShard, fx *Effects) {
			op(s, fx)
			fx.Then(func(err error) {
				if err != nil {
					t.Errorf("write: %v", err)
				}
				done <- snapshot{slices.Clone(s.records), slices.Clone(s.markers)}
			})
		})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLoading) || time.Now().After(deadline) {
			t.Fatalf("do: %v", err)
		}
		runtimeYield()
	}
	select {
	case s := <-done:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("operation did not complete")
		return snapshot{}
	}
}

// runtimeYield lets the loading loop run before the next attempt.
func runtimeYield() {
	timer := time.NewTimer(time.Millisecond)
	<-timer.C
}

// An operation's transactional records are written in a transactional
// batch of their producer, after its plain records' batch; the marker the
// transaction coordinator writes later reaches the shard through
// DeliverMarker, and a reload replays records with their producer and the
// marker.
func TestTransactionalRecordsAndMarkers(t *testing.T) {
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__consumer_offsets", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	rt := NewRuntime(Config[*recordingShard]{NewShard: func(int32, Timers) *recordingShard { return &recordingShard{} }})
	defer rt.Close()
	rt.Load(p)

	state := runOn(t, rt, func(_ *recordingShard, fx *Effects) {
		fx.Append(Record{Key: []byte("plain"), Value: []byte("1")})
		fx.AppendTransactional(9, 2, Record{Key: []byte("txn-a"), Value: []byte("2")})
		fx.AppendTransactional(9, 2, Record{Key: []byte("txn-b"), Value: []byte("3")})
	})
	if len(state.records) != 3 || state.records[0].Transactional || !state.records[1].Transactional || state.records[2].ProducerID != 9 {
		t.Fatalf("replayed own records %+v", state.records)
	}
	wantBatches(t, p, []batchShape{{records: 1}, {records: 2, transactional: true, producerID: 9, producerEpoch: 2}})

	if _, err := p.AppendTxnMarker(9, 2, true, 0); err != nil {
		t.Fatal(err)
	}
	rt.DeliverMarker(0, 9, true)
	state = runOn(t, rt, func(*recordingShard, *Effects) {})
	if !slices.Equal(state.markers, []marker{{9, true}}) {
		t.Fatalf("markers after DeliverMarker: %+v", state.markers)
	}

	rt.Unload(0)
	rt.Load(p)
	state = runOn(t, rt, func(*recordingShard, *Effects) {})
	if len(state.records) != 3 || state.records[0].Transactional || !state.records[2].Transactional ||
		state.records[2].ProducerID != 9 || state.records[2].ProducerEpoch != 2 || string(state.records[2].Key) != "txn-b" {
		t.Fatalf("records replayed at load: %+v", state.records)
	}
	if !slices.Equal(state.markers, []marker{{9, true}}) {
		t.Fatalf("markers replayed at load: %+v", state.markers)
	}
}

// batchShape is what TestTransactionalRecordsAndMarkers checks of a batch.
type batchShape struct {
	records       int
	transactional bool
	producerID    int64
	producerEpoch int16
}

// wantBatches reads the partition's data batches and compares their shape.
func wantBatches(t *testing.T, p *replica.Partition, want []batchShape) {
	t.Helper()
	data, err := p.Log().Read(0, 1<<20, p.Log().LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	var got []batchShape
	for len(data) > 0 {
		h, err := record.ParseHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		shape := batchShape{records: int(h.LastOffset() - h.BaseOffset + 1), transactional: h.IsTransactional()}
		if h.IsTransactional() {
			shape.producerID, shape.producerEpoch = h.ProducerID, h.ProducerEpoch
		}
		got = append(got, shape)
		data = data[h.Size():]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("batches %+v, want %+v", got, want)
	}
}

// A coordinator that loads on a new leader replays the whole log, not only
// what is below the high watermark: the new leader's high watermark lags
// the old one's (it learnt it a fetch late, and stands still until the ISR
// fetches from it), and the records between were committed, some of them
// acknowledged (offset commits, transaction states). Kafka's loader reads
// to the log end too; the new leader's log is the truth from now on.
func TestLoadOnANewLeaderReplaysPastTheHighWatermark(t *testing.T) {
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 1, AwaitRole: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__consumer_offsets", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	replicas := []int32{1, 2}
	if err := p.MakeFollower(replica.LeaderAndISR{Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: replicas, ISR: replicas}); err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"a", "b", "c"} {
		spec := record.NewBatchSpec()
		spec.BaseOffset, spec.PartitionLeaderEpoch = int64(i), 1
		b, err := record.AppendBatch(nil, spec, []record.RecordSpec{{Timestamp: 1, Key: []byte(key), Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SyncFollower(); err != nil {
		t.Fatal(err)
	}
	p.SetFollowerHighWatermark(1) // the leader's, as of the last fetch
	if err := p.MakeLeader(replica.LeaderAndISR{Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2, Replicas: replicas, ISR: replicas}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("new leader's high watermark %d, want 1 until broker 2 fetches", hw)
	}
	rt := NewRuntime(Config[*recordingShard]{NewShard: func(int32, Timers) *recordingShard { return &recordingShard{} }})
	defer rt.Close()
	rt.Load(p)
	state := runOn(t, rt, func(*recordingShard, *Effects) {})
	var keys []string
	for _, r := range state.records {
		keys = append(keys, string(r.Key))
	}
	if !slices.Equal(keys, []string{"a", "b", "c"}) {
		t.Fatalf("records replayed at load %q, want a, b and c", keys)
	}
}

// Close (and Unload) does not wait forever for a write that waits for an
// ISR that no longer fetches (a leader cut off from its followers and the
// controller): the write fails, its operation answers with the error, and
// the broker can shut down.
func TestCloseEndsAWriteWaitingForTheISR(t *testing.T) {
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 1, AwaitRole: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__consumer_offsets", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	replicas := []int32{1, 2}
	if err := p.MakeLeader(replica.LeaderAndISR{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: replicas, ISR: replicas}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	rt := NewRuntime(Config[*recordingShard]{NewShard: func(int32, Timers) *recordingShard { return &recordingShard{} }})
	rt.Load(p)
	written := make(chan error, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := rt.Do(0, func(_ *recordingShard, fx *Effects) {
			fx.Append(Record{Key: []byte("k"), Value: []byte("v")})
			fx.Then(func(err error) { written <- err })
		})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLoading) || time.Now().After(deadline) {
			t.Fatalf("do: %v", err)
		}
		runtimeYield()
	}
	// Appended: the write now waits for broker 2.
	for deadline := time.Now().Add(5 * time.Second); p.Log().LogEndOffset() != 1; runtimeYield() {
		if time.Now().After(deadline) {
			t.Fatal("the write was not appended")
		}
	}
	closed := make(chan struct{})
	go func() {
		rt.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a write waited for the ISR")
	}
	if err := <-written; err == nil {
		t.Fatal("the write reported success without the ISR")
	}
}
