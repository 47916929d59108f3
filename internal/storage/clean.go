package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/sluice-io/sluice/internal/record"
)

// Byte positions of the v2 batch header fields a cleaned batch rewrites
// (the layout is in internal/record's doc and KAFKA-REFERENCE.md).
const (
	batchLengthPosition   = 8
	attributesPosition    = 21
	baseTimestampPosition = 27
	maxTimestampPosition  = 35
	numRecordsPosition    = 57
	codecMask             = 0x07 // compression bits of the attributes' low byte
	deleteHorizonFlag     = 0x40 // the base timestamp is a delete horizon (KIP-534)
)

// cleanerWriteChunk is how many cleaned bytes are buffered per write.
const cleanerWriteChunk = 1 << 20

// cleaner does the reading and copying of one compaction pass. Its
// buffers are reused from batch to batch, so the copy allocates per batch
// only when a batch outgrows them.
type cleaner struct {
	log     *Log
	plan    *cleanPlan
	offsets *offsetMap
	it      record.Iterator
	window  windowReader // reads the segment at hand; its buffer is reused
	plain   []byte       // the batch being filtered, its records uncompressed
	kept    []byte       // the raw records kept from it
	rebased []byte       // the kept records with timestamps rebased on a delete horizon
	out     []byte       // cleaned batches not yet written
	// recordsRead and recordsKept count the data records filtered.
	recordsRead, recordsKept int64
	// producerLastOffsets maps each producer the log remembers to the last
	// offset of its latest batch, which the pass keeps (see filterBatch).
	producerLastOffsets map[int64]int64
	// aborted is the aborted-transaction index by producer (see
	// abortedByProducerLocked): aborted data is neither mapped nor kept.
	aborted map[int64][]AbortedTxn
}

func newCleaner(l *Log, p *cleanPlan, offsets *offsetMap) *cleaner {
	return &cleaner{log: l, plan: p, offsets: offsets}
}

// cleanedSegment is the cleaned copy of a run of sealed segments, written
// as .cleaned files and fsynced, not yet swapped in.
type cleanedSegment struct {
	baseOffset     int64
	nextOffset     int64 // the run's end: its last batch is always kept
	old            []segmentSnapshot
	file           *cachedFile // the .log.cleaned, written through the cache
	size           int64       // bytes written and buffered
	offsets        []offsetEntry
	times          []timeEntry
	indexer        indexer
	firstTimestamp int64
	// changed is false when the copy equals its single source segment,
	// which is then left in place.
	changed bool
}

// buildOffsetMap maps the keys of the dirty segments, in offset order,
// until the map is full or the uncleanable offset is reached. After it,
// offsets.latest is where the mapped range ends.
func (c *cleaner) buildOffsetMap() error {
	c.offsets.latest = c.plan.firstDirty - 1
	for _, s := range c.plan.sealed {
		if s.seg.baseOffset >= c.plan.uncleanable {
			break
		}
		if s.nextOffset <= c.plan.firstDirty {
			continue
		}
		full, err := c.mapSegment(s)
		if errors.Is(err, errFileRetired) {
			// Retention deleted it meanwhile (and everything before it):
			// no run holding it is swapped in, and no later record's key
			// can be superseded by one of its records.
			full, err = false, nil
		}
		if err != nil || full {
			return err
		}
		c.offsets.latest = max(c.offsets.latest, s.nextOffset-1)
	}
	return nil
}

// mapSegment adds the keys of s's records at or past the first dirty
// offset. full reports that the map filled up before the segment's end.
func (c *cleaner) mapSegment(s segmentSnapshot) (full bool, err error) {
	c.log.mu.RLock()
	position := lookupPosition(s.seg.offsets, s.seg.relative(c.plan.firstDirty))
	c.log.mu.RUnlock()
	w := c.reader(s)
	for next := s.seg.baseOffset; position < s.size; {
		batch, h, err := readSealedBatch(w, s.seg, position, next)
		if err != nil {
			return false, err
		}
		position, next = position+int64(h.Size()), h.LastOffset()+1
		if h.LastOffset() < c.plan.firstDirty {
			continue
		}
		if !h.IsControl() && !c.isAborted(&h) {
			if full, err := c.mapBatch(s.seg, batch); err != nil || full {
				return full, err
			}
		}
		c.offsets.latest = max(c.offsets.latest, h.LastOffset())
	}
	return false, nil
}

// mapBatch adds the keyed records of one batch; on a full map, latest
// stays at the last record added, so the rest of the batch counts as
// unmapped.
func (c *cleaner) mapBatch(seg *segment, batch []byte) (full bool, err error) {
	if err := c.it.Reset(batch); err != nil {
		return false, c.recordError(seg, batch, err)
	}
	for rec, ok := c.it.Next(); ok; rec, ok = c.it.Next() {
		if rec.Key == nil || rec.Offset < c.plan.firstDirty {
			continue
		}
		if !c.offsets.put(rec.Key, rec.Offset) {
			return true, nil
		}
		c.offsets.latest = max(c.offsets.latest, rec.Offset)
	}
	if err := c.it.Err(); err != nil {
		return false, c.recordError(seg, batch, err)
	}
	return false, nil
}

// reader points the cleaner's window reader at s, keeping its buffer.
func (c *cleaner) reader(s segmentSnapshot) *windowReader {
	c.window = windowReader{file: segmentReader(s.seg, mayRefuse), size: s.size, buf: c.window.buf[:0]}
	return &c.window
}

// readSealedBatch reads and checks (CRC, offsets at or past next) the
// batch at position of a sealed segment: anything wrong is corruption.
func readSealedBatch(w *windowReader, seg *segment, position, next int64) ([]byte, record.Header, error) {
	h, stop, err := checkBatchAt(w, position, next, seg.baseOffset)
	if err != nil {
		return nil, h, err
	}
	if stop != nil {
		return nil, h, corruption(seg.logName(), position, "invalid batch in a sealed (fsynced) segment: "+stop.reason, stop.cause)
	}
	batch, err := w.bytes(position, h.Size())
	return batch, h, err
}

func (c *cleaner) recordError(seg *segment, batch []byte, err error) error {
	h, _ := record.ParseHeader(batch)
	return corruption(seg.logName(), -1, fmt.Sprintf("undecodable records in the batch at offset %d", h.BaseOffset), err)
}

// cleanGroups writes a cleaned copy of each run. On error it returns what
// it has written so far (for the caller to remove) with the error.
func (c *cleaner) cleanGroups(groups [][]segmentSnapshot) ([]*cleanedSegment, error) {
	var cleaned []*cleanedSegment
	for _, group := range groups {
		cs, err := c.cleanGroup(group)
		if cs != nil && errors.Is(err, errFileRetired) {
			// Retention deleted a segment of the run meanwhile: the swap
			// would skip the run.
			c.log.removeCleaned([]*cleanedSegment{cs})
			continue
		}
		if cs != nil {
			cleaned = append(cleaned, cs)
		}
		if err != nil {
			return cleaned, err
		}
		if !cs.changed {
			c.log.removeCleaned(cleaned[len(cleaned)-1:])
			cleaned = cleaned[:len(cleaned)-1]
		}
	}
	return cleaned, nil
}

// cleanGroup copies the kept batches of a run into <base>.log.cleaned and
// writes its indexes, all fsynced.
func (c *cleaner) cleanGroup(group []segmentSnapshot) (*cleanedSegment, error) {
	base := group[0].seg.baseOffset
	f := c.log.files.file(c.log.fsys, cleanedName(c.log.dir, base, logSuffix), true, true)
	pinned, err := f.pin(mayRefuse, true) // creates it
	if err != nil {
		f.close()
		return nil, fmt.Errorf("create cleaned segment: %w", err)
	}
	pinned.release()
	cs := &cleanedSegment{baseOffset: base, nextOffset: group[len(group)-1].nextOffset, old: group,
		file: f, firstTimestamp: -1, changed: len(group) > 1}
	cs.indexer.reset(c.plan.cfg.IndexIntervalBytes)
	for i, s := range group {
		if err := c.cleanSegment(cs, s, i == len(group)-1); err != nil {
			return cs, err
		}
	}
	return cs, c.finish(cs)
}

// cleanSegment filters every batch of s into cs. The last batch of a run
// is kept even if emptied, so the cleaned segment ends where the run did;
// so is each producer's latest batch (lastOfProducer).
func (c *cleaner) cleanSegment(cs *cleanedSegment, s segmentSnapshot, lastInGroup bool) error {
	w := c.reader(s)
	for position, next := int64(0), s.seg.baseOffset; position < s.size; {
		batch, h, err := readSealedBatch(w, s.seg, position, next)
		if err != nil {
			return err
		}
		position, next = position+int64(h.Size()), h.LastOffset()+1
		if err := c.filterBatch(cs, s.seg, batch, h, lastInGroup && position == s.size); err != nil {
			return err
		}
		if len(c.out) >= cleanerWriteChunk {
			if err := c.flush(cs); err != nil {
				return err
			}
		}
	}
	return nil
}

// lastOfProducer reports whether h is the latest batch of a producer the
// log remembers. Like Kafka's cleaner (RETAIN_EMPTY), the pass keeps such a
// batch, if need be with no records, so that its producer ID, epoch and
// last sequence survive compaction and a rebuild of the producer state
// from the log still knows where the producer's sequence stands.
func (c *cleaner) lastOfProducer(h *record.Header) bool {
	if h.ProducerID < 0 {
		return false
	}
	last, ok := c.producerLastOffsets[h.ProducerID]
	return ok && last == h.LastOffset()
}

// deleteHorizon returns the batch's delete horizon (KIP-534), if it has one.
func deleteHorizon(h *record.Header) (int64, bool) {
	return h.BaseTimestamp, h.Attributes&deleteHorizonFlag != 0
}

// filterBatch appends to the output what is left of batch: all of it
// (byte for byte), nothing, or the kept records re-encoded with the
// batch's codec under its original header (base offset, last offset
// delta, producer ID, epoch and sequence), so that every kept record keeps
// its offset and timestamp.
//
// Tombstones follow KIP-534, as Kafka does since 3.1: the first pass that
// keeps a tombstone stamps its batch with a delete horizon, now +
// delete.retention.ms, in the base timestamp (record timestamp deltas
// rebased on it); passes after the horizon drop the tombstones. Anyone who
// reads the log from the start within delete.retention.ms of the first
// compaction still sees every deletion.
func (c *cleaner) filterBatch(cs *cleanedSegment, seg *segment, batch []byte, h record.Header, mustKeep bool) error {
	if h.IsControl() {
		return c.emit(cs, batch) // transaction markers stay until transactions are cleaned
	}
	mustKeep = mustKeep || c.lastOfProducer(&h)
	if c.isAborted(&h) {
		// Kafka's cleaner discards an aborted transaction's batches.
		c.recordsRead += int64(h.NumRecords)
		cs.changed = true
		if !mustKeep {
			return nil
		}
		return c.emitEmpty(cs, batch, h)
	}
	horizon, stamped := deleteHorizon(&h)
	kept, maxTimestamp, tombstones, err := c.keepRecords(seg, batch, h, !stamped || c.plan.nowMs < horizon)
	if err != nil {
		return err
	}
	c.recordsRead += int64(h.NumRecords)
	c.recordsKept += int64(kept)
	stamp := tombstones && !stamped
	switch {
	case kept == h.NumRecords && !stamp:
		return c.emit(cs, batch)
	case kept == 0 && !mustKeep:
		cs.changed = true
		return nil
	case kept == 0:
		cs.changed = true
		return c.emitEmpty(cs, batch, h)
	}
	cs.changed = true
	section := c.kept
	if stamp {
		if section, err = c.rebase(h, c.plan.horizonMs()); err != nil {
			return c.recordError(seg, batch, err)
		}
	}
	return c.emitFiltered(cs, batch, h, kept, maxTimestamp, section, stamp)
}

// keepRecords walks the batch's records and copies those to keep into
// c.kept, raw, as they are encoded (offset and timestamp deltas included).
// tombstones reports whether a kept record is a tombstone.
func (c *cleaner) keepRecords(seg *segment, batch []byte, h record.Header, retainTombstones bool) (kept int32, maxTimestamp int64, tombstones bool, err error) {
	plain, err := c.uncompressed(batch, h)
	if err != nil {
		return 0, 0, false, c.recordError(seg, batch, err)
	}
	if err := c.it.Reset(plain); err != nil {
		return 0, 0, false, c.recordError(seg, batch, err)
	}
	c.kept, maxTimestamp = c.kept[:0], record.NoTimestamp
	position := record.HeaderSize
	for rec, ok := c.it.Next(); ok; rec, ok = c.it.Next() {
		end, err := recordEnd(plain, position)
		if err != nil {
			return 0, 0, false, c.recordError(seg, batch, err)
		}
		if c.keep(&rec, retainTombstones) {
			c.kept = append(c.kept, plain[position:end]...)
			kept++
			maxTimestamp = max(maxTimestamp, rec.Timestamp)
			tombstones = tombstones || rec.Value == nil
		}
		position = end
	}
	if err := c.it.Err(); err != nil {
		return 0, 0, false, c.recordError(seg, batch, err)
	}
	return kept, maxTimestamp, tombstones, nil
}

// keep decides a record's fate, as Kafka's Cleaner.shouldRetainRecord: a
// record past the mapped range stays; a record without a key (invalid in a
// compacted topic) goes; a record some later record of its key supersedes
// goes; a tombstone goes once its batch's delete horizon has passed.
func (c *cleaner) keep(rec *record.Record, retainTombstones bool) bool {
	switch {
	case rec.Offset > c.offsets.latest:
		return true
	case rec.Key == nil:
		return false
	case rec.Offset < c.offsets.get(rec.Key):
		return false
	case rec.Value == nil:
		return retainTombstones
	}
	return true
}

// rebase re-encodes the kept records with timestamp deltas relative to
// newBase, keeping every record's absolute timestamp. A record is
//
//	length varint | attributes int8 | timestamp delta varlong | the rest
//
// and only the delta (and so the length) changes.
func (c *cleaner) rebase(h record.Header, newBase int64) ([]byte, error) {
	c.rebased = c.rebased[:0]
	for position := 0; position < len(c.kept); {
		end, err := recordEnd(c.kept, position)
		if err != nil {
			return nil, err
		}
		_, n := binary.Varint(c.kept[position:])
		body := c.kept[position+n : end]
		delta, m := binary.Varint(body[1:])
		if m <= 0 {
			return nil, fmt.Errorf("record at byte %d: bad timestamp delta: %w", position, record.ErrCorrupt)
		}
		rest := body[1+m:]
		newDelta := h.BaseTimestamp + delta - newBase
		length := 1 + varintLen(newDelta) + len(rest)
		c.rebased = binary.AppendVarint(c.rebased, int64(length))
		c.rebased = append(c.rebased, body[0])
		c.rebased = binary.AppendVarint(c.rebased, newDelta)
		c.rebased = append(c.rebased, rest...)
		position = end
	}
	return c.rebased, nil
}

// varintLen is the size of v as a zigzag varint.
func varintLen(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}

// horizonMs is the delete horizon a pass stamps on batches whose
// tombstones it keeps: now + delete.retention.ms.
func (p *cleanPlan) horizonMs() int64 {
	if p.cfg.DeleteRetentionMs > math.MaxInt64-p.nowMs {
		return math.MaxInt64
	}
	return p.nowMs + p.cfg.DeleteRetentionMs
}

// uncompressed returns batch itself if it is uncompressed, else a copy of
// it with the records section decompressed and the header saying so (CRC
// left stale: only the iterator reads it).
func (c *cleaner) uncompressed(batch []byte, h record.Header) ([]byte, error) {
	if h.Codec() == record.CodecNone {
		return batch, nil
	}
	c.plain = append(c.plain[:0], batch[:record.HeaderSize]...)
	c.plain[attributesPosition+1] &^= codecMask
	var err error
	c.plain, err = record.Decompress(h.Codec(), c.plain, batch[record.HeaderSize:h.Size()], 0)
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(c.plain[batchLengthPosition:], uint32(len(c.plain)-record.LogOverhead))
	return c.plain, nil
}

// recordEnd returns where the record starting at position ends: each
// record begins with its length as a zigzag varint.
func recordEnd(records []byte, position int) (int, error) {
	length, n := binary.Varint(records[position:])
	if n <= 0 || length < 0 || length > int64(len(records)-position-n) {
		return 0, fmt.Errorf("record at byte %d: bad length: %w", position, record.ErrCorrupt)
	}
	return position + n + int(length), nil
}

// emitFiltered appends the batch rebuilt around the kept records
// (section, uncompressed): the original header with the record count, max
// timestamp, length and CRC updated, and the delete horizon if stamp.
func (c *cleaner) emitFiltered(cs *cleanedSegment, batch []byte, h record.Header, kept int32, maxTimestamp int64, section []byte, stamp bool) error {
	start := len(c.out)
	c.out = append(c.out, batch[:record.HeaderSize]...)
	out := c.out[start:]
	binary.BigEndian.PutUint32(out[numRecordsPosition:], uint32(kept))
	binary.BigEndian.PutUint64(out[maxTimestampPosition:], uint64(maxTimestamp))
	if stamp {
		out[attributesPosition+1] |= deleteHorizonFlag
		binary.BigEndian.PutUint64(out[baseTimestampPosition:], uint64(c.plan.horizonMs()))
	}
	var err error
	if c.out, err = record.Compress(h.Codec(), c.out, section, 0); err != nil {
		c.out = c.out[:start]
		return fmt.Errorf("re-encode batch at offset %d: %w", h.BaseOffset, err)
	}
	return c.sealOutput(cs, start)
}

// emitEmpty appends the batch's header with no records: Kafka's empty
// batch, which keeps the batch's offsets (and producer fields) in the log
// after all its records are gone. Its base timestamp is its max timestamp.
func (c *cleaner) emitEmpty(cs *cleanedSegment, batch []byte, h record.Header) error {
	start := len(c.out)
	c.out = append(c.out, batch[:record.HeaderSize]...)
	out := c.out[start:]
	out[attributesPosition+1] &^= codecMask | deleteHorizonFlag
	binary.BigEndian.PutUint32(out[numRecordsPosition:], 0)
	binary.BigEndian.PutUint64(out[baseTimestampPosition:], uint64(h.MaxTimestamp))
	return c.sealOutput(cs, start)
}

// sealOutput stores the length and CRC of the batch at c.out[start:] and
// accounts for it.
func (c *cleaner) sealOutput(cs *cleanedSegment, start int) error {
	out := c.out[start:]
	binary.BigEndian.PutUint32(out[batchLengthPosition:], uint32(len(out)-record.LogOverhead))
	record.SetCRC(out)
	return c.account(cs, out)
}

// emit appends batch unchanged.
func (c *cleaner) emit(cs *cleanedSegment, batch []byte) error {
	c.out = append(c.out, batch...)
	return c.account(cs, batch)
}

// account adds the index entries for a batch just placed in the output.
func (c *cleaner) account(cs *cleanedSegment, batch []byte) error {
	position := cs.size
	if position > maxSegmentPosition {
		return fmt.Errorf("cleaned segment %d outgrew its 32-bit index positions", cs.baseOffset)
	}
	h, _ := record.ParseHeader(batch)
	offset, addOffset, timed, addTime := cs.indexer.add(&h, position, cs.baseOffset)
	if addOffset {
		cs.offsets = append(cs.offsets, offset)
	}
	if addTime {
		cs.times = append(cs.times, timed)
	}
	if position == 0 {
		cs.firstTimestamp = h.MaxTimestamp
	}
	cs.size += int64(len(batch))
	return nil
}

// flush writes the buffered output to the cleaned segment.
func (c *cleaner) flush(cs *cleanedSegment) error {
	if len(c.out) == 0 {
		return nil
	}
	pinned, err := cs.file.pin(mayRefuse, true)
	if err != nil {
		return fmt.Errorf("write cleaned segment: %w", err)
	}
	defer pinned.release()
	if _, err := pinned.file(0).Write(c.out); err != nil {
		return fmt.Errorf("write cleaned segment: %w", err)
	}
	c.out = c.out[:0]
	return nil
}

// finish writes the rest of the output, seals the time index and makes
// the cleaned files durable.
func (c *cleaner) finish(cs *cleanedSegment) error {
	if err := c.flush(cs); err != nil {
		return err
	}
	if entry, ok := cs.indexer.timeEntry(cs.baseOffset); ok {
		cs.times = append(cs.times, entry)
	}
	if err := syncCleaned(cs); err != nil { // fsync point: the cleaned copy, before any rename
		return fmt.Errorf("sync cleaned segment: %w", err)
	}
	return c.log.writeIndexFilesNamed(cleanedName(c.log.dir, cs.baseOffset, indexSuffix),
		cleanedName(c.log.dir, cs.baseOffset, timeIndexSuffix), cs.offsets, cs.times)
}

// syncCleaned fsyncs the cleaned copy, whichever descriptor its bytes were
// written through.
func syncCleaned(cs *cleanedSegment) error {
	pinned, err := cs.file.pin(mayRefuse, true)
	if err != nil {
		return err
	}
	defer pinned.release()
	return pinned.file(0).Sync()
}
