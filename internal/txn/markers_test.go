package txn

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/coord"
)

// prepared starts a transaction of id over parts and commits it: the
// markers are then with the sender, unanswered.
func (h *harness) prepared(id string, pid int64, parts map[string][]int32) MarkerRequest {
	h.t.Helper()
	h.init(id, 60000, pid, -1, -1)
	if err := h.add(id, pid, 0, parts); err != nil {
		h.t.Fatalf("add: %v", err)
	}
	if err := h.end(id, pid, 0, true); err != nil {
		h.t.Fatalf("end: %v", err)
	}
	if len(h.markers.requests) != 1 {
		h.t.Fatalf("%d requests with the sender, want 1", len(h.markers.requests))
	}
	req := h.markers.requests[0]
	h.markers.requests = nil
	return req
}

func (h *harness) report(req MarkerRequest, results ...MarkerResult) {
	h.t.Helper()
	h.run(func(fx *coord.Effects) { h.shard.MarkersWritten(fx, req, results) })
}

// Only the markers that failed are sent again, after the backoff; the
// transaction completes once all are written (Kafka's retryPartitions).
func TestOnlyFailedMarkersAreRetried(t *testing.T) {
	h := newHarness(t)
	req := h.prepared("tx", 7, map[string][]int32{"a": {0, 1}})
	if req.CoordinatorPartition != 3 || req.CoordinatorEpoch != 7 || !req.Commit || req.ProducerID != 7 || len(req.Partitions["a"]) != 2 {
		t.Fatalf("request %+v", req)
	}
	h.report(req, MarkerResult{Topic: "a", Partition: 0}, MarkerResult{Topic: "a", Partition: 1, Err: fmt.Errorf("leader moved: %w", kerr.NotLeaderForPartition)})
	if got := h.state("tx"); got != StatePrepareCommit {
		t.Fatalf("state %v with a marker missing, want PrepareCommit", got)
	}
	h.advance(100 * time.Millisecond)
	if len(h.markers.requests) != 1 {
		t.Fatalf("%d requests after the backoff, want 1", len(h.markers.requests))
	}
	if retry := h.markers.requests[0]; len(retry.Partitions) != 1 || len(retry.Partitions["a"]) != 1 || retry.Partitions["a"][0] != 1 {
		t.Fatalf("retry asks for %v, want only a-1", retry.Partitions)
	}
	h.flushMarkers()
	if got := h.state("tx"); got != StateCompleteCommit {
		t.Fatalf("state %v, want CompleteCommit", got)
	}
}

// A fenced coordinator or producer epoch ends the marker phase: no more
// retries, and the transaction is left to the newer epoch.
func TestFencedMarkerStopsSending(t *testing.T) {
	h := newHarness(t)
	req := h.prepared("tx", 7, map[string][]int32{"a": {0}})
	h.report(req, MarkerResult{Topic: "a", Partition: 0, Err: kerr.TransactionCoordinatorFenced})
	h.advance(time.Minute)
	if len(h.markers.requests) != 0 {
		t.Fatalf("sent %+v after being fenced", h.markers.requests)
	}
	if got := h.state("tx"); got != StatePrepareCommit {
		t.Fatalf("state %v, want PrepareCommit (the newer coordinator completes it)", got)
	}
}

// Results about anything but the transaction prepared now are ignored:
// another producer epoch, the other decision, another coordinator epoch.
func TestStaleMarkerResultsAreIgnored(t *testing.T) {
	h := newHarness(t)
	req := h.prepared("tx", 7, map[string][]int32{"a": {0}})
	done := MarkerResult{Topic: "a", Partition: 0}
	for _, stale := range []func(r *MarkerRequest){
		func(r *MarkerRequest) { r.ProducerEpoch++ },
		func(r *MarkerRequest) { r.Commit = false },
		func(r *MarkerRequest) { r.CoordinatorEpoch-- },
	} {
		r := req
		stale(&r)
		h.report(r, done)
		if got := h.state("tx"); got != StatePrepareCommit {
			t.Fatalf("stale result %+v completed the transaction (%v)", r, got)
		}
	}
	h.report(req, done)
	if got := h.state("tx"); got != StateCompleteCommit {
		t.Fatalf("state %v, want CompleteCommit", got)
	}
}

// A sender that cannot take the request is asked again after the backoff.
func TestRefusedSendIsRetried(t *testing.T) {
	h := newHarness(t)
	h.markers.refuse = true
	h.init("tx", 60000, 7, -1, -1)
	h.add("tx", 7, 0, map[string][]int32{"a": {0}})
	if err := h.end("tx", 7, 0, false); err != nil {
		t.Fatalf("end: %v", err)
	}
	h.markers.refuse = false
	h.advance(100 * time.Millisecond)
	h.flushMarkers()
	if got := h.state("tx"); got != StateCompleteAbort {
		t.Fatalf("state %v, want CompleteAbort", got)
	}
}

// While one transactional ID's markers are with the sender, another ID of
// the same shard starts, commits and completes its own transaction, and
// the first one's producer is told CONCURRENT_TRANSACTIONS.
func TestOtherIDsProceedDuringTheMarkerPhase(t *testing.T) {
	h := newHarness(t)
	slow := h.prepared("slow", 7, map[string][]int32{"a": {0}})
	fast := h.prepared("fast", 8, map[string][]int32{"b": {0}})
	if err := h.add("slow", 7, 0, map[string][]int32{"c": {0}}); err != kerr.ConcurrentTransactions {
		t.Fatalf("AddPartitions during the marker phase: %v, want CONCURRENT_TRANSACTIONS", err)
	}
	if got := h.init("slow", 60000, 9, -1, -1); got.Err != kerr.ConcurrentTransactions {
		t.Fatalf("InitProducerId during the marker phase: %v, want CONCURRENT_TRANSACTIONS", got.Err)
	}
	h.report(fast, MarkerResult{Topic: "b", Partition: 0})
	if got := h.state("fast"); got != StateCompleteCommit {
		t.Fatalf("fast: %v, want CompleteCommit while slow's markers are out", got)
	}
	h.report(slow, MarkerResult{Topic: "a", Partition: 0})
	if got := h.state("slow"); got != StateCompleteCommit {
		t.Fatalf("slow: %v, want CompleteCommit", got)
	}
}
