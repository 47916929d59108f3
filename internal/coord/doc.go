// Package coord is the shared runtime of Sluice's log-backed coordinators
// (the group and transaction coordinators), after
// Kafka's CoordinatorRuntime.
//
// A coordinator's state is split into shards, one per partition of its
// internal topic (`__consumer_offsets` for groups). A shard is a
// deterministic state machine: an operation reads its state, mutates what
// lives only in memory, and describes durable changes as records in
// Effects. The runtime appends those records to the shard's partition,
// waits until they are durable (the partition's group-committed fsync),
// replays them into the shard (the same Replay that rebuilds the shard
// when the partition is loaded after a restart or a leader change), and
// only then delivers the operation's responses. So a client is never told
// of a change that a crash could take back.
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
// and waits for one commit (the fsync, and the ISR with replication), and
// only then runs the completions, in order. So a completion still never
// announces a change a crash could take back; but an operation that
// answers inside its body instead of in Effects.Then (a read) may see the
// records of operations before it in the same iteration before they are
// committed (Kafka's reads see only committed state). A failed commit
// completes the iteration with the error; the records stay in the local
// log and in the shard. A failed append leaves the shard ahead of its log:
// a partition no longer led here fails the shard, anything else reloads it
// after Config.ReloadBackoff.
//
// Failure: a shard whose load fails (a record it cannot replay, a read
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
