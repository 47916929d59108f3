package coord

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// badKey is a key testShard refuses to replay (a corrupt record).
var badKey = []byte("corrupt")

// testShard records what it replayed and which timers fired; only its
// loop touches it.
type testShard struct {
	timers  Timers
	records []Record
	fired   []string
	firedAt []time.Time
}

func (s *testShard) Replay(r Record) error {
	if bytes.Equal(r.Key, badKey) {
		return errors.New("unreadable record")
	}
	s.records = append(s.records, Record{Key: slices.Clone(r.Key), Value: slices.Clone(r.Value)})
	return nil
}

func (s *testShard) Loaded(*Effects) {}

// newTestPartition is a single-replica leader partition in memory.
func newTestPartition(t *testing.T) *replica.Partition {
	t.Helper()
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__consumer_offsets", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestRuntime(t *testing.T, cfg Config[*testShard]) *Runtime[*testShard] {
	t.Helper()
	cfg.NewShard = func(_ int32, timers Timers) *testShard { return &testShard{timers: timers} }
	rt := NewRuntime(cfg)
	t.Cleanup(rt.Close)
	return rt
}

// do submits op once the shard has loaded.
func do(t *testing.T, rt *Runtime[*testShard], op Op[*testShard]) <-chan struct{} {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stopped, err := rt.Do(0, op)
		if err == nil {
			return stopped
		}
		if !errors.Is(err, ErrLoading) || time.Now().After(deadline) {
			t.Fatalf("do: %v", err)
		}
		runtimeYield()
	}
}

// await runs fn on the shard after everything queued before it and
// returns its result.
func await[T any](t *testing.T, rt *Runtime[*testShard], fn func(s *testShard) T) T {
	t.Helper()
	got := make(chan T, 1)
	do(t, rt, func(s *testShard, fx *Effects) { fx.Then(func(error) { got <- fn(s) }) })
	select {
	case v := <-got:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("operation did not complete")
		var zero T
		return zero
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtimeYield()
	}
}

// Timers run on the runtime's clock: with a manual clock a timer fires
// exactly when the clock passes its deadline, a rescheduled key keeps only
// the newest deadline, a cancelled one never fires, and operations read
// the clock's time in Effects.Now.
func TestTimersFollowTheInjectedClock(t *testing.T) {
	start := time.UnixMilli(1_700_000_000_000)
	clock := NewManualClock(start)
	rt := newTestRuntime(t, Config[*testShard]{Clock: clock})
	rt.Load(newTestPartition(t))

	now := make(chan time.Time, 1)
	do(t, rt, func(s *testShard, fx *Effects) {
		defer func() { now <- fx.Now }() // once every timer is armed: Pending passes 2 on the way
		fire := func(name string) func(*Effects) {
			return func(fx *Effects) {
				s.fired = append(s.fired, name)
				s.firedAt = append(s.firedAt, fx.Now)
			}
		}
		s.timers.Schedule("session", 5*time.Second, fire("session-old"))
		s.timers.Schedule("session", 10*time.Second, fire("session"))
		s.timers.Schedule("cancelled", time.Second, fire("cancelled"))
		s.timers.Cancel("cancelled")
		s.timers.Schedule("retention", 7*time.Second, fire("retention"))
	})
	if got := <-now; !got.Equal(start) {
		t.Fatalf("Effects.Now %v, want the clock's %v", got, start)
	}
	fired := func() []string { return await(t, rt, func(s *testShard) []string { return slices.Clone(s.fired) }) }
	waitFor(t, "two timers armed", func() bool { return clock.Pending() == 2 })

	clock.Advance(6999 * time.Millisecond)
	if got := fired(); len(got) != 0 {
		t.Fatalf("fired %v before any deadline", got)
	}
	clock.Advance(time.Millisecond)
	if got := fired(); !slices.Equal(got, []string{"retention"}) {
		t.Fatalf("fired %v at 7s, want retention", got)
	}
	clock.Advance(3 * time.Second)
	if got := fired(); !slices.Equal(got, []string{"retention", "session"}) {
		t.Fatalf("fired %v at 10s, want retention then session (the 5s deadline was replaced, the 1s one cancelled)", got)
	}
	at := await(t, rt, func(s *testShard) []time.Time { return slices.Clone(s.firedAt) })
	if !at[0].Equal(start.Add(7*time.Second)) || !at[1].Equal(start.Add(10*time.Second)) {
		t.Fatalf("timer operations ran at %v, want the clock at 7s and 10s", at)
	}
}

// Unload returns only once the shard's loop has exited: an operation
// whose write is in flight (waiting for an ISR member that never fetches)
// completes with ErrNotCoordinator before Unload returns, the operation
// queued behind it never runs and its caller sees the stopped channel
// closed, and no goroutine of the shard is left.
func TestUnloadJoinsTheLoop(t *testing.T) {
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
	baseline := runtime.NumGoroutine()
	rt := newTestRuntime(t, Config[*testShard]{})
	rt.Load(p)

	written := make(chan error, 1)
	do(t, rt, func(_ *testShard, fx *Effects) {
		fx.Append(Record{Key: []byte("k"), Value: []byte("v")})
		fx.Then(func(err error) { written <- err })
	})
	// Appended: the loop now waits for broker 2 to fetch.
	waitFor(t, "the append", func() bool { return p.Log().LogEndOffset() == 1 })
	ranBehind := false
	behind := do(t, rt, func(*testShard, *Effects) { ranBehind = true })

	rt.Unload(0)
	select {
	case err := <-written:
		if !errors.Is(err, ErrNotCoordinator) {
			t.Fatalf("in-flight write completed with %v, want ErrNotCoordinator", err)
		}
	default:
		t.Fatal("Unload returned before the in-flight operation completed")
	}
	select {
	case <-behind:
	default:
		t.Fatal("Unload returned before the loop exited")
	}
	if ranBehind {
		t.Fatal("an operation queued behind the in-flight one ran after Unload")
	}
	if _, err := rt.Do(0, func(*testShard, *Effects) {}); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("Do after Unload: %v, want ErrNotCoordinator", err)
	}
	waitFor(t, "the shard's goroutines to exit", func() bool { return runtime.NumGoroutine() <= baseline })
}

// logCounter counts the error records a logger receives, with their
// partition attribute.
type logCounter struct {
	mu         sync.Mutex
	errors     int
	partitions []int64
}

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }

func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors++
	return nil
}

func (c *logCounter) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == "partition" {
			c.mu.Lock()
			c.partitions = append(c.partitions, a.Value.Int64())
			c.mu.Unlock()
		}
	}
	return c
}

func (c *logCounter) WithGroup(string) slog.Handler { return c }

func (c *logCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errors
}

// appendRaw writes plain records to the partition, as a previous
// coordinator would have.
func appendRaw(t *testing.T, p *replica.Partition, keys ...string) {
	t.Helper()
	specs := make([]record.RecordSpec, len(keys))
	for i, k := range keys {
		specs[i] = record.RecordSpec{Timestamp: 1, Key: []byte(k), Value: []byte("v")}
	}
	b, err := record.AppendBatch(nil, record.NewBatchSpec(), specs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(b); err != nil {
		t.Fatal(err)
	}
}

// A partition holding a record the shard cannot replay does not load: the
// shard answers NOT_COORDINATOR (Kafka's FAILED state), the error is
// logged once with the partition, and loading it again under the same
// leader epoch (an ISR change, say) neither retries nor logs again.
func TestLoadFailureFailsTheShard(t *testing.T) {
	logs := &logCounter{}
	p := newTestPartition(t)
	appendRaw(t, p, "a", string(badKey), "b")
	rt := newTestRuntime(t, Config[*testShard]{Logger: slog.New(logs)})
	rt.Load(p)
	var err error
	waitFor(t, "the load to end", func() bool {
		_, err = rt.Do(0, func(*testShard, *Effects) {})
		return !errors.Is(err, ErrLoading)
	})
	if !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("Do on a shard that failed to load: %v, want ErrNotCoordinator", err)
	}
	rt.Load(p)
	if _, err := rt.Do(0, func(*testShard, *Effects) {}); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("Do after a second Load under the same epoch: %v, want ErrNotCoordinator", err)
	}
	if n := logs.count(); n != 1 {
		t.Fatalf("%d error logs, want exactly one", n)
	}
	if !slices.Contains(logs.partitions, 0) {
		t.Fatalf("error logged without the partition (partition attrs %v)", logs.partitions)
	}
}

// A record an operation wrote that the shard cannot replay fails the
// shard: nothing of the iteration is written (the log would disagree with
// the shard), the operation completes with ErrNotCoordinator, later
// operations are refused, and the error is logged once.
func TestReplayOfOwnRecordFailureFailsTheShard(t *testing.T) {
	logs := &logCounter{}
	p := newTestPartition(t)
	rt := newTestRuntime(t, Config[*testShard]{Logger: slog.New(logs)})
	rt.Load(p)
	written := make(chan error, 1)
	do(t, rt, func(_ *testShard, fx *Effects) {
		fx.Append(Record{Key: badKey, Value: []byte("v")})
		fx.Then(func(err error) { written <- err })
	})
	if err := <-written; !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("operation completed with %v, want ErrNotCoordinator", err)
	}
	waitFor(t, "the shard to fail", func() bool {
		_, err := rt.Do(0, func(*testShard, *Effects) {})
		return errors.Is(err, ErrNotCoordinator)
	})
	if end := p.Log().LogEndOffset(); end != 0 {
		t.Fatalf("log end %d: the unreplayable record was written", end)
	}
	if n := logs.count(); n != 1 {
		t.Fatalf("%d error logs, want exactly one", n)
	}
}

// The operations queued while the loop is busy run in one iteration: each
// sees the records of those before it, all their records go to the
// partition in one append (one batch here: they have no producer), and
// every completion runs after the whole iteration is durable. MaxBatchOps
// bounds an iteration.
func TestOperationsQueuedTogetherShareOneAppend(t *testing.T) {
	for _, c := range []struct {
		name     string
		maxOps   int
		ops      int
		wantRecs []int // records per batch in the log
	}{
		{name: "unbounded", ops: 5, wantRecs: []int{5}},
		{name: "two per iteration", maxOps: 2, ops: 5, wantRecs: []int{1, 2, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestPartition(t)
			rt := newTestRuntime(t, Config[*testShard]{MaxBatchOps: c.maxOps})
			rt.Load(p)
			release := make(chan struct{})
			running := make(chan struct{})
			do(t, rt, func(*testShard, *Effects) {
				close(running)
				<-release
			})
			<-running
			type seen struct{ before, after int }
			results := make(chan seen, c.ops)
			for i := range c.ops {
				do(t, rt, func(s *testShard, fx *Effects) {
					before := len(s.records)
					fx.Append(Record{Key: []byte{byte('a' + i)}, Value: []byte("v")})
					fx.Then(func(err error) {
						if err != nil {
							t.Errorf("write: %v", err)
						}
						results <- seen{before, len(s.records)}
					})
				})
			}
			close(release)
			var got []seen
			for range c.ops {
				got = append(got, <-results)
			}
			var batches []batchShape
			for _, n := range c.wantRecs {
				batches = append(batches, batchShape{records: n})
			}
			wantBatches(t, p, batches)
			// Each operation saw its predecessors' records; each completion
			// ran once its whole iteration was replayed.
			done := 0
			iteration := 0
			for i, g := range got {
				if g.before != i {
					t.Errorf("operation %d saw %d records before it, want %d", i, g.before, i)
				}
				for g.after > done {
					done += c.wantRecs[iteration]
					iteration++
				}
				if g.after != done {
					t.Errorf("operation %d completed with %d records replayed, want its iteration's end %d", i, g.after, done)
				}
			}
		})
	}
}

// A partition this broker no longer leads refuses the append: the
// operation completes with ErrNotCoordinator and the shard stops serving
// (its state holds a record the log does not).
func TestAppendRefusedByAFollowerFailsTheShard(t *testing.T) {
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 1, AwaitRole: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__consumer_offsets", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	replicas := []int32{1}
	if err := p.MakeLeader(replica.LeaderAndISR{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: replicas, ISR: replicas}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	rt := newTestRuntime(t, Config[*testShard]{})
	rt.Load(p)
	await(t, rt, func(*testShard) struct{} { return struct{}{} })
	if err := p.MakeFollower(replica.LeaderAndISR{Leader: 2, LeaderEpoch: 2, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	written := make(chan error, 1)
	do(t, rt, func(_ *testShard, fx *Effects) {
		fx.Append(Record{Key: []byte("k"), Value: []byte("v")})
		fx.Then(func(err error) { written <- err })
	})
	if err := <-written; !errors.Is(err, ErrNotCoordinator) || !errors.Is(err, replica.ErrNotLeader) {
		t.Fatalf("write on a follower: %v, want ErrNotCoordinator wrapping ErrNotLeader", err)
	}
	if _, err := rt.Do(0, func(*testShard, *Effects) {}); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("Do after the refused append: %v, want ErrNotCoordinator", err)
	}
}

// ManualClock runs due timers in deadline order, each seeing its own
// deadline as Now, and a stopped timer not at all.
func TestManualClock(t *testing.T) {
	start := time.Unix(100, 0)
	c := NewManualClock(start)
	var order []string
	var at []time.Time
	add := func(name string, d time.Duration) Timer {
		return c.AfterFunc(d, func() { order = append(order, name); at = append(at, c.Now()) })
	}
	add("b", 2*time.Second)
	add("a", time.Second)
	stopped := add("x", time.Second)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should succeed once")
	}
	c.Advance(3 * time.Second)
	if !slices.Equal(order, []string{"a", "b"}) || !at[0].Equal(start.Add(time.Second)) || !at[1].Equal(start.Add(2*time.Second)) {
		t.Fatalf("ran %v at %v", order, at)
	}
	if !c.Now().Equal(start.Add(3 * time.Second)) {
		t.Fatalf("now %v after Advance", c.Now())
	}
}

// An append that fails for another reason than leadership (a disk error)
// leaves the shard holding records its log does not: the operation
// completes with ErrNotCoordinator, the shard answers
// COORDINATOR_LOAD_IN_PROGRESS for ReloadBackoff, then reloads from its
// partition, without the record that was never written.
func TestFailedAppendReloadsTheShard(t *testing.T) {
	var failWrites sync.Mutex
	failing := false
	fs := vfs.NewFaultFS(vfs.NewMem(), vfs.InjectorFunc(func(op vfs.Op) error {
		failWrites.Lock()
		defer failWrites.Unlock()
		if failing && op.Kind == vfs.OpWrite && strings.HasSuffix(op.Path, ".log") {
			return errors.New("injected write failure")
		}
		return nil
	}))
	m, err := replica.NewManager(replica.ManagerConfig{FS: fs, LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__consumer_offsets", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendRaw(t, p, "before")
	if err := p.Commit(0); err != nil {
		t.Fatal(err)
	}
	clock := NewManualClock(time.UnixMilli(1_700_000_000_000))
	rt := newTestRuntime(t, Config[*testShard]{Clock: clock, ReloadBackoff: time.Second})
	rt.Load(p)
	await(t, rt, func(*testShard) struct{} { return struct{}{} })

	failWrites.Lock()
	failing = true
	failWrites.Unlock()
	written := make(chan error, 1)
	do(t, rt, func(_ *testShard, fx *Effects) {
		fx.Append(Record{Key: []byte("lost"), Value: []byte("v")})
		fx.Then(func(err error) { written <- err })
	})
	if err := <-written; !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("write on a failing disk: %v, want ErrNotCoordinator", err)
	}
	waitFor(t, "the reload backoff", func() bool { return clock.Pending() == 1 })
	if _, err := rt.Do(0, func(*testShard, *Effects) {}); !errors.Is(err, ErrLoading) {
		t.Fatalf("Do during the reload backoff: %v, want ErrLoading", err)
	}
	clock.Advance(time.Second)
	keys := await(t, rt, func(s *testShard) []string {
		var keys []string
		for _, r := range s.records {
			keys = append(keys, string(r.Key))
		}
		return keys
	})
	if !slices.Equal(keys, []string{"before"}) {
		t.Fatalf("reloaded shard holds %q, want only the record in the log", keys)
	}
}

// newReplicatedLeader is a partition this broker (1) leads with a second
// replica, broker 2, outside the ISR: its writes commit while
// min.insync.replicas is 1 and fail with ErrNotEnoughReplicasAfterAppend
// once it is raised to 2.
func newReplicatedLeader(t *testing.T) *replica.Partition {
	t.Helper()
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 1, AwaitRole: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__consumer_offsets", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	state := replica.LeaderAndISR{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}
	if err := p.MakeLeader(state, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	return p
}

// A commit that fails after the append (the ISR below
// min.insync.replicas) leaves the shard holding a record its partition
// has not committed: the operation completes with ErrNotCoordinator, the
// shard answers COORDINATOR_LOAD_IN_PROGRESS for ReloadBackoff, then it
// reloads from its partition, which still holds the record in its local
// log (a load reads to the log end), and serves again.
func TestFailedCommitReloadsTheShard(t *testing.T) {
	p := newReplicatedLeader(t)
	appendRaw(t, p, "before")
	if err := p.Commit(0); err != nil {
		t.Fatal(err)
	}
	clock := NewManualClock(time.UnixMilli(1_700_000_000_000))
	rt := newTestRuntime(t, Config[*testShard]{Clock: clock, ReloadBackoff: time.Second})
	rt.Load(p)
	await(t, rt, func(*testShard) struct{} { return struct{}{} })

	p.SetMinInsyncReplicas(2)
	write := func(key string) error {
		t.Helper()
		written := make(chan error, 1)
		do(t, rt, func(_ *testShard, fx *Effects) {
			fx.Append(Record{Key: []byte(key), Value: []byte("v")})
			fx.Then(func(err error) { written <- err })
		})
		return <-written
	}
	if err := write("uncommitted"); !errors.Is(err, ErrNotCoordinator) || !errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("write with the ISR below min.insync.replicas: %v, want ErrNotCoordinator wrapping ErrNotEnoughReplicasAfterAppend", err)
	}
	waitFor(t, "the reload backoff", func() bool { return clock.Pending() == 1 })
	if _, err := rt.Do(0, func(*testShard, *Effects) {}); !errors.Is(err, ErrLoading) {
		t.Fatalf("Do during the reload backoff: %v, want ErrLoading", err)
	}
	p.SetMinInsyncReplicas(1)
	clock.Advance(time.Second)
	keys := await(t, rt, func(s *testShard) []string {
		var keys []string
		for _, r := range s.records {
			keys = append(keys, string(r.Key))
		}
		return keys
	})
	if !slices.Equal(keys, []string{"before", "uncommitted"}) {
		t.Fatalf("reloaded shard holds %q, want the records of its log", keys)
	}
	if err := write("after"); err != nil {
		t.Fatalf("write once the ISR suffices again: %v", err)
	}
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d, want 3: every record committed", hw)
	}
}
