package txn

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// loopbackMarkers is a MarkerSender that writes every marker at once and
// reports back through the coord runtime, as the server's sender does;
// results for a shard that is not serving are dropped, as there.
type loopbackMarkers struct {
	rt *coord.Runtime[*Shard]
	wg sync.WaitGroup
	// hold, when set, holds every report until it is closed.
	hold chan struct{}

	mu      sync.Mutex // guards written
	written []marker
}

func (m *loopbackMarkers) Send(req MarkerRequest) bool {
	m.wg.Go(func() {
		var results []MarkerResult
		m.mu.Lock()
		for topic, ps := range req.Partitions {
			for _, p := range ps {
				m.written = append(m.written, marker{topic, p, req.ProducerID, req.ProducerEpoch, req.Commit})
				results = append(results, MarkerResult{Topic: topic, Partition: p})
			}
		}
		m.mu.Unlock()
		if m.hold != nil {
			<-m.hold
		}
		m.rt.Do(req.CoordinatorPartition, func(s *Shard, fx *coord.Effects) { s.MarkersWritten(fx, req, results) })
	})
	return true
}

func (m *loopbackMarkers) markers() []marker {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.written)
}

// runtimeRig is one `__transaction_state` partition, led by broker 1 with
// broker 2 outside the ISR (so raising min.insync.replicas to 2 makes
// every commit fail after its append), served by a real coord runtime.
type runtimeRig struct {
	t         *testing.T
	partition *replica.Partition
	rt        *coord.Runtime[*Shard]
	markers   *loopbackMarkers
	logs      *messages
}

// messages is a slog handler that keeps the messages logged.
type messages struct {
	mu   sync.Mutex // guards msgs
	msgs []string
}

func (m *messages) Enabled(context.Context, slog.Level) bool { return true }
func (m *messages) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m *messages) WithGroup(string) slog.Handler            { return m }
func (m *messages) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, r.Message)
	return nil
}

// count is how many messages starting with prefix were logged.
func (m *messages) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, msg := range m.msgs {
		if strings.HasPrefix(msg, prefix) {
			n++
		}
	}
	return n
}

func newRuntimeRig(t *testing.T, markers *loopbackMarkers) *runtimeRig {
	t.Helper()
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 1, AwaitRole: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__transaction_state", [16]byte{2}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	state := replica.LeaderAndISR{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1}}
	if err := p.MakeLeader(state, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	logs := &messages{}
	rt := coord.NewRuntime(coord.Config[*Shard]{ReloadBackoff: 10 * time.Millisecond, Logger: slog.New(logs), NewShard: func(partition int32, timers coord.Timers) *Shard {
		return NewCoordinatorShard(CoordinatorConfig{Partition: partition, MaxTimeout: 15 * time.Minute, Markers: markers}, timers)
	}})
	markers.rt = rt
	t.Cleanup(func() {
		if markers.hold != nil {
			select {
			case <-markers.hold:
			default:
				close(markers.hold)
			}
		}
		rt.Close()
		markers.wg.Wait()
	})
	rt.Load(p)
	return &runtimeRig{t: t, partition: p, rt: rt, markers: markers, logs: logs}
}

// errStopped is a call whose shard stopped before it answered.
var errStopped = errors.New("the shard stopped before answering")

// call runs op on the shard and returns its answer: ErrLoading when the
// shard is loading, errStopped when it stopped first.
func rigCall[T any](r *runtimeRig, op func(s *Shard, fx *coord.Effects, answer func(T))) (T, error) {
	r.t.Helper()
	got := make(chan T, 1)
	var zero T
	stopped, err := r.rt.Do(0, func(s *Shard, fx *coord.Effects) { op(s, fx, func(v T) { got <- v }) })
	if err != nil {
		return zero, err
	}
	select {
	case v := <-got:
		return v, nil
	case <-stopped:
		select {
		case v := <-got:
			return v, nil
		default:
			return zero, errStopped
		}
	case <-time.After(10 * time.Second):
		r.t.Fatal("the shard did not answer")
		return zero, nil
	}
}

// mustCall is rigCall on a shard that serves, retrying while it loads.
func mustCall[T any](r *runtimeRig, op func(s *Shard, fx *coord.Effects, answer func(T))) T {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := rigCall(r, op)
		if err == nil {
			return v
		}
		if !errors.Is(err, coord.ErrLoading) || time.Now().After(deadline) {
			r.t.Fatalf("call: %v", err)
		}
		time.Sleep(time.Millisecond) // poll interval while the shard loads
	}
}

func (r *runtimeRig) endTxn(pid int64, epoch int16, commit bool) (*kerr.Error, error) {
	return rigCall(r, func(s *Shard, fx *coord.Effects, answer func(*kerr.Error)) {
		s.EndTxn(fx, "tx", pid, epoch, commit, answer)
	})
}

// begin starts a transaction of "tx" over t-0 and t-1 and returns its
// producer ID and epoch.
func (r *runtimeRig) begin() (int64, int16) {
	r.t.Helper()
	init := mustCall(r, func(s *Shard, fx *coord.Effects, answer func(InitProducerIDResult)) {
		s.InitProducerID(fx, "tx", 60000, 42, -1, -1, answer)
	})
	if init.Err != nil {
		r.t.Fatalf("init: %v", init.Err)
	}
	if err := mustCall(r, func(s *Shard, fx *coord.Effects, answer func(*kerr.Error)) {
		s.AddPartitions(fx, "tx", init.ProducerID, init.ProducerEpoch, map[string][]int32{"t": {0, 1}}, answer)
	}); err != nil {
		r.t.Fatalf("add: %v", err)
	}
	return init.ProducerID, init.ProducerEpoch
}

// endUntilDone retries EndTxn as a producer does until it answers NONE,
// failing on an answer a producer would not retry; it returns the
// distinct answers on the way.
func (r *runtimeRig) endUntilDone(pid int64, epoch int16) []string {
	r.t.Helper()
	var answers []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := r.endTxn(pid, epoch, true)
		if err == nil && got == nil {
			return answers
		}
		retriable := errors.Is(err, coord.ErrLoading) || errors.Is(err, coord.ErrNotCoordinator) || errors.Is(err, errStopped) ||
			err == nil && (got == kerr.ConcurrentTransactions || got == kerr.NotCoordinator)
		if !retriable {
			r.t.Fatalf("retried EndTxn: %v (call error %v), want a retriable answer", got, err)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("retried EndTxn never succeeded; answers %v", answers)
		}
		if a := describe(got, err); len(answers) == 0 || answers[len(answers)-1] != a {
			answers = append(answers, a)
		}
		time.Sleep(time.Millisecond) // the producer's retry backoff
	}
}

// checkCommitted checks that "tx" is CompleteCommit with a commit marker
// written to t-0 and t-1 exactly once each, and that every record of the
// coordinator is committed.
func (r *runtimeRig) checkCommitted(pid int64, epoch int16) {
	r.t.Helper()
	written := r.markers.markers()
	slices.SortFunc(written, func(a, b marker) int { return int(a.partition - b.partition) })
	want := []marker{{"t", 0, pid, epoch, true}, {"t", 1, pid, epoch, true}}
	if !slices.Equal(written, want) {
		r.t.Fatalf("markers written %+v, want %+v", written, want)
	}
	tx := mustCall(r, func(s *Shard, _ *coord.Effects, answer func(Transaction)) {
		tx, _ := s.Describe("tx")
		answer(tx)
	})
	if tx.State != StateCompleteCommit {
		r.t.Fatalf("state %v, want CompleteCommit", tx.State)
	}
	if hw, end := r.partition.HighWatermark(), r.partition.Log().LogEndOffset(); hw != end {
		r.t.Fatalf("high watermark %d, log end %d: the coordinator's records are not all committed", hw, end)
	}
}

// An EndTxn whose PrepareCommit is appended but fails to commit
// (NOT_ENOUGH_REPLICAS_AFTER_APPEND) is answered with an error; the shard
// is reloaded from its partition, finds the transaction prepared (the
// record is in its log) and writes its markers, so the producer's retried
// EndTxn gets CONCURRENT_TRANSACTIONS (or a coordinator error while the
// shard reloads) until the transaction is complete, then NONE. The
// partition's transaction does not stay open for ever.
func TestEndTxnWhoseCommitFailedCompletesOnRetry(t *testing.T) {
	r := newRuntimeRig(t, &loopbackMarkers{})
	pid, epoch := r.begin()
	r.partition.SetMinInsyncReplicas(2)
	if got, err := r.endTxn(pid, epoch, true); err != nil || got != kerr.NotCoordinator {
		t.Fatalf("EndTxn whose commit fails: %v (call error %v), want NOT_COORDINATOR", got, err)
	}
	r.partition.SetMinInsyncReplicas(1)
	answers := r.endUntilDone(pid, epoch)
	r.checkCommitted(pid, epoch)
	t.Logf("retried EndTxn answered %v, then NONE", answers)
}

// A CompleteCommit whose commit fails after the markers are written is
// not retried by the shard: the runtime reloads it, the reloaded shard
// finds the transaction complete in its log (and writes no markers
// again), and EndTxn's retry answers NONE.
func TestCompletionWhoseCommitFailedIsFoundOnReload(t *testing.T) {
	r := newRuntimeRig(t, &loopbackMarkers{hold: make(chan struct{})})
	pid, epoch := r.begin()
	if got, err := r.endTxn(pid, epoch, true); err != nil || got != nil {
		t.Fatalf("EndTxn: %v (call error %v)", got, err)
	}
	r.partition.SetMinInsyncReplicas(2)
	close(r.markers.hold)
	for deadline := time.Now().Add(5 * time.Second); r.logs.count("coordinator write failed") == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the completion's commit did not fail, or the shard was not reloaded")
		}
	}
	r.partition.SetMinInsyncReplicas(1)
	r.endUntilDone(pid, epoch)
	r.checkCommitted(pid, epoch)
}

func describe(got *kerr.Error, err error) string {
	if err != nil {
		return err.Error()
	}
	if got == nil {
		return "NONE"
	}
	return got.Message
}
