package api

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
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
// (KIP-74) so a large batch can never stall a consumer.
//
// Who serves (Kafka's FetchParams.fetchOnlyLeader): followers' fetches
// and consumers' before v11 go to the leader only; a consumer's fetch from
// v11, which carries client metadata (its rack, KIP-392), is served by the
// leader or a follower. A follower serves it from its own log, up to its
// own high watermark (the leader's, as its last fetch learned it, capped
// at what it has durably) or, read_committed, its own last stable offset:
// never a record the leader has not committed. An offset between that
// bound and the follower's log end reads nothing; past the log end it is
// OFFSET_OUT_OF_RANGE, as on the leader. A follower serves whether or not
// it is in the ISR, as in Kafka: the leader only points consumers at ISR
// members, and a consumer asks the leader again from time to time (kgo's
// RecheckPreferredReplicaInterval, the Java client's metadata.max.age.ms).
// A replica waiting for its role, or a partition not hosted here, is
// NOT_LEADER_OR_FOLLOWER, from v16 with the current leader and its
// endpoint (KIP-951), as is FENCED_LEADER_EPOCH. current_leader_epoch
// (v9+, KIP-320) older than the replica's is FENCED_LEADER_EPOCH, newer
// UNKNOWN_LEADER_EPOCH, on followers as on the leader.
//
// With replica.selector.class set to Kafka's RackAwareReplicaSelector the
// leader picks where a consumer that names its rack (v11+) should read
// (ReplicaManager.findPreferredReadReplica): an alive ISR follower in that
// rack that has fetched past the consumer's offset, the most caught up if
// several, unless the leader itself is in that rack. It then answers that
// partition with PreferredReadReplica, its own offsets and no records, at
// once (no long-poll); the consumer moves its fetches there.
//
// Follower fetches (replica_id before v15, ReplicaState.ID from v15,
// KIP-903, at least 0) read up to the log end, report the follower's
// fetch offset (its log end) and durable end (Sluice's tagged field
// replica.DurableEndTag, v12+; the fetch offset when absent) to the
// leader's replication state, which moves the high watermark and may
// propose the follower for the ISR, and answer with the high watermark
// that report produced. A
// follower's last_fetched_epoch (v12+) is checked against the leader's
// epoch cache: where the follower's log diverges the answer carries the
// diverging epoch and its end offset instead of records (KIP-595's
// follower truncation). A follower's long-poll wakes when the log end
// moves, not only the high watermark.

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
	fc := newFetchContext(r, b.cfg.Broker.RackAwareFetch())
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
			unwatch = b.watchTargets(plan.targets, wake, fc.follower())
		}
		*buf = (*buf)[:0] // an earlier pass's reads are discarded with its results
		results, bytes, failed := b.readTargets(fc, plan.targets, buf)
		fc.reported = true
		remaining := time.Until(deadline)
		if bytes >= int(r.MinBytes) || failed || remaining <= 0 || ctx.Err() != nil {
			b.fillFetchLeaders(r.Version, resp, results)
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

// fetchContext is what every partition read of one fetch shares.
type fetchContext struct {
	r *kmsg.FetchRequest
	// replicaID is the fetching broker, -1 (or below) for consumers.
	replicaID int32
	isolation replica.FetchIsolation
	// lastFetchedEpochs are a follower's last fetched epochs (v12+) for
	// the partitions this request names, keyed as the request names them
	// (by topic name before v13, by ID from v13).
	lastFetchedEpochs map[lastFetchedKey]int32
	// reported is set once the follower's fetch offsets were recorded:
	// the first pass of a long-poll reports them, later passes only read.
	reported bool
	// durableEnds are a follower's durable ends (replica.DurableEndTag)
	// keyed like lastFetchedEpochs, parsed on the first report
	// (followerDurableEnd, replication.go).
	durableEnds map[lastFetchedKey]int64
	// anyReplica: a consumer's fetch with client metadata (v11+), which a
	// follower may serve.
	anyReplica bool
	// clientRack is the consumer's rack when the leader is to pick the
	// closest replica for it (rack-aware selector, v11+, a rack named);
	// "" otherwise.
	clientRack string
}

func newFetchContext(r *kmsg.FetchRequest, rackAware bool) *fetchContext {
	fc := &fetchContext{r: r, replicaID: fetchReplicaID(r)}
	fc.isolation = replica.IsolationFor(fc.replicaID, r.IsolationLevel)
	fc.anyReplica = !fc.follower() && r.Version >= 11
	if fc.anyReplica && rackAware {
		fc.clientRack = r.Rack
	}
	if fc.follower() && r.Version >= 12 {
		fc.lastFetchedEpochs = map[lastFetchedKey]int32{}
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				fc.lastFetchedEpochs[fc.key(rt.Topic, rt.TopicID, rp.Partition)] = rp.LastFetchedEpoch
			}
		}
	}
	return fc
}

// lastFetchedKey names a request partition as the request does.
type lastFetchedKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

func (fc *fetchContext) key(topic string, topicID [16]byte, partition int32) lastFetchedKey {
	if fc.r.Version >= 13 {
		return lastFetchedKey{topicID: topicID, partition: partition}
	}
	return lastFetchedKey{topic: topic, partition: partition}
}

// fetchReplicaID is the broker a fetch comes from: the body's replica ID
// before v15, ReplicaState from v15 (KIP-903); negative for consumers.
func fetchReplicaID(r *kmsg.FetchRequest) int32 {
	if r.Version >= 15 {
		return r.ReplicaState.ID
	}
	return r.ReplicaID
}

func (fc *fetchContext) follower() bool { return fc.replicaID >= 0 }

// lastFetchedEpoch is the follower's last fetched epoch for t, NoEpoch
// when it sent none (or the partition came from the session).
func (fc *fetchContext) lastFetchedEpoch(t *fetchTarget) int32 {
	if epoch, ok := fc.lastFetchedEpochs[fc.key(t.topic, t.topicID, t.partition)]; ok {
		return epoch
	}
	return replica.NoEpoch
}

// watchTargets registers wake with every hosted partition of the plan; a
// follower's fetch also wakes when a log end moves.
func (b *Broker) watchTargets(targets []*fetchTarget, wake chan struct{}, logEnd bool) []func() {
	out := make([]func(), 0, len(targets))
	for _, t := range targets {
		p, ok := b.cfg.Partitions.Get(t.topic, t.partition)
		switch {
		case !ok:
		case logEnd:
			out = append(out, p.WatchLogEnd(wake))
		default:
			out = append(out, p.Watch(wake))
		}
	}
	return out
}

// readTargets reads every target within the request's byte limits. failed
// reports a partition error or divergence, which answers the fetch at once
// as in Kafka.
func (b *Broker) readTargets(fc *fetchContext, targets []*fetchTarget, buf *[]byte) (results []fetchResult, total int, failed bool) {
	r := fc.r
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
		b.readTarget(fc, t, rp, budget-int32(total), total == 0, buf)
		total += len(rp.RecordBatches)
		// A divergence answers at once too: the follower must truncate
		// before it can fetch anything (Kafka's DelayedFetch); so does a
		// preferred replica: the consumer is to fetch there instead.
		failed = failed || rp.ErrorCode != 0 || rp.DivergingEpoch.Epoch >= 0 || rp.PreferredReadReplica >= 0
	}
	return results, total, failed
}

// readTarget reads one partition into rp.
// Batches are appended to *buf; rp.RecordBatches is the part this read
// added (earlier parts stay valid even if *buf grows, since a grown slice
// leaves the old array to the partitions that point into it).
func (b *Broker) readTarget(fc *fetchContext, t *fetchTarget, rp *kmsg.FetchResponseTopicPartition, budget int32, first bool, buf *[]byte) {
	p, perr := b.partition(t.topic, t.partition)
	switch {
	case t.topic == "":
		rp.ErrorCode = unknownTopicCode(true)
		return
	case perr == kerr.UnknownTopicOrPartition:
		rp.ErrorCode = unknownTopicCode(fc.r.Version >= 13)
		return
	case perr != nil:
		rp.ErrorCode = perr.Code
		return
	}
	if fc.clientRack != "" && b.redirectToReplica(fc, p, t, rp) {
		return
	}
	// With no room left (limit <= 0 and not the first batch) the read
	// reports the offsets only.
	limit := min(t.maxBytes, budget)
	start := len(*buf)
	res, err := p.Read(*buf, replica.ReadOptions{
		Offset: t.fetchOffset, MaxBytes: max(limit, 0), MinOneBatch: first, Isolation: fc.isolation,
		CurrentLeaderEpoch: t.currentLeaderEpoch, LastFetchedEpoch: fc.lastFetchedEpoch(t),
		FollowerMayServe: fc.anyReplica,
	})
	if code := b.readErrorCode(t, err); code != 0 && code != kerr.OffsetOutOfRange.Code {
		rp.ErrorCode = code
		return
	}
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
	if fc.isolation == replica.IsolationCommitted {
		rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	switch {
	case err != nil:
		rp.ErrorCode = kerr.OffsetOutOfRange.Code
		return
	case res.DivergingEpoch >= 0:
		rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = res.DivergingEpoch, res.DivergingEndOffset
		return
	}
	if fc.follower() && !fc.reported && !b.reportFollowerFetch(fc, p, t, rp) {
		return
	}
	if len(res.Records) > start {
		*buf = res.Records
		rp.RecordBatches = res.Records[start:len(res.Records):len(res.Records)]
		if !fc.follower() {
			b.cfg.Metrics.AddBytesOut(t.topic, len(rp.RecordBatches))
		}
		if fc.isolation == replica.IsolationCommitted {
			rp.AbortedTransactions = abortedIn(p, t.fetchOffset, rp.RecordBatches, rp.AbortedTransactions)
		}
	}
}

// readErrorCode is the Kafka error for what a partition read returned (0
// for none); an I/O failure is logged and answers KAFKA_STORAGE_ERROR.
func (b *Broker) readErrorCode(t *fetchTarget, err error) int16 {
	code, ok := replicaErrorCode(err)
	if !ok {
		b.log.Error("fetch read failed", "topic", t.topic, "partition", t.partition, "offset", t.fetchOffset, "err", err)
		b.cfg.Metrics.Refused(StorageRefusal(err))
		code = kerr.KafkaStorageError.Code
	}
	return code
}

// redirectToReplica answers a consumer's partition, on the leader, with
// the follower it should fetch from instead (PreferredReadReplica), the
// partition's offsets and no records, as Kafka's readFromLog does once
// findPreferredReadReplica names one: the reader's leader epoch is still
// checked. It reports whether it answered; false leaves the read to the
// caller.
func (b *Broker) redirectToReplica(fc *fetchContext, p *replica.Partition, t *fetchTarget, rp *kmsg.FetchResponseTopicPartition) bool {
	preferred := b.preferredReadReplica(fc.clientRack, p, t.fetchOffset)
	if preferred == replica.NoPreferredReplica {
		return false
	}
	o, err := p.Offsets(t.currentLeaderEpoch, false)
	if err != nil {
		rp.ErrorCode = b.readErrorCode(t, err)
		return true
	}
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = o.HighWatermark, o.LastStableOffset, o.LogStartOffset
	rp.PreferredReadReplica = preferred
	if fc.isolation == replica.IsolationCommitted {
		rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	return true
}

// preferredReadReplica is the follower a consumer in clientRack reading
// p at fetchOffset should fetch from, or replica.NoPreferredReplica (not
// the leader here, no better replica). A replica's rack counts only while
// its broker is registered, unfenced and reachable (Kafka's
// getPartitionReplicaEndpoints leaves the others out).
func (b *Broker) preferredReadReplica(clientRack string, p *replica.Partition, fetchOffset int64) int32 {
	leader, followers, ok := p.ReadReplicas(fetchOffset, b.cfg.Now().UnixMilli())
	if !ok || len(followers) == 0 {
		return replica.NoPreferredReplica
	}
	img := b.cfg.Metadata.Image()
	leader.Rack = aliveRack(img, leader.ID)
	for i := range followers {
		followers[i].Rack = aliveRack(img, followers[i].ID)
	}
	return replica.SelectRackAware(clientRack, leader, followers)
}

// aliveRack is broker id's broker.rack as the replica selector sees it:
// "" for a broker with none, or one not registered, fenced or without an
// endpoint, which no consumer can be sent to.
func aliveRack(img *metadata.Image, id int32) string {
	br := img.Broker(id)
	if br == nil || br.Fenced || len(br.Endpoints) == 0 || br.Rack == nil {
		return ""
	}
	return *br.Rack
}

// reportFollowerFetch records a follower's fetch offset (its log end)
// and durable end on the leader and answers with the high watermark it
// produced; a broker that holds no replica gets NOT_LEADER_OR_FOLLOWER
// (false).
func (b *Broker) reportFollowerFetch(fc *fetchContext, p *replica.Partition, t *fetchTarget, rp *kmsg.FetchResponseTopicPartition) bool {
	moved, err := p.FollowerFetchedDurable(fc.replicaID, t.fetchOffset, fc.followerDurableEnd(t), b.cfg.Now().UnixMilli())
	if err != nil {
		code, _ := replicaErrorCode(err)
		rp.ErrorCode = cmp.Or(code, kerr.NotLeaderForPartition.Code)
		return false
	}
	if moved {
		rp.HighWatermark, rp.LastStableOffset = p.HighWatermark(), p.LastStableOffset()
	}
	return true
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
	for _, a := range p.AbortedTransactions(fetchOffset, upto) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		dst = append(dst, at)
	}
	return dst
}

// fillFetchLeaders adds, from v16, the current leader to every
// NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH partition, and the
// leaders' endpoints to the response (KIP-951).
func (b *Broker) fillFetchLeaders(version int16, resp *kmsg.FetchResponse, results []fetchResult) {
	if version < 16 {
		return
	}
	endpoints := leaderEndpoints{}
	for i := range results {
		rp := &results[i].partition
		if rp.ErrorCode != kerr.NotLeaderForPartition.Code && rp.ErrorCode != kerr.FencedLeaderEpoch.Code {
			continue
		}
		id, epoch, leader := b.currentLeader(results[i].target.topic, rp.Partition)
		rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = id, epoch
		endpoints.add(leader)
	}
	endpoints.each(func(id int32, host string, port int32, rack *string) {
		br := kmsg.NewFetchResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = id, host, port, rack
		resp.Brokers = append(resp.Brokers, br)
	})
}

func unknownTopicCode(byID bool) int16 {
	if byID {
		return kerr.UnknownTopicID.Code
	}
	return kerr.UnknownTopicOrPartition.Code
}

// fillFetchResponse groups results by topic in request order; in an
// incremental session it keeps only partitions with news, a preferred
// read replica being news (Kafka's maybeUpdateResponseData).
func (b *Broker) fillFetchResponse(resp *kmsg.FetchResponse, plan fetchPlan, results []fetchResult) {
	for i := range results {
		res := &results[i]
		if plan.session != nil && !res.target.include(&res.partition) && !plan.full && res.partition.PreferredReadReplica < 0 {
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
