// Package replica owns the partitions this broker hosts and their roles.
// A Partition wraps one storage.Log with what Kafka keeps beside it: the
// role (leader, follower or none), the leader epoch, the high watermark,
// the waiters, and while it leads a LeaderState that tracks its followers
// and the ISR (Kafka's Partition and Replica). The replica fetchers
// (fetcher.go) replicate the partitions this broker follows.
//
// Roles. On a single node a partition opened by Manager.Ensure leads
// itself: replicas [NodeID], ISR [NodeID], so its high watermark is its
// own durable offset, exactly as before replication. In cluster mode the
// manager is built with AwaitRole and the broker calls MakeLeader or
// MakeFollower right after Ensure with the state the metadata log names
// (LeaderAndISR); until then the partition serves nothing. A leader
// accepts appends stamped with its leader epoch (storage fences older
// ones), serves consumers up to the high watermark or last stable offset
// and followers up to the log end, and records each follower fetch
// (FollowerFetched). A follower refuses clients and is written only by
// its fetcher (AppendAsFollower, TruncateTo, TruncateFullyAndStartAt).
//
// The high watermark is the offset below which a record is committed and
// may be read by consumers: the smallest durable log end across the
// maximal ISR (see LeaderState), never moving back. A Sluice follower
// reports two offsets in each fetch, its log end (the fetch offset) and
// the part of it that is fsynced (DurableEndTag; it fsyncs what it fetched
// while its next fetch is on the wire), the high watermark counting only
// the second, and the leader counts its own fsynced offset, not its log
// end: with the
// default durability a record below the high watermark survives a power
// cut of every broker. With write caching (flush.messages > 1 or flush.ms
// > 0) log ends count as they are, as in Kafka. A follower takes the
// leader's high watermark capped at what it has durably. The Manager
// checkpoints every partition's high watermark in the log directory
// (replication-offset-checkpoint, hw_checkpoint.go) from one goroutine, and
// a partition opened at start-up starts from its checkpointed value,
// capped at its log end, instead of its log start.
//
// The last stable offset is the high watermark capped at the first offset
// of the earliest open transaction (storage tracks those); read_committed
// consumers read below it. The transaction coordinator ends transactions
// with AppendTxnMarker, which wakes waiters since the last stable offset
// can move before the high watermark does.
//
// Commit waits for what a produce's acks ask: the leader's fsync (group
// committed) for acks=0 and 1, and for acks=all also the high watermark,
// ending early on demotion (ErrNotLeader) or when the ISR falls below
// min.insync.replicas (ErrNotEnoughReplicasAfterAppend).
//
// ISR changes are decided by the LeaderState's rules (a caught-up
// follower joins, one that lags replica.lag.time.max.ms leaves) and sent
// through the manager's ISRProposer (AlterPartition); the committed state
// comes back through MakeLeader. One proposal is pending at a time.
//
// Threading: a Partition is safe for concurrent use. Lock order:
// Manager.mu → Partition.roleMu → Partition.mu → storage.Log's locks.
// roleMu is held shared by every log write (appends, replicated appends,
// truncations) and exclusively by role changes, so a role change waits
// for writes in flight and no write starts under a stale role; mu guards
// the role, the LeaderState and the waiters and is never held across an
// fsync. The high watermark is also kept in an atomic for lock-free reads.
// A long-polling fetch registers one buffered channel with each partition
// it waits on (Watch, or WatchLogEnd for followers, which also wakes on
// log end moves) and gets a non-blocking send: no goroutine per waiter.
// Commit waiters wait on a channel that is closed when the high
// watermark, the ISR or the role changes. The ISRProposer is called
// outside every partition lock. Manager guards its partition map with a
// RWMutex and never holds it during disk I/O other than opening or
// deleting a log.
package replica
