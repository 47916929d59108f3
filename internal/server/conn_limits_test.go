package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/metrics"
)

// limitHandler answers Produce (its reply waits for gate, if any) and
// Fetch (every response carries fetchRecords), counting requests.
type limitHandler struct {
	echoHandler
	gate         chan struct{}
	fetchRecords []byte
	handled      atomic.Int64
}

func (h *limitHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case kmsg.Produce.Int16():
		return 7, 7, true
	case kmsg.Fetch.Int16():
		return 4, 4, true
	}
	return h.echoHandler.Versions(key)
}

func (h *limitHandler) Handle(ctx context.Context, req *api.Request) api.Reply {
	switch body := req.Body.(type) {
	case *kmsg.ProduceRequest:
		h.handled.Add(1)
		resp := body.ResponseKind().(*kmsg.ProduceResponse)
		wait := func() {}
		if h.gate != nil {
			wait = func() {
				select {
				case <-h.gate:
				case <-ctx.Done():
				}
			}
		}
		return api.Reply{Response: resp, Wait: wait}
	case *kmsg.FetchRequest:
		h.handled.Add(1)
		resp := body.ResponseKind().(*kmsg.FetchResponse)
		topic := kmsg.NewFetchResponseTopic()
		topic.Topic = "t"
		p := kmsg.NewFetchResponseTopicPartition()
		p.RecordBatches = h.fetchRecords
		topic.Partitions = append(topic.Partitions, p)
		resp.Topics = append(resp.Topics, topic)
		return api.Reply{Response: resp}
	}
	return h.echoHandler.Handle(ctx, req)
}

// limitServer serves cfg on a loopback listener with metrics and captured
// logs; the handler is cfg.Handler.
func limitServer(t *testing.T, cfg Config) (*Server, string, *metrics.Broker, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	m := metrics.New(nil)
	cfg.Metrics = m
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 1 << 20
	}
	if cfg.LimitLogInterval == 0 {
		cfg.LimitLogInterval = time.Hour // one line per test, whatever the count
	}
	srv := New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, l.Addr().String(), m, logs
}

func produceFrame(corr int32, records []byte) []byte {
	r := kmsg.NewPtrProduceRequest()
	r.Version = 7
	r.Acks = 1
	r.TimeoutMillis = 30000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "t"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = records
	topic.Partitions = append(topic.Partitions, p)
	r.Topics = append(r.Topics, topic)
	return new(kmsg.RequestFormatter).AppendRequest(nil, r, corr)
}

func fetchFrame(corr int32) []byte {
	r := kmsg.NewPtrFetchRequest()
	r.Version = 4
	r.MaxBytes = 1 << 30
	return new(kmsg.RequestFormatter).AppendRequest(nil, r, corr)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip checks the connection is served: an ApiVersions request is
// answered.
func roundTrip(t *testing.T, c net.Conn, corr int32) {
	t.Helper()
	writeRaw(t, c, kmsg.ApiVersions.Int16(), 0, corr, nil)
	if got := int32(binary.BigEndian.Uint32(readFrame(t, c))); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
}

// expectDropped waits for the server to close c: a read ends in EOF or a
// reset, not in the 10 s deadline.
func expectDropped(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return
		}
		t.Fatalf("read: %v, want the server to close the connection", err)
	}
}

// Many connections each send requests larger than a third of
// queued.max.request.bytes: the bytes held never exceed the budget,
// readers wait rather than allocate, and every request is answered.
func TestRequestBytesBoundedAcrossConnections(t *testing.T) {
	const budget, frames, conns = 4 << 20, 3, 12
	h := &limitHandler{gate: make(chan struct{})}
	srv, addr, m, _ := limitServer(t, Config{Handler: h, MaxRequestBytes: 2 << 20, QueuedMaxRequestBytes: budget})
	records := make([]byte, 1<<20)
	runClients(t, addr, conns, frames, records, func() {
		// Three requests fill the budget; the others' readers must wait.
		waitFor(t, func() bool { return srv.budget.stats().Waiting > 0 }, "readers waiting for the budget")
		if held := metricValue(t, m, "sluice_queued_request_bytes"); held <= 3<<20 || held > budget {
			t.Errorf("sluice_queued_request_bytes = %v while readers wait, want the budget nearly full", held)
		}
		close(h.gate)
	})
	if got := h.handled.Load(); got != conns*frames {
		t.Fatalf("handled %d requests, want %d", got, conns*frames)
	}
	if peak := srv.budget.stats().Peak; peak > budget {
		t.Fatalf("peak %d bytes held, over the %d budget", peak, budget)
	}
	waitFor(t, func() bool { return srv.budget.stats().Held == 0 }, "every request's bytes released")
	if got := metricValue(t, m, "sluice_queued_request_bytes_limit"); got != budget {
		t.Fatalf("limit metric %v", got)
	}
}

// The case: connections each sending a 90 MB request against the
// default 256 MiB budget, so at most two are held at once.
func TestNinetyMegabyteRequestsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 360 MB")
	}
	const budget = 256 << 20
	h := &limitHandler{gate: make(chan struct{})}
	srv, addr, _, _ := limitServer(t, Config{Handler: h, MaxRequestBytes: 100 << 20, QueuedMaxRequestBytes: budget})
	runClients(t, addr, 4, 1, make([]byte, 90<<20), func() {
		waitFor(t, func() bool { s := srv.budget.stats(); return s.Waiting > 0 && s.Held >= 180<<20 }, "two requests held, the rest waiting")
		close(h.gate)
	})
	if peak := srv.budget.stats().Peak; peak > budget {
		t.Fatalf("peak %d bytes held, over the %d budget", peak, budget)
	}
	if got := h.handled.Load(); got != 4 {
		t.Fatalf("handled %d of 4", got)
	}
}

// runClients opens conns connections that each send frames produce
// requests of records and then read their answers, calls during once the
// requests are under way, and waits for every answer.
func runClients(t *testing.T, addr string, conns, frames int, records []byte, during func()) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	payload := produceFrame(0, records) // shared: each write sends its own header, then this tail
	const header = 12                   // size, key, version, correlation ID
	for i := range conns {
		c := dial(t, addr)
		wg.Go(func() {
			for f := range frames {
				head := append([]byte(nil), payload[:header]...)
				binary.BigEndian.PutUint32(head[8:], uint32(i*frames+f))
				if _, err := c.Write(head); err != nil {
					errs <- err
					return
				}
				if _, err := c.Write(payload[header:]); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(time.Minute))
			for f := range frames {
				var size [8]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					errs <- err
					return
				}
				if corr := int(binary.BigEndian.Uint32(size[4:])); corr != i*frames+f {
					errs <- errors.New("answers out of order")
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:]))-4); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	during()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A request larger than the whole budget is read when nothing else is
// held, and holds the budget alone until it is answered.
func TestOversizeRequestAdmittedAlone(t *testing.T) {
	h := &limitHandler{gate: make(chan struct{})}
	srv, addr, _, _ := limitServer(t, Config{Handler: h, MaxRequestBytes: 4 << 20, QueuedMaxRequestBytes: 1 << 20})
	big, small := dial(t, addr), dial(t, addr)
	bigFrame := produceFrame(1, make([]byte, 2<<20))
	if _, err := big.Write(bigFrame); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.handled.Load() == 1 }, "the oversize request handled")
	if _, err := small.Write(produceFrame(2, make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.budget.stats().Waiting == 1 }, "the small request waiting")
	if got := h.handled.Load(); got != 1 {
		t.Fatalf("%d requests handled while the oversize one holds the budget", got)
	}
	close(h.gate)
	readFrame(t, big)
	readFrame(t, small)
	if peak := srv.budget.stats().Peak; peak != int64(len(bigFrame)-4) {
		t.Fatalf("peak %d, want the oversize frame alone (%d)", peak, len(bigFrame)-4)
	}
}

// Slowloris: a connection that sends part of a request and stops is closed
// after sluice.request.read.timeout.ms and its budget bytes released,
// while other connections are served meanwhile.
func TestSlowRequestClosed(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv, addr, m, logs := limitServer(t, Config{Handler: &limitHandler{}, RequestReadTimeout: timeout, QueuedMaxRequestBytes: 1 << 20})
	sizeOnly, halfFrame := dial(t, addr), dial(t, addr)
	start := time.Now()
	if _, err := sizeOnly.Write([]byte{0, 0, 1}); err != nil { // 3 bytes of a size prefix
		t.Fatal(err)
	}
	frame := produceFrame(1, make([]byte, 1000))
	if _, err := halfFrame.Write(frame[:len(frame)/2]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.budget.stats().Held == int64(len(frame)-4) }, "the half-sent request admitted")
	good := dial(t, addr)
	roundTrip(t, good, 1)
	expectDropped(t, sizeOnly)
	expectDropped(t, halfFrame)
	if took := time.Since(start); took < timeout {
		t.Fatalf("closed after %v, before the %v timeout", took, timeout)
	}
	waitFor(t, func() bool { return srv.budget.stats().Held == 0 }, "the stalled request's bytes released")
	roundTrip(t, good, 2)
	waitFor(t, func() bool {
		return metricValue(t, m, `sluice_connections_closed_total{reason="request_read_timeout"}`) == 2
	}, "two read timeouts counted")
	if lines := logs.records("closed connections whose request did not arrive within sluice.request.read.timeout.ms"); len(lines) != 1 {
		t.Fatalf("%d log lines for two slow requests, want 1 per interval", len(lines))
	}
}

// A consumer that sends fetches and never reads the answers costs bounded
// memory (the reader stops at the replies queue, the writer is blocked on
// one response) and is dropped after sluice.response.write.timeout.ms.
func TestConsumerThatNeverReadsIsDropped(t *testing.T) {
	const inFlight = 4
	h := &limitHandler{fetchRecords: make([]byte, 1<<20)}
	srv, addr, m, logs := limitServer(t, Config{Handler: h, MaxInFlight: inFlight, ResponseWriteTimeout: 300 * time.Millisecond})
	c := dial(t, addr)
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	const sent = 2000
	writes := make(chan error, 1)
	go func() {
		for corr := range int32(sent) {
			if _, err := c.Write(fetchFrame(corr)); err != nil {
				writes <- err
				return
			}
		}
		writes <- nil
	}()
	waitFor(t, func() bool { return h.handled.Load() > 0 }, "the first fetch handled")
	waitTracked(t, srv, 0) // dropped without the client reading a byte
	// The kernel's socket buffers hold a few responses; the rest of the
	// 2000 requests were never decoded, let alone answered.
	if got := h.handled.Load(); got > inFlight+16 {
		t.Fatalf("%d fetches handled for a client that reads nothing, want about the in-flight limit (%d)", got, inFlight)
	}
	expectDropped(t, c)
	<-writes
	if got := metricValue(t, m, `sluice_connections_closed_total{reason="response_write_timeout"}`); got != 1 {
		t.Fatalf("response write timeouts counted: %v", got)
	}
	if lines := logs.records("closed connections that did not read their responses within sluice.response.write.timeout.ms"); len(lines) != 1 {
		t.Fatalf("%d log lines, want 1", len(lines))
	}
	roundTrip(t, dial(t, addr), 1)
}

// max.connections: a connection over the limit is closed at once, counted
// and logged once per interval; a freed slot is reused.
func TestMaxConnectionsRefused(t *testing.T) {
	srv, addr, m, logs := limitServer(t, Config{Handler: echoHandler{}, MaxConnections: 2})
	first, second := dial(t, addr), dial(t, addr)
	roundTrip(t, first, 1)
	roundTrip(t, second, 1)
	for range 3 {
		expectDropped(t, dial(t, addr))
	}
	if got := metricValue(t, m, `sluice_connections_refused_total{reason="max_connections"}`); got != 3 {
		t.Fatalf("refusals counted: %v", got)
	}
	if got := metricValue(t, m, "sluice_connections"); got != 2 {
		t.Fatalf("sluice_connections = %v", got)
	}
	if lines := logs.records("refusing connections: max.connections reached"); len(lines) != 1 || lines[0]["limit"] != 2.0 {
		t.Fatalf("log lines %v, want one naming the limit", lines)
	}
	first.Close()
	waitTracked(t, srv, 1)
	roundTrip(t, dial(t, addr), 1)
	roundTrip(t, second, 2)
}

// max.connections.per.ip counts each source address; an override raises
// one host's limit. Linux routes all of 127/8 to loopback, so a dialer
// bound to 127.0.0.2 is a second client host.
func TestMaxConnectionsPerIPWithOverride(t *testing.T) {
	_, addr, m, _ := limitServer(t, Config{Handler: echoHandler{}, MaxConnectionsPerIP: 1,
		MaxConnectionsPerIPOverrides: map[string]int{"127.0.0.2": 2}})
	from := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Skipf("cannot dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	roundTrip(t, from("127.0.0.1"), 1)
	expectDropped(t, from("127.0.0.1"))
	roundTrip(t, from("127.0.0.2"), 1)
	roundTrip(t, from("127.0.0.2"), 1)
	expectDropped(t, from("127.0.0.2"))
	if got := metricValue(t, m, `sluice_connections_refused_total{reason="max_connections_per_ip"}`); got != 2 {
		t.Fatalf("per-IP refusals counted: %v", got)
	}
}

// A protected listener (controller, inter-broker) is not held to
// max.connections nor to the request byte budget.
func TestProtectedListenerExempt(t *testing.T) {
	protected, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &limitHandler{gate: make(chan struct{})}
	srv, addr, _, _ := limitServer(t, Config{Handler: h, MaxConnections: 1, QueuedMaxRequestBytes: 1 << 20,
		MaxRequestBytes: 4 << 20, ProtectedAddrs: []string{protected.Addr().String()}})
	if err := srv.Serve(protected); err != nil {
		t.Fatal(err)
	}
	client := dial(t, addr)
	if _, err := client.Write(produceFrame(1, make([]byte, 1<<20))); err != nil { // fills the budget
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.handled.Load() == 1 }, "the client request held")
	expectDropped(t, dial(t, addr))
	for i := range 3 {
		c := dial(t, protected.Addr().String())
		if _, err := c.Write(produceFrame(int32(i), make([]byte, 1<<20))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return h.handled.Load() == 4 }, "protected requests read past the full budget")
	close(h.gate)
	readFrame(t, client)
}

// connections.max.idle.ms closes a connection with nothing in flight, and
// not one whose request is parked.
func TestIdleConnectionClosed(t *testing.T) {
	const idle = 200 * time.Millisecond
	h := blockingHandler{release: make(chan struct{})}
	_, addr, m, _ := limitServer(t, Config{Handler: h, IdleTimeout: idle})
	quiet, parked := dial(t, addr), dial(t, addr)
	roundTrip(t, quiet, 1)
	writeRaw(t, parked, kmsg.Metadata.Int16(), 0, 1, []byte{0, 0, 0, 0})
	start := time.Now()
	expectDropped(t, quiet)
	if took := time.Since(start); took < idle/2 {
		t.Fatalf("idle connection closed after %v", took)
	}
	// The parked request keeps its connection open past several idle
	// periods; once answered, the connection may idle out too.
	parked.SetReadDeadline(time.Now().Add(4 * idle))
	if _, err := parked.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection with a parked request: %v, want it still open", err)
	}
	close(h.release)
	readFrame(t, parked)
	expectDropped(t, parked)
	if got := metricValue(t, m, `sluice_connections_closed_total{reason="idle"}`); got != 2 {
		t.Fatalf("idle closes counted: %v", got)
	}
}
