package replica

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// syncGate blocks (or fails) fsyncs of segment files while armed: the
// follower's fsync of what it fetched, held as long as a test needs.
type syncGate struct {
	armed   atomic.Bool
	fail    atomic.Bool   // armed fsyncs fail (after release) instead of passing
	started chan struct{} // one value per armed fsync that started
	mu      sync.Mutex
	release chan struct{} // closed to let the armed fsyncs through
}

func newSyncGate() *syncGate { return &syncGate{started: make(chan struct{}, 16)} }

// arm makes the next fsyncs wait for open.
func (g *syncGate) arm() {
	g.mu.Lock()
	g.release = make(chan struct{})
	g.mu.Unlock()
	g.armed.Store(true)
}

// open lets the waiting fsyncs through and disarms the gate (a failing
// gate stays armed and fails the fsyncs to come at once). Opening an open
// gate does nothing.
func (g *syncGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed.Store(g.fail.Load())
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

func (g *syncGate) MaybeFail(op vfs.Op) error {
	if op.Kind != vfs.OpSync || filepath.Ext(op.Path) != ".log" || !g.armed.Load() {
		return nil
	}
	g.mu.Lock()
	release := g.release
	g.mu.Unlock()
	select {
	case g.started <- struct{}{}:
	default:
	}
	<-release
	if g.fail.Load() {
		return vfs.ErrInjected
	}
	return nil
}

// scriptedLeader is a leader the test answers by hand: each Fetch, after a
// trip through the wire encoding (so the follower's tags are what a
// leader decodes), goes to fetches, and its answer comes from answers.
type scriptedLeader struct {
	fetches chan *kmsg.FetchRequest
	answers chan *kmsg.FetchResponse
}

func newScriptedLeader() *scriptedLeader {
	return &scriptedLeader{fetches: make(chan *kmsg.FetchRequest), answers: make(chan *kmsg.FetchResponse)}
}

func (l *scriptedLeader) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	r, ok := req.(*kmsg.FetchRequest)
	if !ok {
		return nil, errors.New("unexpected request")
	}
	out := kmsg.NewPtrFetchRequest()
	out.SetVersion(r.Version)
	if err := out.ReadFrom(r.AppendTo(nil)); err != nil {
		return nil, err
	}
	select {
	case l.fetches <- out:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case resp := <-l.answers:
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sentFetch is what one fetch of the single test partition asked.
type sentFetch struct {
	maxWaitMs int32
	partition kmsg.FetchRequestTopicPartition
}

// next is the follower's next fetch.
func (l *scriptedLeader) next(t *testing.T) sentFetch {
	t.Helper()
	select {
	case r := <-l.fetches:
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch for %+v, want one partition", r.Topics)
		}
		return sentFetch{maxWaitMs: r.MaxWaitMillis, partition: r.Topics[0].Partitions[0]}
	case <-time.After(5 * time.Second):
		t.Fatal("no fetch from the follower")
	}
	return sentFetch{}
}

// answer sends the response to the pending fetch: records (possibly
// none) with the leader's high watermark.
func (l *scriptedLeader) answer(t *testing.T, records []byte, highWatermark int64) {
	t.Helper()
	resp := kmsg.NewPtrFetchResponse()
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	sp := kmsg.NewFetchResponseTopicPartition()
	sp.HighWatermark, sp.RecordBatches = highWatermark, records
	rt.Partitions = append(rt.Partitions, sp)
	resp.Topics = append(resp.Topics, rt)
	select {
	case l.answers <- resp:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower is not waiting for an answer")
	}
}

// pipelineFixture is a leader partition that makes the batches, a
// follower whose segment fsyncs a gate controls, and fetchers that fetch
// from a scripted leader.
type pipelineFixture struct {
	leader   *Partition
	follower *Partition
	gate     *syncGate
	script   *scriptedLeader
	fetchers *Fetchers
}

const pipelineMaxWaitMs = 500

func newPipelineFixture(t *testing.T) *pipelineFixture {
	t.Helper()
	f := &pipelineFixture{gate: newSyncGate(), script: newScriptedLeader()}
	a := newClusterNode(t, 1)
	f.leader = a.open(t)
	m, err := NewManager(ManagerConfig{FS: vfs.NewFaultFS(vfs.NewMem(), f.gate), LogDir: "/data", NodeID: 2,
		AwaitRole: true, ReplicaLagTimeMaxMs: testLagMs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if f.follower, err = m.Ensure("t", [16]byte{1}, 0, 0, storage.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	state := stateLedBy(1, 1, 1, []int32{1, 2}, []int32{1, 2})
	if err := f.leader.MakeLeader(state, a.now()); err != nil {
		t.Fatal(err)
	}
	if err := f.follower.MakeFollower(state); err != nil {
		t.Fatal(err)
	}
	f.fetchers = NewFetchers(FetcherConfig{NodeID: 2, MaxWait: pipelineMaxWaitMs * time.Millisecond,
		Backoff: 5 * time.Millisecond, PartitionMaxBytes: 1 << 20, ResponseMaxBytes: 1 << 20,
		Client: func(int32) (Requester, bool) { return f.script, true }})
	t.Cleanup(f.fetchers.Close)
	// Cleanups run last first: a test that fails with the gate shut must
	// not leave Close waiting for the fsync it holds.
	t.Cleanup(func() {
		f.gate.mu.Lock()
		shut := f.gate.release != nil
		f.gate.mu.Unlock()
		if shut {
			f.gate.open()
		}
	})
	return f
}

// produce appends n records on the leader and returns the batches from
// offset on, as a fetch would carry them.
func (f *pipelineFixture) produce(t *testing.T, n int, offset int64) []byte {
	t.Helper()
	if _, err := f.leader.AppendProduced(batch(t, n)); err != nil {
		t.Fatal(err)
	}
	res, err := f.leader.Read(nil, ReadOptions{Offset: offset, MaxBytes: 1 << 20, MinOneBatch: true,
		Isolation: IsolationLogEnd, CurrentLeaderEpoch: 1, LastFetchedEpoch: NoEpoch})
	if err != nil {
		t.Fatal(err)
	}
	return res.Records
}

// checkFetch checks one fetch: its offset, its durable end and its wait.
func checkFetch(t *testing.T, what string, sent sentFetch, offset, durable int64, maxWaitMs int32) {
	t.Helper()
	rp := sent.partition
	end, ok := DurableEnd(&rp)
	if rp.FetchOffset != offset || !ok || end != durable || sent.maxWaitMs != maxWaitMs {
		t.Fatalf("%s: fetch offset %d, durable end %d (sent %v), max wait %d ms; want %d, %d, %d ms",
			what, rp.FetchOffset, end, ok, sent.maxWaitMs, offset, durable, maxWaitMs)
	}
}

// syncStarted waits for an armed fsync to start.
func (g *syncGate) syncStarted(t *testing.T) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower did not fsync what it fetched")
	}
}

// heldBack reports whether a fetcher holds tp back after an error.
func (fs *Fetchers) heldBack(tp TopicPartition) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, ft := range fs.fetchers {
		ft.mu.Lock()
		st := ft.partitions[tp]
		held := st != nil && !st.delayedUntil.IsZero()
		ft.mu.Unlock()
		if held {
			return true
		}
	}
	return false
}

// The follower's fsync overlaps its next fetch: the fetch after an append
// goes out while the append's fsync is still running (past the overlap
// wait), reports the new log end with the old durable end, and does not
// wait at the leader; the one after it reports the fsync's end and
// long-polls again. The follower's
// high watermark never passes what it has durably.
func TestFetcherOverlapsSyncWithNextFetch(t *testing.T) {
	f := newPipelineFixture(t)
	records := f.produce(t, 3, 0)
	f.fetchers.Add(f.follower, 1, 1)

	checkFetch(t, "first fetch", f.script.next(t), 0, 0, pipelineMaxWaitMs)
	f.gate.arm()
	f.script.answer(t, records, 0)
	f.gate.syncStarted(t)

	second := f.script.next(t)
	if d := f.follower.Log().FlushedOffset(); d != 0 {
		t.Fatalf("fsync finished (flushed %d) before the check", d)
	}
	checkFetch(t, "fetch during the fsync", second, 3, 0, 0)
	f.script.answer(t, nil, 3)
	if hw := f.follower.HighWatermark(); hw != 0 {
		t.Fatalf("follower high watermark %d before its fsync ended", hw)
	}
	f.gate.open()

	checkFetch(t, "fetch after the fsync", f.script.next(t), 3, 3, pipelineMaxWaitMs)
	if hw := f.follower.HighWatermark(); hw != 3 {
		t.Fatalf("follower high watermark %d, want the leader's 3 once durable", hw)
	}
}

// An fsync that ends within the overlap wait is reported by the next
// fetch itself, which long-polls as usual: at low rates a follower costs
// no extra round trip.
func TestFetcherReportsQuickSyncWithNextFetch(t *testing.T) {
	f := newPipelineFixture(t)
	f.fetchers.overlapAfter = time.Minute // quick however slow this machine is
	records := f.produce(t, 3, 0)
	f.fetchers.Add(f.follower, 1, 1)
	checkFetch(t, "first fetch", f.script.next(t), 0, 0, pipelineMaxWaitMs)
	f.script.answer(t, records, 2)
	checkFetch(t, "fetch after a quick fsync", f.script.next(t), 3, 3, pipelineMaxWaitMs)
	if hw := f.follower.HighWatermark(); hw != 2 {
		t.Fatalf("follower high watermark %d, want the leader's 2", hw)
	}
}

// Remove waits for a running fsync of the partition, and nothing is
// appended after it returns, even from a response already on its way;
// Close waits for the fetchers.
func TestFetcherRemoveWaitsForRunningSync(t *testing.T) {
	f := newPipelineFixture(t)
	records := f.produce(t, 3, 0)
	f.fetchers.Add(f.follower, 1, 1)
	f.script.next(t)
	f.gate.arm()
	f.script.answer(t, records, 0)
	f.gate.syncStarted(t)
	f.script.next(t) // the fetch during the fsync: left unanswered for now

	removed := make(chan int64, 1)
	go func() {
		f.fetchers.Remove(TopicPartition{"t", 0})
		removed <- f.follower.Log().FlushedOffset()
	}()
	// Long enough for a Remove that does not wait to return.
	select {
	case d := <-removed:
		t.Fatalf("Remove returned while the fsync ran (flushed %d)", d)
	case <-time.After(50 * time.Millisecond):
	}
	f.gate.open()
	if d := <-removed; d != 3 {
		t.Fatalf("Remove returned with %d flushed, want 3", d)
	}
	f.script.answer(t, f.produce(t, 2, 3), 3)
	f.fetchers.Close()
	if leo := f.follower.LogEndOffset(); leo != 3 {
		t.Fatalf("follower log end %d after Remove, want 3", leo)
	}
}

// A failed fsync is never reported as durable: the fetches after it
// report the durable end from before, the leader's high watermark is not
// applied, and the partition is held back while it cannot be synced.
func TestFetcherFailedSyncIsNotReportedDurable(t *testing.T) {
	f := newPipelineFixture(t)
	records := f.produce(t, 3, 0)
	f.fetchers.Add(f.follower, 1, 1)
	f.script.next(t)
	f.gate.fail.Store(true)
	f.gate.arm()
	f.script.answer(t, records, 3)
	f.gate.syncStarted(t)
	checkFetch(t, "fetch during the failing fsync", f.script.next(t), 3, 0, 0)
	f.gate.open()
	f.script.answer(t, nil, 3)
	// The fsync failed (and the log with it). Fetches sent while a retry
	// runs still report nothing durable; once none runs the fetcher syncs
	// before it reports, fails, and holds the partition back.
	deadline := time.Now().Add(5 * time.Second)
	for !f.fetchers.heldBack(TopicPartition{"t", 0}) {
		select {
		case r := <-f.script.fetches:
			rp := r.Topics[0].Partitions[0]
			if end, ok := DurableEnd(&rp); !ok || end != 0 {
				t.Fatalf("fetch after the failed fsync reports durable end %d (%v)", end, ok)
			}
			f.script.answer(t, nil, 3)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the partition was not held back after its fsync failed")
		}
	}
	if hw := f.follower.HighWatermark(); hw != 0 {
		t.Fatalf("follower high watermark %d with nothing durable", hw)
	}
	if d := f.follower.DurableLogEnd(); d != 0 {
		t.Fatalf("durable log end %d after failed fsyncs", d)
	}
}
