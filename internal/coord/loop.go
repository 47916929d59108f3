package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
)

// loopState is where a loop's shard is in its life (Kafka's
// CoordinatorState without INITIAL and CLOSED, which are a loop not yet
// made and one stopped).
type loopState int

const (
	// stateLoading: replaying the partition; operations get ErrLoading.
	stateLoading loopState = iota
	// stateActive: serving operations.
	stateActive
	// stateFailed: the load or a replay of the shard's own records failed;
	// operations get ErrNotCoordinator and the loop goroutine has exited
	// (or is exiting).
	stateFailed
)

// loop owns one shard: its goroutine replays the partition, then runs
// queued operations and timer callbacks, as many as are queued (up to
// MaxBatchOps) per iteration, writing their records in one append.
type loop[S Shard] struct {
	rt        *Runtime[S]
	partition *replica.Partition
	// epoch is the partition's leader epoch when the loop was made.
	epoch int32
	shard S
	ops   chan Op[S]
	// after and delay hold the load back: after is closed once the loop
	// this one replaces has exited, delay is a backoff before reloading.
	after    <-chan struct{}
	delay    time.Duration
	done     chan struct{} // closed when the loop is asked to stop
	exited   chan struct{} // closed when the loop goroutine has returned
	stopOnce sync.Once
	// stopped is cancelled with done: a write waiting for the ISR ends
	// (Unload, Close) instead of holding the loop, and Close, forever.
	stopped       context.Context
	cancelStopped context.CancelFunc
	log           *slog.Logger

	mu     sync.Mutex // guards state and timers
	state  loopState
	timers map[string]*timerEntry

	batch []byte // reused record-batch buffer; loop goroutine only
}

// timerEntry is one pending Timers.Schedule; its identity tells a fired
// timer from the one that replaced it.
type timerEntry struct{ timer Timer }

func newLoop[S Shard](rt *Runtime[S], p *replica.Partition) *loop[S] {
	l := &loop[S]{rt: rt, partition: p, epoch: p.LeaderEpoch(), ops: make(chan Op[S], rt.cfg.QueueSize),
		done: make(chan struct{}), exited: make(chan struct{}), timers: map[string]*timerEntry{},
		log: rt.log.With("topic", p.Topic, "partition", p.Partition)}
	l.stopped, l.cancelStopped = context.WithCancel(context.Background())
	l.shard = rt.cfg.NewShard(p.Partition, l)
	return l
}

// submit queues a client's operation on an active shard.
func (l *loop[S]) submit(op Op[S]) error {
	l.mu.Lock()
	state := l.state
	l.mu.Unlock()
	switch state {
	case stateLoading:
		return ErrLoading
	case stateFailed:
		return ErrNotCoordinator
	}
	if !l.enqueue(op) {
		return ErrNotCoordinator
	}
	return nil
}

// enqueue queues op whatever the shard's state (a loading shard runs it
// after its replay); false when the loop stopped.
func (l *loop[S]) enqueue(op Op[S]) bool {
	select {
	case <-l.done:
		return false
	default:
	}
	select {
	case l.ops <- op:
		return true
	case <-l.done:
		return false
	}
}

func (l *loop[S]) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state == stateFailed
}

func (l *loop[S]) setState(s loopState) {
	l.mu.Lock()
	l.state = s
	l.mu.Unlock()
}

func (l *loop[S]) stop() {
	l.stopOnce.Do(func() {
		close(l.done)
		l.cancelStopped()
		l.mu.Lock()
		for _, t := range l.timers {
			t.timer.Stop()
		}
		l.timers = nil
		l.mu.Unlock()
	})
}

// fail stops the shard for good (until a Load under a newer leader
// epoch): it logs why, once, and operations get ErrNotCoordinator, as
// Kafka's runtime answers for a coordinator in its FAILED state.
func (l *loop[S]) fail(msg string, err error) {
	l.log.Error(msg, "err", err)
	l.setState(stateFailed)
	l.stop()
}

func (l *loop[S]) run() {
	defer close(l.exited)
	defer l.drain()
	if l.after != nil {
		<-l.after
	}
	if !l.wait(l.delay) || !l.load() {
		return
	}
	for {
		select {
		case <-l.done:
			return
		case op := <-l.ops:
			if l.isStopping() {
				return // select picks at random: a stop wins over queued operations
			}
			l.iterate(op)
		}
	}
}

// wait lets d pass on the runtime's clock; false if the loop was stopped
// first.
func (l *loop[S]) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	passed := make(chan struct{})
	t := l.rt.cfg.Clock.AfterFunc(d, func() { close(passed) })
	select {
	case <-passed:
		return true
	case <-l.done:
		t.Stop()
		return false
	}
}

// load replays the partition, runs the shard's Loaded and makes the shard
// active; false when the load failed or the loop was stopped meanwhile.
func (l *loop[S]) load() bool {
	clock := l.rt.cfg.Clock
	start := clock.Now()
	records, err := l.replayPartition()
	if err != nil {
		l.fail("coordinator shard failed to load; it does not serve until loaded again", err)
		return false
	}
	fx := &Effects{Now: clock.Now()}
	l.shard.Loaded(fx)
	if !l.apply(fx) {
		l.complete([]*Effects{fx}, ErrNotCoordinator)
		return false
	}
	l.setState(stateActive)
	l.flush([]*Effects{fx})
	l.log.Info("coordinator shard loaded", "records", records, "took", clock.Now().Sub(start))
	return true
}

// drain drops the operations still queued when the loop stops: nothing of
// theirs was written, and their callers see the stopped channel Do gave
// them close and answer NOT_COORDINATOR.
func (l *loop[S]) drain() {
	for {
		select {
		case <-l.ops:
		default:
			return
		}
	}
}

// iterate runs first and the operations queued behind it (up to
// MaxBatchOps operations and MaxBatchBytes of records), each seeing the
// records of those before it, then writes all their records in one append
// and one commit, and only then runs their completions.
func (l *loop[S]) iterate(first Op[S]) {
	var batch []*Effects
	size := 0
	run := func(op Op[S]) bool {
		fx := &Effects{Now: l.rt.cfg.Clock.Now()}
		op(l.shard, fx)
		batch = append(batch, fx)
		size += recordsSize(fx.records)
		return l.apply(fx)
	}
	if !run(first) {
		l.complete(batch, ErrNotCoordinator)
		return
	}
	for len(batch) < l.rt.cfg.MaxBatchOps && size < l.rt.cfg.MaxBatchBytes && !l.isStopping() {
		var op Op[S]
		select {
		case op = <-l.ops:
		default:
		}
		if op == nil {
			break
		}
		if !run(op) {
			l.complete(batch, ErrNotCoordinator)
			return
		}
	}
	l.flush(batch)
}

// apply replays an operation's records into the shard as soon as it has
// run, so the next operation of the iteration sees them. A record the
// shard cannot replay fails the shard: its state would no longer be what
// its partition says (the records of this iteration are not written).
func (l *loop[S]) apply(fx *Effects) bool {
	for _, r := range fx.records {
		if err := l.shard.Replay(r); err != nil {
			l.fail("coordinator shard failed to replay a record it wrote; it does not serve until loaded again", err)
			return false
		}
	}
	return true
}

// flush writes the iteration's records and runs its completions. The
// shard already holds the records (apply), so a write that fails leaves
// it ahead of what its partition has committed: writeFailed discards it
// (the loop stops) before the completions learn of the failure.
func (l *loop[S]) flush(batch []*Effects) {
	var records []Record
	for _, fx := range batch {
		records = append(records, fx.records...)
	}
	if len(records) == 0 {
		l.complete(batch, nil)
		return
	}
	res, err := l.append(records)
	if err == nil {
		err = l.partition.CommitAppended(l.stopped, res, replica.AcksAll)
	}
	if err != nil {
		l.writeFailed(err)
		l.complete(batch, fmt.Errorf("%w: %w", ErrNotCoordinator, err))
		return
	}
	l.complete(batch, nil)
}

// writeFailed stops a loop whose append or commit failed: its shard
// holds records its partition does not have (a failed append) or has not
// committed (a failed commit: NOT_ENOUGH_REPLICAS_AFTER_APPEND, an fsync
// error), so the shard may no longer go on from its in-memory state, as
// Kafka's transaction coordinator does not move a transaction on a failed
// append and its CoordinatorRuntime reverts to its last committed state.
// A partition no longer led here fails the shard (the applier unloads it,
// or loads it again under a new epoch); any other failure reloads the
// shard from its partition after ReloadBackoff, so it is again what its
// log says, as Kafka reloads a coordinator out of sync with its log. The
// records of a failed commit are still in the local log, and the reload
// replays them (to the log end, as every load does): a transaction whose
// Prepare* commit failed is found prepared and its markers resume. Either
// way the loop stops first, so the completions that learn of the failure
// run on a discarded shard: their timers never fire.
func (l *loop[S]) writeFailed(err error) {
	switch {
	case l.isStopping():
	case errors.Is(err, replica.ErrNotLeader):
		l.fail("coordinator write refused: the partition is no longer led here; the shard stops serving", err)
	default:
		l.log.Warn("coordinator write failed; reloading the shard from its partition", "err", err)
		l.rt.reload(l)
		l.stop()
	}
}

// isStopping reports whether the loop was asked to stop (Unload, Close, a
// failure): a write cut short then is not the partition's fault.
func (l *loop[S]) isStopping() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// complete runs the completions of the iteration's operations in order.
func (l *loop[S]) complete(batch []*Effects, err error) {
	for _, fx := range batch {
		fx.Complete(err)
	}
}

// recordsSize is the bytes of keys and values in records.
func recordsSize(records []Record) int {
	n := 0
	for _, r := range records {
		n += len(r.Key) + len(r.Value)
	}
	return n
}

// append writes records in one call to the partition: each run of
// consecutive records with the same producer (none, or one transaction's)
// is one batch, so a transaction's marker covers exactly its records.
// Transactional batches carry no sequence number and skip the client's
// sequence checks (replica.Partition.Append), as Kafka's coordinator
// appends do.
func (l *loop[S]) append(records []Record) (res storage.AppendResult, err error) {
	buf := l.batch[:0]
	now := l.rt.cfg.Clock.Now().UnixMilli()
	for len(records) > 0 {
		n := 1
		for n < len(records) && sameProducer(records[0], records[n]) {
			n++
		}
		if buf, err = encodeBatch(buf, records[:n], now); err != nil {
			return res, err
		}
		records = records[n:]
	}
	l.batch = buf
	return l.partition.Append(buf)
}

// sameProducer reports whether two records go in the same batch.
func sameProducer(a, b Record) bool {
	return a.Transactional == b.Transactional && a.ProducerID == b.ProducerID && a.ProducerEpoch == b.ProducerEpoch
}

// encodeBatch appends one record batch of records, all of one producer
// run, to buf.
func encodeBatch(buf []byte, records []Record, now int64) ([]byte, error) {
	specs := make([]record.RecordSpec, len(records))
	for i, r := range records {
		specs[i] = record.RecordSpec{Timestamp: now, Key: r.Key, Value: r.Value}
	}
	spec := record.NewBatchSpec()
	if records[0].Transactional {
		spec.Transactional = true
		spec.ProducerID, spec.ProducerEpoch = records[0].ProducerID, records[0].ProducerEpoch
	}
	out, err := record.AppendBatch(buf, spec, specs)
	if err != nil {
		return buf, fmt.Errorf("encode coordinator records: %w", err)
	}
	return out, nil
}

// Schedule implements Timers: op runs on this loop after delay on the
// runtime's clock. Safe from any goroutine.
func (l *loop[S]) Schedule(key string, delay time.Duration, op func(fx *Effects)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timers == nil {
		return
	}
	if t := l.timers[key]; t != nil {
		t.timer.Stop()
	}
	entry := &timerEntry{}
	entry.timer = l.rt.cfg.Clock.AfterFunc(delay, func() { l.fire(key, entry, op) })
	l.timers[key] = entry
}

// fire queues a timer's operation unless the timer was cancelled or
// replaced meanwhile.
func (l *loop[S]) fire(key string, entry *timerEntry, op func(fx *Effects)) {
	l.mu.Lock()
	current := l.timers[key] == entry
	if current {
		delete(l.timers, key)
	}
	l.mu.Unlock()
	if current {
		l.enqueue(func(_ S, fx *Effects) { op(fx) })
	}
}

// Cancel implements Timers.
func (l *loop[S]) Cancel(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.timers[key]; t != nil {
		t.timer.Stop()
		delete(l.timers, key)
	}
}
