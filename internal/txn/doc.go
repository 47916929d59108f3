// Package txn owns producer identity: the broker-side producer-ID manager
// idempotent producers get their IDs from (InitProducerId without a
// transactional ID), and the transaction coordinator (Kafka's
// TransactionCoordinator and TransactionStateManager).
//
// # Transaction coordinator
//
// Shard is a coord shard for one partition of `__transaction_state`; the
// partition coordinating a transactional ID is coord.PartitionFor(id, n).
// Each transactional ID's state is one compacted record, Kafka's schema:
//
//	key   TransactionLogKey v0:   version int16 (0) | transactional ID (int16 length + bytes)
//	value TransactionLogValue v0: version int16 (0) | producer ID int64 | producer epoch int16 |
//	                              timeout ms int32 | state int8 |
//	                              topics array (int32 count; topic string, partitions []int32) |
//	                              last update ms int64 | start ms int64 (-1: none)
//
// A nil value (tombstone) removes an expired ID. The states and their moves:
//
//	Empty ──AddPartitions──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
//	                           │  ▲                PrepareAbort  ──markers──▶ CompleteAbort
//	     timeout, or a new ────┘  └─AddPartitions── Empty, Complete*
//	     InitProducerId: epoch+1, PrepareAbort
//
// InitProducerId bumps the epoch (a new producer ID once the epoch is
// exhausted) so older instances are fenced. EndTxn answers once Prepare* is
// committed; the shard then hands the markers, one per partition in the
// transaction, to a MarkerSender (the server's, after Kafka's
// TransactionMarkerChannelManager) and goes on serving its other IDs. The
// sender writes them off the loop (locally, or as WriteTxnMarkers to the
// partitions' leaders) and reports back with an operation
// (Shard.MarkersWritten); the shard retries the markers that failed with a
// retriable error after MarkerRetryBackoff, stops on a fenced epoch, and
// records Complete* once all are written. Meanwhile the producer's
// InitProducerId, AddPartitionsToTxn and a retried EndTxn get
// CONCURRENT_TRANSACTIONS. Loaded resumes Prepare* transactions by sending
// their markers again and re-arms the timeouts of Ongoing ones. A write
// whose append or commit fails is never retried by the shard: the coord
// runtime discards the shard and reloads it from its partition, whose log
// (read to its end) says where each transaction is: one whose Prepare*
// reached the log but failed to commit resumes its markers from Loaded like
// any prepared transaction.
//
// # Producer IDs
//
// IDs come in blocks of 1000 committed through the metadata log
// (controller.AllocateProducerIDs, metadata.ProducerIDsRecord) before any ID
// of the block is used, so an ID is never handed out twice: not across
// restarts, not across brokers. A broker that restarts abandons the rest of
// its block, as Kafka's does; 2^63 IDs leave room for that.
//
// # Who may import it
//
// internal/api and internal/server. It imports internal/coord (the shard
// runtime) and kmsg (the record schema); the block source (BlockAllocator),
// the marker sender (MarkerSender) and the local marker writer
// (MarkerWriter) are interfaces the server wires to the controller, its
// marker sender and the local partitions.
//
// # Threading contract
//
// A ProducerIDManager is safe for concurrent use. One caller at a time
// fetches a new block (holding the manager's lock across the metadata
// commit); the others wait for it or for their context to end. A Shard is
// owned by its coord loop goroutine, like every coord shard: its operations,
// timers and marker results run there one at a time; marker writes do not.
package txn
