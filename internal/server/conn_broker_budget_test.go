package server

import (
	"context"
	"encoding/binary"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
)

// replicationHandler is limitHandler plus the requests brokers send each
// other on the inter-broker listener: Fetch v4-v16 (one with a max wait
// parks until longPoll closes, as a long poll does), OffsetForLeaderEpoch
// and WriteTxnMarkers, answered at once.
type replicationHandler struct {
	limitHandler
	longPoll chan struct{}
}

func (h *replicationHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case kmsg.Fetch.Int16():
		return 4, 16, true
	case kmsg.OffsetForLeaderEpoch.Int16():
		return 0, 4, true
	case kmsg.WriteTxnMarkers.Int16():
		return 0, 1, true
	}
	return h.limitHandler.Versions(key)
}

func (h *replicationHandler) Handle(ctx context.Context, req *api.Request) api.Reply {
	switch body := req.Body.(type) {
	case *kmsg.FetchRequest:
		reply := h.limitHandler.Handle(ctx, req)
		if body.MaxWaitMillis > 0 {
			reply.Wait = func() {
				select {
				case <-h.longPoll:
				case <-ctx.Done():
				}
			}
		}
		return reply
	case *kmsg.OffsetForLeaderEpochRequest, *kmsg.WriteTxnMarkersRequest:
		h.handled.Add(1)
		return api.Reply{Response: body.(kmsg.Request).ResponseKind()}
	}
	return h.limitHandler.Handle(ctx, req)
}

// fetchOf is a Fetch of one topic with partitions partitions from replica
// (a broker ID, or -1 for a consumer), in the body before v15 and in the
// ReplicaState tagged field from v15 (KIP-903).
func fetchOf(version int16, replica int32, partitions int, maxWaitMs int32) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.Version = version
	r.ReplicaID, r.ReplicaState.ID = replica, replica
	r.MaxWaitMillis = maxWaitMs
	r.MaxBytes = 1 << 20
	topic := kmsg.NewFetchRequestTopic()
	topic.Topic = "t"
	for i := range partitions {
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = int32(i)
		topic.Partitions = append(topic.Partitions, p)
	}
	r.Topics = append(r.Topics, topic)
	return r
}

func sendRequest(t *testing.T, c net.Conn, r kmsg.Request, corr int32) int {
	t.Helper()
	frame := new(kmsg.RequestFormatter).AppendRequest(nil, r, corr)
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	return len(frame) - 4
}

func expectAnswer(t *testing.T, c net.Conn, corr int32) {
	t.Helper()
	if got := int32(binary.BigEndian.Uint32(readFrame(t, c))); got != corr {
		t.Fatalf("answer to correlation id %d, want %d", got, corr)
	}
}

// With one listener for clients and brokers alike (PLAINTEXT beside
// CONTROLLER, the common configuration), an acks=all produce holding
// queued.max.request.bytes waits for the followers' fetches: those, and
// the other requests brokers send each other, must be read without
// waiting for budget, or the produce and the fetches wait for each other
// until the produce times out. Consumers' requests still wait, and a
// client that claims a replica ID gets no more than the per-connection
// allowance past the budget.
func TestBrokerRequestsPassFullBudget(t *testing.T) {
	const budget = 1 << 20
	h := &replicationHandler{limitHandler: limitHandler{gate: make(chan struct{})}, longPoll: make(chan struct{})}
	srv, addr, _, _ := limitServer(t, Config{Handler: h, MaxRequestBytes: 4 << 20, QueuedMaxRequestBytes: budget})
	producer := dial(t, addr)
	if _, err := producer.Write(produceFrame(1, make([]byte, budget))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.handled.Load() == 1 }, "the produce holding the whole budget")
	consumers := []net.Conn{dial(t, addr), dial(t, addr)}
	sendRequest(t, consumers[0], fetchOf(4, -1, 1, 0), 1)
	sendRequest(t, consumers[1], fetchOf(16, -1, 1, 0), 1)
	waitFor(t, func() bool { return srv.budget.stats().Waiting == 2 }, "consumer fetches (v4 and v16) waiting for the budget")

	markers := kmsg.NewPtrWriteTxnMarkersRequest()
	markers.Version = 1
	epochs := kmsg.NewPtrOffsetForLeaderEpochRequest()
	epochs.Version, epochs.ReplicaID = 4, 2
	follower := dial(t, addr)
	for i, r := range []kmsg.Request{fetchOf(12, 2, 10, 0), fetchOf(15, 2, 10, 0), fetchOf(16, 2, 1500, 0), epochs, markers} {
		sendRequest(t, follower, r, int32(i))
		expectAnswer(t, follower, int32(i))
	}

	// A Fetch over the allowance, and a v15+ one too large to decode
	// before the budget, wait whatever replica ID they name.
	oversize, undecoded := dial(t, addr), dial(t, addr)
	if n := sendRequest(t, oversize, fetchOf(12, 2, 40000, 0), 1); n <= brokerAllowance {
		t.Fatalf("%d-byte fetch is within the %d allowance", n, brokerAllowance)
	}
	if n := sendRequest(t, undecoded, fetchOf(15, 2, 3000, 0), 1); n <= readBufferSize {
		t.Fatalf("%d-byte fetch fits the %d read buffer", n, readBufferSize)
	}
	waitFor(t, func() bool { return srv.budget.stats().Waiting == 4 }, "the oversize and undecodable fetches waiting")

	// Long polls in flight on one connection pass the budget up to the
	// allowance (each frame here is larger than the read buffer: v12
	// names its replica before the partitions); the next one waits.
	poller := dial(t, addr)
	size := sendRequest(t, poller, fetchOf(12, 2, 3000, 500), 0)
	passing := brokerAllowance / size
	for i := 1; i <= passing; i++ {
		sendRequest(t, poller, fetchOf(12, 2, 3000, 500), int32(i))
	}
	waitFor(t, func() bool { return srv.budget.stats().Waiting == 5 }, "the long poll past the allowance waiting")
	if got, want := h.handled.Load(), int64(1+5+passing); got != want {
		t.Fatalf("%d requests handled, want %d: the produce, the follower's 5 and %d long polls", got, want, passing)
	}

	close(h.gate)
	close(h.longPoll)
	expectAnswer(t, producer, 1)
	for _, c := range append(consumers, oversize, undecoded) {
		expectAnswer(t, c, 1)
	}
	for i := range passing + 1 {
		expectAnswer(t, poller, int32(i))
	}
	waitFor(t, func() bool { return srv.budget.stats().Held == 0 }, "every budget byte released")
}

// brokerHeader decides from a frame's first bytes alone, and fails safe:
// whatever it cannot read whole takes budget.
func TestBudgetBrokerHeader(t *testing.T) {
	frame := func(r kmsg.Request, clientID string) []byte {
		return kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, r, 7)[4:]
	}
	epochs := func(version int16, replica int32) *kmsg.OffsetForLeaderEpochRequest {
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		r.Version, r.ReplicaID = version, replica
		return r
	}
	long := string(make([]byte, 300))
	for _, tc := range []struct {
		name  string
		head  []byte
		whole bool
		want  bool
	}{
		{"follower fetch v12 (flexible header)", frame(fetchOf(12, 2, 1, 0), "sluice-broker"), true, true},
		{"follower fetch v4, only the header peeked", frame(fetchOf(4, 0, 1, 0), "sluice-broker")[:8+2+13+4], false, true},
		{"consumer fetch v11", frame(fetchOf(11, -1, 1, 0), "sluice-broker"), true, false},
		{"fetch v15, whole: decode first", frame(fetchOf(15, -1, 1, 0), "sluice-broker"), true, true},
		{"fetch v15, not whole", frame(fetchOf(15, 2, 1, 0), "sluice-broker"), false, false},
		{"replica ID past the peek", frame(fetchOf(12, 2, 1, 0), long)[:200], false, false},
		{"follower OffsetForLeaderEpoch v4", frame(epochs(4, 1), "sluice-broker"), true, true},
		{"OffsetForLeaderEpoch v2 has no replica ID", frame(epochs(2, 1), "sluice-broker"), true, false},
		{"consumer OffsetForLeaderEpoch v3", frame(epochs(3, -1), "sluice-broker"), true, false},
		{"WriteTxnMarkers", frame(kmsg.NewPtrWriteTxnMarkersRequest(), "sluice-broker"), true, true},
		{"produce", produceFrame(1, nil)[4:], true, false},
		{"truncated header", []byte{0, 1, 0, 12}, false, false},
	} {
		if got := brokerHeader(tc.head, tc.whole); got != tc.want {
			t.Errorf("%s: brokerHeader = %v, want %v", tc.name, got, tc.want)
		}
	}
}
