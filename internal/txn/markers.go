package txn

import (
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coord"
)

// MarkerRequest asks for the markers that end one prepared transaction:
// one control batch in each partition of Partitions.
type MarkerRequest struct {
	TransactionalID string
	// CoordinatorPartition is the `__transaction_state` partition whose
	// shard asked: the sender reports back to it. CoordinatorEpoch is that
	// shard's epoch, written into the markers.
	CoordinatorPartition int32
	CoordinatorEpoch     int32
	ProducerID           int64
	ProducerEpoch        int16
	Commit               bool
	// Partitions are the partitions still without the marker, by topic.
	Partitions map[string][]int32
}

// MarkerResult is how the marker of one partition of a MarkerRequest
// ended. Err is nil when the marker is written, or when the partition no
// longer exists (Kafka skips deleted partitions: no producer can write to
// them). Otherwise it is the leader's error code as a (wrapped)
// *kerr.Error, or any error of the sender (a lost connection): see
// MarkersWritten for what each one leads to.
type MarkerResult struct {
	Topic     string
	Partition int32
	Err       error
}

// MarkerSender writes transaction markers off the coordinator shard's
// loop (Kafka's TransactionMarkerChannelManager): in a cluster a marker is
// a request to another broker, and the shard's other transactional IDs
// must not wait for it.
//
// Send queues req and returns at once, without calling back into the
// shard; false means the sender cannot take it now (full, or closing) and
// the shard tries again after MarkerRetryBackoff. Once every partition of
// req has a result, the sender runs Shard.MarkersWritten with them on the
// loop of the shard of req.CoordinatorPartition (through the coord
// runtime). If that shard is no longer loaded the results are dropped: the
// partition's next coordinator finds the transaction prepared and sends
// its markers again.
type MarkerSender interface {
	Send(req MarkerRequest) bool
}

// markerPhase is the marker phase of one prepared transaction: which
// markers are still to be written, and whether a request for them is with
// the sender. It lives only in memory; Loaded starts it again from the
// prepared state.
type markerPhase struct {
	pending  map[string][]int32
	inFlight bool
}

func markersKey(id string) string { return "markers/" + id }

// startMarkers begins the marker phase of t, just prepared.
func (s *Shard) startMarkers(t *transaction) {
	s.markers[t.id] = &markerPhase{pending: copyOf(t).partitions}
	s.sendMarkers(t.id)
}

// resumeMarkers begins the marker phase of t, found prepared at load. The
// markers are sent from a timer, which runs once the shard serves: the
// sender's results come back as an operation, which a shard still loading
// would refuse.
func (s *Shard) resumeMarkers(t *transaction) {
	s.markers[t.id] = &markerPhase{pending: copyOf(t).partitions}
	s.retryMarkers(t.id, 0)
}

// preparedPhase returns id's transaction and its marker phase while the
// transaction is prepared; a phase whose transaction moved on is dropped.
func (s *Shard) preparedPhase(id string) (*transaction, *markerPhase) {
	t, phase := s.txns[id], s.markers[id]
	if phase == nil {
		return nil, nil
	}
	if t == nil || t.state != StatePrepareCommit && t.state != StatePrepareAbort {
		delete(s.markers, id)
		s.timers.Cancel(markersKey(id))
		return nil, nil
	}
	return t, phase
}

// sendMarkers hands the pending markers of id's prepared transaction to
// the sender. With none pending it schedules the completion, which needs
// an operation of its own to write.
func (s *Shard) sendMarkers(id string) {
	t, phase := s.preparedPhase(id)
	if phase == nil || phase.inFlight {
		return
	}
	if len(phase.pending) == 0 {
		s.retryMarkers(id, 0)
		return
	}
	req := MarkerRequest{TransactionalID: id, CoordinatorPartition: s.cfg.Partition, CoordinatorEpoch: s.cfg.CoordinatorEpoch,
		ProducerID: t.producerID, ProducerEpoch: t.producerEpoch, Commit: t.state == StatePrepareCommit,
		Partitions: copyPartitions(phase.pending)}
	if !s.cfg.Markers.Send(req) {
		s.log.Warn("transaction marker sender is full; retrying", "transactionalID", id)
		s.retryMarkers(id, s.cfg.MarkerRetryBackoff)
		return
	}
	phase.inFlight = true
}

// retryMarkers sends id's pending markers again after delay, or writes
// the completion if none is pending. The timer dies with the shard: a
// coordinator that lost its partition stops retrying.
func (s *Shard) retryMarkers(id string, delay time.Duration) {
	s.timers.Schedule(markersKey(id), delay, func(fx *coord.Effects) {
		t, phase := s.preparedPhase(id)
		switch {
		case phase == nil:
		case len(phase.pending) == 0:
			s.writeComplete(fx, t, phase)
		default:
			s.sendMarkers(id)
		}
	})
}

// MarkersWritten applies the sender's results for req; the sender's
// driver runs it on the shard's loop. Results for another transaction
// than the one prepared now (another producer epoch, another decision,
// another coordinator epoch) are stale and ignored. As in Kafka's
// TransactionMarkerRequestCompletionHandler: a written marker (or an
// UNSUPPORTED_FOR_MESSAGE_FORMAT / UNSUPPORTED_VERSION partition, which the
// producer could not have written to) leaves the pending set; a fenced
// producer or coordinator epoch (INVALID_PRODUCER_EPOCH,
// TRANSACTION_COORDINATOR_FENCED) stops the phase, since a newer epoch owns
// the transaction; anything else (NOT_LEADER_OR_FOLLOWER, a leader moving,
// a lost connection) is sent again after MarkerRetryBackoff. Once nothing
// is pending the shard writes CompleteCommit or CompleteAbort.
func (s *Shard) MarkersWritten(fx *coord.Effects, req MarkerRequest, results []MarkerResult) {
	id := req.TransactionalID
	t, phase := s.preparedPhase(id)
	if phase == nil || !phase.inFlight || !sameTransaction(t, req) || req.CoordinatorEpoch != s.cfg.CoordinatorEpoch {
		return
	}
	phase.inFlight = false
	for _, r := range results {
		switch {
		case markerDone(r.Err):
			removePartition(phase.pending, r.Topic, r.Partition)
		case markerFenced(r.Err):
			s.log.Info("transaction marker fenced; leaving the transaction to the newer epoch", "transactionalID", id,
				"topic", r.Topic, "partition", r.Partition, "err", r.Err)
			delete(s.markers, id)
			s.timers.Cancel(markersKey(id))
			return
		default:
			s.log.Info("transaction marker write failed; retrying", "transactionalID", id,
				"topic", r.Topic, "partition", r.Partition, "err", r.Err)
		}
	}
	if len(phase.pending) == 0 {
		s.writeComplete(fx, t, phase)
		return
	}
	s.retryMarkers(id, s.cfg.MarkerRetryBackoff)
}

// sameTransaction reports whether req is about t's prepared transaction.
func sameTransaction(t *transaction, req MarkerRequest) bool {
	return t.producerID == req.ProducerID && t.producerEpoch == req.ProducerEpoch && (t.state == StatePrepareCommit) == req.Commit
}

func markerDone(err error) bool {
	return err == nil || errors.Is(err, kerr.UnsupportedForMessageFormat) || errors.Is(err, kerr.UnsupportedVersion)
}

func markerFenced(err error) bool {
	return errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.TransactionCoordinatorFenced)
}

// removePartition drops one partition from a topic → partitions map.
func removePartition(m map[string][]int32, topic string, partition int32) {
	ps := slices.DeleteFunc(m[topic], func(p int32) bool { return p == partition })
	if len(ps) == 0 {
		delete(m, topic)
		return
	}
	m[topic] = ps
}

func copyPartitions(m map[string][]int32) map[string][]int32 {
	c := make(map[string][]int32, len(m))
	for topic, ps := range m {
		c[topic] = slices.Clone(ps)
	}
	return c
}

// writeComplete records CompleteCommit or CompleteAbort once every marker
// of t is written; the phase ends once the record is committed. A failed
// write needs no retry here: the runtime has then stopped this shard and
// reloads it from its partition (internal/coord), and the reloaded shard
// finds the transaction complete if the record reached the log, or still
// prepared, in which case Loaded sends its markers again (a marker written
// twice is harmless, as in Kafka) and this runs again.
func (s *Shard) writeComplete(fx *coord.Effects, t *transaction, phase *markerPhase) {
	id := t.id
	next := copyOf(t)
	next.state, next.lastUpdate, next.partitions = StateCompleteAbort, fx.Now, map[string][]int32{}
	if t.state == StatePrepareCommit {
		next.state = StateCompleteCommit
	}
	s.write(fx, next)
	fx.Then(func(err error) {
		if err != nil {
			s.log.Warn("transaction completion not written; the reloaded coordinator completes it", "transactionalID", id, "err", err)
			return
		}
		if s.markers[id] == phase {
			delete(s.markers, id)
		}
	})
}
