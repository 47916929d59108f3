package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sort"

	"github.com/sluice-io/sluice/internal/record"
)

// The aborted-transaction index (Kafka's TransactionIndex): one
// <base>.txnindex file per segment that holds abort markers, one 34-byte
// entry per aborted transaction whose marker lies in the segment, in
// marker order (the layout is in the package doc).
const (
	txnIndexSuffix    = ".txnindex"
	txnIndexEntrySize = 34
	txnIndexVersion   = 0
)

// AbortedTxn is one aborted transaction of a partition (Kafka's
// AbortedTxn): read_committed consumers skip ProducerID's batches from
// FirstOffset on, up to its abort marker at LastOffset. LastStableOffset
// is the partition's last stable offset once the abort was written.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

func appendAbortedTxn(b []byte, a AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, txnIndexVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(a.LastStableOffset))
}

// decodeTxnIndex reads a .txnindex file's entries. A torn last entry (an
// append that never reached the disk whole) is dropped; an entry of
// another version, or with impossible offsets, is corruption.
func decodeTxnIndex(name string, b []byte) ([]AbortedTxn, error) {
	var out []AbortedTxn
	for pos := 0; pos+txnIndexEntrySize <= len(b); pos += txnIndexEntrySize {
		e := b[pos:]
		if version := binary.BigEndian.Uint16(e); version != txnIndexVersion {
			return nil, corruption(name, int64(pos), fmt.Sprintf("aborted transaction entry of version %d", version), nil)
		}
		a := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(e[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(e[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(e[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(e[26:])),
		}
		if a.ProducerID < 0 || a.FirstOffset < 0 || a.FirstOffset > a.LastOffset {
			return nil, corruption(name, int64(pos), fmt.Sprintf("aborted transaction of producer %d at offsets %d..%d", a.ProducerID, a.FirstOffset, a.LastOffset), nil)
		}
		out = append(out, a)
	}
	return out, nil
}

// LastStableOffset is the partition's last stable offset for a high
// watermark: the first offset of the earliest open transaction if it is
// below highWatermark, else highWatermark. read_committed consumers read
// up to it (Kafka's UnifiedLog.lastStableOffset).
func (l *Log) LastStableOffset(highWatermark int64) int64 {
	if first := l.firstUnstable.Load(); first != noTxnFirstOffset && first < highWatermark {
		return first
	}
	return highWatermark
}

// AbortedTransactions lists the aborted transactions that overlap
// [from, upto): those whose abort marker is at or after from and whose
// first offset is below upto, in marker order (Kafka's
// collectAbortedTransactions). A read_committed fetch returns them so the
// consumer can drop the aborted batches it was sent.
func (l *Log) AbortedTransactions(from, upto int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(len(l.abortedTxns), func(i int) bool { return l.abortedTxns[i].LastOffset >= from })
	var out []AbortedTxn
	for _, a := range l.abortedTxns[i:] {
		if a.FirstOffset < upto {
			out = append(out, a)
		}
	}
	return out
}

// recordAbortedLocked appends entries (markers just written to the active
// segment) to its .txnindex file and publishes them to readers. The file
// is fsynced when the segment is sealed (syncTxnIndexLocked); until then a
// crash loses nothing, since recovery rebuilds the entries of every
// segment past the newest producer snapshot from the log. For the same
// reason, when no descriptor can be had for the file, the entries are
// published all the same and the file rewritten whole at the seal.
func (l *Log) recordAbortedLocked(entries []AbortedTxn) error {
	s := l.activeLocked()
	var b []byte
	for _, a := range entries {
		b = appendAbortedTxn(b, a)
	}
	name := segmentFileName(l.dir, s.baseOffset, txnIndexSuffix)
	err := l.appendTxnIndexLocked(s, name, b)
	if errors.Is(err, ErrTooManyOpenFiles) {
		l.logger.Warn("aborted transaction index left for the segment's seal", slog.String("file", name), slog.Any("error", err))
		s.txnIndexBehind, err = true, nil
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.abortedTxns = append(l.abortedTxns, entries...)
	l.mu.Unlock()
	return nil
}

// appendTxnIndexLocked appends encoded entries to s's .txnindex, creating
// it first if need be. Nothing is appended to a file already behind.
func (l *Log) appendTxnIndexLocked(s *segment, name string, b []byte) error {
	if s.txnIndexBehind {
		return nil
	}
	create := !s.hasTxnIndex
	err := l.files.transient(mayRefuse, name, func() error {
		open := l.fsys.OpenAppend
		if create {
			open = l.fsys.Create
		}
		f, err := open(name)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		_, err = f.Write(b)
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return fmt.Errorf("append to %s: %w", name, err)
		}
		return nil
	})
	if err == nil {
		s.hasTxnIndex = true
	}
	return err
}

// syncTxnIndexLocked makes segment s's .txnindex durable, name included,
// when s has one: part of sealing s. A file left behind by
// recordAbortedLocked is rewritten whole from the entries in memory.
func (l *Log) syncTxnIndexLocked(s *segment) error {
	if s.txnIndexBehind {
		if err := l.rewriteTxnIndexesLocked(l.abortedTxns, []*segment{s}); err != nil {
			return fmt.Errorf("rewrite aborted transaction index: %w", err)
		}
		s.txnIndexBehind = false
		return nil
	}
	if !s.hasTxnIndex {
		return nil
	}
	name := segmentFileName(l.dir, s.baseOffset, txnIndexSuffix)
	err := l.files.transient(mayRefuse, name, func() error {
		f, err := l.fsys.OpenAppend(name)
		if err != nil {
			return fmt.Errorf("open aborted transaction index: %w", err)
		}
		err = f.Sync() // fsync point: the sealed segment's aborted transactions
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		return err
	})
	if err == nil {
		err = l.syncDir() // fsync point: the index's name
	}
	return err
}

// loadAbortedBelowLocked reads the .txnindex files of the segments and
// returns their entries with a marker below from (the offset producer
// state is replayed from: replay rebuilds the rest), and the segments
// whose files hold entries it dropped (a truncation cut their markers),
// which must be rewritten.
func (l *Log) loadAbortedBelowLocked(from int64) (out []AbortedTxn, stale []*segment, err error) {
	for _, s := range l.segments {
		s.hasTxnIndex = false
		if s.baseOffset >= from {
			continue
		}
		name := segmentFileName(l.dir, s.baseOffset, txnIndexSuffix)
		if !l.mayExistLocked(name) {
			continue
		}
		b, err := l.readFile(neverRefuse, name, (s.size/txnIndexEntrySize+1)*txnIndexEntrySize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read aborted transaction index: %w", err)
		}
		entries, err := decodeTxnIndex(name, b)
		if err != nil {
			return nil, nil, err
		}
		s.hasTxnIndex = true
		kept := len(out)
		for _, a := range entries {
			// The range check drops the entries of later segments that
			// a compaction merged in before a crash undid it.
			if a.LastOffset < from && a.LastOffset >= s.baseOffset && a.LastOffset < s.nextOffset {
				out = append(out, a)
			}
		}
		if len(out)-kept != len(entries) {
			stale = append(stale, s)
		}
	}
	return out, stale, nil
}

// segmentsPastLocked lists the segments holding offsets at or past from
// (an empty last segment starting at from included).
func (l *Log) segmentsPastLocked(from int64) []*segment {
	var out []*segment
	for _, s := range l.segments {
		if s.nextOffset > from || s.baseOffset >= from {
			out = append(out, s)
		}
	}
	return out
}

// rewriteTxnIndexesLocked rewrites, durably, the .txnindex file of each
// of segments with its entries in aborted (sorted by marker), and removes
// the file of one that has none.
func (l *Log) rewriteTxnIndexesLocked(aborted []AbortedTxn, segments []*segment) error {
	changed := false
	for _, s := range segments {
		lo := sort.Search(len(aborted), func(i int) bool { return aborted[i].LastOffset >= s.baseOffset })
		hi := sort.Search(len(aborted), func(i int) bool { return aborted[i].LastOffset >= s.nextOffset })
		name := segmentFileName(l.dir, s.baseOffset, txnIndexSuffix)
		if lo == hi && !l.mayExistLocked(name) {
			s.hasTxnIndex, s.txnIndexBehind = false, false
			continue
		}
		if lo == hi {
			err := l.fsys.Remove(name)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale aborted transaction index: %w", err)
			}
			changed = changed || err == nil
			s.hasTxnIndex, s.txnIndexBehind = false, false
			continue
		}
		changed = true
		var b []byte
		for _, a := range aborted[lo:hi] {
			b = appendAbortedTxn(b, a)
		}
		if err := l.writeFile(name, b); err != nil {
			return err
		}
		s.hasTxnIndex, s.txnIndexBehind = true, false
	}
	if !changed {
		return nil
	}
	if err := l.syncDir(); err != nil { // fsync point: rewritten indexes' names
		return fmt.Errorf("rewrite aborted transaction indexes: sync directory: %w", err)
	}
	return nil
}

// mergeTxnIndexesLocked gives each compacted run that merges several
// segments one .txnindex at its base offset holding the aborted
// transactions of the whole run, durably, before the swap commits: the
// swap then deletes the other segments' files with them. If the swap
// never commits, the first segment's file holds entries past its end,
// which loading ignores.
func (l *Log) mergeTxnIndexesLocked(live []*cleanedSegment) error {
	for _, cs := range live {
		if len(cs.old) < 2 {
			continue
		}
		lo := sort.Search(len(l.abortedTxns), func(i int) bool { return l.abortedTxns[i].LastOffset >= cs.baseOffset })
		hi := sort.Search(len(l.abortedTxns), func(i int) bool { return l.abortedTxns[i].LastOffset >= cs.nextOffset })
		if lo == hi {
			continue
		}
		var b []byte
		for _, a := range l.abortedTxns[lo:hi] {
			b = appendAbortedTxn(b, a)
		}
		if err := l.writeFile(segmentFileName(l.dir, cs.baseOffset, txnIndexSuffix), b); err != nil {
			return err
		}
	}
	return nil
}

// abortedByProducerLocked groups the aborted-transaction index by
// producer, each list in marker order, for the cleaner. Caller holds
// appendMu (the index's writer).
func (l *Log) abortedByProducerLocked() map[int64][]AbortedTxn {
	if len(l.abortedTxns) == 0 {
		return nil
	}
	out := map[int64][]AbortedTxn{}
	for _, a := range l.abortedTxns {
		out[a.ProducerID] = append(out[a.ProducerID], a)
	}
	return out
}

// isAborted reports whether h is a data batch of an aborted transaction:
// its producer's first abort with a marker at or after the batch started
// at or before it.
func (c *cleaner) isAborted(h *record.Header) bool {
	if !h.IsTransactional() || h.IsControl() || h.ProducerID < 0 {
		return false
	}
	list := c.aborted[h.ProducerID]
	i := sort.Search(len(list), func(i int) bool { return list[i].LastOffset >= h.BaseOffset })
	return i < len(list) && list[i].FirstOffset <= h.BaseOffset
}

// publishTxnStateLocked publishes the aborted transactions and the first
// unstable offset after producer state was rebuilt.
func (l *Log) publishTxnStateLocked(aborted []AbortedTxn) {
	l.mu.Lock()
	l.abortedTxns = aborted
	l.mu.Unlock()
	l.firstUnstable.Store(l.producers.firstUnstableOffset())
}

// dropAbortedBelowLocked forgets the aborted transactions whose markers
// are below the first segment: retention deleted them.
func (l *Log) dropAbortedBelowLocked() {
	first := l.segments[0].baseOffset
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.abortedTxns), func(i int) bool { return l.abortedTxns[i].LastOffset >= first })
	if i > 0 {
		l.abortedTxns = slices.Clone(l.abortedTxns[i:])
	}
}

// logAbortedRebuilt notes a rebuild that found aborted transactions.
func (l *Log) logAbortedRebuilt(count int, from int64) {
	if count > 0 {
		l.logger.Debug("rebuilt aborted transaction index", slog.Int("aborted", count), slog.Int64("from", from))
	}
}
