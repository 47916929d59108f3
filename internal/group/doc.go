// Package group is Sluice's consumer-group coordinator core: the state of
// every group whose coordinator partition (of `__consumer_offsets`) this
// broker leads, as deterministic state machines driven by internal/coord.
//
// A Shard holds the groups and committed offsets of one partition of
// `__consumer_offsets`. Operations (JoinGroup, OffsetCommit, a session
// timeout firing, ...) run one at a time on the shard's loop, take time from
// coord.Effects.Now, schedule timers through coord.Timers, and describe
// durable changes as records with Apache Kafka's key and value schemas
// (OffsetCommitKey/Value, GroupMetadataKey/Value from kmsg, the
// ConsumerGroup* records encoded here), so tools that
// read `__consumer_offsets` (Burrow) work unchanged. Replay applies those
// records; the same Replay rebuilds the shard when the partition is loaded.
// No goroutines, clocks or I/O live here.
//
// Record keys, as in Kafka (the first int16 of the key is its version):
//
//	version 0, 1   OffsetCommitKey{group, topic, partition} → OffsetCommitValue
//	version 2      GroupMetadataKey{group} → GroupMetadataValue (classic groups)
//	version 3-8    consumer groups (KIP-848): group epoch, partition metadata
//	               (read only), member subscription, target assignment epoch
//	               and per member, current member assignment; the layouts
//	               are in consumer_records.go
//	version 9+     later record types: skipped
//
// A nil value is a tombstone: the offset or group is deleted.
//
// Offset commit records in a transactional batch (TxnOffsetCommit) are
// pending for their producer until the transaction's marker on the
// partition is replayed: a commit makes them committed offsets, an abort
// drops them (offsets_txn.go).
package group
