package txn

import (
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// fakeTimers records scheduled timers; the test fires them by advancing
// its clock.
type fakeTimers struct {
	pending map[string]fakeTimer
}

type fakeTimer struct {
	at time.Time
	op func(fx *coord.Effects)
}

// marker is one marker a fake writer was asked for.
type marker struct {
	topic     string
	partition int32
	producer  int64
	epoch     int16
	commit    bool
}

// fakeMarkers is a MarkerSender that keeps requests until the test
// answers them (harness.flushMarkers).
type fakeMarkers struct {
	requests []MarkerRequest
	written  []marker
	fail     error // the result of every partition while set
	refuse   bool  // Send refuses while set
}

func (m *fakeMarkers) Send(req MarkerRequest) bool {
	if m.refuse {
		return false
	}
	m.requests = append(m.requests, req)
	return true
}

// harness plays the coord runtime for one shard: it replays each
// operation's records (keeping them as the partition's log) and runs its
// completions.
type harness struct {
	t       *testing.T
	now     time.Time
	timers  *fakeTimers
	markers *fakeMarkers
	shard   *Shard
	log     []coord.Record
}

func (h *harness) Schedule(key string, delay time.Duration, op func(fx *coord.Effects)) {
	h.timers.pending[key] = fakeTimer{at: h.now.Add(delay), op: op}
}

func (h *harness) Cancel(key string) { delete(h.timers.pending, key) }

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, now: time.UnixMilli(1_700_000_000_000).Add(123456), timers: &fakeTimers{pending: map[string]fakeTimer{}}, markers: &fakeMarkers{}}
	h.shard = NewCoordinatorShard(h.config(), h)
	return h
}

func (h *harness) config() CoordinatorConfig {
	return CoordinatorConfig{Partition: 3, CoordinatorEpoch: 7, MaxTimeout: 15 * time.Minute,
		IDExpiration: 7 * 24 * time.Hour, ExpirationCheckInterval: time.Hour, Markers: h.markers}
}

// run runs op as the runtime would.
func (h *harness) run(op func(fx *coord.Effects)) {
	h.t.Helper()
	fx := &coord.Effects{Now: h.now}
	op(fx)
	for _, r := range fx.Records() {
		if err := h.shard.Replay(r); err != nil {
			h.t.Fatalf("replay: %v", err)
		}
		h.log = append(h.log, r)
	}
	fx.Complete(nil)
}

// advance moves the clock and fires due timers in time order.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	end := h.now.Add(d)
	for {
		key := ""
		for k, tm := range h.timers.pending {
			if !tm.at.After(end) && (key == "" || tm.at.Before(h.timers.pending[key].at)) {
				key = k
			}
		}
		if key == "" {
			h.now = end
			return
		}
		tm := h.timers.pending[key]
		delete(h.timers.pending, key)
		h.now = tm.at
		h.run(tm.op)
	}
}

// flushMarkers answers every request the sender holds, as the server's
// sender would once all partitions answered: with fail when set, else by
// writing the markers.
func (h *harness) flushMarkers() {
	h.t.Helper()
	for len(h.markers.requests) > 0 {
		req := h.markers.requests[0]
		h.markers.requests = h.markers.requests[1:]
		var results []MarkerResult
		for topic, ps := range req.Partitions {
			for _, p := range ps {
				results = append(results, MarkerResult{Topic: topic, Partition: p, Err: h.markers.fail})
				if h.markers.fail == nil {
					h.markers.written = append(h.markers.written, marker{topic, p, req.ProducerID, req.ProducerEpoch, req.Commit})
				}
			}
		}
		h.run(func(fx *coord.Effects) { h.shard.MarkersWritten(fx, req, results) })
	}
}

func (h *harness) init(id string, timeoutMs int32, newID, expectedID int64, expectedEpoch int16) InitProducerIDResult {
	h.t.Helper()
	var got *InitProducerIDResult
	h.run(func(fx *coord.Effects) {
		h.shard.InitProducerID(fx, id, timeoutMs, newID, expectedID, expectedEpoch, func(r InitProducerIDResult) { got = &r })
	})
	if got == nil {
		h.t.Fatal("InitProducerID did not answer")
	}
	return *got
}

func (h *harness) add(id string, pid int64, epoch int16, parts map[string][]int32) *kerr.Error {
	h.t.Helper()
	answered := false
	var got *kerr.Error
	h.run(func(fx *coord.Effects) {
		h.shard.AddPartitions(fx, id, pid, epoch, parts, func(err *kerr.Error) { got, answered = err, true })
	})
	if !answered {
		h.t.Fatal("AddPartitions did not answer")
	}
	return got
}

func (h *harness) end(id string, pid int64, epoch int16, commit bool) *kerr.Error {
	h.t.Helper()
	answered := false
	var got *kerr.Error
	h.run(func(fx *coord.Effects) {
		h.shard.EndTxn(fx, id, pid, epoch, commit, func(err *kerr.Error) { got, answered = err, true })
	})
	if !answered {
		h.t.Fatal("EndTxn did not answer")
	}
	return got
}

func (h *harness) state(id string) State {
	h.t.Helper()
	tx, ok := h.shard.Describe(id)
	if !ok {
		h.t.Fatalf("%q unknown", id)
	}
	return tx.State
}

func TestInitProducerIDBumpsEpochAndFences(t *testing.T) {
	h := newHarness(t)
	first := h.init("tx", 60000, 1000, -1, -1)
	if first.Err != nil || first.ProducerID != 1000 || first.ProducerEpoch != 0 {
		t.Fatalf("first init = %+v, want id 1000 epoch 0", first)
	}
	second := h.init("tx", 60000, 2000, -1, -1)
	if second.Err != nil || second.ProducerID != 1000 || second.ProducerEpoch != 1 {
		t.Fatalf("second init = %+v, want id 1000 epoch 1 (same ID, bumped epoch)", second)
	}
	if err := h.add("tx", 1000, 0, map[string][]int32{"t": {0}}); err != kerr.ProducerFenced {
		t.Fatalf("old epoch add = %v, want PRODUCER_FENCED", err)
	}
	if got := h.init("tx", 60000, 3000, 1000, 0); got.Err != kerr.ProducerFenced {
		t.Fatalf("init with stale expected epoch = %v, want PRODUCER_FENCED", got.Err)
	}
	if got := h.init("tx", 60000, 3000, 1000, 1); got.Err != nil || got.ProducerEpoch != 2 {
		t.Fatalf("init with current expected epoch = %+v, want epoch 2", got)
	}
}

func TestInitProducerIDTimeoutBounds(t *testing.T) {
	h := newHarness(t)
	for _, ms := range []int32{0, -5, int32((15*time.Minute)/time.Millisecond) + 1} {
		if got := h.init("tx", ms, 1, -1, -1); got.Err != kerr.InvalidTransactionTimeout {
			t.Errorf("timeout %d ms: %v, want INVALID_TRANSACTION_TIMEOUT", ms, got.Err)
		}
	}
	if _, ok := h.shard.Describe("tx"); ok {
		t.Fatal("a refused init created the transactional ID")
	}
}

func TestInitProducerIDNewIDWhenEpochExhausted(t *testing.T) {
	h := newHarness(t)
	h.init("tx", 1000, 5, -1, -1)
	h.shard.txns["tx"].producerEpoch = 32766
	got := h.init("tx", 1000, 6, -1, -1)
	if got.Err != nil || got.ProducerID != 6 || got.ProducerEpoch != 0 {
		t.Fatalf("init at exhausted epoch = %+v, want new ID 6 at epoch 0", got)
	}
}

func TestCommitWritesMarkersThenCompletes(t *testing.T) {
	h := newHarness(t)
	p := h.init("tx", 60000, 42, -1, -1)
	if err := h.add("tx", 42, 0, map[string][]int32{"a": {1, 0}, "b": {2}}); err != nil {
		t.Fatalf("add: %v", err)
	}
	if err := h.add("tx", 42, 0, map[string][]int32{"a": {0}}); err != nil {
		t.Fatalf("add again: %v", err)
	}
	records := len(h.log)
	if err := h.add("tx", 42, 0, map[string][]int32{"a": {1}}); err != nil || len(h.log) != records {
		t.Fatalf("adding partitions already in the transaction: err %v, wrote %d records, want none", err, len(h.log)-records)
	}
	if got := h.state("tx"); got != StateOngoing {
		t.Fatalf("state %v, want Ongoing", got)
	}
	if err := h.end("tx", p.ProducerID, p.ProducerEpoch, true); err != nil {
		t.Fatalf("end: %v", err)
	}
	if got := h.state("tx"); got != StatePrepareCommit {
		t.Fatalf("state after EndTxn %v, want PrepareCommit until markers are written", got)
	}
	if err := h.add("tx", 42, 0, map[string][]int32{"c": {0}}); err != kerr.ConcurrentTransactions {
		t.Fatalf("add while committing = %v, want CONCURRENT_TRANSACTIONS", err)
	}
	if err := h.end("tx", 42, 0, true); err != kerr.ConcurrentTransactions {
		t.Fatalf("retried commit while committing = %v, want CONCURRENT_TRANSACTIONS", err)
	}
	if got := h.init("tx", 60000, 43, -1, -1); got.Err != kerr.ConcurrentTransactions {
		t.Fatalf("InitProducerId while committing = %v, want CONCURRENT_TRANSACTIONS", got.Err)
	}
	if len(h.markers.requests) != 1 || len(h.markers.written) != 0 {
		t.Fatalf("requests %+v written %+v: want one request with the sender, nothing written yet", h.markers.requests, h.markers.written)
	}
	h.flushMarkers()
	if got := h.state("tx"); got != StateCompleteCommit {
		t.Fatalf("state after markers %v, want CompleteCommit", got)
	}
	sort.Slice(h.markers.written, func(i, j int) bool {
		a, b := h.markers.written[i], h.markers.written[j]
		return a.topic < b.topic || a.topic == b.topic && a.partition < b.partition
	})
	want := []marker{{"a", 0, 42, 0, true}, {"a", 1, 42, 0, true}, {"b", 2, 42, 0, true}}
	if len(h.markers.written) != len(want) {
		t.Fatalf("markers %+v, want %+v", h.markers.written, want)
	}
	for i := range want {
		if h.markers.written[i] != want[i] {
			t.Fatalf("markers %+v, want %+v", h.markers.written, want)
		}
	}
	if err := h.end("tx", 42, 0, true); err != nil {
		t.Fatalf("retried commit after completion = %v, want NONE", err)
	}
	if err := h.end("tx", 42, 0, false); err != kerr.InvalidTxnState {
		t.Fatalf("abort after commit = %v, want INVALID_TXN_STATE", err)
	}
	if tx, _ := h.shard.Describe("tx"); len(tx.Partitions) != 0 || tx.StartTimestamp != -1 && tx.State == StateEmpty {
		t.Fatalf("completed transaction still lists partitions %v", tx.Partitions)
	}
}

func TestEndTxnErrors(t *testing.T) {
	h := newHarness(t)
	if err := h.end("nobody", 1, 0, true); err != kerr.InvalidProducerIDMapping {
		t.Fatalf("unknown ID: %v, want INVALID_PRODUCER_ID_MAPPING", err)
	}
	h.init("tx", 60000, 9, -1, -1)
	if err := h.end("tx", 10, 0, true); err != kerr.InvalidProducerIDMapping {
		t.Fatalf("other producer ID: %v, want INVALID_PRODUCER_ID_MAPPING", err)
	}
	if err := h.end("tx", 9, 0, true); err != kerr.InvalidTxnState {
		t.Fatalf("commit with nothing ongoing: %v, want INVALID_TXN_STATE", err)
	}
}

func TestMarkerFailureRetries(t *testing.T) {
	h := newHarness(t)
	h.init("tx", 60000, 9, -1, -1)
	h.add("tx", 9, 0, map[string][]int32{"a": {0}})
	h.markers.fail = errors.New("disk on fire")
	if err := h.end("tx", 9, 0, false); err != nil {
		t.Fatalf("abort: %v", err)
	}
	h.flushMarkers()
	if got := h.state("tx"); got != StatePrepareAbort {
		t.Fatalf("state after failed markers %v, want PrepareAbort", got)
	}
	h.markers.fail = nil
	h.advance(99 * time.Millisecond)
	if len(h.markers.requests) != 0 {
		t.Fatal("markers sent again before MarkerRetryBackoff")
	}
	h.advance(time.Millisecond)
	h.flushMarkers()
	if got := h.state("tx"); got != StateCompleteAbort || len(h.markers.written) != 1 || h.markers.written[0].commit {
		t.Fatalf("after retry: state %v markers %+v, want CompleteAbort and one abort marker", got, h.markers.written)
	}
}

func TestTimedOutTransactionIsAbortedWithEpochBump(t *testing.T) {
	h := newHarness(t)
	h.init("tx", 10000, 9, -1, -1)
	h.add("tx", 9, 0, map[string][]int32{"a": {0}})
	h.advance(9 * time.Second)
	if got := h.state("tx"); got != StateOngoing {
		t.Fatalf("before the timeout: %v, want Ongoing", got)
	}
	h.advance(time.Second)
	h.flushMarkers()
	if got := h.state("tx"); got != StateCompleteAbort {
		t.Fatalf("after the timeout: %v, want CompleteAbort", got)
	}
	if len(h.markers.written) != 1 || h.markers.written[0] != (marker{"a", 0, 9, 1, false}) {
		t.Fatalf("markers %+v, want one abort marker at the bumped epoch 1", h.markers.written)
	}
	if err := h.end("tx", 9, 0, true); err != kerr.ProducerFenced {
		t.Fatalf("commit by the timed-out producer: %v, want PRODUCER_FENCED", err)
	}
}

func TestInitAbortsOngoingTransaction(t *testing.T) {
	h := newHarness(t)
	h.init("tx", 60000, 9, -1, -1)
	h.add("tx", 9, 0, map[string][]int32{"a": {0}})
	if got := h.init("tx", 60000, 10, -1, -1); got.Err != kerr.ConcurrentTransactions {
		t.Fatalf("init during a transaction: %v, want CONCURRENT_TRANSACTIONS", got.Err)
	}
	h.flushMarkers()
	got := h.init("tx", 60000, 10, -1, -1)
	if got.Err != nil || got.ProducerID != 9 || got.ProducerEpoch != 2 {
		t.Fatalf("init after the abort = %+v, want ID 9 epoch 2", got)
	}
}

func TestReplayRebuildsAndLoadedResumes(t *testing.T) {
	h := newHarness(t)
	h.init("done", 60000, 1, -1, -1)
	h.init("ongoing", 5000, 2, -1, -1)
	h.add("ongoing", 2, 0, map[string][]int32{"a": {0}})
	h.init("ending", 60000, 3, -1, -1)
	h.add("ending", 3, 0, map[string][]int32{"b": {4}})
	h.end("ending", 3, 0, true) // the broker dies before the sender answers

	// A new shard replays the log, as after a restart.
	restarted := &harness{t: t, now: h.now.Add(time.Minute), timers: &fakeTimers{pending: map[string]fakeTimer{}}, markers: &fakeMarkers{}}
	restarted.shard = NewCoordinatorShard(restarted.config(), restarted)
	for _, r := range h.log {
		if err := restarted.shard.Replay(r); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	for id, want := range map[string]State{"done": StateEmpty, "ongoing": StateOngoing, "ending": StatePrepareCommit} {
		if got := restarted.state(id); got != want {
			t.Fatalf("%s replayed as %v, want %v", id, got, want)
		}
	}
	restarted.run(restarted.shard.Loaded)
	restarted.advance(0)
	restarted.flushMarkers()
	if got := restarted.state("ending"); got != StateCompleteCommit {
		t.Fatalf("prepared commit after load: %v, want CompleteCommit", got)
	}
	if got := restarted.state("ongoing"); got != StateCompleteAbort {
		t.Fatalf("timed-out ongoing transaction after load: %v, want CompleteAbort", got)
	}
}

func TestIdleIDsExpire(t *testing.T) {
	h := newHarness(t)
	h.run(h.shard.Loaded)
	h.init("idle", 60000, 1, -1, -1)
	h.init("busy", 900000, 2, -1, -1)
	h.advance(6 * 24 * time.Hour)
	h.add("busy", 2, 0, map[string][]int32{"a": {0}})
	h.advance(24*time.Hour + time.Hour)
	if _, ok := h.shard.Describe("idle"); ok {
		t.Fatal("idle ID was not expired")
	}
	tombstones := 0
	for _, r := range h.log {
		if r.Value == nil {
			tombstones++
			if string(r.Key) != string(encodeKey("idle")) {
				t.Fatalf("tombstone for %q, want only idle", r.Key)
			}
		}
	}
	if tombstones != 1 {
		t.Fatalf("%d tombstones, want one for idle", tombstones)
	}
	if _, ok := h.shard.Describe("busy"); !ok {
		t.Fatal("busy ID, used within the expiration, was expired")
	}
}

func TestRecordBytesMatchKafkaSchema(t *testing.T) {
	h := newHarness(t)
	h.init("tx", 60000, 42, -1, -1)
	h.add("tx", 42, 0, map[string][]int32{"t": {2, 1}})
	r := h.log[len(h.log)-1]
	// TransactionLogKey v0: version int16, transactional ID as int16 length + bytes.
	wantKey := []byte{0, 0, 0, 2, 't', 'x'}
	if string(r.Key) != string(wantKey) {
		t.Fatalf("key % x, want % x", r.Key, wantKey)
	}
	v := kmsg.NewTxnMetadataValue()
	if err := v.ReadFrom(r.Value); err != nil {
		t.Fatalf("decode value: %v", err)
	}
	if v.Version != 0 || v.ProducerID != 42 || v.TimeoutMillis != 60000 || v.State != 1 ||
		len(v.Topics) != 1 || v.Topics[0].Topic != "t" || len(v.Topics[0].Partitions) != 2 ||
		v.Topics[0].Partitions[0] != 1 || v.StartTimestamp != h.now.UnixMilli() || v.LastUpdateTimestamp != h.now.UnixMilli() {
		t.Fatalf("value %+v", v)
	}
	// Fixed prefix of TransactionLogValue v0: version, producer ID, epoch, timeout, state.
	wantPrefix := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0xea, 0x60, 1}
	if string(r.Value[:len(wantPrefix)]) != string(wantPrefix) {
		t.Fatalf("value prefix % x, want % x", r.Value[:len(wantPrefix)], wantPrefix)
	}
}

func TestListFilters(t *testing.T) {
	h := newHarness(t)
	h.init("a", 60000, 1, -1, -1)
	h.init("b", 60000, 2, -1, -1)
	h.add("b", 2, 0, map[string][]int32{"t": {0}})
	if got := h.shard.List([]string{"Ongoing"}, nil); len(got) != 1 || got[0].TransactionalID != "b" {
		t.Fatalf("Ongoing filter: %+v", got)
	}
	if got := h.shard.List(nil, []int64{1}); len(got) != 1 || got[0].TransactionalID != "a" {
		t.Fatalf("producer filter: %+v", got)
	}
	if got := h.shard.List(nil, nil); len(got) != 2 {
		t.Fatalf("no filter: %+v", got)
	}
}

func TestReplayRejectsGarbage(t *testing.T) {
	h := newHarness(t)
	if err := h.shard.Replay(coord.Record{Key: []byte{0}}); err == nil {
		t.Fatal("one-byte key accepted")
	}
	if err := h.shard.Replay(coord.Record{Key: encodeKey("x"), Value: []byte{0, 0, 1}}); err == nil {
		t.Fatal("truncated value accepted")
	}
	if err := h.shard.Replay(coord.Record{Key: []byte{0, 9, 1, 2}}); err != nil {
		t.Fatalf("unknown key version: %v, want skipped", err)
	}
}
