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

// ErrNotCoordinator means the shard's partition is not loaded on this
// broker (NOT_COORDINATOR: the client looks up the coordinator again).
var ErrNotCoordinator = errors.New("not the coordinator for this shard")

// ErrLoading means the shard is still replaying its partition
// (COORDINATOR_LOAD_IN_PROGRESS: the client retries).
var ErrLoading = errors.New("coordinator shard is loading")

// Shard is what the runtime needs of a coordinator's shard.
type Shard interface {
	// Replay applies one record of the shard's partition.
	Replay(r Record) error
	// Loaded runs once after the partition was replayed, before any
	// operation, to restart timers that replay cannot.
	Loaded(fx *Effects)
}

// MarkerReplayer is implemented by shards that write transactional records
// (AppendTransactional): the runtime tells them how each transaction
// ended, both when replaying the partition's markers at load and when
// DeliverMarker reports a marker written since.
type MarkerReplayer interface {
	// ReplayMarker applies the commit (commit true) or abort marker of
	// producerID's transaction. It must be idempotent: a marker written
	// while the shard loads may be seen twice.
	ReplayMarker(producerID int64, commit bool)
}

// Config is a Runtime's configuration.
type Config[S Shard] struct {
	// NewShard builds an empty shard for a partition of the internal topic.
	NewShard func(partition int32, timers Timers) S
	// QueueSize bounds each shard's pending operations (default 1024).
	QueueSize int
	// Logger and Now are injected for tests.
	Logger *slog.Logger
	Now    func() time.Time
}

// Runtime runs the shards this broker coordinates.
type Runtime[S Shard] struct {
	cfg Config[S]
	log *slog.Logger

	mu     sync.Mutex // guards loops
	loops  map[int32]*loop[S]
	closed bool
	wg     sync.WaitGroup // every loop goroutine
}

// NewRuntime returns a runtime with no shards loaded.
func NewRuntime[S Shard](cfg Config[S]) *Runtime[S] {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Runtime[S]{cfg: cfg, log: cfg.Logger, loops: map[int32]*loop[S]{}}
}

// Load starts serving the shard of a partition this broker now leads: its
// loop replays the partition, then runs operations. Loading a partition
// that is already loaded does nothing.
func (r *Runtime[S]) Load(p *replica.Partition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.loops[p.Partition] != nil {
		return
	}
	l := newLoop(r, p)
	r.loops[p.Partition] = l
	r.wg.Go(l.run)
}

// Unload stops serving a partition (leadership moved, topic deleted); its
// pending operations fail with ErrNotCoordinator.
func (r *Runtime[S]) Unload(partition int32) {
	r.mu.Lock()
	l := r.loops[partition]
	delete(r.loops, partition)
	r.mu.Unlock()
	if l != nil {
		l.stop()
	}
}

// Do runs op on the partition's shard. It returns once op is queued: op's
// responses arrive through the callbacks it was built with. The returned
// channel closes if the shard stops before op could answer (the caller
// then answers NOT_COORDINATOR); it closes only once the loop goroutine has
// returned, so no code of the shard can touch op's state afterwards. The
// error is ErrNotCoordinator or ErrLoading when op cannot run here.
func (r *Runtime[S]) Do(partition int32, op Op[S]) (stopped <-chan struct{}, err error) {
	r.mu.Lock()
	l := r.loops[partition]
	r.mu.Unlock()
	if l == nil {
		return nil, ErrNotCoordinator
	}
	return l.exited, l.submit(op)
}

// DeliverMarker tells the partition's shard that producerID's transaction
// ended with a marker just written to the partition (outside the shard's
// loop, by the transaction coordinator). It returns once the shard has
// applied it, or at once when the shard is not loaded here (a later load
// replays the marker from the log) or does not replay markers. A shard
// still loading applies it after its replay, which may have seen the
// marker already (ReplayMarker is idempotent).
func (r *Runtime[S]) DeliverMarker(partition int32, producerID int64, commit bool) {
	r.mu.Lock()
	l := r.loops[partition]
	r.mu.Unlock()
	if l == nil {
		return
	}
	if _, ok := any(l.shard).(MarkerReplayer); !ok {
		return
	}
	applied := make(chan struct{})
	op := func(shard S, _ *Effects) {
		any(shard).(MarkerReplayer).ReplayMarker(producerID, commit)
		close(applied)
	}
	select {
	case l.ops <- op:
	case <-l.done:
		return
	}
	select {
	case <-applied:
	case <-l.done:
	}
}

// forget drops a loop that stopped by itself (a failed load), so a later
// Load of its partition starts afresh.
func (r *Runtime[S]) forget(l *loop[S]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loops[l.partition.Partition] == l {
		delete(r.loops, l.partition.Partition)
	}
}

// Close stops every loop and waits for them.
func (r *Runtime[S]) Close() {
	r.mu.Lock()
	r.closed = true
	loops := r.loops
	r.loops = map[int32]*loop[S]{}
	r.mu.Unlock()
	for _, l := range loops {
		l.stop()
	}
	r.wg.Wait()
}

// loop owns one shard: its goroutine replays the partition, then runs
// queued operations and timer callbacks one at a time.
type loop[S Shard] struct {
	rt        *Runtime[S]
	partition *replica.Partition
	shard     S
	ops       chan Op[S]
	done      chan struct{} // closed when the loop is asked to stop
	exited    chan struct{} // closed when the loop goroutine has returned
	stopOnce  sync.Once
	// stopped is cancelled with done: a write waiting for the ISR ends
	// (Unload, Close) instead of holding the loop, and Close, forever.
	stopped       context.Context
	cancelStopped context.CancelFunc

	mu     sync.Mutex // guards loaded and timers
	loaded bool
	timers map[string]*time.Timer
	batch  []byte // reused record-batch buffer; loop goroutine only
}

func newLoop[S Shard](rt *Runtime[S], p *replica.Partition) *loop[S] {
	l := &loop[S]{rt: rt, partition: p, ops: make(chan Op[S], rt.cfg.QueueSize), done: make(chan struct{}), exited: make(chan struct{}), timers: map[string]*time.Timer{}}
	l.stopped, l.cancelStopped = context.WithCancel(context.Background())
	l.shard = rt.cfg.NewShard(p.Partition, l)
	return l
}

func (l *loop[S]) submit(op Op[S]) error {
	select {
	case <-l.done:
		return ErrNotCoordinator
	default:
	}
	l.mu.Lock()
	loaded := l.loaded
	l.mu.Unlock()
	if !loaded {
		return ErrLoading
	}
	select {
	case l.ops <- op:
		return nil
	case <-l.done:
		return ErrNotCoordinator
	}
}

func (l *loop[S]) stop() {
	l.stopOnce.Do(func() {
		close(l.done)
		l.cancelStopped()
		l.mu.Lock()
		for _, t := range l.timers {
			t.Stop()
		}
		l.timers = nil
		l.mu.Unlock()
	})
}

func (l *loop[S]) run() {
	defer close(l.exited)
	log := l.rt.log.With("partition", l.partition.Partition)
	start := time.Now()
	records, err := l.replayPartition()
	if err != nil {
		log.Error("coordinator shard failed to load; it will not serve until loaded again", "err", err)
		l.stop()
		l.rt.forget(l)
		return
	}
	fx := &Effects{Now: l.rt.cfg.Now()}
	l.shard.Loaded(fx)
	l.finish(fx)
	l.mu.Lock()
	l.loaded = true
	l.mu.Unlock()
	log.Info("coordinator shard loaded", "records", records, "took", time.Since(start))
	for {
		select {
		case <-l.done:
			l.drain()
			return
		case op := <-l.ops:
			fx := &Effects{Now: l.rt.cfg.Now()}
			op(l.shard, fx)
			l.finish(fx)
		}
	}
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

// finish makes an operation's records durable, replays them into the
// shard, then runs its completions (with the write error, if any).
func (l *loop[S]) finish(fx *Effects) {
	err := l.write(fx.records)
	if err == nil {
		for _, r := range fx.records {
			if rerr := l.shard.Replay(r); rerr != nil {
				err = fmt.Errorf("replay own record: %w", rerr)
				l.rt.log.Error("coordinator replay of its own record failed", "partition", l.partition.Partition, "err", rerr)
				break
			}
		}
	}
	fx.Complete(err)
}

// write appends records and waits until they are durable: each run of
// consecutive records with the same producer (none, or one transaction's)
// is one batch, so a transaction's marker covers exactly its records.
func (l *loop[S]) write(records []Record) error {
	if len(records) == 0 {
		return nil
	}
	last := int64(-1)
	for len(records) > 0 {
		n := 1
		for n < len(records) && sameProducer(records[0], records[n]) {
			n++
		}
		res, err := l.appendBatch(records[:n])
		if err != nil {
			return err
		}
		last = res
		records = records[n:]
	}
	return l.partition.CommitAcks(l.stopped, last, replica.AcksAll)
}

// sameProducer reports whether two records go in the same batch.
func sameProducer(a, b Record) bool {
	return a.Transactional == b.Transactional && a.ProducerID == b.ProducerID && a.ProducerEpoch == b.ProducerEpoch
}

// appendBatch appends records, all of one producer run, as one batch and
// returns its last offset. Transactional batches carry no sequence number
// and skip the client's sequence checks (replica.Partition.Append), as
// Kafka's coordinator appends do.
func (l *loop[S]) appendBatch(records []Record) (int64, error) {
	specs := make([]record.RecordSpec, len(records))
	now := l.rt.cfg.Now().UnixMilli()
	for i, r := range records {
		specs[i] = record.RecordSpec{Timestamp: now, Key: r.Key, Value: r.Value}
	}
	spec := record.NewBatchSpec()
	if records[0].Transactional {
		spec.Transactional = true
		spec.ProducerID, spec.ProducerEpoch = records[0].ProducerID, records[0].ProducerEpoch
	}
	batch, err := record.AppendBatch(l.batch[:0], spec, specs)
	if err != nil {
		return -1, fmt.Errorf("encode coordinator records: %w", err)
	}
	l.batch = batch
	res, err := l.partition.Append(batch)
	if err != nil {
		return -1, err
	}
	return res.LastOffset, nil
}

// replayPartition reads the partition from its start to its log end and
// replays every record into the shard. The log end, not the high
// watermark, as Kafka's coordinator loader reads: a new leader's high
// watermark lags what was committed (and acknowledged) under the previous
// leader until its ISR fetches, and the leader's log is the partition's
// history from now on.
func (l *loop[S]) replayPartition() (int, error) {
	log := l.partition.Log()
	offset := log.LogStartOffset()
	end := log.LogEndOffset()
	var it record.Iterator
	count := 0
	for offset < end {
		data, err := log.Read(offset, 1<<20, end, true)
		if err != nil {
			return count, fmt.Errorf("read %s-%d at %d: %w", l.partition.Topic, l.partition.Partition, offset, err)
		}
		if len(data) == 0 {
			break
		}
		for len(data) > 0 {
			h, err := record.ParseHeader(data)
			if err != nil {
				return count, fmt.Errorf("parse batch at %d: %w", offset, err)
			}
			batch := data[:h.Size()]
			data = data[h.Size():]
			offset = h.LastOffset() + 1
			if h.IsControl() {
				if err := l.replayMarker(h, batch); err != nil {
					return count, fmt.Errorf("control batch at %d: %w", h.BaseOffset, err)
				}
				continue
			}
			if err := it.Reset(batch); err != nil {
				return count, fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
			}
			for rec, ok := it.Next(); ok; rec, ok = it.Next() {
				r := Record{Key: rec.Key, Value: rec.Value}
				if h.IsTransactional() {
					r.Transactional, r.ProducerID, r.ProducerEpoch = true, h.ProducerID, h.ProducerEpoch
				}
				if err := l.shard.Replay(r); err != nil {
					return count, fmt.Errorf("replay offset %d: %w", rec.Offset, err)
				}
				count++
			}
			if err := it.Err(); err != nil {
				return count, fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
			}
		}
	}
	return count, nil
}

// replayMarker hands a transaction marker read back at load to a shard
// that replays markers; other control batches are skipped.
func (l *loop[S]) replayMarker(h record.Header, batch []byte) error {
	replayer, ok := any(l.shard).(MarkerReplayer)
	if !ok || h.ProducerID < 0 {
		return nil
	}
	commit, isMarker, err := storage.ParseTxnMarker(batch)
	if err != nil || !isMarker {
		return err
	}
	replayer.ReplayMarker(h.ProducerID, commit)
	return nil
}

// Schedule implements Timers: op runs on this loop after delay.
func (l *loop[S]) Schedule(key string, delay time.Duration, op func(fx *Effects)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timers == nil {
		return
	}
	if t := l.timers[key]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		l.mu.Lock()
		current := l.timers[key] == t
		if current {
			delete(l.timers, key)
		}
		l.mu.Unlock()
		if !current {
			return
		}
		select {
		case l.ops <- func(_ S, fx *Effects) { op(fx) }:
		case <-l.done:
		}
	})
	l.timers[key] = t
}

// Cancel implements Timers.
func (l *loop[S]) Cancel(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.timers[key]; t != nil {
		t.Stop()
		delete(l.timers, key)
	}
}
