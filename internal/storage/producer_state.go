package storage

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// producerBatchesRetained is how many of a producer's latest batches a
// partition remembers for duplicate detection: Kafka's
// ProducerStateEntry.NUM_BATCHES_TO_RETAIN, matching the at most five
// in-flight requests an idempotent producer may have per partition.
const producerBatchesRetained = 5

// Kafka's "none" values for the producer fields of a batch header and of a
// producer's state.
const (
	noProducerEpoch  = -1
	noSequence       = -1
	noTxnFirstOffset = -1
	noCoordinator    = -1
)

// batchMetadata is what a partition remembers of one appended batch of a
// producer (Kafka's BatchMetadata).
type batchMetadata struct {
	firstSeq, lastSeq int32
	lastOffset        int64
	offsetDelta       int32 // lastOffset - first offset of the batch
	maxTimestamp      int64
}

func (b *batchMetadata) firstOffset() int64 { return b.lastOffset - int64(b.offsetDelta) }

// producerEntry is one producer's state in a partition (Kafka's
// ProducerStateEntry). It holds no pointers, so the map of entries costs the
// garbage collector nothing and copying one allocates nothing.
type producerEntry struct {
	epoch int16
	// batches holds the latest appended batches of epoch, oldest first;
	// count of them are set.
	batches       [producerBatchesRetained]batchMetadata
	count         int
	lastTimestamp int64
	// coordinatorEpoch and currentTxnFirstOffset are the transaction
	// fields of Kafka's entry, kept (and snapshotted) for transactions:
	// the epoch of the coordinator that wrote the producer's last marker,
	// and the first offset of its ongoing transaction (noTxnFirstOffset
	// when none). Nothing sets them yet.
	coordinatorEpoch      int32
	currentTxnFirstOffset int64
}

// newProducerEntry is the state of a producer the partition has not seen.
func newProducerEntry() producerEntry {
	return producerEntry{epoch: noProducerEpoch, lastTimestamp: record.NoTimestamp,
		coordinatorEpoch: noCoordinator, currentTxnFirstOffset: noTxnFirstOffset}
}

// lastSeq is the last sequence number appended, noSequence if none.
func (e *producerEntry) lastSeq() int32 {
	if e.count == 0 {
		return noSequence
	}
	return e.batches[e.count-1].lastSeq
}

// lastOffset is the last offset of the producer's latest batch, -1 if none.
func (e *producerEntry) lastOffset() int64 {
	if e.count == 0 {
		return -1
	}
	return e.batches[e.count-1].lastOffset
}

// duplicateOf returns the retained batch with exactly the sequence range
// [firstSeq, lastSeq] under epoch: the batch a retry repeats.
func (e *producerEntry) duplicateOf(epoch int16, firstSeq, lastSeq int32) (batchMetadata, bool) {
	if epoch != e.epoch {
		return batchMetadata{}, false
	}
	for i := range e.count {
		if b := e.batches[i]; b.firstSeq == firstSeq && b.lastSeq == lastSeq {
			return b, true
		}
	}
	return batchMetadata{}, false
}

// add records an appended batch. A new epoch forgets the old epoch's
// batches; past producerBatchesRetained the oldest batch is forgotten.
func (e *producerEntry) add(epoch int16, b batchMetadata) {
	if epoch != e.epoch {
		e.epoch, e.count = epoch, 0
	}
	if e.count == producerBatchesRetained {
		copy(e.batches[:], e.batches[1:])
		e.count--
	}
	e.batches[e.count] = b
	e.count++
	e.lastTimestamp = b.maxTimestamp
}

// lastSequence is the sequence number of the last record of a batch whose
// first record has base and which spans delta more records; sequences wrap
// from MaxInt32 to 0 (Kafka's DefaultRecordBatch.incrementSequence).
func lastSequence(base, delta int32) int32 {
	if base > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - base) - 1
	}
	return base + delta
}

// inSequence reports whether next directly follows last, wrapping at
// MaxInt32 (Kafka's ProducerAppendInfo.inSequence).
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// metadataOf describes batch h appended at baseOffset.
func metadataOf(h *record.Header, baseOffset int64) batchMetadata {
	return batchMetadata{
		firstSeq:     h.BaseSequence,
		lastSeq:      lastSequence(h.BaseSequence, h.LastOffsetDelta),
		lastOffset:   baseOffset + int64(h.LastOffsetDelta),
		offsetDelta:  h.LastOffsetDelta,
		maxTimestamp: h.MaxTimestamp,
	}
}

// checkBatch applies Kafka's rules for a client's batch against the
// producer's state e (ProducerAppendInfo.checkProducerEpoch and
// checkSequence, for batches outside transactions):
//
//   - an epoch below the producer's is fenced: INVALID_PRODUCER_EPOCH;
//   - a new epoch must start at sequence 0, unless the partition knows
//     nothing of the producer;
//   - within the epoch the batch must continue the last sequence, unless
//     the partition knows nothing of the producer (its state expired, or
//     its batches were deleted): Kafka 2.5+ (KIP-360) then accepts any
//     sequence rather than answering UNKNOWN_PRODUCER_ID.
func checkBatch(e *producerEntry, producerID int64, h *record.Header, offset int64) error {
	if h.ProducerEpoch < e.epoch {
		return producerError(ErrInvalidProducerEpoch, "epoch of producer %d at offset %d is %d, which is smaller than the last seen epoch %d",
			producerID, offset, h.ProducerEpoch, e.epoch)
	}
	if e.epoch == noProducerEpoch {
		return nil
	}
	if h.ProducerEpoch != e.epoch {
		if h.BaseSequence != 0 {
			return producerError(ErrOutOfOrderSequence, "invalid sequence number for new epoch of producer %d at offset %d: %d (request epoch), %d (seq. number), %d (current producer epoch)",
				producerID, offset, h.ProducerEpoch, h.BaseSequence, e.epoch)
		}
		return nil
	}
	if last := e.lastSeq(); !inSequence(last, h.BaseSequence) {
		return producerError(ErrOutOfOrderSequence, "out of order sequence number for producer %d at offset %d: %d (incoming seq. number), %d (current end sequence number)",
			producerID, offset, h.BaseSequence, last)
	}
	return nil
}

// pendingProducer is one producer's state as an append in progress would
// leave it.
type pendingProducer struct {
	id    int64
	entry producerEntry
}

// producerStates is every producer's state in one partition, as of the log
// end offset (Kafka's ProducerStateManager). It belongs to the holder of
// Log.appendMu.
type producerStates struct {
	entries map[int64]producerEntry
	// pending is the scratch of the append in progress: prepare fills it,
	// commit applies it once the batches are written.
	pending []pendingProducer
	// pendingCompleted are the transactions the append in progress ends.
	pendingCompleted []completedTxn
	// snapshots are the offsets of the snapshot files on disk, ascending.
	snapshots []int64
}

func newProducerStates() producerStates {
	return producerStates{entries: map[int64]producerEntry{}}
}

// pendingFor returns the in-progress state of producer id, starting from
// its current state.
func (s *producerStates) pendingFor(id int64) *producerEntry {
	for i := range s.pending {
		if s.pending[i].id == id {
			return &s.pending[i].entry
		}
	}
	e, ok := s.entries[id]
	if !ok {
		e = newProducerEntry()
	}
	s.pending = append(s.pending, pendingProducer{id: id, entry: e})
	return &s.pending[len(s.pending)-1].entry
}

// prepare walks the batches about to be appended at base and works out the
// producers' new states into pending. From a client (check), each batch is
// first looked up among its producer's retained batches: a retry of one of
// them makes the whole append a duplicate (Kafka's
// UnifiedLog.analyzeAndValidateProducerState returns at the first one),
// reported with the original batch; otherwise the batch must pass
// checkBatch. A transactional batch opens its producer's transaction if
// none is open; a control batch (a commit or abort marker, checked by
// checkMarker) ends it, and the ended transaction is queued in
// pendingCompleted for commit.
func (s *producerStates) prepare(batches []byte, base int64, check bool) (duplicate batchMetadata, found bool, err error) {
	s.pending = s.pending[:0]
	s.pendingCompleted = s.pendingCompleted[:0]
	offset := base
	for pos := 0; pos < len(batches); {
		h, _ := record.ParseHeader(batches[pos:]) // checked by summarize
		batch := batches[pos : pos+h.Size()]
		pos += h.Size()
		batchBase := offset
		offset += int64(h.LastOffsetDelta) + 1
		if h.ProducerID < 0 {
			continue
		}
		if h.IsControl() {
			if err := s.prepareMarker(&h, batch, batchBase, check); err != nil {
				return batchMetadata{}, false, err
			}
			continue
		}
		if check {
			if dup, ok := s.duplicateOf(&h); ok {
				return dup, true, nil
			}
		}
		e := s.pendingFor(h.ProducerID)
		if check {
			if err := checkBatch(e, h.ProducerID, &h, batchBase); err != nil {
				return batchMetadata{}, false, err
			}
			if !h.IsTransactional() && e.currentTxnFirstOffset != noTxnFirstOffset {
				return batchMetadata{}, false, producerError(ErrInvalidTxnState, "expected transactional write from producer %d at offset %d: its transaction from offset %d is open",
					h.ProducerID, batchBase, e.currentTxnFirstOffset)
			}
		}
		e.addData(&h, batchBase)
	}
	return batchMetadata{}, false, nil
}

// prepareMarker applies the control batch h (whole bytes in batch) at
// offset to its producer's pending state.
func (s *producerStates) prepareMarker(h *record.Header, batch []byte, offset int64, check bool) error {
	m, ok, err := parseTxnMarker(batch)
	if err != nil || !ok {
		return err
	}
	e := s.pendingFor(h.ProducerID)
	if check {
		if err := checkMarker(e, h.ProducerID, h.ProducerEpoch, m, offset); err != nil {
			return err
		}
	}
	s.pendingCompleted = append(s.pendingCompleted, e.endTxn(h.ProducerID, h.ProducerEpoch, m, offset))
	return nil
}

// checkMarker applies Kafka's rules for a transaction marker
// (ProducerAppendInfo.appendEndTxnMarker): an epoch below the producer's is
// fenced, and so is a coordinator epoch below the one that wrote the
// producer's last marker.
func checkMarker(e *producerEntry, producerID int64, epoch int16, m txnMarker, offset int64) error {
	if epoch < e.epoch {
		return producerError(ErrInvalidProducerEpoch, "transaction marker of producer %d at offset %d has epoch %d, smaller than the last seen epoch %d",
			producerID, offset, epoch, e.epoch)
	}
	if m.coordinatorEpoch < e.coordinatorEpoch {
		return producerError(ErrTransactionCoordinatorFenced, "transaction marker of producer %d at offset %d has coordinator epoch %d, smaller than the last seen %d",
			producerID, offset, m.coordinatorEpoch, e.coordinatorEpoch)
	}
	return nil
}

// addData records an appended data batch h at baseOffset; a transactional
// one opens the producer's transaction if none is open.
func (e *producerEntry) addData(h *record.Header, baseOffset int64) {
	e.add(h.ProducerEpoch, metadataOf(h, baseOffset))
	if h.IsTransactional() && e.currentTxnFirstOffset == noTxnFirstOffset {
		e.currentTxnFirstOffset = baseOffset
	}
}

// endTxn applies marker m written at offset and returns the transaction it
// completes: from the first offset of the open transaction (the marker's
// own offset when none was open) to the marker.
func (e *producerEntry) endTxn(producerID int64, epoch int16, m txnMarker, offset int64) completedTxn {
	first := e.currentTxnFirstOffset
	if first == noTxnFirstOffset {
		first = offset
	}
	if epoch != e.epoch {
		e.epoch, e.count = epoch, 0
	}
	e.coordinatorEpoch = m.coordinatorEpoch
	e.currentTxnFirstOffset = noTxnFirstOffset
	e.lastTimestamp = m.timestamp
	return completedTxn{producerID: producerID, firstOffset: first, lastOffset: offset, aborted: !m.commit}
}

// completedTxn is a transaction a marker ended (Kafka's CompletedTxn).
type completedTxn struct {
	producerID              int64
	firstOffset, lastOffset int64 // lastOffset is the marker's offset
	aborted                 bool
}

// firstUnstableOffset is the first offset of the earliest open
// transaction, noTxnFirstOffset if none is open.
func (s *producerStates) firstUnstableOffset() int64 {
	first := int64(noTxnFirstOffset)
	for _, e := range s.entries {
		if o := e.currentTxnFirstOffset; o != noTxnFirstOffset && (first == noTxnFirstOffset || o < first) {
			first = o
		}
	}
	return first
}

// abortedOf turns the completed transactions into aborted-index entries,
// each with the last stable offset once it completed (Kafka's
// ProducerStateManager.lastStableOffset: the first offset of the earliest
// transaction still open, else the offset after the marker). Call it with
// the completing producers' states applied.
func (s *producerStates) abortedOf(completed []completedTxn, dst []AbortedTxn) []AbortedTxn {
	for _, c := range completed {
		if !c.aborted {
			continue
		}
		stable := s.firstUnstableOffset()
		if stable == noTxnFirstOffset {
			stable = c.lastOffset + 1
		}
		dst = append(dst, AbortedTxn{ProducerID: c.producerID, FirstOffset: c.firstOffset, LastOffset: c.lastOffset, LastStableOffset: stable})
	}
	return dst
}

// duplicateOf looks batch h up among its producer's appended batches (not
// those of the append in progress, whose offsets are not yet in the log).
func (s *producerStates) duplicateOf(h *record.Header) (batchMetadata, bool) {
	e, ok := s.entries[h.ProducerID]
	if !ok {
		return batchMetadata{}, false
	}
	return e.duplicateOf(h.ProducerEpoch, h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta))
}

// commit applies the states prepare worked out. It returns the entries
// for the aborted-transaction index that the append's markers make, and
// whether any producer opened or ended a transaction.
func (s *producerStates) commit() (aborted []AbortedTxn, txnChanged bool) {
	for _, p := range s.pending {
		old, known := s.entries[p.id]
		txnChanged = txnChanged || (known && old.currentTxnFirstOffset != p.entry.currentTxnFirstOffset) ||
			(!known && p.entry.currentTxnFirstOffset != noTxnFirstOffset)
		s.entries[p.id] = p.entry
	}
	s.pending = s.pending[:0]
	if len(s.pendingCompleted) > 0 {
		aborted = s.abortedOf(s.pendingCompleted, nil)
		s.pendingCompleted = s.pendingCompleted[:0]
	}
	return aborted, txnChanged
}

// replay applies a batch read back from the log, unchecked (Kafka's
// AppendOrigin.REPLICATION): recovery and truncation rebuild state this way.
// batch is the whole batch for a control batch (nil is allowed for any
// other); an abort marker it holds is returned as an aborted-index entry.
func (s *producerStates) replay(h *record.Header, batch []byte) (aborted AbortedTxn, isAbort bool, err error) {
	if h.ProducerID < 0 {
		return AbortedTxn{}, false, nil
	}
	e, ok := s.entries[h.ProducerID]
	if !ok {
		e = newProducerEntry()
	}
	if !h.IsControl() {
		e.addData(h, h.BaseOffset)
		s.entries[h.ProducerID] = e
		return AbortedTxn{}, false, nil
	}
	m, isMarker, err := parseTxnMarker(batch)
	if err != nil || !isMarker {
		return AbortedTxn{}, false, err
	}
	completed := e.endTxn(h.ProducerID, h.ProducerEpoch, m, h.BaseOffset)
	s.entries[h.ProducerID] = e
	entries := s.abortedOf([]completedTxn{completed}, nil)
	if len(entries) == 0 {
		return AbortedTxn{}, false, nil
	}
	return entries[0], true, nil
}

// expire forgets producers idle for at least expirationMs by their last
// batch's timestamp, unless a transaction of theirs is open (Kafka's
// ProducerStateManager.isProducerExpired). It returns how many it forgot.
func (s *producerStates) expire(nowMs, expirationMs int64) int {
	expired := 0
	for id, e := range s.entries {
		if e.currentTxnFirstOffset == noTxnFirstOffset && nowMs-e.lastTimestamp >= expirationMs {
			delete(s.entries, id)
			expired++
		}
	}
	return expired
}

// lastOffsets maps each producer to the last offset of its latest batch:
// the batch compaction must keep.
func (s *producerStates) lastOffsets() map[int64]int64 {
	last := make(map[int64]int64, len(s.entries))
	for id, e := range s.entries {
		if offset := e.lastOffset(); offset >= 0 {
			last[id] = offset
		}
	}
	return last
}

// ProducerState is what a partition remembers of one producer: enough to
// fence its old epochs, check its sequence numbers and recognise a retry
// of any of its latest five batches.
type ProducerState struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32 // -1 when no batch is retained
	LastTimestamp int64 // max timestamp of the latest batch, -1 if none
	// CoordinatorEpoch and CurrentTxnFirstOffset are for transactions: -1
	// until a transaction marker or transactional batch sets them.
	CoordinatorEpoch      int32
	CurrentTxnFirstOffset int64
	// Batches are the retained batches of Epoch, oldest first.
	Batches []ProducerBatch
}

// ProducerBatch is one retained batch of a producer.
type ProducerBatch struct {
	FirstSequence, LastSequence int32
	FirstOffset, LastOffset     int64
	MaxTimestamp                int64
}

// Producers returns every producer's state in the partition, by producer
// ID. It copies; it is meant for admin APIs (DescribeProducers) and tests.
func (l *Log) Producers() []ProducerState {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	out := make([]ProducerState, 0, len(l.producers.entries))
	for id, e := range l.producers.entries {
		out = append(out, e.export(id))
	}
	slices.SortFunc(out, func(a, b ProducerState) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}

func (e *producerEntry) export(id int64) ProducerState {
	p := ProducerState{ProducerID: id, Epoch: e.epoch, LastSequence: e.lastSeq(), LastTimestamp: e.lastTimestamp,
		CoordinatorEpoch: e.coordinatorEpoch, CurrentTxnFirstOffset: e.currentTxnFirstOffset}
	for _, b := range e.batches[:e.count] {
		p.Batches = append(p.Batches, ProducerBatch{FirstSequence: b.firstSeq, LastSequence: b.lastSeq,
			FirstOffset: b.firstOffset(), LastOffset: b.lastOffset, MaxTimestamp: b.maxTimestamp})
	}
	return p
}

// ExpireProducers forgets the producers whose latest batch is at least
// producer.id.expiration.ms old (Options.ProducerIDExpirationMs), as
// Kafka's periodic producer-ID expiration does; a forgotten producer that
// writes again is accepted with any sequence number. It returns how many
// it forgot. Call it every producer.id.expiration.check.interval.ms.
func (l *Log) ExpireProducers(now time.Time) int {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.producers.expire(now.UnixMilli(), l.producerIDExpirationMs)
}

// producerError builds a *ProducerError for one of the producer-state
// sentinels.
func producerError(kind error, format string, args ...any) error {
	return &ProducerError{Err: kind, Message: fmt.Sprintf(format, args...)}
}
