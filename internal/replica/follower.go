package replica

import "fmt"

// followerWrite runs write (a change to the log) while the partition is
// not the leader, holding roleMu shared so it cannot become leader
// meanwhile: a leader's log is written only by its own appends.
func (p *Partition) followerWrite(what string, write func() error) error {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	p.mu.Lock()
	role, closed := p.role, p.closed
	p.mu.Unlock()
	if role == RoleLeader || closed {
		return fmt.Errorf("%s %s-%d as %s: %w", what, p.Topic, p.Partition, role, ErrNotFollower)
	}
	if err := write(); err != nil {
		return fmt.Errorf("%s %s-%d: %w", what, p.Topic, p.Partition, err)
	}
	return nil
}

// AppendAsFollower appends batches fetched from the leader, offsets and
// leader epochs as the leader wrote them (storage.Log.AppendReplicated:
// the first batch must start at the log end, else storage.ErrOffsetMismatch).
// It does not fsync: call SyncFollower before the next fetch reports the
// new log end to the leader.
func (p *Partition) AppendAsFollower(batches []byte) error {
	err := p.followerWrite("replicated append to", func() error {
		_, err := p.log.AppendReplicated(batches)
		return err
	})
	if err != nil {
		return err
	}
	p.logMoved(true)
	return nil
}

// SyncFollower makes everything appended durable (nothing to do with
// write caching), so that the log end the next fetch reports, which the
// leader counts toward its high watermark, cannot be lost to a power cut.
func (p *Partition) SyncFollower() error {
	if p.log.WriteCaching() {
		return nil
	}
	if err := p.log.Sync(p.log.LogEndOffset()); err != nil {
		return fmt.Errorf("sync %s-%d: %w", p.Topic, p.Partition, err)
	}
	return nil
}

// DurableLogEnd is the offset a follower's fetch reports: its log end,
// all of it durable once SyncFollower returned (or with write caching).
func (p *Partition) DurableLogEnd() int64 { return p.durableOffset() }

// SetFollowerHighWatermark applies the high watermark the leader sent,
// capped at what is durable here: a follower never exposes (or, promoted,
// starts from) a high watermark above records it could lose. It never
// moves back, except through a truncation. A leader ignores it.
func (p *Partition) SetFollowerHighWatermark(hw int64) {
	durable := p.durableOffset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role == RoleLeader || p.closed {
		return
	}
	hw = min(hw, durable)
	if hw <= p.highWatermark.Load() {
		return
	}
	p.highWatermark.Store(hw)
	p.notifyLocked(wakeHighWatermark)
}

// TruncateTo drops the follower's records at and after offset (a tail
// that diverges from the new leader's log, KIP-101/KIP-279) and lowers the
// high watermark to the new log end if it was above.
func (p *Partition) TruncateTo(offset int64) error {
	return p.truncate("truncate", func() error { return p.log.Truncate(offset) })
}

// TruncateFullyAndStartAt empties the follower's log and restarts it at
// offset: the leader's log start is past everything the follower has.
func (p *Partition) TruncateFullyAndStartAt(offset int64) error {
	return p.truncate("restart", func() error { return p.log.TruncateFullyAndStartAt(offset) })
}

func (p *Partition) truncate(what string, cut func() error) error {
	err := p.followerWrite(what, cut)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.highWatermark.Load() > p.log.LogEndOffset() {
		p.resetHighWatermarkLocked()
		p.notifyLocked(wakeHighWatermark | wakeLogEnd)
	}
	if err != nil {
		return err
	}
	if p.highWatermark.Load() < p.log.LogStartOffset() {
		p.highWatermark.Store(p.log.LogStartOffset())
	}
	return nil
}

// LatestEpoch is the newest leader epoch in the local log's epoch cache
// (what a follower asks the leader about, OffsetForLeaderEpoch).
func (p *Partition) LatestEpoch() (epoch int32, ok bool) { return p.log.LatestEpoch() }

// LocalEndOffsetForEpoch is the local log's end of epoch (Kafka's
// LeaderEpochFileCache.endOffsetFor), without role or epoch checks: the
// follower's side of a truncation.
func (p *Partition) LocalEndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	return p.log.EndOffsetForEpoch(epoch)
}
