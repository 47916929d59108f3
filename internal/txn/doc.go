// Package txn owns producer identity: today the broker-side producer-ID
// manager idempotent producers get their IDs from (InitProducerId without a
// transactional ID); the transaction coordinator (__transaction_state,
// transactional IDs, epochs, markers) will live here too.
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
// internal/api and internal/server. It imports the standard library only;
// the block source is an interface (BlockAllocator) that the server wires to
// the controller.
//
// # Threading contract
//
// A ProducerIDManager is safe for concurrent use. One caller at a time
// fetches a new block (holding the manager's lock across the metadata
// commit); the others wait for it or for their context to end.
package txn
