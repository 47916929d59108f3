// Package storage is one partition's durable, segmented log: append, read,
// group-committed fsync, crash recovery, indexes, retention, compaction,
// DeleteRecords, truncation, and the follower side of replication
// (AppendReplicated, the leader-epoch cache). It knows nothing of the
// network, of who leads or of Raft; it sees bytes, offsets, leader epochs
// and a vfs.FS. It imports internal/record (batch
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
//	  log-offsets.checkpoint          log start offset, recovery point, cleaner checkpoint
//	  00000000000000004096.snapshot   producer states as of offset 4096 (see Producer state)
//	  00000000000000000000.txnindex   aborted transactions whose markers are in that segment (see Transactions)
//	  leader-epoch-checkpoint         first offset of each leader epoch (see Leader epochs)
//	  00000000000000000000.log.cleaned  (compaction only, transient: see Compaction)
//	  00000000000000000000.log.swap
//
// A segment's base offset is at most the first offset it holds and above
// every offset in earlier segments. The last segment is the active one;
// only it is appended to. A sealed segment ends exactly where the next one
// begins: its last batch's last offset is the next base offset minus one
// (compaction keeps that batch). Inside a compacted segment offsets may
// skip, where compaction removed records.
//
// # Files in the log directory
//
// Beside the partition directories, the log directory holds the
// clean-shutdown marker (WriteCleanShutdown) and replication-offset-checkpoint
// (WriteHighWatermarkCheckpoint), the high watermark of every partition
// the broker hosts, in Kafka's OffsetCheckpointFile text, byte for byte:
//
//	0                  version
//	2                  number of entries
//	orders 0 1540      topic, partition, high watermark
//	orders 1 7
//
// Sluice sorts the lines (Kafka writes them in hash order). It is read as
// Kafka reads it (an empty file is no entries; fields split on runs of
// whitespace; the count must match), and also refused when it holds a
// negative number, a partition twice or an impossible topic name. It is
// replaced like the other checkpoints (a .tmp file, fsynced, renamed,
// directory fsynced); internal/replica decides when.
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
// # log-offsets.checkpoint (32 bytes)
//
//	0       2       4               12              20               28      32
//	+-------+-------+---------------+---------------+----------------+-------+
//	|version| flags | log start     | recovery      | first dirty    | crc   |
//	| =2    | =0    | offset int64  | point int64   | offset int64   | u32   |
//	+-------+-------+---------------+---------------+----------------+-------+
//
// Big endian; crc is CRC-32C of the bytes before it. Version 1 (24 bytes,
// no first dirty offset) is still read. Replaced atomically (write a .tmp,
// fsync, rename, fsync the directory). The log start offset is the first
// offset readers may see (DeleteRecords, retention). The recovery point is
// an offset below which every byte was fsynced when the file was written;
// it only lags the truth, never leads it. The first dirty offset is the
// cleaner checkpoint: every record below it has been compacted (-1 before
// the first pass; Kafka keeps it in cleaner-offset-checkpoint). The file is
// written when a segment rolls, on Close, on Checkpoint (for the caller's
// periodic checkpoint), after recovery, after a compaction pass, and
// whenever the log start offset moves (DeleteRecordsBefore, retention) or
// a truncation lowers the recovery point.
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
// Open with CleanShutdown scans nothing: sealed segments are trusted as
// above, and the active segment's end is found from its indexes and the
// batch headers after the last index entry. The clean-shutdown marker
// (version 2) also records each log as Close left it (ShutdownState: the
// active segment's size, next offset, timestamps, and its indexes
// themselves when they hold at most one entry each; the contents of the
// checkpoint and leader-epoch files); Open given that state
// (Options.ShutdownState) checks it against the last segment's base and
// size and then loads the log without opening those files, and falls
// back to reading them on any mismatch. The files a load reads are the
// ones the directory listing names: a log without a checkpoint,
// leader-epoch or .txnindex file is not asked for one. A clean restart of
// 100,000 idle partitions so costs a listing, a stat and at most a
// producer snapshot read per partition.
//
// # Compaction
//
// For cleanup.policy=compact (Config.Compact), Compact runs Kafka's log
// cleaner: a pass is due when the dirty bytes (sealed segments from the
// first dirty offset on) exceed min.cleanable.dirty.ratio of the log, or a
// dirty segment's first batch is older than max.compaction.lag.ms. It never
// touches the active segment, segments whose newest record is younger than
// min.compaction.lag.ms, or (CompactBelow) segments reaching the high
// watermark. A pass:
//
//  1. maps every key of the dirty records to its latest offset, in offset
//     order, until the uncleanable offset or until the map is full;
//  2. copies each run of sealed segments up to the mapped end (a run is at
//     most segment.bytes of input) into one .cleaned segment, keeping a
//     record unless a later record of its key is mapped, it has no key, or
//     it is a tombstone past its delete horizon;
//  3. swaps the copies in (below) and sets the cleaner checkpoint to the
//     mapped end.
//
// Kept records keep their offsets and timestamps: a batch with records
// removed is re-encoded with its codec under its original header (base
// offset, last offset delta, base sequence, producer ID and epoch, leader
// epoch), only the record count, max timestamp, length and CRC changing. A
// batch left with no records is dropped, except the last batch of a run,
// which stays as an empty batch (Kafka's) so the run still ends where it
// did. As in Kafka, the latest batch of every producer the log remembers
// is kept too (empty if need be), so that a producer state rebuilt from the
// log after compaction still knows the producer's epoch and last sequence.
// A pass never cleans at or past the first offset of an open
// transaction. As in Kafka, an aborted transaction's batches (known from
// the aborted-transaction index) are left out of the key map, so an
// aborted value never supersedes a committed one, and dropped (kept empty
// when it is its producer's latest batch). Control batches (transaction
// markers) are kept as they are: Kafka's removal of markers after
// delete.retention.ms is not done yet.
// A compaction that merges segments first writes the run's aborted
// transactions into the .txnindex of its first segment (durably), then
// the swap deletes the others' with their segments.
//
// Tombstones follow KIP-534: the first pass that keeps a tombstone sets its
// batch's delete-horizon attribute (0x40) and puts now + delete.retention.ms
// in the base timestamp, rebasing the records' timestamp deltas; a pass at
// or after the horizon drops the tombstones. (Kafka's older rule measured
// delete.retention.ms back from the cleaned point's segment times, which
// never lets tombstones go in a log small enough to be one cleaned
// segment.)
//
// The key map is an open-addressing table of MD5(key) → offset, 24 bytes a
// slot, sized to the dirty offsets and capped by Options.CleanerBufferBytes
// (log.cleaner.dedupe.buffer.size, 128 MiB: 5.6 million keys at the 0.9
// load factor). A pass whose map fills cleans up to the last mapped record;
// the next pass starts there, so any number of keys is cleaned in several
// passes.
//
// # Compaction swap (crash safety)
//
// The copy runs without the append lock, with references on the segments
// it reads; then, holding appendMu:
//
//  1. if the log was truncated since the pass began, the pass is dropped
//     (runs whose segments retention removed are skipped);
//  2. <base>.index.cleaned and .timeindex.cleaned are renamed to .swap, the
//     directory fsynced; then every <base>.log.cleaned to .log.swap, the
//     directory fsynced: a durable .log.swap commits its run;
//  3. the replaced segments' files are deleted, the directory fsynced;
//  4. the .swap indexes, then (after a directory fsync) the .swap logs are
//     renamed to their final names (replacing the segment at <base>), the
//     directory fsynced;
//  5. the new segments are published; readers holding a replaced segment
//     finish on its descriptor, which the swap opened (if the file cache
//     had closed it) and kept before the first rename (see File handles).
//
// Open first completes every run whose <base>.log.swap exists: it scans it
// (all batches must check), deletes the segments whose base offsets fall
// inside it, writes fresh indexes and renames it into place. Every other
// .cleaned or .swap file is deleted. A crash therefore leaves each run
// either as it was or cleaned, never both or neither. An I/O error after
// the commit fails the log (ErrLogFailed); reopening completes the swap.
//
// # Producer state (idempotence)
//
// For each producer ID seen in the log the Log keeps Kafka's
// ProducerStateEntry: the epoch, the latest five batches of that epoch
// (first and last sequence, last offset, offset delta, max timestamp), the
// max timestamp of the latest batch, and two fields for transactions (the
// coordinator epoch of the last marker and the first offset of an open
// transaction, -1 when none). AppendProduced checks a
// client's batch against it under the append lock, before offsets are
// assigned:
//
//   - same epoch and the exact sequence range of a retained batch: a retry;
//     nothing is appended and the original offsets are returned;
//   - epoch below the producer's: ErrInvalidProducerEpoch;
//   - new epoch not starting at sequence 0, or a sequence that does not
//     continue the last one (wrapping from 2^31-1 to 0):
//     ErrOutOfOrderSequence;
//   - a producer the log does not know (never seen, expired, or deleted
//     with its batches) is accepted at any sequence, as Kafka 2.5+ does.
//
// The states change only after the batch is written, are rebuilt from the
// log by the same code (unchecked, as Kafka replays), and are dropped for
// producers idle longer than producer.id.expiration.ms (ExpireProducers).
//
// A snapshot file <offset>.snapshot holds the states of every producer as
// of offset (its batches below offset), big endian:
//
//	0         2                6               10
//	+---------+----------------+---------------+----------------------+
//	| version | crc u32        | producer      | producer entries ... |
//	| u16 = 1 | CRC-32C of 6.. | count u32     |                      |
//	+---------+----------------+---------------+----------------------+
//
//	producer entry (31 bytes + 28 per batch):
//	+-------------+-------+-------------+-------------+-----------+-------+
//	| producer ID | epoch | coordinator | current txn | last      | batch |
//	| int64       | int16 | epoch int32 | first       | timestamp | count |
//	|             |       |             | offset int64| int64     | u8 ≤5 |
//	+-------------+-------+-------------+-------------+-----------+-------+
//	then per batch, oldest first:
//	+-----------+-----------+-------------+--------------+---------------+
//	| first seq | last seq  | last offset | offset delta | max timestamp |
//	| int32     | int32     | int64       | int32        | int64         |
//	+-----------+-----------+-------------+--------------+---------------+
//
// Producers are sorted by ID. Unlike Kafka's snapshot, which keeps only a
// producer's latest batch, every retained batch is kept, so a retry of any
// of the five in-flight batches is still recognised after a restart.
//
// A snapshot is written (through a .tmp file, fsynced and renamed) only at
// an offset below which every byte is fsynced: when a segment rolls (at the
// new segment's base), on Close (at the log end), and after a recovery that
// had to replay batches. Snapshots at segment bases are kept, and the
// newest one; a snapshot below the first segment goes with it. Open loads
// the newest snapshot between the first segment and the log end (a corrupt
// one is deleted and the next older tried), then replays the batch headers
// after it; without one it replays the whole log. Truncate durably deletes
// the snapshots past the cut and rebuilds the same way, so a state never
// remembers a batch that is gone.
//
// # Transactions
//
// A transactional batch opens its producer's transaction (the producer's
// current txn first offset) unless one is open; a control batch holding a
// commit or abort marker (key: version int16 0, type int16 0 abort / 1
// commit; value: version int16 0, coordinator epoch int32, Kafka's
// EndTransactionMarker) closes it. AppendTxnMarker writes markers for the
// transaction coordinator, fenced by producer epoch and coordinator epoch.
// The last stable offset is min(first offset of the earliest open
// transaction, high watermark): read_committed consumers read below it.
//
// Each abort adds an entry to the aborted-transaction index of the
// segment holding its marker, <base>.txnindex (Kafka's TransactionIndex),
// big endian, 34 bytes per entry in marker order:
//
//	0         2             10             18            26                 34
//	+---------+-------------+--------------+-------------+------------------+
//	| version | producer ID | first offset | last offset | last stable      |
//	| u16 = 0 | int64       | int64        | (marker)    | offset int64     |
//	+---------+-------------+--------------+-------------+------------------+
//
// Entries are appended unsynced and the file fsynced when its segment is
// sealed (roll, Close); every snapshot lies at or below a sealed offset,
// so Open trusts the entries below the snapshot it loads and rebuilds the
// rest while replaying the log after it (rewriting those files durably).
// The entries are also kept in memory (AbortedTransactions).
//
// # Leader epochs
//
// Every batch carries the epoch of the leader that appended it (its
// partition leader epoch). The leader-epoch cache (Kafka's
// LeaderEpochFileCache) remembers, for each epoch that wrote to the log,
// its first offset; epochs and start offsets both increase. It answers
// OffsetForLeaderEpoch (EndOffsetForEpoch), which a follower asks to find
// where its log diverged from its leader's, and it fences a deposed
// leader: Append, AppendProduced and AppendTxnMarker under an epoch below
// the latest one fail with ErrFencedLeaderEpoch before writing anything.
//
// leader-epoch-checkpoint is Kafka's text checkpoint file, byte for byte,
// so a Kafka tool reads it:
//
//	0                  version
//	2                  number of entries
//	0 0                epoch, start offset (ascending)
//	3 1540
//
// It is replaced (a .tmp file, fsynced, renamed, directory fsynced)
// whenever the cache changes, which is rare: an append under a new epoch
// (written before the batches, so the file never lacks the epoch of a
// durable batch), AssignLeaderEpoch, a truncation (entries starting at or
// after the new log end go), a log start move (entries wholly below it go;
// the one covering it is moved up to it, as Kafka's truncateFromStart) and
// TruncateFullyAndStartAt (all go). A failed write fails the log. Open
// reads it, adds the epochs of batches recovery scanned that are newer,
// then drops entries starting at or past the log end and trims the start
// the same way, so entries written for batches a crash lost disappear. A
// missing file (a data directory from before replication) leaves the cache
// empty until the next append; a file that fails its checks is rebuilt
// from the batch headers of the whole log, since a leader answering from
// an empty cache could let a follower keep a divergent tail.
//
// # Replication (follower side)
//
// AppendReplicated appends batches fetched from the leader as they are:
// offsets, leader epochs and every other byte kept, so a follower's
// segments hold the leader's bytes. The first batch must start at the log
// end offset (ErrOffsetMismatch otherwise); each batch's structure and CRC
// are checked and offsets must increase. The leader-epoch cache follows
// the batches' epochs (Kafka's assign: a follower's history yields to its
// leader's), and producer states, the aborted-transaction index and the
// last stable offset are updated by the same replay that rebuilds them
// from the log at start-up, never refused for sequence reasons, so that a
// follower's states equal the leader's. Like Append it rolls segments and
// does not fsync. Truncate cuts a divergent tail; TruncateFullyAndStartAt
// restarts an empty log at an offset when the leader's log start is past
// the follower's log end.
//
// # Threading
//
// A Log is safe for concurrent use. Compaction passes are serialised by
// cleanMu, taken before the three others and held for a whole pass (the
// copy needs none of the others). Three locks, always taken in this order:
//
//	appendMu  serialises writers (Append, roll, Truncate, retention,
//	          DeleteRecordsBefore, Checkpoint, Close, a compaction's swap)
//	          and owns the producer states and snapshots; held across file
//	          writes.
//	syncMu    serialises fsyncs of the active segment: the group-commit leader
//	          holds it while it fsyncs; never held with appendMu by Sync.
//	mu        (RWMutex) guards the published view readers use: the segment
//	          list, offsets, sizes, index entries, the aborted
//	          transactions and the leader-epoch cache. Held only to copy or publish a few fields,
//	          never across file I/O.
//
// The first offset of the earliest open transaction (for the last stable
// offset) is an atomic written under appendMu, read by fetches unlocked.
//
// Readers take a reference on a segment under mu and read its file without
// any lock; a segment removed by retention closes its files when its last
// reader lets go. A reader that raced with a truncation of its segment
// notices (a per-segment truncation counter) and reads again. The file
// cache's mutex is a leaf, never held across file I/O.
//
// # File handles
//
// Open files do not grow with the number of partitions. Every file of a
// Log (segment logs, offset and time indexes, .txnindex, checkpoints,
// snapshots, directory fsyncs) is opened through a FileCache
// (Options.Files), one per broker, holding at most its budget of
// descriptors (the server gives it what RLIMIT_NOFILE leaves after
// connections and a reserve), like pebble's table cache or RocksDB's
// max_open_files:
//
//   - a segment's files are opened on first use (the active segment's for
//     append, sealed ones read-only) and pinned only for one operation:
//     an append (the log, and each index it adds an entry to), a read or
//     timestamp lookup (the log), an fsync, a seal, a truncation, one
//     window of a recovery or compaction scan. Unpinned descriptors stay
//     open in LRU order and are closed when another file needs the room;
//     an idle partition holds none. A sealed segment's index entries
//     stay in memory once loaded (lazily, as before), and the active
//     segment's always are, so an evicted index file is only reopened to
//     append or fsync it;
//   - an operation pins all it needs in one call, all or none, and never
//     waits while holding pins, so operations cannot deadlock on the
//     budget. The most one call pins is three (a log and its indexes);
//     budgets below four are raised to four;
//   - the fsyncs of acknowledged appends (Sync) pin at most
//     min(256, budget/2) descriptors at once and queue for a slot beyond
//     that, so a produce to thousands of partitions cannot pin the whole
//     budget and starve appends and reads past their wait;
//   - small files read or rewritten whole, and directory fsyncs, take one
//     descriptor of the budget for the call (transient).
//
// Durability does not depend on descriptors. Close does not fsync, and
// none is needed before closing: fsync(2) flushes the file (the inode's
// dirty pages), whichever descriptor it is called on, so bytes appended
// through a descriptor the cache closed since are made durable by the
// next Sync, seal or Close, which reopens the file if need be (Linux 4.16+
// also reports a writeback error to that reopened descriptor's first
// fsync). The fsync points are the ones listed above, unchanged. MemFS
// and FaultFS report their crash generation (vfs.Generationer): a file
// made before a simulated crash is never reopened after it, as the dead
// process's handle would fail too.
//
// When every descriptor of the budget is pinned, an operation that has
// changed nothing yet waits up to FileCacheConfig.Wait (2 s) for a
// release, then fails with ErrTooManyOpenFiles (a *TooManyOpenFilesError
// naming the file, the budget and the counts): the append, read or fsync
// is refused and may be retried; the log is not failed. EMFILE or ENFILE
// from the operating system is retried after closing an idle descriptor,
// or after a release, until the same wait runs out, then is the same
// error (wrapping the errno). An operation finishing what it has already
// changed on disk (the rest of a truncation, a compaction swap after its
// commit, rewriting indexes and checkpoints, directory fsyncs) never waits
// for the budget: it closes an idle descriptor or goes past the budget for
// that one open (FileCacheStats.Overdrafts). An abort marker whose
// .txnindex cannot be opened is published in memory and the file is
// rewritten whole when the segment is sealed (a crash rebuilds it from the
// log, as for any unsealed segment); a leader-epoch checkpoint renamed but
// not yet directory-fsynced is published and left for the next directory
// fsync. Only an operating system that refuses every descriptor for the
// whole wait in the middle of a truncation or a committed compaction swap
// fails the log, as any I/O error there does: its memory and disk would
// otherwise disagree.
//
// A segment deleted (retention, DeleteRecords, truncation) or replaced
// (compaction) while a reader holds it is retired before its name is
// removed or reused: a descriptor open at that moment stays open, off the
// LRU, until the segment's last reference goes, so the reader finishes on
// the old bytes; without one, the reader's open fails (errFileRetired) and
// it reads again from the current segment list, never from whatever file
// holds the name now. A compaction swap first opens (pins) every segment it
// replaces, so its readers always finish on the old file.
//
// FileCache.Stats gives the server its metrics: budget, descriptors open,
// in use and idle, opens and reopens, evictions, waits, refusals and
// overdrafts.
//
// Measured (TestManyPartitionsOnOS with SLUICE_STORAGE_SCALE=10000, ext4):
// 10,000 partitions, each opened, appended to once, fsynced and read back,
// under a budget of 500: 509 descriptors open at most (9 before), about
// 1.5 KB of Go heap and 3.7 KB of RSS per idle partition, 1.8 ms per
// partition to create, append and fsync (directory and checkpoint fsyncs)
// and 18 µs to read back through a reopened descriptor. A sealed
// segment's loaded indexes cost 24 bytes per index.interval.bytes of log
// (6 MiB for a 1 GiB segment at 4096), and only for segments read since
// the log opened.
package storage
