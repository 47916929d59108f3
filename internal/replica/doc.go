// Package replica owns the partitions this broker hosts and their roles.
// A Partition wraps one storage.Log with what Kafka keeps beside it: the
// leader epoch, the high watermark and the fetchers waiting for data.
//
// The high watermark is the offset below which a record is committed and
// may be read by consumers. On a single node with the default durability it
// is the log's flushed offset: a consumer never sees a record that a power
// cut could still take back. With write caching (flush.messages > 1 or
// flush.ms > 0) it follows the log end offset, as in Kafka. Replication will
// make it the minimum log end offset across the ISR, capped the same way.
//
// The last stable offset is the high watermark capped at the first offset
// of the earliest open transaction (storage tracks those); read_committed
// consumers read below it. The transaction coordinator ends transactions
// with AppendTxnMarker, which wakes waiters since the last stable offset
// can move before the high watermark does.
//
// Threading: a Partition is safe for concurrent use. Appends are serialised
// by the storage log; the high watermark is an atomic; a long-polling fetch
// registers one buffered channel with each partition it waits on and gets a
// non-blocking send when a high watermark or last stable offset moves: no
// goroutine per waiter.
// Manager guards its partition map with a RWMutex and never holds it during
// disk I/O other than opening or deleting a log.
package replica
