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
// broker's replica ID to the leader, appending what it gets, and
// truncating a divergent tail by OffsetForLeaderEpoch when a partition is
// (re)added.
//
// A fetcher pipelines its fsyncs with its fetches: after appending a
// response it starts the partitions' fsyncs in the background and, once
// they have run for syncOverlapAfter, sends the next fetch without
// waiting for them, reporting its log end as the fetch offset and the
// durable end known at send time in DurableEndTag, which is what the
// leader's high watermark counts. (An fsync that ends sooner is reported
// by that fetch: overlapping it would only add a round trip before the
// leader hears of it.) Before it applies the next response it waits for
// those fsyncs, so one generation of them runs at a time and appends stay
// ordered. While one runs the fetch asks the leader not to wait (max wait
// 0): the fsync's end must reach the leader with the next fetch, not
// after replica.fetch.wait.max.ms on an idle partition.
//
// Threading: Fetchers' map is guarded by mu; each fetcher guards its own
// partitions with its mutex, held while it applies a response, so that
// once Remove returns no more data is appended for that partition; Remove
// also waits for a running fsync of the partition, and Close for every
// fetcher's.
type Fetchers struct {
	cfg FetcherConfig
	log *slog.Logger

	mu       sync.Mutex // guards fetchers and closed
	fetchers map[fetcherKey]*fetcher
	closed   bool
	wg       sync.WaitGroup
	// overlapAfter is how long a fetcher waits for its fsyncs before the
	// next fetch overlaps them: syncOverlapAfter (tests change it before
	// the first Add).
	overlapAfter time.Duration
}

// syncOverlapAfter is how long a follower's fsync may run before its next
// fetch goes out without it. Shorter fsyncs (a small append takes about
// 0.1 ms on an SSD) are reported by that fetch, as a serial follower
// would; an overlapped one is reported a round trip later, which only
// pays when the fsync is longer than the round trip (large fetches, a
// busy disk: 1-4 ms).
const syncOverlapAfter = 500 * time.Microsecond

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
	return &Fetchers{cfg: cfg, log: cfg.Logger, fetchers: map[fetcherKey]*fetcher{}, overlapAfter: syncOverlapAfter}
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

	mu         sync.Mutex // guards partitions and syncs; held while a response is applied
	partitions map[TopicPartition]*fetchState
	// syncs is the latest generation of background fsyncs, nil before the
	// first. Only the run goroutine starts one, after the previous ended.
	syncs   *syncGen
	changed chan struct{} // cap 1: partitions were added
	ctx     context.Context
	cancel  context.CancelFunc
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
	g := ft.syncs
	ft.mu.Unlock()
	// A running fsync of tp would otherwise end after Remove returned and
	// apply a follower high watermark to a partition that may lead by
	// then, or hide a durable offset from the leader state it starts.
	// No later generation holds tp: apply only syncs current partitions.
	if g.has(tp) {
		<-g.done
	}
}

func (ft *fetcher) stop() { ft.cancel() }

// run fetches until stopped: truncate what needs it, fetch, apply. It
// returns once the last fsyncs it started have ended.
func (ft *fetcher) run() {
	defer ft.awaitSyncs()
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
		if needsTruncation(ready) {
			// A truncation does not overlap this fetcher's fsyncs either
			// (storage would serialise them; this keeps the order plain).
			ft.awaitSyncs()
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
	// The caller's copy too, so the fetch of this same round includes the
	// partition (Kafka's maybeTruncate then maybeFetch) instead of a long
	// poll on the others first: after a leader change that is up to
	// replica.fetch.wait.max.ms without acks=all progress.
	fetched.truncate = false
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
	ft.awaitSyncsFor(ft.owner.overlapAfter)
	req := ft.fetchRequest(ready, ft.runningSyncs())
	if req == nil {
		return nil
	}
	if _, due := ft.ready(time.Now()); due > 0 {
		// A partition held back briefly (the new leader had not applied
		// its epoch yet: metadataLagRetry) is fetched when it is due, not
		// after a long poll on the others.
		req.MaxWaitMillis = min(req.MaxWaitMillis, int32(due/time.Millisecond)+1)
	}
	ctx, cancel := context.WithTimeout(ft.ctx, ft.owner.cfg.MaxWait+30*time.Second)
	defer cancel()
	raw, err := client.Request(ctx, req)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	resp := raw.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return fmt.Errorf("fetch: %w", kerr.ErrorForCode(resp.ErrorCode))
	}
	// One generation of fsyncs at a time, and this response's appends
	// after the previous one's are durable or failed.
	ft.awaitSyncs()
	ft.apply(resp, ready)
	return nil
}

// fetchRequest builds the Fetch for the ready partitions, nil if none is
// due. Each partition reports its log end as the fetch offset and its
// durable end, as known now, in DurableEndTag: the leader's high watermark
// counts only the durable part. While a partition's fsync (in running) is
// still going the fetch does not wait at the leader: it brings new data
// if there is some and returns at once, and the fetch after it reports
// the fsync's end.
func (ft *fetcher) fetchRequest(ready map[TopicPartition]*fetchState, running *syncGen) *kmsg.FetchRequest {
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
		if running.has(tp) {
			req.MaxWaitMillis = 0
		} else if !ft.syncUnsynced(tp, st) {
			continue
		}
		i, ok := byTopic[tp.Topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[tp.Topic] = i
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, ft.fetchPartition(tp, st))
	}
	if len(req.Topics) == 0 {
		return nil
	}
	return req
}

// fetchPartition is one partition of a Fetch: where the log ends, the
// part of that which is durable, and the epoch of the last batch.
func (ft *fetcher) fetchPartition(tp TopicPartition, st *fetchState) kmsg.FetchRequestTopicPartition {
	p := st.partition
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = tp.Partition
	rp.CurrentLeaderEpoch = st.leaderEpoch
	rp.FetchOffset = p.log.LogEndOffset()
	SetDurableEnd(&rp, p.DurableLogEnd())
	rp.LogStartOffset = p.log.LogStartOffset()
	rp.PartitionMaxBytes = ft.owner.cfg.PartitionMaxBytes
	if epoch, ok := p.log.LatestEpoch(); ok {
		rp.LastFetchedEpoch = epoch
	}
	return rp
}

// syncUnsynced fsyncs a partition with no fsync running whose log goes
// beyond its durable end: records this broker did not fetch (its own
// unsynced appends as a deposed leader) or whose background fsync failed.
// The durable end reported would exclude them anyway; syncing here keeps
// them from holding the high watermark back with nothing else to sync
// them. A failed fsync holds the partition back (false).
func (ft *fetcher) syncUnsynced(tp TopicPartition, st *fetchState) bool {
	p := st.partition
	if p.DurableLogEnd() >= p.log.LogEndOffset() {
		return true
	}
	if err := p.SyncFollower(); err != nil {
		ft.log.Error("replica sync failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		ft.delay(tp, st.leaderEpoch, err)
		return false
	}
	return true
}

// apply appends every partition's records and starts their fsyncs; each
// follower high watermark moves once its partition is durable (at once
// when nothing needs an fsync). The caller has waited for the previous
// fsyncs.
func (ft *fetcher) apply(resp *kmsg.FetchResponse, ready map[TopicPartition]*fetchState) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	pending := map[TopicPartition]pendingSync{}
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
			p := st.partition
			if p.DurableLogEnd() < p.log.LogEndOffset() {
				pending[tp] = pendingSync{p: p, highWatermark: rp.HighWatermark}
				continue
			}
			p.SetFollowerHighWatermark(rp.HighWatermark)
		}
	}
	ft.startSyncsLocked(pending)
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

// needsTruncation reports whether a ready partition must truncate first.
func needsTruncation(ready map[TopicPartition]*fetchState) bool {
	for _, st := range ready {
		if st.truncate {
			return true
		}
	}
	return false
}

// syncGen is one generation of follower fsyncs: the partitions one
// response appended to, made durable on their own goroutine while the
// next fetch is on the wire (serially, the fsync took half of each
// replication cycle). syncs is fixed before the goroutine starts and only
// read afterwards; done is closed when every fsync has ended.
type syncGen struct {
	syncs map[TopicPartition]pendingSync
	done  chan struct{}
}

// pendingSync is one partition to make durable and the high watermark
// its leader sent, applied once the fsync succeeded: a follower never
// exposes a high watermark above what it has durably.
type pendingSync struct {
	p             *Partition
	highWatermark int64
}

// has reports whether the generation syncs tp (false for nil).
func (g *syncGen) has(tp TopicPartition) bool {
	if g == nil {
		return false
	}
	_, ok := g.syncs[tp]
	return ok
}

// run fsyncs every partition and moves its follower high watermark. A
// failed fsync moves nothing: the partition's durable end stays where it
// was, which is all its fetches report, and the next fetch syncs it again
// first (syncUnsynced).
func (g *syncGen) run(log *slog.Logger) {
	defer close(g.done)
	for tp, ps := range g.syncs {
		if err := ps.p.SyncFollower(); err != nil {
			log.Error("replica sync failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			continue
		}
		ps.p.SetFollowerHighWatermark(ps.highWatermark)
	}
}

// startSyncsLocked starts a generation for pending, if any; ft.mu is
// held and the previous generation has ended. Its goroutine is counted by
// the owner's WaitGroup, so Close waits for it too.
func (ft *fetcher) startSyncsLocked(pending map[TopicPartition]pendingSync) {
	if len(pending) == 0 {
		return
	}
	g := &syncGen{syncs: pending, done: make(chan struct{})}
	ft.syncs = g
	ft.owner.wg.Go(func() { g.run(ft.log) })
}

// runningSyncs returns the latest generation while it runs, else nil.
func (ft *fetcher) runningSyncs() *syncGen {
	ft.mu.Lock()
	g := ft.syncs
	ft.mu.Unlock()
	if g == nil {
		return nil
	}
	select {
	case <-g.done:
		return nil
	default:
		return g
	}
}

// awaitSyncsFor waits up to d for the latest generation of fsyncs to end
// (or the fetcher to stop).
func (ft *fetcher) awaitSyncsFor(d time.Duration) {
	g := ft.runningSyncs()
	if g == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.done:
	case <-t.C:
	case <-ft.ctx.Done():
	}
}

// awaitSyncs waits for the latest generation of fsyncs to end.
func (ft *fetcher) awaitSyncs() {
	ft.mu.Lock()
	g := ft.syncs
	ft.mu.Unlock()
	if g != nil {
		<-g.done
	}
}
