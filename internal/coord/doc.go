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
// Threading: each loaded shard is owned by one goroutine (its loop), which
// runs operations one at a time from a bounded queue; shard state needs no
// locks. Timers (session timeouts, rebalance deadlines, retention) enqueue
// operations onto the same loop. Runtime's own map of loops is guarded by
// its mutex. Load replays the partition on the loop goroutine; operations
// submitted meanwhile are refused with ErrLoading
// (COORDINATOR_LOAD_IN_PROGRESS), and a partition not loaded here is
// ErrNotCoordinator (NOT_COORDINATOR).
package coord
