// Package storage is one partition's durable, segmented log: append, read,
// group-committed fsync, crash recovery, indexes, retention, DeleteRecords
// and truncation. It knows nothing of the network, replication or Raft; it
// sees bytes, offsets and a vfs.FS. It imports internal/record (batch
// headers, CRCs, the record iterator) and internal/vfs.
//
// # Files in a partition directory
//
//	<topic>-<partition>/
//	  00000000000000000000.log        record batches, byte for byte as stored
//	  00000000000000000000.index      sparse offset index of that segment
//	  00000000000000000000.timeindex  sparse time index of that segment
//	  00000000000000004096.log        next segment: name = its base offset
//	  ...
//	  log-offsets.checkpoint          log start offset and recovery point
//
// A segment's base offset is at most the first offset it holds and above
// every offset in earlier segments. The last segment is the active one;
// only it is appended to.
//
// # .log
//
// Magic v2 record batches back to back (see internal/record), each with its
// broker-assigned base offset and partition leader epoch (both outside the
// CRC). Nothing else: the file is a valid Kafka segment.
//
// # .index (8-byte entries, Kafka's OffsetIndex layout)
//
//	0                   4                   8
//	+-------------------+-------------------+
//	| relative offset   | position          |   uint32 big endian each
//	+-------------------+-------------------+
//
// relative offset = a batch's base offset - segment base offset; position =
// byte position of that batch in the .log. One entry is written for the
// first batch appended after more than index.interval.bytes have gone in
// since the previous entry, so entries strictly increase in both fields.
// A lookup takes the last entry at or below the wanted offset and scans
// batch headers forward from its position (position 0 if none).
//
// # .timeindex (12-byte entries, Kafka's TimeIndex layout)
//
//	0                                       8                   12
//	+---------------------------------------+-------------------+
//	| max timestamp so far (int64)          | relative offset   |
//	+---------------------------------------+-------------------+
//
// Written next to an offset-index entry when the segment's max timestamp has
// grown since the last entry, and once more when the segment is sealed
// (rolled or closed), so the last entry holds the segment's max timestamp.
// relative offset is the base offset of the first batch that reached that
// timestamp: every record before it is older. Timestamps strictly increase.
//
// Index files carry no version of their own: they are derived data. Any
// index that fails validation (size not a multiple of the entry, entries
// not increasing, positions past the log) is rebuilt from the .log, and a
// future format change bumps the checkpoint version and rebuilds them.
//
// # log-offsets.checkpoint (24 bytes)
//
//	0       2       4                       12                      20      24
//	+-------+-------+-----------------------+-----------------------+-------+
//	|version| flags | log start offset      | recovery point        | crc   |
//	| =1    | =0    | int64                 | int64                 | u32   |
//	+-------+-------+-----------------------+-----------------------+-------+
//
// Big endian; crc is CRC-32C of bytes 0..20. Replaced atomically (write a
// .tmp, fsync, rename, fsync the directory). The log start offset is the
// first offset readers may see (DeleteRecords, retention). The recovery
// point is an offset below which every byte was fsynced when the file was
// written; it only lags the truth, never leads it. It is written when a
// segment rolls, on Close, on Checkpoint (for the caller's periodic
// checkpoint), after recovery, and whenever the log start offset moves
// (DeleteRecordsBefore, retention) or a truncation lowers the recovery point.
//
// # Durability
//
// Append writes without fsync. Sync(upto) fsyncs the active segment,
// group-committing concurrent callers. Rolling a segment fsyncs it (log and
// indexes) before the next one is created, and the directory is fsynced
// after a create, so only the active segment can hold unsynced bytes.
// Sluice acknowledges a produce after Sync (flush.messages=1); with
// flush.messages > 1 or flush.ms > 0 the caller switches to Kafka-style
// write caching and calls MaybeFlush instead.
//
// # Recovery
//
// Open without CleanShutdown scans, batch by batch with CRC checks, every
// segment from the one holding the recovery point to the end:
//
//   - a short batch, or a bad batch followed only by zeros or by bytes that
//     hold no valid batch, in the last segment and at or past the recovery
//     point, is a torn write: the tail is cut (slog.Warn with file and
//     position) and the cut is fsynced;
//   - a bad batch with a valid batch after it, a bad batch below the
//     recovery point, a bad batch in a sealed segment, or a log that ends
//     below the recovery point is corruption: Open returns an error
//     wrapping ErrCorruption that names file and position, and changes
//     nothing.
//
// Sealed segments wholly below the recovery point are trusted without a
// scan, as in Kafka (a scan would read the whole log at every start); their
// indexes are validated when first used and rebuilt in memory if bad.
// Indexes of scanned segments are rebuilt; then the log is fsynced and the
// checkpoint records recovery point = log end offset. Lengths read from disk
// are checked against the file size before anything is allocated.
//
// # Threading
//
// A Log is safe for concurrent use. Three locks, always taken in this order:
//
//	appendMu  serialises writers (Append, roll, Truncate, retention,
//	          DeleteRecordsBefore, Checkpoint, Close); held across file writes.
//	syncMu    serialises fsyncs of the active segment: the group-commit leader
//	          holds it while it fsyncs; never held with appendMu by Sync.
//	mu        (RWMutex) guards the published view readers use: the segment
//	          list, offsets, sizes and index entries. Held only to copy or
//	          publish a few fields, never across file I/O.
//
// Readers take a reference on a segment under mu and read its file without
// any lock; a segment removed by retention closes its files when its last
// reader lets go. A reader that raced with a truncation of its segment
// notices (a per-segment truncation counter) and reads again.
package storage
