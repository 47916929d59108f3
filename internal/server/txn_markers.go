package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/txn"
)

// localMarkers writes transaction markers to this broker's partitions
// (txn.MarkerWriter): for the marker sender when this broker leads the
// partition, and for the WriteTxnMarkers handler. A marker on a
// `__consumer_offsets` partition is also delivered to its group shard,
// which commits or drops the transaction's pending offsets
// (TxnOffsetCommit).
type localMarkers struct {
	partitions *replica.Manager
	groups     *coord.Runtime[*group.Shard]
}

// WriteMarker appends the marker (replica.Partition.AppendTxnMarker, which
// returns once it is durable), then, for a group partition, waits until
// its shard applied it, so offsets fetched after the transaction completes
// reflect it.
func (m localMarkers) WriteMarker(topic string, partition int32, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) error {
	p, ok := m.partitions.Get(topic, partition)
	if !ok {
		return fmt.Errorf("write marker to %s-%d: partition not hosted here: %w", topic, partition, kerr.NotLeaderForPartition)
	}
	if _, err := p.AppendTxnMarker(producerID, producerEpoch, commit, coordinatorEpoch); err != nil {
		return fmt.Errorf("write marker: %w", err)
	}
	if topic == metadata.GroupMetadataTopic && m.groups != nil {
		m.groups.DeliverMarker(partition, producerID, commit)
	}
	return nil
}

// writeTxnMarkersVersion is the WriteTxnMarkers version sent to other
// brokers (v1 is the flexible one).
const writeTxnMarkersVersion = 1

// markerTimeout bounds one WriteTxnMarkers request to another broker.
const markerTimeout = 30 * time.Second

// markerWorkers bounds the requests in flight at once: each remote
// destination has at most one request in flight, and the local markers
// of one transaction take one worker, which writes up to
// markerLocalParallelism of them at once. markerQueueMax bounds the
// markers queued and in flight; a transaction with more partitions than
// that is still taken when nothing else is queued.
const (
	markerWorkers          = 8
	markerLocalParallelism = 16
	markerQueueMax         = 10000
)

// markerSender is the transaction coordinator's txn.MarkerSender (Kafka's
// TransactionMarkerChannelManager). Send, called on a coordinator shard's
// loop, only routes the request's partitions to their leaders (this
// broker, or another) and queues them; worker goroutines write them. All
// markers queued for one remote broker go in one WriteTxnMarkers request,
// and one request at a time is in flight to each broker, so markers queue
// up (and batch) behind a slow one. When every partition of a request has
// a result, a worker runs txn.Shard.MarkersWritten on the coordinator
// shard's loop; the shard decides what to retry.
//
// Threading: queues, busy, ready, queued and closed are guarded by mu;
// the workers are started by start and stopped and waited for by close.
// A worker writing local markers runs one goroutine per marker (at most
// markerLocalParallelism at once) and waits for them.
type markerSender struct {
	log *slog.Logger
	// route names the leader of a partition; skip means the partition no
	// longer exists (its marker is not needed).
	route func(topic string, partition int32) (leader int32, skip bool, err error)
	self  int32
	local txn.MarkerWriter
	// remote sends a WriteTxnMarkers request to another broker.
	remote func(ctx context.Context, leader int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error)
	// report hands a request's results to its coordinator shard.
	report func(req txn.MarkerRequest, results []txn.MarkerResult)
	// queueMax is markerQueueMax (smaller in tests).
	queueMax int

	mu     sync.Mutex
	wake   *sync.Cond // signalled when work arrives or close is called
	queues map[int32][]*markerItem
	busy   map[int32]bool
	ready  []*markerTxn
	queued int
	closed bool

	ctx    context.Context // cancelled by close: ends remote requests
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// markerTxn collects the results of one MarkerRequest until every
// destination answered; its fields are guarded by markerSender.mu.
type markerTxn struct {
	req       txn.MarkerRequest
	remaining int
	results   []txn.MarkerResult
}

// markerItem is the part of a MarkerRequest for one destination broker.
type markerItem struct {
	txn        *markerTxn
	partitions map[string][]int32
}

func (it *markerItem) size() int {
	n := 0
	for _, ps := range it.partitions {
		n += len(ps)
	}
	return n
}

func newMarkerSender(log *slog.Logger, self int32, local txn.MarkerWriter) *markerSender {
	s := &markerSender{log: log, self: self, local: local, queueMax: markerQueueMax, queues: map[int32][]*markerItem{}, busy: map[int32]bool{}}
	s.wake = sync.NewCond(&s.mu)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.route = func(string, int32) (int32, bool, error) { return self, false, nil }
	return s
}

// start runs the workers; results go to report.
func (s *markerSender) start(report func(req txn.MarkerRequest, results []txn.MarkerResult)) {
	s.report = report
	for range markerWorkers {
		s.wg.Go(s.work)
	}
}

// stop tells the workers to finish: queued markers are dropped (their
// coordinators are closed too, and a later one resends them) and remote
// requests are cancelled. A local write waiting for its ISR ends when the
// partitions close; wait then waits for the workers.
func (s *markerSender) stop() {
	s.mu.Lock()
	s.closed = true
	s.wake.Broadcast()
	s.mu.Unlock()
	s.cancel()
}

// wait returns once every worker has exited (after stop).
func (s *markerSender) wait() { s.wg.Wait() }

// Send implements txn.MarkerSender.
func (s *markerSender) Send(req txn.MarkerRequest) bool {
	t := &markerTxn{req: req}
	byLeader := map[int32]*markerItem{}
	n := 0
	for topic, ps := range req.Partitions {
		for _, p := range ps {
			leader, skip, err := s.route(topic, p)
			switch {
			case skip:
				s.log.Info("transaction marker skipped: the partition no longer exists", "topic", topic, "partition", p)
				t.results = append(t.results, txn.MarkerResult{Topic: topic, Partition: p})
			case err != nil:
				t.results = append(t.results, txn.MarkerResult{Topic: topic, Partition: p, Err: err})
			default:
				item := byLeader[leader]
				if item == nil {
					item = &markerItem{txn: t, partitions: map[string][]int32{}}
					byLeader[leader] = item
				}
				item.partitions[topic] = append(item.partitions[topic], p)
				n++
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.admitsLocked(n) {
		return false
	}
	t.remaining = len(byLeader)
	for leader, item := range byLeader {
		s.queues[leader] = append(s.queues[leader], item)
	}
	s.queued += n
	if t.remaining == 0 {
		s.ready = append(s.ready, t)
	}
	s.wake.Broadcast()
	return true
}

// admitsLocked reports whether n more markers fit in the queue. A request
// larger than the whole queue is taken once the queue is empty: refused
// every time, its transaction could never complete (Kafka's channel
// manager queues without a bound).
func (s *markerSender) admitsLocked(n int) bool {
	return s.queued == 0 || s.queued+n <= s.queueMax
}

func (s *markerSender) work() {
	for {
		job := s.next()
		if job == nil {
			return
		}
		job()
	}
}

// next waits for work: a finished request to report, or markers for a
// destination no other worker is writing to. nil once closed.
func (s *markerSender) next() func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed {
		if len(s.ready) > 0 {
			t := s.ready[0]
			s.ready = s.ready[1:]
			return func() { s.report(t.req, t.results) }
		}
		for dest, items := range s.queues {
			if len(items) == 0 || dest != s.self && s.busy[dest] {
				continue
			}
			take := s.takeLocked(dest, items)
			return func() { s.deliver(dest, take) }
		}
		s.wake.Wait()
	}
	return nil
}

// takeLocked removes the markers a worker writes next for dest: one item
// for this broker (local writes run in parallel, one per worker), every
// queued item for another broker (one request), marking it busy. A
// WriteTxnMarkers response is keyed by producer ID, so a second item of
// the same producer waits for the next request.
func (s *markerSender) takeLocked(dest int32, items []*markerItem) []*markerItem {
	if dest == s.self {
		s.queues[dest] = items[1:]
		return items[:1]
	}
	s.busy[dest] = true
	var take, rest []*markerItem
	producers := map[int64]bool{}
	for _, it := range items {
		if producers[it.txn.req.ProducerID] {
			rest = append(rest, it)
			continue
		}
		producers[it.txn.req.ProducerID] = true
		take = append(take, it)
	}
	s.queues[dest] = rest
	return take
}

// deliver writes items to dest and records their results.
func (s *markerSender) deliver(dest int32, items []*markerItem) {
	var results [][]txn.MarkerResult
	if dest == s.self {
		results = s.writeLocal(items)
	} else {
		results = s.writeRemote(dest, items)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if dest != s.self {
		s.busy[dest] = false
	}
	for i, it := range items {
		s.queued -= it.size()
		t := it.txn
		t.results = append(t.results, results[i]...)
		t.remaining--
		if t.remaining == 0 {
			s.ready = append(s.ready, t)
		}
	}
	s.wake.Broadcast()
}

// writeLocal writes the markers of items to this broker's partitions.
func (s *markerSender) writeLocal(items []*markerItem) [][]txn.MarkerResult {
	out := make([][]txn.MarkerResult, len(items))
	for i, it := range items {
		out[i] = s.writeLocalItem(it)
	}
	return out
}

// writeLocalItem writes an item's markers concurrently, at most
// markerLocalParallelism at once, and returns once all are done. Each
// write returns only once its marker is committed (acks=all: every ISR
// member has it), so a partition with a slow follower delays only its own
// marker, not the item's others, as Kafka appends all the markers of a
// WriteTxnMarkers request before it waits for any.
func (s *markerSender) writeLocalItem(it *markerItem) []txn.MarkerResult {
	req := it.txn.req
	var results []txn.MarkerResult
	for topic, ps := range it.partitions {
		for _, p := range ps {
			results = append(results, txn.MarkerResult{Topic: topic, Partition: p})
		}
	}
	slots := make(chan struct{}, markerLocalParallelism)
	var wg sync.WaitGroup
	for i := range results {
		r := &results[i]
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			err := s.local.WriteMarker(r.Topic, r.Partition, req.ProducerID, req.ProducerEpoch, req.Commit, req.CoordinatorEpoch)
			r.Err = localMarkerError(err)
		})
	}
	wg.Wait()
	return results
}

// localMarkerError gives a local write's error the Kafka code the
// coordinator classifies it by, as the partition leader would answer
// (api.MarkerErrorCode, the code WriteTxnMarkers answers remote senders).
func localMarkerError(err error) error {
	if err == nil {
		return nil
	}
	code := api.MarkerErrorCode(err)
	if code == kerr.KafkaStorageError {
		return err
	}
	return fmt.Errorf("%w: %w", code, err)
}

// writeRemote sends items to dest in one WriteTxnMarkers request and
// reads each partition's error code from the response; a failed request
// fails every partition in it (retried by the coordinator).
func (s *markerSender) writeRemote(dest int32, items []*markerItem) [][]txn.MarkerResult {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(writeTxnMarkersVersion)
	for _, it := range items {
		r := it.txn.req
		marker := kmsg.NewWriteTxnMarkersRequestMarker()
		marker.ProducerID, marker.ProducerEpoch, marker.Committed, marker.CoordinatorEpoch = r.ProducerID, r.ProducerEpoch, r.Commit, r.CoordinatorEpoch
		for topic, ps := range it.partitions {
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic, mt.Partitions = topic, ps
			marker.Topics = append(marker.Topics, mt)
		}
		req.Markers = append(req.Markers, marker)
	}
	ctx, cancel := context.WithTimeout(s.ctx, markerTimeout)
	defer cancel()
	resp, err := s.remote(ctx, dest, req)
	if err != nil {
		err = fmt.Errorf("write markers on broker %d: %w", dest, err)
	}
	codes := responseCodes(resp)
	out := make([][]txn.MarkerResult, len(items))
	for i, it := range items {
		pid := it.txn.req.ProducerID
		for topic, ps := range it.partitions {
			for _, p := range ps {
				out[i] = append(out[i], txn.MarkerResult{Topic: topic, Partition: p, Err: partitionError(err, codes, pid, topic, p, dest)})
			}
		}
	}
	return out
}

// markerKey names one partition's answer in a WriteTxnMarkers response.
type markerKey struct {
	producerID int64
	topic      string
	partition  int32
}

func responseCodes(resp *kmsg.WriteTxnMarkersResponse) map[markerKey]int16 {
	codes := map[markerKey]int16{}
	if resp == nil {
		return codes
	}
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				codes[markerKey{m.ProducerID, t.Topic, p.Partition}] = p.ErrorCode
			}
		}
	}
	return codes
}

// partitionError is one partition's result: the request's error, the
// response's code, or an error when the response left it out.
func partitionError(requestErr error, codes map[markerKey]int16, pid int64, topic string, partition, dest int32) error {
	if requestErr != nil {
		return requestErr
	}
	code, ok := codes[markerKey{pid, topic, partition}]
	if !ok {
		return fmt.Errorf("broker %d did not answer for %s-%d", dest, topic, partition)
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return fmt.Errorf("write marker to %s-%d on broker %d: %w", topic, partition, dest, err)
	}
	return nil
}

// newMarkers builds the transaction coordinator's marker sender: each
// marker goes to its partition's current leader (the metadata image),
// written here when that is this broker (always, on a single node) and
// over WriteTxnMarkers otherwise. Start it with startMarkers once the
// transaction runtime exists.
func (b *Broker) newMarkers() *markerSender {
	s := newMarkerSender(b.log.With("component", "txn-markers"), b.cfg.NodeID, localMarkers{partitions: b.partitions, groups: b.groups})
	s.route, s.remote = b.routeMarker, b.sendWriteTxnMarkers
	return s
}

// startMarkers starts the marker sender, reporting to the transaction
// coordinator's shards: a shard no longer loaded here drops the results.
func (b *Broker) startMarkers() {
	b.markers.start(func(req txn.MarkerRequest, results []txn.MarkerResult) {
		_, err := b.txns.Do(req.CoordinatorPartition, func(s *txn.Shard, fx *coord.Effects) { s.MarkersWritten(fx, req, results) })
		if err != nil {
			b.markers.log.Debug("transaction coordinator gone; dropping marker results", "transactionalID", req.TransactionalID,
				"partition", req.CoordinatorPartition, "err", err)
		}
	})
}

// routeMarker finds a partition's leader in the metadata image. A topic
// or partition the image no longer has is skipped, as Kafka does; one
// without a leader is retried.
func (b *Broker) routeMarker(topic string, partition int32) (int32, bool, error) {
	t := b.quorum.Image().TopicByName(topic)
	if t == nil {
		return 0, true, nil
	}
	p := t.Partition(partition)
	if p == nil {
		return 0, true, nil
	}
	if p.Leader < 0 {
		return 0, false, fmt.Errorf("write marker to %s-%d: %w", topic, partition, kerr.LeaderNotAvailable)
	}
	return p.Leader, false, nil
}

// sendWriteTxnMarkers sends one WriteTxnMarkers request to a broker.
func (b *Broker) sendWriteTxnMarkers(ctx context.Context, leader int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	client, ok := b.peers.controlClient(leader)
	if !ok {
		return nil, fmt.Errorf("broker %d has no endpoint: %w", leader, kerr.BrokerNotAvailable)
	}
	raw, err := client.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return raw.(*kmsg.WriteTxnMarkersResponse), nil
}
