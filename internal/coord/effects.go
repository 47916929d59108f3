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
// records and registers completions. The runtime replays the records into
// the shard as soon as the operation returns (so the next operation of the
// same loop iteration sees them), writes the records of the whole
// iteration in one append and one commit, then runs the iteration's
// completions in order.
type Effects struct {
	// Now is the operation's time: shards never read a clock.
	Now time.Time

	records     []Record
	completions []func(err error)
}

// Append asks for a record to be written to the shard's partition. The
// runtime replays it into the shard right after the operation returns,
// before it is written: the shard's state runs ahead of its partition's
// committed records until the iteration's commit.
func (fx *Effects) Append(r Record) { fx.records = append(fx.records, r) }

// AppendTransactional is Append for a record of producerID's open
// transaction (Kafka's transactional coordinator writes, such as
// TxnOffsetCommit): it is written in a transactional batch of that
// producer, so the transaction's commit or abort marker decides it.
func (fx *Effects) AppendTransactional(producerID int64, producerEpoch int16, r Record) {
	r.Transactional, r.ProducerID, r.ProducerEpoch = true, producerID, producerEpoch
	fx.records = append(fx.records, r)
}

// Then registers fn to run once the records of this operation's whole
// loop iteration are committed (fsynced and on every in-sync replica), or
// at the end of the iteration if it wrote none. A non-nil err means the
// iteration's append or commit failed; the runtime has then already
// stopped the shard's loop (the shard is unloaded, failed, or reloaded
// from its partition), so fn must only answer with an error: state it
// changes belongs to a shard that is being discarded, and timers it
// schedules never fire. Whatever the failed write left in the partition's
// log is replayed by the next load.
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
