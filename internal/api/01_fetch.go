package api

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
)

// Fetch v4-v18 (v4 is the first that carries magic v2 batches and the
// isolation level; v7 adds KIP-227 sessions; v13 names topics by ID,
// KIP-516). read_uncommitted consumers see records below the high
// watermark; read_committed ones (isolation_level 1) below the last stable
// offset, with the aborted transactions overlapping what they were sent
// (producer ID and first offset) so they can drop those records. A fetch
// long-polls: it answers once min_bytes are available, max_wait_ms passes,
// or a partition errors, woken by high-watermark and last-stable-offset
// moves rather than polling. max_bytes and partition_max_bytes bound the
// response, except that the first batch found is always returned whole
// (KIP-74) so a large batch can never stall a consumer. Follower fetches
// (replica_id >= 0) arrive with replication.

func handleFetch(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.FetchRequest)
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	plan := b.fetchSessions.plan(r, func(name string, id [16]byte) (string, [16]byte) {
		return b.fetchTopic(name, id, r.Version >= 13)
	})
	if plan.errCode != 0 {
		resp.ErrorCode = plan.errCode
		return reply(resp)
	}
	if plan.session != nil {
		resp.SessionID = plan.session.id
	}
	buf := fetchBuffers.Get().(*[]byte)
	return Reply{
		Response: resp,
		Wait:     func() { b.fetch(ctx, r, plan, resp, buf) },
		Release:  func() { releaseFetchBuffer(buf) },
	}
}

// fetchBuffers holds the buffers fetches read record batches into: one per
// in-flight fetch, returned once its response is written, so serving a
// fetch does not allocate (and zero) fresh memory for every partition.
var fetchBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 1<<20)
	return &b
}}

// maxPooledFetchBuffer keeps a rare huge fetch from pinning its memory.
const maxPooledFetchBuffer = 64 << 20

func releaseFetchBuffer(buf *[]byte) {
	if cap(*buf) > maxPooledFetchBuffer {
		return
	}
	*buf = (*buf)[:0]
	fetchBuffers.Put(buf)
}

// fetchResult is one target's read.
type fetchResult struct {
	partition kmsg.FetchResponseTopicPartition
	target    *fetchTarget
}

// fetch reads the plan's partitions, waiting for min_bytes up to
// max_wait_ms, and fills resp.
func (b *Broker) fetch(ctx context.Context, r *kmsg.FetchRequest, plan fetchPlan, resp *kmsg.FetchResponse, buf *[]byte) {
	wake := make(chan struct{}, 1)
	var unwatch []func()
	defer func() {
		for _, u := range unwatch {
			u()
		}
	}()
	deadline := time.Now().Add(time.Duration(max(r.MaxWaitMillis, 0)) * time.Millisecond)
	var timer *time.Timer
	for {
		// Watch before reading so a high-watermark move between the read and
		// the wait is not missed.
		if unwatch == nil && r.MaxWaitMillis > 0 {
			unwatch = b.watchTargets(plan.targets, wake)
		}
		*buf = (*buf)[:0] // an earlier pass's reads are discarded with its results
		results, bytes, failed := b.readTargets(r, plan.targets, buf)
		remaining := time.Until(deadline)
		if bytes >= int(r.MinBytes) || failed || remaining <= 0 || ctx.Err() != nil {
			b.fillFetchResponse(resp, plan, results)
			return
		}
		if timer == nil {
			timer = time.NewTimer(remaining)
			defer timer.Stop()
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
		}
	}
}

// watchTargets registers wake with every hosted partition of the plan.
func (b *Broker) watchTargets(targets []*fetchTarget, wake chan struct{}) []func() {
	out := make([]func(), 0, len(targets))
	for _, t := range targets {
		if p, ok := b.cfg.Partitions.Get(t.topic, t.partition); ok {
			out = append(out, p.Watch(wake))
		}
	}
	return out
}

// readTargets reads every target within the request's byte limits. failed
// reports a partition error, which answers the fetch at once as in Kafka.
func (b *Broker) readTargets(r *kmsg.FetchRequest, targets []*fetchTarget, buf *[]byte) (results []fetchResult, total int, failed bool) {
	results = make([]fetchResult, len(targets))
	// fetch.max.bytes caps what one response may hold, whatever the
	// client asks (Kafka's ReplicaManager does the same).
	budget := b.cfg.Broker.FetchMaxBytes
	if r.Version >= 3 && r.MaxBytes > 0 {
		budget = min(budget, r.MaxBytes)
	}
	for i, t := range targets {
		rp := &results[i].partition
		*rp = kmsg.NewFetchResponseTopicPartition()
		results[i].target = t
		rp.Partition = t.partition
		// Empty, not null: librdkafka rejects a null record set.
		rp.RecordBatches = []byte{}
		b.readTarget(r, t, rp, budget-int32(total), total == 0, buf)
		total += len(rp.RecordBatches)
		failed = failed || rp.ErrorCode != 0
	}
	return results, total, failed
}

// readTarget reads one partition into rp.
// Batches are appended to *buf; rp.RecordBatches is the part this read
// added (earlier parts stay valid even if *buf grows, since a grown slice
// leaves the old array to the partitions that point into it).
func (b *Broker) readTarget(r *kmsg.FetchRequest, t *fetchTarget, rp *kmsg.FetchResponseTopicPartition, budget int32, first bool, buf *[]byte) {
	p, ok := b.cfg.Partitions.Get(t.topic, t.partition)
	if !ok {
		rp.ErrorCode = unknownTopicCode(r.Version >= 13)
		return
	}
	if code := checkLeaderEpoch(p, t.currentLeaderEpoch); code != 0 {
		rp.ErrorCode = code
		return
	}
	highWatermark := p.HighWatermark()
	lastStable := p.LastStableOffset()
	rp.HighWatermark = highWatermark
	rp.LastStableOffset = lastStable
	rp.LogStartOffset = p.Log().LogStartOffset()
	readCommitted := r.Version >= 4 && r.IsolationLevel == isolationReadCommitted
	visibleEnd := highWatermark
	if readCommitted {
		visibleEnd = lastStable
		rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	limit := min(t.maxBytes, budget)
	if limit <= 0 && !first {
		return
	}
	start := len(*buf)
	data, err := p.Log().ReadInto(*buf, t.fetchOffset, max(limit, 0), visibleEnd, first)
	switch {
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		rp.ErrorCode = kerr.OffsetOutOfRange.Code
	case err != nil:
		b.log.Error("fetch read failed", "topic", t.topic, "partition", t.partition, "offset", t.fetchOffset, "err", err)
		rp.ErrorCode = kerr.KafkaStorageError.Code
	case len(data) > start:
		*buf = data
		rp.RecordBatches = data[start:len(data):len(data)]
		b.cfg.Metrics.AddBytesOut(t.topic, len(rp.RecordBatches))
		if readCommitted {
			rp.AbortedTransactions = abortedIn(p, t.fetchOffset, rp.RecordBatches, rp.AbortedTransactions)
		}
	}
}

// isolationReadCommitted is Fetch's and ListOffsets' isolation_level for
// read_committed: read below the last stable offset only.
const isolationReadCommitted = 1

// abortedIn appends the aborted transactions overlapping the batches read
// from fetchOffset (Kafka's collectAbortedTransactions, bounded by the
// offset after the last batch), so the consumer can drop their records.
func abortedIn(p *replica.Partition, fetchOffset int64, batches []byte, dst []kmsg.FetchResponseTopicPartitionAbortedTransaction) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	upto := fetchOffset
	for pos := 0; pos < len(batches); {
		h, err := record.ParseHeader(batches[pos:])
		if err != nil {
			break
		}
		upto = h.LastOffset() + 1
		pos += h.Size()
	}
	for _, a := range p.Log().AbortedTransactions(fetchOffset, upto) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		dst = append(dst, at)
	}
	return dst
}

// checkLeaderEpoch compares the client's view of the leader epoch with
// ours (KIP-320): a newer one means we are behind, an older one that the
// client is.
func checkLeaderEpoch(p *replica.Partition, clientEpoch int32) int16 {
	if clientEpoch < 0 {
		return 0
	}
	switch epoch := p.LeaderEpoch(); {
	case clientEpoch > epoch:
		return kerr.UnknownLeaderEpoch.Code
	case clientEpoch < epoch:
		return kerr.FencedLeaderEpoch.Code
	}
	return 0
}

func unknownTopicCode(byID bool) int16 {
	if byID {
		return kerr.UnknownTopicID.Code
	}
	return kerr.UnknownTopicOrPartition.Code
}

// fillFetchResponse groups results by topic in request order; in an
// incremental session it keeps only partitions with news.
func (b *Broker) fillFetchResponse(resp *kmsg.FetchResponse, plan fetchPlan, results []fetchResult) {
	for i := range results {
		res := &results[i]
		if plan.session != nil && !res.target.include(&res.partition) && !plan.full {
			continue
		}
		n := len(resp.Topics)
		if n == 0 || resp.Topics[n-1].Topic != res.target.topic || resp.Topics[n-1].TopicID != res.target.topicID {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = res.target.topic, res.target.topicID
			resp.Topics = append(resp.Topics, rt)
			n++
		}
		resp.Topics[n-1].Partitions = append(resp.Topics[n-1].Partitions, res.partition)
	}
}
