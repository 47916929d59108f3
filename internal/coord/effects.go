package coord

import "time"

// Record is one key/value record of a coordinator's internal topic; a nil
// Value is a tombstone (the key's state is deleted once compacted).
//
// A transactional record (Transactional set) belongs to the open
// transaction of ProducerID: it is written in a transactional batch of that
// producer, and counts only once the commit marker the transaction
// coordinator later writes to the partition is replayed (MarkerReplayer).
type Record struct {
	Key   []byte
	Value []byte

	Transactional bool
	ProducerID    int64
	ProducerEpoch int16
}

// Op is an operation run on a shard's loop.
type Op[S any] func(shard S, fx *Effects)

// Timers lets a shard schedule work on its own loop. Keys name timers so a
// later Schedule replaces an earlier one (a member's session deadline
// moves with every heartbeat).
type Timers interface {
	// Schedule runs op on the shard's loop after delay, replacing any
	// pending timer with the same key.
	Schedule(key string, delay time.Duration, op func(fx *Effects))
	// Cancel drops the pending timer with this key, if any.
	Cancel(key string)
}

// Effects collects what one operation wants done. The shard appends
// records and registers completions; the runtime makes the records durable,
// replays them, then runs the completions in order.
type Effects struct {
	// Now is the operation's time: shards never read a clock.
	Now time.Time

	records     []Record
	completions []func(err error)
}

// Append asks for a record to be written to the shard's partition and
// replayed into the shard once durable.
func (fx *Effects) Append(r Record) { fx.records = append(fx.records, r) }

// AppendTransactional is Append for a record of producerID's open
// transaction (Kafka's transactional coordinator writes, such as
// TxnOffsetCommit): it is written in a transactional batch of that
// producer, so the transaction's commit or abort marker decides it.
func (fx *Effects) AppendTransactional(producerID int64, producerEpoch int16, r Record) {
	r.Transactional, r.ProducerID, r.ProducerEpoch = true, producerID, producerEpoch
	fx.records = append(fx.records, r)
}

// Then registers fn to run after this operation's records are durable and
// replayed (at once if there are none); err is non-nil when they could not
// be written, and fn must then answer with an error instead.
func (fx *Effects) Then(fn func(err error)) { fx.completions = append(fx.completions, fn) }

// Records lists the records appended so far (for tests of shards).
func (fx *Effects) Records() []Record { return fx.records }

// Complete runs the registered completions with err, as the runtime does
// after writing the records; tests of shards use it to play the runtime.
func (fx *Effects) Complete(err error) {
	completions := fx.completions
	fx.completions = nil
	for _, fn := range completions {
		fn(err)
	}
}
