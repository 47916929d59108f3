package replica

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Requester sends one Kafka request to a broker and returns its response;
// *wire.Client implements it.
type Requester interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
}

// FetcherConfig configures the replica fetchers, Kafka's replica.fetch.*
// settings.
type FetcherConfig struct {
	// NodeID is this broker's node.id, sent as the fetch's replica ID.
	NodeID int32
	// Client returns the client for a broker's inter-broker listener,
	// false while the broker is unknown.
	Client func(brokerID int32) (Requester, bool)
	// NumFetchers is num.replica.fetchers: fetcher goroutines (and
	// connections) per source broker.
	NumFetchers int
	// PartitionMaxBytes is replica.fetch.max.bytes, ResponseMaxBytes
	// replica.fetch.response.max.bytes.
	PartitionMaxBytes int32
	ResponseMaxBytes  int32
	// MaxWait is replica.fetch.wait.max.ms and MinBytes
	// replica.fetch.min.bytes: the leader holds a fetch until this much
	// data arrives or the wait ends.
	MaxWait  time.Duration
	MinBytes int32
	// Backoff is replica.fetch.backoff.ms: the pause after an error.
	Backoff time.Duration
	// Logger receives the fetchers' logs.
	Logger *slog.Logger
}

// fetchVersion is the Fetch version followers send: v12 names topics,
// carries the replica ID in the body and the current leader epoch
// (KIP-320) and accepts compact encodings.
const fetchVersion = 12

// offsetForLeaderEpochVersion is the OffsetForLeaderEpoch version
// followers send (v3+ carries the replica ID).
const offsetForLeaderEpochVersion = 4

// Fetchers replicates the partitions this broker follows: one goroutine
// per (leader, fetcher index), each sending Kafka Fetch requests with this
// broker's replica ID to the leader, appending what it gets, making it
// durable before the next fetch reports it, and truncating a divergent
// tail by OffsetForLeaderEpoch when a partition is (re)added.
//
// Threading: Fetchers' map is guarded by mu; each fetcher guards its own
// partitions with its mutex, held while it applies a response, so that
// once Remove returns no more data is appended for that partition.
type Fetchers struct {
	cfg FetcherConfig
	log *slog.Logger

	mu       sync.Mutex // guards fetchers and closed
	fetchers map[fetcherKey]*fetcher
	closed   bool
	wg       sync.WaitGroup
}

type fetcherKey struct {
	source int32
	index  int
}

// NewFetchers returns an idle set of fetchers.
func NewFetchers(cfg FetcherConfig) *Fetchers {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.NumFetchers = max(cfg.NumFetchers, 1)
	return &Fetchers{cfg: cfg, log: cfg.Logger, fetchers: map[fetcherKey]*fetcher{}}
}

// Add makes p fetch from leader under leaderEpoch, moving it off any
// fetcher it was on; the partition first truncates to where its log
// agrees with the leader's.
func (f *Fetchers) Add(p *Partition, leader, leaderEpoch int32) {
	tp := TopicPartition{p.Topic, p.Partition}
	f.Remove(tp)
	key := fetcherKey{source: leader, index: fetcherIndex(tp, f.cfg.NumFetchers)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	ft := f.fetchers[key]
	if ft == nil {
		ft = newFetcher(f, key)
		f.fetchers[key] = ft
		f.wg.Go(ft.run)
	}
	ft.add(&fetchState{partition: p, leaderEpoch: leaderEpoch, truncate: true})
}

// Remove stops fetching tp. Once it returns, no fetcher appends to it.
func (f *Fetchers) Remove(tp TopicPartition) {
	f.mu.Lock()
	fetchers := make([]*fetcher, 0, len(f.fetchers))
	for _, ft := range f.fetchers {
		fetchers = append(fetchers, ft)
	}
	f.mu.Unlock()
	for _, ft := range fetchers {
		ft.remove(tp)
	}
}

// Close stops every fetcher and waits for them.
func (f *Fetchers) Close() {
	f.mu.Lock()
	f.closed = true
	for _, ft := range f.fetchers {
		ft.stop()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func fetcherIndex(tp TopicPartition, n int) int {
	h := fnv.New32a()
	h.Write([]byte(tp.Topic))
	return int((h.Sum32() + uint32(tp.Partition)) % uint32(n))
}

// fetchState is one followed partition on a fetcher.
type fetchState struct {
	partition   *Partition
	leaderEpoch int32
	// truncate: the log must first be truncated to where it agrees with
	// the leader (set when added, and after OFFSET_OUT_OF_RANGE).
	truncate bool
	// delayedUntil holds the partition back after an error.
	delayedUntil time.Time
}

// fetcher is one goroutine fetching from one leader.
type fetcher struct {
	owner *Fetchers
	key   fetcherKey
	log   *slog.Logger

	mu         sync.Mutex // guards partitions; held while a response is applied
	partitions map[TopicPartition]*fetchState
	changed    chan struct{} // cap 1: partitions were added
	ctx        context.Context
	cancel     context.CancelFunc
}

func newFetcher(owner *Fetchers, key fetcherKey) *fetcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &fetcher{
		owner: owner, key: key, ctx: ctx, cancel: cancel,
		log:        owner.log.With("leader", key.source, "fetcher", key.index),
		partitions: map[TopicPartition]*fetchState{},
		changed:    make(chan struct{}, 1),
	}
}

func (ft *fetcher) add(st *fetchState) {
	ft.mu.Lock()
	ft.partitions[TopicPartition{st.partition.Topic, st.partition.Partition}] = st
	ft.mu.Unlock()
	select {
	case ft.changed <- struct{}{}:
	default:
	}
}

func (ft *fetcher) remove(tp TopicPartition) {
	ft.mu.Lock()
	delete(ft.partitions, tp)
	ft.mu.Unlock()
}

func (ft *fetcher) stop() { ft.cancel() }

// run fetches until stopped: truncate what needs it, fetch, apply.
func (ft *fetcher) run() {
	for ft.ctx.Err() == nil {
		ready, wait := ft.ready(time.Now())
		if len(ready) == 0 {
			ft.idle(wait)
			continue
		}
		client, ok := ft.owner.cfg.Client(ft.key.source)
		if !ok {
			ft.idle(ft.owner.cfg.Backoff)
			continue
		}
		if err := ft.truncateDivergent(client, ready); err != nil {
			ft.log.Warn("leader epoch lookup failed", "err", err)
			ft.idle(ft.owner.cfg.Backoff)
			continue
		}
		if err := ft.fetchOnce(client, ready); err != nil {
			if ft.ctx.Err() == nil {
				ft.log.Debug("replica fetch failed", "err", err)
				ft.idle(ft.owner.cfg.Backoff)
			}
		}
	}
}

// idle waits for d, a partition change or the end.
func (ft *fetcher) idle(d time.Duration) {
	if d <= 0 {
		d = ft.owner.cfg.Backoff
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ft.ctx.Done():
	case <-ft.changed:
	case <-t.C:
	}
}

// ready lists the partitions not held back, and how long until the
// first held-back one is due.
func (ft *fetcher) ready(now time.Time) (map[TopicPartition]*fetchState, time.Duration) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	out := map[TopicPartition]*fetchState{}
	wait := time.Duration(0)
	for tp, st := range ft.partitions {
		if d := st.delayedUntil.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		cp := *st
		out[tp] = &cp
	}
	return out, wait
}

// current returns the live state of tp if it is still on this fetcher
// under the epoch the caller fetched with; ft.mu must be held.
func (ft *fetcher) currentLocked(tp TopicPartition, epoch int32) *fetchState {
	st := ft.partitions[tp]
	if st == nil || st.leaderEpoch != epoch {
		return nil
	}
	return st
}

// truncateDivergent asks the leader where each flagged partition's latest
// epoch ends and truncates the local log there (KIP-101, KIP-279), so a
// follower never keeps records the new leader does not have.
func (ft *fetcher) truncateDivergent(client Requester, ready map[TopicPartition]*fetchState) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(offsetForLeaderEpochVersion)
	req.ReplicaID = ft.owner.cfg.NodeID
	byTopic := map[string]int{}
	for tp, st := range ready {
		if !st.truncate {
			continue
		}
		epoch, ok := st.partition.log.LatestEpoch()
		if !ok {
			// No epoch history (an empty log, or one written before
			// leader epochs were kept): keep only what was committed.
			ft.truncateTo(tp, st, st.partition.HighWatermark())
			continue
		}
		i, ok := byTopic[tp.Topic]
		if !ok {
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[tp.Topic] = i
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tp.Partition, st.leaderEpoch, epoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if len(req.Topics) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ft.ctx, 10*time.Second)
	defer cancel()
	raw, err := client.Request(ctx, req)
	if err != nil {
		return fmt.Errorf("offset for leader epoch: %w", err)
	}
	resp := raw.(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			tp := TopicPartition{t.Topic, rp.Partition}
			st := ready[tp]
			if st == nil {
				continue
			}
			if rp.ErrorCode != 0 {
				ft.delay(tp, st.leaderEpoch, kerr.ErrorForCode(rp.ErrorCode))
				continue
			}
			ft.truncateTo(tp, st, ft.divergenceOffset(st.partition, rp.LeaderEpoch, rp.EndOffset))
		}
	}
	return nil
}

// divergenceOffset is where the local log stops agreeing with the leader:
// the leader's end offset for the latest epoch both know, capped by where
// that epoch ends locally.
func (ft *fetcher) divergenceOffset(p *Partition, leaderEpoch int32, leaderEnd int64) int64 {
	if leaderEpoch < 0 || leaderEnd < 0 {
		// The leader knows no epoch as old as ours: keep what was committed.
		return p.HighWatermark()
	}
	_, localEnd := p.log.EndOffsetForEpoch(leaderEpoch)
	if localEnd < 0 {
		return min(leaderEnd, p.HighWatermark())
	}
	return min(leaderEnd, localEnd)
}

// truncateTo cuts the log at offset (if it is longer) and clears the
// partition's truncate flag.
func (ft *fetcher) truncateTo(tp TopicPartition, fetched *fetchState, offset int64) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	st := ft.currentLocked(tp, fetched.leaderEpoch)
	if st == nil {
		return
	}
	p := st.partition
	if leo := p.log.LogEndOffset(); offset < leo {
		ft.log.Info("truncating divergent log tail", "topic", tp.Topic, "partition", tp.Partition,
			"from", leo, "to", offset, "leaderEpoch", st.leaderEpoch)
	}
	// Also when no record goes: the epoch cache may end with an epoch this
	// broker assigned as a leader that never wrote, which the new leader
	// does not have (Kafka's truncateTo does the same).
	if err := p.TruncateTo(offset); err != nil {
		ft.log.Error("truncate failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		st.delayedUntil = time.Now().Add(ft.owner.cfg.Backoff)
		return
	}
	st.truncate = false
}

// delay holds tp back for the backoff after err.
func (ft *fetcher) delay(tp TopicPartition, epoch int32, err error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if st := ft.currentLocked(tp, epoch); st != nil {
		ft.log.Debug("replica fetch partition error", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		backoff := ft.owner.cfg.Backoff
		if metadataLag(err) {
			backoff = min(backoff, metadataLagRetry)
		}
		st.delayedUntil = time.Now().Add(backoff)
	}
}

// fetchOnce sends one Fetch for the ready partitions and applies it.
func (ft *fetcher) fetchOnce(client Requester, ready map[TopicPartition]*fetchState) error {
	cfg := ft.owner.cfg
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID = cfg.NodeID
	req.MaxWaitMillis = int32(cfg.MaxWait / time.Millisecond)
	req.MinBytes = cfg.MinBytes
	req.MaxBytes = cfg.ResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1
	byTopic := map[string]int{}
	for tp, st := range ready {
		if st.truncate {
			continue
		}
		// The fetch offset tells the leader what is durable here, which its
		// high watermark counts: records this broker did not fetch (its own
		// unsynced appends as a deposed leader) or whose sync failed must be
		// fsynced first.
		if st.partition.DurableLogEnd() < st.partition.log.LogEndOffset() {
			if err := st.partition.SyncFollower(); err != nil {
				ft.log.Error("replica sync failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
				ft.delay(tp, st.leaderEpoch, err)
				continue
			}
		}
		i, ok := byTopic[tp.Topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[tp.Topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.CurrentLeaderEpoch = st.leaderEpoch
		rp.FetchOffset = st.partition.log.LogEndOffset()
		rp.LogStartOffset = st.partition.log.LogStartOffset()
		rp.PartitionMaxBytes = cfg.PartitionMaxBytes
		if epoch, ok := st.partition.log.LatestEpoch(); ok {
			rp.LastFetchedEpoch = epoch
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if len(req.Topics) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ft.ctx, cfg.MaxWait+30*time.Second)
	defer cancel()
	raw, err := client.Request(ctx, req)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	resp := raw.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return fmt.Errorf("fetch: %w", kerr.ErrorForCode(resp.ErrorCode))
	}
	ft.apply(resp, ready)
	return nil
}

// apply appends every partition's records, makes them durable, then
// moves each follower high watermark.
func (ft *fetcher) apply(resp *kmsg.FetchResponse, ready map[TopicPartition]*fetchState) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	type appended struct {
		p             *Partition
		highWatermark int64
	}
	var done []appended
	for _, t := range resp.Topics {
		for i := range t.Partitions {
			rp := &t.Partitions[i]
			tp := TopicPartition{t.Topic, rp.Partition}
			fetched := ready[tp]
			if fetched == nil {
				continue
			}
			st := ft.currentLocked(tp, fetched.leaderEpoch)
			if st == nil {
				continue
			}
			if rp.ErrorCode != 0 {
				ft.partitionErrorLocked(tp, st, rp)
				continue
			}
			if rp.DivergingEpoch.Epoch >= 0 {
				// The leader says our last epoch ends earlier on its side
				// (KIP-595's check inside Fetch): find where by
				// OffsetForLeaderEpoch and cut there before fetching on.
				st.truncate = true
				continue
			}
			if err := ft.appendLocked(st, rp); err != nil {
				ft.log.Error("replica append failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
				st.truncate = true
				st.delayedUntil = time.Now().Add(ft.owner.cfg.Backoff)
				continue
			}
			done = append(done, appended{st.partition, rp.HighWatermark})
		}
	}
	// Durable before the next fetch reports these offsets to the leader:
	// that is what lets the leader's high watermark count this replica.
	for _, a := range done {
		if err := a.p.SyncFollower(); err != nil {
			// The next fetch syncs again before reporting (fetchOnce).
			ft.log.Error("replica sync failed", "topic", a.p.Topic, "partition", a.p.Partition, "err", err)
			continue
		}
		a.p.SetFollowerHighWatermark(a.highWatermark)
	}
}

// appendLocked writes one partition's fetched batches.
func (ft *fetcher) appendLocked(st *fetchState, rp *kmsg.FetchResponseTopicPartition) error {
	p := st.partition
	if rp.LogStartOffset > p.log.LogStartOffset() {
		if err := p.log.DeleteRecordsBefore(min(rp.LogStartOffset, p.log.LogEndOffset())); err != nil {
			return fmt.Errorf("follow leader's log start offset %d: %w", rp.LogStartOffset, err)
		}
	}
	batches := wholeBatches(rp.RecordBatches)
	if len(batches) == 0 {
		return nil
	}
	if err := p.AppendAsFollower(batches); err != nil {
		return err
	}
	return nil
}

// partitionErrorLocked reacts to a partition's fetch error.
func (ft *fetcher) partitionErrorLocked(tp TopicPartition, st *fetchState, rp *kmsg.FetchResponseTopicPartition) {
	err := kerr.ErrorForCode(rp.ErrorCode)
	switch {
	case errors.Is(err, kerr.OffsetOutOfRange):
		if rp.LogStartOffset > st.partition.log.LogEndOffset() {
			// The leader deleted what we lack: start over at its log start.
			ft.log.Info("follower behind the leader's log start, restarting the log",
				"topic", tp.Topic, "partition", tp.Partition, "logStartOffset", rp.LogStartOffset)
			if terr := st.partition.TruncateFullyAndStartAt(rp.LogStartOffset); terr != nil {
				ft.log.Error("restart log failed", "topic", tp.Topic, "partition", tp.Partition, "err", terr)
			}
			return
		}
		st.truncate = true
	case metadataLag(err):
		// The leader has not applied the image that made this broker its
		// follower yet (a new topic, a new epoch): that takes milliseconds,
		// so retry soon instead of after the whole backoff, which would
		// hold a new partition's high watermark for a second.
		ft.log.Debug("replica fetch partition error", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		st.delayedUntil = time.Now().Add(min(ft.owner.cfg.Backoff, metadataLagRetry))
		return
	default:
		// FENCED_LEADER_EPOCH: this broker's metadata is behind; the next
		// image fixes it.
		ft.log.Debug("replica fetch partition error", "topic", tp.Topic, "partition", tp.Partition, "err", err)
	}
	st.delayedUntil = time.Now().Add(ft.owner.cfg.Backoff)
}

// metadataLagRetry is how soon a partition is fetched again after an
// error that means the leader's metadata is behind this broker's.
const metadataLagRetry = 50 * time.Millisecond

// metadataLag reports errors a leader gives while it has not yet applied
// the metadata this follower acts on.
func metadataLag(err error) bool {
	return errors.Is(err, kerr.UnknownLeaderEpoch) || errors.Is(err, kerr.NotLeaderForPartition) ||
		errors.Is(err, kerr.UnknownTopicOrPartition)
}

// wholeBatches drops a trailing partial batch (a leader may cut a
// response mid-batch at its size limit).
func wholeBatches(b []byte) []byte {
	const headerPrefix = 12 // baseOffset int64 + batchLength int32
	n := 0
	for len(b)-n >= headerPrefix {
		size := int(int32(binary.BigEndian.Uint32(b[n+8:n+12]))) + headerPrefix
		if size < headerPrefix || n+size > len(b) {
			break
		}
		n += size
	}
	return b[:n]
}
