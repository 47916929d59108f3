package replica

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/storage"
)

// Partition is one hosted topic partition.
type Partition struct {
	Topic     string
	TopicID   [16]byte
	Partition int32

	log           *storage.Log
	highWatermark atomic.Int64

	mu          sync.Mutex // guards leaderEpoch and watchers
	leaderEpoch int32
	// watchers get a non-blocking send each time the high watermark or the
	// last stable offset moves;
	// a long-polling fetch registers one channel with every partition it
	// waits on, so one wake-up costs a send, not a goroutine.
	watchers map[chan<- struct{}]struct{}
}

func newPartition(topic string, topicID [16]byte, partition int32, log *storage.Log, leaderEpoch int32) *Partition {
	p := &Partition{Topic: topic, TopicID: topicID, Partition: partition, log: log, leaderEpoch: leaderEpoch, watchers: map[chan<- struct{}]struct{}{}}
	p.highWatermark.Store(log.LogEndOffset())
	return p
}

// Log exposes the partition's storage for reads and offset queries.
func (p *Partition) Log() *storage.Log { return p.log }

// LeaderEpoch is the current leader epoch of the partition.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leaderEpoch
}

func (p *Partition) setLeaderEpoch(epoch int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaderEpoch = epoch
}

// HighWatermark is the offset below which records are committed and visible
// to consumers.
func (p *Partition) HighWatermark() int64 { return p.highWatermark.Load() }

// Watch registers ch (which should have a buffer of one) to receive a
// non-blocking send whenever the high watermark or the last stable offset
// moves. Call the returned
// function to stop watching. Register before checking the condition you
// wait for, so no change is missed.
func (p *Partition) Watch(ch chan<- struct{}) (unwatch func()) {
	p.mu.Lock()
	p.watchers[ch] = struct{}{}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.watchers, ch)
		p.mu.Unlock()
	}
}

// wake notifies every watcher that the high watermark or the last stable
// offset moved.
func (p *Partition) wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch := range p.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Append writes validated batches under the current leader epoch. It does
// not wait for durability: call Commit with the result's last offset before
// acknowledging when the guarantee needs it.
func (p *Partition) Append(batches []byte) (storage.AppendResult, error) {
	res, err := p.log.Append(batches, p.LeaderEpoch())
	if err != nil {
		return res, fmt.Errorf("append to %s-%d: %w", p.Topic, p.Partition, err)
	}
	if p.log.WriteCaching() {
		p.advanceHighWatermark(p.log.LogEndOffset())
	}
	return res, nil
}

// AppendProduced is Append for a producer's batches: idempotent batches
// are checked against their producer's state first
// (storage.Log.AppendProduced). A retry of a recent batch appends nothing
// and returns the original offsets with Duplicate set; Commit its last
// offset before acknowledging, as for a fresh append, since the original
// may not be durable yet.
func (p *Partition) AppendProduced(batches []byte) (storage.AppendResult, error) {
	res, err := p.log.AppendProduced(batches, p.LeaderEpoch())
	if err != nil {
		return res, fmt.Errorf("append to %s-%d: %w", p.Topic, p.Partition, err)
	}
	if p.log.WriteCaching() && !res.Duplicate {
		p.advanceHighWatermark(p.log.LogEndOffset())
	}
	return res, nil
}

// AppendTxnMarker writes the commit (commit true) or abort marker that
// ends producerID's transaction in this partition, for the transaction
// coordinator of coordinatorEpoch, and returns once it is durable (as a
// produce is acknowledged) with the marker's offset. An abort goes into
// the aborted-transaction index. A marker older than the producer's epoch
// fails with storage.ErrInvalidProducerEpoch, one from a deposed
// coordinator with storage.ErrTransactionCoordinatorFenced. Ending the
// transaction can move the last stable offset without the high watermark
// moving, so read_committed fetchers are woken.
func (p *Partition) AppendTxnMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) (offset int64, err error) {
	res, err := p.log.AppendTxnMarker(producerID, producerEpoch, commit, coordinatorEpoch, p.LeaderEpoch())
	if err != nil {
		return -1, fmt.Errorf("transaction marker for %s-%d: %w", p.Topic, p.Partition, err)
	}
	p.wake()
	if p.log.WriteCaching() {
		p.advanceHighWatermark(p.log.LogEndOffset())
	}
	if err := p.Commit(res.LastOffset); err != nil {
		return -1, err
	}
	return res.BaseOffset, nil
}

// LastStableOffset is the offset below which every transaction has ended
// (committed or aborted) and every record is committed: the first offset
// of the earliest open transaction, or the high watermark when it is
// lower. read_committed fetches and ListOffsets read up to it.
func (p *Partition) LastStableOffset() int64 {
	return p.log.LastStableOffset(p.highWatermark.Load())
}

// Commit makes every offset up to and including lastOffset durable (group
// committed with concurrent callers) and advances the high watermark over
// it. With write caching it returns at once: the data is acknowledged from
// the page cache, as Kafka does.
func (p *Partition) Commit(lastOffset int64) error {
	if p.log.WriteCaching() {
		return nil
	}
	if err := p.log.Sync(lastOffset + 1); err != nil {
		return fmt.Errorf("sync %s-%d: %w", p.Topic, p.Partition, err)
	}
	p.advanceHighWatermark(p.log.FlushedOffset())
	return nil
}

// advanceHighWatermark moves the high watermark forward (never back) and
// wakes waiters.
func (p *Partition) advanceHighWatermark(offset int64) {
	for {
		cur := p.highWatermark.Load()
		if offset <= cur {
			return
		}
		if p.highWatermark.CompareAndSwap(cur, offset) {
			break
		}
	}
	p.wake()
}

// resetHighWatermark sets the high watermark after a truncation or a
// DeleteRecords that moved the log below it, and wakes waiters.
func (p *Partition) resetHighWatermark() {
	p.highWatermark.Store(min(p.highWatermark.Load(), p.log.LogEndOffset()))
	p.wake()
}
