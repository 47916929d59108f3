// Package coord is the shared runtime of Sluice's log-backed coordinators
// (the group and transaction coordinators), after
// Kafka's CoordinatorRuntime.
//
// A coordinator's state is split into shards, one per partition of its
// internal topic (`__consumer_offsets` for groups, `__transaction_state`
// for transactions). A shard is a deterministic state machine: an
// operation reads its state, mutates what lives only in memory, and
// describes durable changes as records in Effects. The runtime replays
// those records into the shard as soon as the operation returns (the same
// Replay that rebuilds the shard when the partition is loaded after a
// restart or a leader change), appends them to the shard's partition, waits
// until they are committed (the partition's group-committed fsync and, with
// replication, every in-sync replica: acks=all), and only then runs the
// operation's completions (Effects.Then), which deliver its responses. So
// a completion never announces a change a crash or a leader change could
// take back.
//
// Transactional records (Effects.AppendTransactional, for TxnOffsetCommit)
// are written as a transactional batch of their producer, one batch per
// run of records of the same producer, through replica.Partition.Append
// (no client sequence checks, as Kafka's coordinator appends). Whether
// they count is decided by the commit or abort marker the transaction
// coordinator later writes to the partition: shards implementing
// MarkerReplayer are told of markers read back at load, and of markers
// written since through Runtime.DeliverMarker, which the marker writer
// calls after the append.
//
// Batching: each iteration of a shard's loop runs the operations queued
// at that moment (up to Config.MaxBatchOps, Config.MaxBatchBytes of
// records) one after the other, replaying each one's records into the
// shard as soon as it has run, so the next sees them (Kafka's write
// operations also see uncommitted state). It then appends all their
// records in one call (one batch per run of records of the same producer)
// and waits for one commit, and only then runs the completions, in order.
// An operation that answers inside its body instead of in Effects.Then (a
// read) may see the records of operations before it in the same iteration
// before they are committed (Kafka's reads see only committed state).
//
// A failed write: whether the append or the commit failed, the shard holds
// records its partition does not have or has not committed, so the loop
// stops before the completions run (they get an error wrapping
// ErrNotCoordinator, and nothing they schedule fires). A partition no
// longer led here fails the shard; any other failure (a storage error,
// NOT_ENOUGH_REPLICAS_AFTER_APPEND) reloads it from its partition after
// Config.ReloadBackoff. The reload replays to the log end, so the records
// of a failed commit, still in the local log, are in the reloaded shard
// and its Loaded resumes what they started (a prepared transaction's
// markers): the shard is again exactly what its log says.
//
// Failed shards: a shard whose load fails (a record it cannot replay, a read
// error), or that cannot replay a record it wrote, is FAILED, as in
// Kafka's CoordinatorRuntime: the error is logged once with the partition,
// operations get ErrNotCoordinator (NOT_COORDINATOR), and only a Load under
// a newer leader epoch tries again.
//
// Time: the runtime reads Config.Clock (SystemClock by default; tests use
// a ManualClock and Advance it) for Effects.Now, record timestamps and
// timers; shard code never reads a clock.
//
// Threading: each loaded shard is owned by one goroutine (its loop), which
// runs operations from a bounded queue; shard state needs no locks.
// Timers (session timeouts, rebalance deadlines, retention) enqueue
// operations onto the same loop; Timers is safe from any goroutine. Work
// that must not hold the loop (the transaction coordinator's markers) is
// done by a driver that reports back with Runtime.Do. A loop's state and
// timers are guarded by its mutex; Runtime's map of loops by the
// runtime's. Load replays the partition on the loop goroutine; operations
// submitted meanwhile are refused with ErrLoading
// (COORDINATOR_LOAD_IN_PROGRESS), and a partition not loaded here is
// ErrNotCoordinator (NOT_COORDINATOR). Unload and Close return only once
// the loops they stop have exited.
package coord
