package coord

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/replica"
)

// ErrNotCoordinator means the shard's partition is not served on this
// broker: not loaded here, unloaded, or failed (NOT_COORDINATOR: the client
// looks up the coordinator again).
var ErrNotCoordinator = errors.New("not the coordinator for this shard")

// ErrLoading means the shard is still replaying its partition
// (COORDINATOR_LOAD_IN_PROGRESS: the client retries).
var ErrLoading = errors.New("coordinator shard is loading")

// Shard is what the runtime needs of a coordinator's shard.
type Shard interface {
	// Replay applies one record of the shard's partition. An error means
	// the record cannot be applied: at load the shard fails to load; for a
	// record an operation just wrote, the shard fails (its state would no
	// longer be its partition's).
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
	// MaxBatchOps bounds the operations one loop iteration runs before it
	// writes their records in one append (default 64); MaxBatchBytes
	// bounds their records' keys and values (default 512 KiB, well under
	// Kafka's message.max.bytes default).
	MaxBatchOps   int
	MaxBatchBytes int
	// ReloadBackoff is how long a shard whose write (append or commit)
	// failed waits before it reloads its partition (default 1s).
	ReloadBackoff time.Duration
	// Clock gives the time and arms timers (default SystemClock).
	Clock Clock
	// Logger receives the runtime's logs.
	Logger *slog.Logger
}

// Runtime runs the shards this broker coordinates.
type Runtime[S Shard] struct {
	cfg Config[S]
	log *slog.Logger

	mu     sync.Mutex // guards loops and closed
	loops  map[int32]*loop[S]
	closed bool
	wg     sync.WaitGroup // every loop goroutine
}

// NewRuntime returns a runtime with no shards loaded.
func NewRuntime[S Shard](cfg Config[S]) *Runtime[S] {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	if cfg.MaxBatchOps <= 0 {
		cfg.MaxBatchOps = 64
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 512 << 10
	}
	if cfg.ReloadBackoff <= 0 {
		cfg.ReloadBackoff = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runtime[S]{cfg: cfg, log: cfg.Logger, loops: map[int32]*loop[S]{}}
}

// Load starts serving the shard of a partition this broker now leads: its
// loop replays the partition, then runs operations. Loading a partition
// that is loaded or loading does nothing; a shard that failed loads again
// only under a newer leader epoch (Kafka's FAILED → LOADING), so a bad
// record is reported once per leadership, not on every metadata change.
func (r *Runtime[S]) Load(p *replica.Partition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	var after <-chan struct{}
	if old := r.loops[p.Partition]; old != nil {
		if !old.failed() || p.LeaderEpoch() <= old.epoch {
			return
		}
		after = old.exited
	}
	r.startLocked(p, after, 0)
}

// startLocked starts a loop for p once after is closed (the loop it
// replaces has exited) and delay has passed.
func (r *Runtime[S]) startLocked(p *replica.Partition, after <-chan struct{}, delay time.Duration) {
	l := newLoop(r, p)
	l.after, l.delay = after, delay
	r.loops[p.Partition] = l
	r.wg.Go(l.run)
}

// reload replaces l, whose shard no longer matches its partition (a write
// failed after its operations' records were applied), with a fresh
// loop that replays the partition after ReloadBackoff (Kafka reloads a
// coordinator out of sync with its log). Operations meanwhile get
// ErrLoading.
func (r *Runtime[S]) reload(l *loop[S]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.loops[l.partition.Partition] != l {
		return
	}
	r.startLocked(l.partition, l.exited, r.cfg.ReloadBackoff)
}

// Unload stops serving a partition (leadership moved, topic deleted) and
// returns once its loop goroutine has exited: no code of the shard runs
// afterwards. Queued operations are dropped (their callers see the
// channel Do returned close and answer NOT_COORDINATOR), and a write in
// progress stops waiting and completes with ErrNotCoordinator.
func (r *Runtime[S]) Unload(partition int32) {
	r.mu.Lock()
	l := r.loops[partition]
	delete(r.loops, partition)
	r.mu.Unlock()
	if l != nil {
		l.stop()
		<-l.exited
	}
}

// Do runs op on the partition's shard. It returns once op is queued: op's
// responses arrive through the callbacks it was built with. The returned
// channel closes if the shard stops before op could answer (the caller
// then answers NOT_COORDINATOR); it closes only once the loop goroutine has
// returned, so no code of the shard can touch op's state afterwards. The
// error is ErrNotCoordinator or ErrLoading when op cannot run here.
func (r *Runtime[S]) Do(partition int32, op Op[S]) (stopped <-chan struct{}, err error) {
	l := r.loop(partition)
	if l == nil {
		return nil, ErrNotCoordinator
	}
	return l.exited, l.submit(op)
}

func (r *Runtime[S]) loop(partition int32) *loop[S] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loops[partition]
}

// DeliverMarker tells the partition's shard that producerID's transaction
// ended with a marker just written to the partition (outside the shard's
// loop, by the transaction coordinator's marker sender). It returns once
// the shard has applied it, or at once when the shard is not loaded here
// (a later load replays the marker from the log) or does not replay
// markers. A shard still loading applies it after its replay, which may
// have seen the marker already (ReplayMarker is idempotent).
func (r *Runtime[S]) DeliverMarker(partition int32, producerID int64, commit bool) {
	l := r.loop(partition)
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
	if !l.enqueue(op) {
		return
	}
	select {
	case <-applied:
	case <-l.exited:
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
