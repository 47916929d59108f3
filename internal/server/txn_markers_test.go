package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/txn"
	"github.com/sluice-io/sluice/internal/vfs"
)

// gatedMarkers is a local txn.MarkerWriter whose writes to one topic wait
// until the test opens the gate.
type gatedMarkers struct {
	gatedTopic string
	entered    chan struct{} // receives once per gated write
	gate       chan struct{}
}

func (m *gatedMarkers) WriteMarker(topic string, _ int32, _ int64, _ int16, _ bool, _ int32) error {
	if topic == m.gatedTopic {
		m.entered <- struct{}{}
		<-m.gate
	}
	return nil
}

// txnRig is one `__transaction_state` partition served by a coord runtime
// whose shard sends markers through a markerSender.
type txnRig struct {
	t         *testing.T
	rt        *coord.Runtime[*txn.Shard]
	sender    *markerSender
	partition *replica.Partition
}

func newTxnRig(t *testing.T, local txn.MarkerWriter) *txnRig {
	t.Helper()
	return newTxnRigWithClock(t, local, coord.SystemClock)
}

func newTxnRigWithClock(t *testing.T, local txn.MarkerWriter, clock coord.Clock) *txnRig {
	t.Helper()
	m, err := replica.NewManager(replica.ManagerConfig{FS: vfs.NewMem(), LogDir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := m.Ensure("__transaction_state", [16]byte{2}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	sender := newMarkerSender(slog.New(slog.DiscardHandler), 1, local)
	rt := coord.NewRuntime(coord.Config[*txn.Shard]{Clock: clock, NewShard: func(partition int32, timers coord.Timers) *txn.Shard {
		return txn.NewCoordinatorShard(txn.CoordinatorConfig{Partition: partition, MaxTimeout: 15 * time.Minute, Markers: sender}, timers)
	}})
	sender.start(func(req txn.MarkerRequest, results []txn.MarkerResult) {
		rt.Do(req.CoordinatorPartition, func(s *txn.Shard, fx *coord.Effects) { s.MarkersWritten(fx, req, results) })
	})
	t.Cleanup(func() {
		rt.Close()
		sender.stop()
		sender.wait()
	})
	rt.Load(p)
	return &txnRig{t: t, rt: rt, sender: sender, partition: p}
}

// call runs op on the shard (once loaded) and waits for its answer.
func call[T any](r *txnRig, op func(s *txn.Shard, fx *coord.Effects, answer func(T))) T {
	r.t.Helper()
	got := make(chan T, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := r.rt.Do(0, func(s *txn.Shard, fx *coord.Effects) { op(s, fx, func(v T) { got <- v }) })
		if err == nil {
			break
		}
		if !errors.Is(err, coord.ErrLoading) || time.Now().After(deadline) {
			r.t.Fatalf("do: %v", err)
		}
		yield()
	}
	select {
	case v := <-got:
		return v
	case <-time.After(10 * time.Second):
		r.t.Fatal("the shard did not answer: its loop is blocked")
		var zero T
		return zero
	}
}

func yield() {
	t := time.NewTimer(time.Millisecond)
	<-t.C
}

// begin starts a transaction of id over one partition of topic and
// commits it; it returns once EndTxn answered (PrepareCommit durable).
func (r *txnRig) begin(id string, pid int64, topic string) {
	r.t.Helper()
	init := call(r, func(s *txn.Shard, fx *coord.Effects, answer func(txn.InitProducerIDResult)) {
		s.InitProducerID(fx, id, 60000, pid, -1, -1, answer)
	})
	if init.Err != nil {
		r.t.Fatalf("init %s: %v", id, init.Err)
	}
	if err := call(r, func(s *txn.Shard, fx *coord.Effects, answer func(*kerr.Error)) {
		s.AddPartitions(fx, id, init.ProducerID, init.ProducerEpoch, map[string][]int32{topic: {0}}, answer)
	}); err != nil {
		r.t.Fatalf("add %s: %v", id, err)
	}
	if err := call(r, func(s *txn.Shard, fx *coord.Effects, answer func(*kerr.Error)) {
		s.EndTxn(fx, id, init.ProducerID, init.ProducerEpoch, true, answer)
	}); err != nil {
		r.t.Fatalf("end %s: %v", id, err)
	}
}

func (r *txnRig) state(id string) txn.State {
	r.t.Helper()
	return call(r, func(s *txn.Shard, _ *coord.Effects, answer func(txn.State)) {
		tx, _ := s.Describe(id)
		answer(tx.State)
	})
}

func (r *txnRig) waitState(id string, want txn.State) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.state(id) != want {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s stayed %v, want %v", id, r.state(id), want)
		}
		yield()
	}
}

// A marker write that takes its time does not hold the coordinator shard:
// while one transactional ID's marker is being written, another ID of the
// same shard starts, commits and completes its transaction, and the first
// ID's producer is told CONCURRENT_TRANSACTIONS (Kafka's answer during the
// marker phase). Once the slow marker is written, its transaction
// completes too.
func TestSlowMarkerDoesNotBlockTheShard(t *testing.T) {
	markers := &gatedMarkers{gatedTopic: "slow-topic", entered: make(chan struct{}, 1), gate: make(chan struct{})}
	r := newTxnRig(t, markers)
	r.begin("slow", 1000, "slow-topic")
	select {
	case <-markers.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow marker was never written")
	}
	r.begin("fast", 2000, "fast-topic")
	r.waitState("fast", txn.StateCompleteCommit)
	if got := r.state("slow"); got != txn.StatePrepareCommit {
		t.Fatalf("slow is %v while its marker is being written, want PrepareCommit", got)
	}
	again := call(r, func(s *txn.Shard, fx *coord.Effects, answer func(txn.InitProducerIDResult)) {
		s.InitProducerID(fx, "slow", 60000, 3000, -1, -1, answer)
	})
	if again.Err != kerr.ConcurrentTransactions {
		t.Fatalf("InitProducerId during the marker phase: %v, want CONCURRENT_TRANSACTIONS", again.Err)
	}
	close(markers.gate)
	r.waitState("slow", txn.StateCompleteCommit)
}

// An Unload while a marker is being written returns at once (the shard's
// loop is not in the write) and the late result is dropped.
func TestUnloadDuringTheMarkerPhase(t *testing.T) {
	markers := &gatedMarkers{gatedTopic: "slow-topic", entered: make(chan struct{}, 1), gate: make(chan struct{})}
	r := newTxnRig(t, markers)
	r.begin("slow", 1000, "slow-topic")
	<-markers.entered
	defer close(markers.gate)
	unloaded := make(chan struct{})
	go func() {
		r.rt.Unload(0)
		close(unloaded)
	}()
	select {
	case <-unloaded:
	case <-time.After(10 * time.Second):
		t.Fatal("Unload waited for a marker write")
	}
	if _, err := r.rt.Do(0, func(*txn.Shard, *coord.Effects) {}); !errors.Is(err, coord.ErrNotCoordinator) {
		t.Fatalf("Do after Unload: %v, want NOT_COORDINATOR", err)
	}
}

// noMarkers writes every marker at once.
type noMarkers struct{}

func (noMarkers) WriteMarker(string, int32, int64, int16, bool, int32) error { return nil }

// A transaction's timeout (transaction.timeout.ms) runs on the runtime's
// clock: with a manual clock the coordinator aborts it exactly when the
// clock passes start + timeout, bumping the epoch, and the abort's
// markers complete it.
func TestTransactionTimeoutOnTheInjectedClock(t *testing.T) {
	clock := coord.NewManualClock(time.UnixMilli(1_700_000_000_000))
	r := newTxnRigWithClock(t, noMarkers{}, clock)
	init := call(r, func(s *txn.Shard, fx *coord.Effects, answer func(txn.InitProducerIDResult)) {
		s.InitProducerID(fx, "tx", 10000, 1000, -1, -1, answer)
	})
	if err := call(r, func(s *txn.Shard, fx *coord.Effects, answer func(*kerr.Error)) {
		s.AddPartitions(fx, "tx", init.ProducerID, init.ProducerEpoch, map[string][]int32{"t": {0}}, answer)
	}); err != nil {
		t.Fatalf("add: %v", err)
	}
	clock.Advance(9999 * time.Millisecond)
	if got := r.state("tx"); got != txn.StateOngoing {
		t.Fatalf("%v before the timeout, want Ongoing", got)
	}
	clock.Advance(time.Millisecond)
	r.waitState("tx", txn.StateCompleteAbort)
	tx := call(r, func(s *txn.Shard, _ *coord.Effects, answer func(txn.Transaction)) {
		tx, _ := s.Describe("tx")
		answer(tx)
	})
	if tx.ProducerEpoch != init.ProducerEpoch+1 {
		t.Fatalf("epoch %d after the timeout abort, want %d", tx.ProducerEpoch, init.ProducerEpoch+1)
	}
}

// A coordinator that loads a partition holding a prepared transaction
// (the previous one died in the marker phase) sends its markers again and
// completes it; the old request's late result is harmless.
func TestLoadResumesTheMarkerPhase(t *testing.T) {
	markers := &gatedMarkers{gatedTopic: "slow-topic", entered: make(chan struct{}, 2), gate: make(chan struct{})}
	r := newTxnRig(t, markers)
	r.begin("slow", 1000, "slow-topic")
	<-markers.entered
	r.rt.Unload(0)
	r.rt.Load(r.partition)
	select {
	case <-markers.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the reloaded coordinator did not send the markers again")
	}
	if got := r.state("slow"); got != txn.StatePrepareCommit {
		t.Fatalf("after the reload: %v, want PrepareCommit", got)
	}
	close(markers.gate)
	r.waitState("slow", txn.StateCompleteCommit)
}

// remoteCall is one WriteTxnMarkers request a fake remote broker got.
type remoteCall struct {
	dest    int32
	markers []kmsg.WriteTxnMarkersRequestMarker
}

// Markers for another broker queue up while a request to it is in flight
// and go out together in the next one; partitions that no longer exist
// are skipped; a failed request fails each of its partitions.
func TestRemoteMarkersBatchPerBroker(t *testing.T) {
	s := newMarkerSender(slog.New(slog.DiscardHandler), 1, nil)
	s.route = func(topic string, _ int32) (int32, bool, error) {
		switch topic {
		case "gone":
			return 0, true, nil
		case "down":
			return 3, false, nil
		}
		return 2, false, nil
	}
	calls := make(chan remoteCall, 10)
	first := make(chan struct{})
	s.remote = func(ctx context.Context, dest int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
		calls <- remoteCall{dest, req.Markers}
		if dest == 3 {
			return nil, errors.New("connection refused")
		}
		if req.Markers[0].ProducerID == 1 {
			<-first
		}
		resp := kmsg.NewPtrWriteTxnMarkersResponse()
		for _, m := range req.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, mt := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = mt.Topic
				for _, p := range mt.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition = p
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		return resp, nil
	}
	reports := make(chan txn.MarkerRequest, 10)
	results := map[int64][]txn.MarkerResult{}
	var mu sync.Mutex
	s.start(func(req txn.MarkerRequest, rs []txn.MarkerResult) {
		mu.Lock()
		results[req.ProducerID] = rs
		mu.Unlock()
		reports <- req
	})
	t.Cleanup(func() { s.stop(); s.wait() })

	send := func(pid int64, parts map[string][]int32) {
		t.Helper()
		if !s.Send(txn.MarkerRequest{TransactionalID: "t", ProducerID: pid, Commit: true, Partitions: parts}) {
			t.Fatal("Send refused")
		}
	}
	send(1, map[string][]int32{"a": {0}})
	if c := <-calls; c.dest != 2 || len(c.markers) != 1 {
		t.Fatalf("first request %+v", c)
	}
	send(2, map[string][]int32{"a": {1}, "gone": {0}})
	send(3, map[string][]int32{"b": {0}})
	send(4, map[string][]int32{"down": {0}})
	if c := <-calls; c.dest != 3 {
		t.Fatalf("request to broker 3 expected while broker 2 is busy, got %+v", c)
	}
	close(first)
	if c := <-calls; c.dest != 2 || len(c.markers) != 2 {
		t.Fatalf("second request to broker 2 carries %d markers, want the two queued behind the first", len(c.markers))
	}
	for range 4 {
		<-reports
	}
	mu.Lock()
	defer mu.Unlock()
	for pid, want := range map[int64]int{1: 1, 2: 2, 3: 1, 4: 1} {
		if len(results[pid]) != want {
			t.Fatalf("producer %d: results %+v, want %d", pid, results[pid], want)
		}
	}
	for _, r := range results[2] {
		if r.Err != nil {
			t.Fatalf("producer 2: %+v, want a-1 written and gone-0 skipped", results[2])
		}
	}
	if results[4][0].Err == nil {
		t.Fatal("a failed request reported its marker written")
	}
}

// partitionGate is a local txn.MarkerWriter whose write to one partition
// waits until the test opens the gate; every write that returns is sent
// on written.
type partitionGate struct {
	topic     string
	partition int32
	gate      chan struct{}
	opened    sync.Once
	written   chan string
}

// newPartitionGate gates topic-partition; the gate opens at the end of the
// test at the latest, so a failing test does not leave a worker stuck.
func newPartitionGate(t *testing.T, topic string, partition int32) *partitionGate {
	g := &partitionGate{topic: topic, partition: partition, gate: make(chan struct{}), written: make(chan string, 100)}
	t.Cleanup(g.open)
	return g
}

func (m *partitionGate) open() { m.opened.Do(func() { close(m.gate) }) }

func (m *partitionGate) WriteMarker(topic string, partition int32, _ int64, _ int16, _ bool, _ int32) error {
	if topic == m.topic && partition == m.partition {
		<-m.gate
	}
	m.written <- fmt.Sprintf("%s-%d", topic, partition)
	return nil
}

// startSender starts a local-only sender whose reports go to the returned
// channel; the test sets its local writer before the first Send.
func startSender(t *testing.T, queueMax int) (*markerSender, chan []txn.MarkerResult) {
	t.Helper()
	s := newMarkerSender(slog.New(slog.DiscardHandler), 1, nil)
	s.queueMax = queueMax
	reports := make(chan []txn.MarkerResult, 10)
	s.start(func(_ txn.MarkerRequest, results []txn.MarkerResult) { reports <- results })
	t.Cleanup(func() { s.stop(); s.wait() })
	return s, reports
}

func receive[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// The local markers of one transaction are written concurrently: a
// partition whose marker waits (for a slow ISR) does not hold back the
// markers of the transaction's other partitions, and the request is
// reported once all are written.
func TestSlowLocalMarkerDoesNotHoldTheOthers(t *testing.T) {
	s, reports := startSender(t, markerQueueMax)
	local := newPartitionGate(t, "t", 0)
	s.local = local
	if !s.Send(txn.MarkerRequest{TransactionalID: "tx", ProducerID: 1, Commit: true, Partitions: map[string][]int32{"t": {0, 1, 2}}}) {
		t.Fatal("Send refused")
	}
	got := map[string]bool{}
	for range 2 {
		got[receive(t, local.written, "the markers of t-1 and t-2 while t-0's waits")] = true
	}
	if !got["t-1"] || !got["t-2"] {
		t.Fatalf("written while t-0 waits: %v, want t-1 and t-2", got)
	}
	select {
	case r := <-reports:
		t.Fatalf("reported %+v before t-0's marker was written", r)
	default:
	}
	local.open()
	results := receive(t, reports, "the request's report")
	if len(results) != 3 {
		t.Fatalf("results %+v, want one per partition", results)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("results %+v, want every marker written", results)
		}
	}
}

// A transaction over more partitions than the queue holds is taken when
// the queue is empty (refused every time, it could never complete); while
// it is in flight other requests are refused, and taken again once it is
// done.
func TestMarkerQueueAdmitsATransactionLargerThanItself(t *testing.T) {
	s, reports := startSender(t, 2)
	local := newPartitionGate(t, "t", 0)
	s.local = local
	big := txn.MarkerRequest{TransactionalID: "big", ProducerID: 1, Commit: true, Partitions: map[string][]int32{"t": {0, 1, 2}}}
	if !s.Send(big) {
		t.Fatal("a transaction larger than the queue was refused with the queue empty")
	}
	small := txn.MarkerRequest{TransactionalID: "small", ProducerID: 2, Commit: true, Partitions: map[string][]int32{"u": {0}}}
	if s.Send(small) {
		t.Fatal("Send taken while the queue is over its bound")
	}
	local.open()
	if results := receive(t, reports, "the large transaction's report"); len(results) != 3 {
		t.Fatalf("results %+v, want 3", results)
	}
	if !s.Send(small) {
		t.Fatal("Send refused once the queue is empty again")
	}
	receive(t, reports, "the small transaction's report")
}
