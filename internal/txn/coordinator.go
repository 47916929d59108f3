package txn

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// State is a transaction's state, with Kafka's numbering (the State field
// of TransactionLogValue).
type State int8

// The states of Kafka's TransactionState. PrepareEpochFence is never
// written by Kafka (it lives only in memory) and not used here.
const (
	StateEmpty          State = 0
	StateOngoing        State = 1
	StatePrepareCommit  State = 2
	StatePrepareAbort   State = 3
	StateCompleteCommit State = 4
	StateCompleteAbort  State = 5
	StateDead           State = 6
)

// String is the state's name as DescribeTransactions and ListTransactions
// report it.
func (s State) String() string {
	switch s {
	case StateEmpty:
		return "Empty"
	case StateOngoing:
		return "Ongoing"
	case StatePrepareCommit:
		return "PrepareCommit"
	case StatePrepareAbort:
		return "PrepareAbort"
	case StateCompleteCommit:
		return "CompleteCommit"
	case StateCompleteAbort:
		return "CompleteAbort"
	case StateDead:
		return "Dead"
	}
	return fmt.Sprintf("Unknown(%d)", int8(s))
}

// MarkerWriter writes a transaction marker (a control batch ending the
// producer's transaction) to one partition this broker leads and returns
// once it is committed (acks=all, as Kafka writes markers). The server's WriteTxnMarkers handler and its marker
// sender write local markers through it.
type MarkerWriter interface {
	WriteMarker(topic string, partition int32, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) error
}

// CoordinatorConfig holds the transaction coordinator's settings (Kafka's
// names in comments).
type CoordinatorConfig struct {
	// Partition is the `__transaction_state` partition this shard owns;
	// CoordinatorEpoch is its leader epoch, written into markers.
	Partition        int32
	CoordinatorEpoch int32
	// MaxTimeout caps a producer's transaction timeout
	// (transaction.max.timeout.ms).
	MaxTimeout time.Duration
	// IDExpiration is how long an idle transactional ID is kept
	// (transactional.id.expiration.ms); ExpirationCheckInterval is how
	// often idle IDs are looked for
	// (transaction.remove.expired.transaction.cleanup.interval.ms).
	IDExpiration            time.Duration
	ExpirationCheckInterval time.Duration
	// MarkerRetryBackoff is how long to wait before sending markers again
	// after a retriable failure (Kafka's retry.backoff.ms, 100ms).
	MarkerRetryBackoff time.Duration
	// Markers sends the markers that end transactions, off the loop.
	Markers MarkerSender
	Logger  *slog.Logger
}

// transaction is one transactional ID's state, as its last record says.
type transaction struct {
	id            string
	producerID    int64
	producerEpoch int16
	timeout       time.Duration
	state         State
	partitions    map[string][]int32 // topic → sorted partitions in the transaction
	lastUpdate    time.Time
	start         time.Time
}

// Shard is the state of one `__transaction_state` partition's
// transactional IDs (Kafka's TransactionStateManager for one partition
// plus the TransactionCoordinator's operations on it). It is owned by one
// coord loop goroutine and is not safe for concurrent use.
type Shard struct {
	cfg    CoordinatorConfig
	log    *slog.Logger
	timers coord.Timers
	txns   map[string]*transaction
	// markers holds the marker phase of each prepared transaction
	// (markers.go): in memory only, rebuilt by Loaded.
	markers map[string]*markerPhase
}

// NewCoordinatorShard returns an empty shard; the runtime replays the
// partition into it before serving.
func NewCoordinatorShard(cfg CoordinatorConfig, timers coord.Timers) *Shard {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MarkerRetryBackoff <= 0 {
		cfg.MarkerRetryBackoff = 100 * time.Millisecond
	}
	return &Shard{cfg: cfg, log: cfg.Logger, timers: timers, txns: map[string]*transaction{}, markers: map[string]*markerPhase{}}
}

// encodeKey is TransactionLogKey v0 for a transactional ID.
func encodeKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.TransactionalID = id
	return k.AppendTo(nil)
}

// encodeValue is TransactionLogValue v0 (Kafka writes v0 unless
// transaction version 2, KIP-890, is enabled) for t.
func encodeValue(t *transaction) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.ProducerID = t.producerID
	v.ProducerEpoch = t.producerEpoch
	v.TimeoutMillis = int32(t.timeout / time.Millisecond)
	v.State = kmsg.TransactionState(t.state)
	v.LastUpdateTimestamp = t.lastUpdate.UnixMilli()
	v.StartTimestamp = -1
	if !t.start.IsZero() {
		v.StartTimestamp = t.start.UnixMilli()
	}
	topics := make([]string, 0, len(t.partitions))
	for topic := range t.partitions {
		topics = append(topics, topic)
	}
	sort.Strings(topics)
	for _, topic := range topics {
		vt := kmsg.NewTxnMetadataValueTopic()
		vt.Topic, vt.Partitions = topic, t.partitions[topic]
		v.Topics = append(v.Topics, vt)
	}
	return v.AppendTo(nil)
}

// Replay applies one record of the partition, written by this shard or
// read back at load time.
func (s *Shard) Replay(r coord.Record) error {
	if len(r.Key) < 2 {
		return fmt.Errorf("transaction record key of %d bytes has no version", len(r.Key))
	}
	if version := int16(binary.BigEndian.Uint16(r.Key)); version != 0 {
		// Later key versions are not written by this version; skip them
		// rather than refuse to load.
		return nil
	}
	key := kmsg.NewTxnMetadataKey()
	if err := key.ReadFrom(r.Key); err != nil {
		return fmt.Errorf("decode transaction log key: %w", err)
	}
	if r.Value == nil {
		delete(s.txns, key.TransactionalID)
		return nil
	}
	v := kmsg.NewTxnMetadataValue()
	if err := v.ReadFrom(r.Value); err != nil {
		return fmt.Errorf("decode transaction log value for %q: %w", key.TransactionalID, err)
	}
	t := &transaction{
		id: key.TransactionalID, producerID: v.ProducerID, producerEpoch: v.ProducerEpoch,
		timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, state: State(v.State),
		partitions: map[string][]int32{}, lastUpdate: time.UnixMilli(v.LastUpdateTimestamp),
	}
	if v.StartTimestamp >= 0 {
		t.start = time.UnixMilli(v.StartTimestamp)
	}
	for _, vt := range v.Topics {
		t.partitions[vt.Topic] = append(t.partitions[vt.Topic], vt.Partitions...)
	}
	s.txns[t.id] = t
	return nil
}

// Loaded restarts what replay cannot: markers of transactions that were
// half-way through ending, the timeouts of ongoing transactions, and the
// expiry of idle IDs.
func (s *Shard) Loaded(fx *coord.Effects) {
	for _, t := range s.txns {
		switch t.state {
		case StatePrepareCommit, StatePrepareAbort:
			s.resumeMarkers(t)
		case StateOngoing:
			s.scheduleTimeout(t, fx.Now)
		}
	}
	s.scheduleExpiry()
}

// write appends t as the new state of its ID; Replay applies it once durable.
func (s *Shard) write(fx *coord.Effects, t *transaction) {
	fx.Append(coord.Record{Key: encodeKey(t.id), Value: encodeValue(t)})
}

// copyOf returns a copy of t that an operation may change before writing.
func copyOf(t *transaction) *transaction {
	c := *t
	c.partitions = make(map[string][]int32, len(t.partitions))
	for topic, ps := range t.partitions {
		c.partitions[topic] = slices.Clone(ps)
	}
	return &c
}

// InitProducerIDResult is the answer to InitProducerID.
type InitProducerIDResult struct {
	ProducerID    int64
	ProducerEpoch int16
	Err           *kerr.Error
}

// InitProducerID gives the producer of a transactional ID its producer ID
// and a new epoch, fencing every older epoch (Kafka's
// handleInitProducerId). newProducerID is a fresh ID the caller obtained
// from the ProducerIDManager, used for an ID seen for the first time or
// when the epoch is exhausted. expectedID and expectedEpoch are the
// producer's current ones (KIP-360), -1 when it has none. An ongoing
// transaction is aborted first and the caller told CONCURRENT_TRANSACTIONS,
// so it retries once the abort is complete.
func (s *Shard) InitProducerID(fx *coord.Effects, id string, timeoutMs int32, newProducerID, expectedID int64, expectedEpoch int16, respond func(InitProducerIDResult)) {
	fail := func(err *kerr.Error) { respond(InitProducerIDResult{ProducerID: -1, ProducerEpoch: -1, Err: err}) }
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > s.cfg.MaxTimeout {
		fail(kerr.InvalidTransactionTimeout)
		return
	}
	current := s.txns[id]
	var next *transaction
	switch {
	case current == nil:
		next = &transaction{id: id, producerID: newProducerID, partitions: map[string][]int32{}}
	case expectedID >= 0 && (expectedID != current.producerID || expectedEpoch != current.producerEpoch):
		fail(kerr.ProducerFenced)
		return
	case current.state == StatePrepareCommit || current.state == StatePrepareAbort:
		fail(kerr.ConcurrentTransactions)
		return
	case current.state == StateOngoing:
		s.abort(fx, current, func(err *kerr.Error) {
			if err == nil {
				err = kerr.ConcurrentTransactions
			}
			fail(err)
		})
		return
	default:
		next = copyOf(current)
		next.partitions = map[string][]int32{}
		if next.producerEpoch >= math.MaxInt16-1 {
			next.producerID, next.producerEpoch = newProducerID, 0
		} else {
			next.producerEpoch++
		}
	}
	next.state, next.timeout, next.lastUpdate, next.start = StateEmpty, time.Duration(timeoutMs)*time.Millisecond, fx.Now, time.Time{}
	s.write(fx, next)
	fx.Then(func(err error) {
		if err != nil {
			fail(kerr.NotCoordinator)
			return
		}
		respond(InitProducerIDResult{ProducerID: next.producerID, ProducerEpoch: next.producerEpoch})
	})
}

// current finds the transaction a producer's request is about, or the
// error to answer: INVALID_PRODUCER_ID_MAPPING for an unknown ID or
// another producer ID, PRODUCER_FENCED for another epoch.
func (s *Shard) current(id string, producerID int64, producerEpoch int16) (*transaction, *kerr.Error) {
	t := s.txns[id]
	switch {
	case t == nil || t.producerID != producerID:
		return nil, kerr.InvalidProducerIDMapping
	case t.producerEpoch != producerEpoch:
		return nil, kerr.ProducerFenced
	}
	return t, nil
}

// AddPartitions adds partitions to the producer's transaction, starting
// one if none is ongoing (Kafka's handleAddPartitionsToTransaction). The
// error, if any, applies to every partition.
func (s *Shard) AddPartitions(fx *coord.Effects, id string, producerID int64, producerEpoch int16, partitions map[string][]int32, respond func(*kerr.Error)) {
	t, err := s.current(id, producerID, producerEpoch)
	if err != nil {
		respond(err)
		return
	}
	if t.state == StatePrepareCommit || t.state == StatePrepareAbort {
		respond(kerr.ConcurrentTransactions)
		return
	}
	if t.state == StateOngoing && containsAll(t.partitions, partitions) {
		respond(nil)
		return
	}
	next := copyOf(t)
	if t.state != StateOngoing {
		next.partitions, next.start = map[string][]int32{}, fx.Now
	}
	for topic, ps := range partitions {
		for _, p := range ps {
			if !slices.Contains(next.partitions[topic], p) {
				next.partitions[topic] = append(next.partitions[topic], p)
			}
		}
		slices.Sort(next.partitions[topic])
	}
	next.state, next.lastUpdate = StateOngoing, fx.Now
	s.write(fx, next)
	fx.Then(func(err error) {
		if err != nil {
			respond(kerr.NotCoordinator)
			return
		}
		s.scheduleTimeout(next, fx.Now)
		respond(nil)
	})
}

// containsAll reports whether have holds every partition of want.
func containsAll(have, want map[string][]int32) bool {
	for topic, ps := range want {
		for _, p := range ps {
			if !slices.Contains(have[topic], p) {
				return false
			}
		}
	}
	return true
}

// Partitions returns the partitions of the producer's ongoing transaction,
// or the error a request about it gets (INVALID_TXN_STATE when none is
// ongoing).
func (s *Shard) Partitions(id string, producerID int64, producerEpoch int16) (map[string][]int32, *kerr.Error) {
	t, err := s.current(id, producerID, producerEpoch)
	if err != nil {
		return nil, err
	}
	if t.state != StateOngoing {
		return nil, kerr.InvalidTxnState
	}
	return copyOf(t).partitions, nil
}

// EndTxn commits or aborts the producer's transaction (Kafka's
// handleEndTransaction): it writes PrepareCommit or PrepareAbort, answers
// once that is committed, then has the markers written (markers.go) and
// writes CompleteCommit or CompleteAbort. A retry of an end already done answers NONE; one still
// writing markers CONCURRENT_TRANSACTIONS; the opposite end of a
// transaction already ending, or ending none, INVALID_TXN_STATE.
func (s *Shard) EndTxn(fx *coord.Effects, id string, producerID int64, producerEpoch int16, commit bool, respond func(*kerr.Error)) {
	t, err := s.current(id, producerID, producerEpoch)
	if err != nil {
		respond(err)
		return
	}
	switch t.state {
	case StateOngoing:
		s.prepare(fx, t, commit, t.producerEpoch, respond)
	case StateCompleteCommit, StateCompleteAbort:
		if (t.state == StateCompleteCommit) == commit {
			respond(nil)
			return
		}
		respond(kerr.InvalidTxnState)
	case StatePrepareCommit, StatePrepareAbort:
		if (t.state == StatePrepareCommit) == commit {
			respond(kerr.ConcurrentTransactions)
			return
		}
		respond(kerr.InvalidTxnState)
	default:
		respond(kerr.InvalidTxnState)
	}
}

// abort ends an ongoing transaction on the coordinator's own initiative
// (a timeout, or a new producer instance taking the ID over): the epoch is
// bumped first so the old producer is fenced and cannot add to it.
func (s *Shard) abort(fx *coord.Effects, t *transaction, respond func(*kerr.Error)) {
	epoch := t.producerEpoch
	if epoch < math.MaxInt16 {
		epoch++
	}
	s.prepare(fx, t, false, epoch, respond)
}

// prepare writes PrepareCommit or PrepareAbort at epoch, then, once it is
// committed, answers and starts the marker phase (markers.go). If the
// write fails the caller is told NOT_COORDINATOR and the runtime reloads
// the shard from its partition: if the record reached the local log the
// reloaded shard finds the transaction prepared and Loaded starts its
// markers, so the producer's retried EndTxn gets CONCURRENT_TRANSACTIONS
// until they are written and then NONE; otherwise it is still Ongoing and
// the retry prepares it again.
func (s *Shard) prepare(fx *coord.Effects, t *transaction, commit bool, epoch int16, respond func(*kerr.Error)) {
	next := copyOf(t)
	next.state, next.producerEpoch, next.lastUpdate = StatePrepareAbort, epoch, fx.Now
	if commit {
		next.state = StatePrepareCommit
	}
	s.write(fx, next)
	fx.Then(func(err error) {
		if err != nil {
			respond(kerr.NotCoordinator)
			return
		}
		s.timers.Cancel(timeoutKey(t.id))
		s.startMarkers(next)
		respond(nil)
	})
}

func timeoutKey(id string) string { return "timeout/" + id }

// scheduleTimeout arms the abort of t's transaction at its start plus its
// timeout (transaction.timeout.ms). Starts compare in milliseconds, the
// record's precision.
func (s *Shard) scheduleTimeout(t *transaction, now time.Time) {
	id, producerID, epoch, start := t.id, t.producerID, t.producerEpoch, t.start
	delay := max(start.Add(t.timeout).Sub(now), 0)
	s.timers.Schedule(timeoutKey(id), delay, func(fx *coord.Effects) {
		current := s.txns[id]
		if current == nil || current.state != StateOngoing || current.producerID != producerID ||
			current.producerEpoch != epoch || current.start.UnixMilli() != start.UnixMilli() {
			return
		}
		s.log.Info("aborting timed out transaction", "transactionalID", id, "producerID", producerID, "producerEpoch", epoch)
		s.abort(fx, current, func(err *kerr.Error) {
			if err != nil {
				s.log.Warn("abort of timed out transaction failed", "transactionalID", id, "err", err)
			}
		})
	})
}

// scheduleExpiry arms the periodic removal of idle transactional IDs.
func (s *Shard) scheduleExpiry() {
	if s.cfg.ExpirationCheckInterval <= 0 {
		return
	}
	s.timers.Schedule("expire", s.cfg.ExpirationCheckInterval, func(fx *coord.Effects) {
		s.expire(fx)
		s.scheduleExpiry()
	})
}

// expire writes tombstones for IDs with no transaction in progress that
// were last used longer than IDExpiration ago (Kafka's
// removeExpiredTransactionalIds).
func (s *Shard) expire(fx *coord.Effects) {
	for id, t := range s.txns {
		switch t.state {
		case StateEmpty, StateCompleteCommit, StateCompleteAbort, StateDead:
		default:
			continue
		}
		if fx.Now.Sub(t.lastUpdate) < s.cfg.IDExpiration {
			continue
		}
		s.log.Info("transactional ID expired", "transactionalID", id, "producerID", t.producerID)
		fx.Append(coord.Record{Key: encodeKey(id)})
	}
}

// Transaction is a transactional ID's state as DescribeTransactions and
// ListTransactions report it.
type Transaction struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	State           State
	TimeoutMs       int32
	// StartTimestamp is in milliseconds, -1 when no transaction is ongoing.
	StartTimestamp int64
	Partitions     map[string][]int32
}

func (t *transaction) view() Transaction {
	v := Transaction{TransactionalID: t.id, ProducerID: t.producerID, ProducerEpoch: t.producerEpoch,
		State: t.state, TimeoutMs: int32(t.timeout / time.Millisecond), StartTimestamp: -1, Partitions: copyOf(t).partitions}
	if !t.start.IsZero() {
		v.StartTimestamp = t.start.UnixMilli()
	}
	return v
}

// Describe returns a transactional ID's state; false when the ID is unknown.
func (s *Shard) Describe(id string) (Transaction, bool) {
	t := s.txns[id]
	if t == nil {
		return Transaction{}, false
	}
	return t.view(), true
}

// List returns the transactional IDs whose state is in states and whose
// producer ID is in producerIDs (an empty filter matches everything).
func (s *Shard) List(states []string, producerIDs []int64) []Transaction {
	var out []Transaction
	for _, t := range s.txns {
		if len(states) > 0 && !slices.Contains(states, t.state.String()) {
			continue
		}
		if len(producerIDs) > 0 && !slices.Contains(producerIDs, t.producerID) {
			continue
		}
		out = append(out, t.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out
}
