// Package coord is the shared runtime of Sluice's log-backed coordinators
// (the group coordinator now, the transaction coordinator later), after
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
// Threading: each loaded shard is owned by one goroutine (its loop), which
// runs operations one at a time from a bounded queue; shard state needs no
// locks. Timers (session timeouts, rebalance deadlines, retention) enqueue
// operations onto the same loop. Runtime's own map of loops is guarded by
// its mutex. Load replays the partition on the loop goroutine; operations
// submitted meanwhile are refused with ErrLoading
// (COORDINATOR_LOAD_IN_PROGRESS), and a partition not loaded here is
// ErrNotCoordinator (NOT_COORDINATOR).
package coord
