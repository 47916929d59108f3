// Package quorum runs the replicated metadata log on github.com/hashicorp/raft
// and publishes the metadata image replayed from it.
//
// KRaft's role in Kafka: every broker keeps a metadata.Image built from the
// same log, and the Raft leader is the active controller. A single node runs
// a one-voter quorum through exactly the same code as a cluster: its Raft
// bootstraps a configuration with itself as the only voter, elects itself
// (in tens of milliseconds, see Config.HeartbeatTimeout), and commits an
// entry once it is durable in its own log. Adding peers later is a matter of
// Config.Voters and a TCP Config.Transport, not a different code path.
//
// # Data flow
//
//	controller --Propose(records)--> raft.Apply --> WAL append + fsync
//	    --> commit --> fsm.Apply: DecodeBatch, Image.Apply, store the image,
//	        OnChange(prev, next) --> Propose returns
//
// One Propose is one Raft log entry holding one metadata batch (format in
// package metadata), applied atomically.
//
// # On disk (Config.Dir, on Config.FS)
//
// Every byte goes through the vfs seam (Config.FS: the OS in production, a
// MemFS whose power tests cut), like the partition logs:
//
//	wal/<base>-<id>.wal  github.com/hashicorp/raft-wal segment files (walFS):
//	                     Raft's log entries, each batch checksummed and
//	                     fsynced before Raft counts it; a new segment's
//	                     name is made durable by its first fsync.
//	wal/wal-state        the WAL's segment list and Raft's stable state
//	                     (term, vote) in one checksummed file, replaced
//	                     atomically on every change (metaStore, format
//	                     there). A data directory from before kept this in
//	                     raft-wal's BoltDB store wal/wal-meta.db: the first
//	                     start migrates it and renames it wal-meta.db.migrated.
//	snapshots/           the two newest snapshots, each
//	                     <term>-<index>-<ms>/state.bin (one metadata batch
//	                     holding Image.SnapshotRecords) with meta.json
//	                     (CRC-64 of state.bin), hashicorp/raft's
//	                     FileSnapshotStore layout, written under a .tmp
//	                     name and renamed once fsynced (snapshotStore).
//
// Restart restores the newest snapshot, then replays the log entries after it.
// Because a snapshot is the records that rebuild the image and replay is the
// same Image.Apply, the restored image equals the one full replay builds.
//
// # Threading contract
//
// Node's methods are safe for concurrent use. hashicorp/raft applies committed
// entries on one goroutine in commit order; that goroutine stores the image
// (an atomic pointer, read lock-free by Image) and calls Config.OnChange.
// Propose may start one short-lived goroutine to honour its context; Close
// waits for it. The goroutines hashicorp/raft starts are stopped by Close.
package quorum
