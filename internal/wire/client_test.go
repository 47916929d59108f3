package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeRequest is one request a fakeBroker read, with the connection to
// answer it on.
type fakeRequest struct {
	key, version  int16
	correlationID int32
	clientID      string
	body          kmsg.Request
	conn          net.Conn
	// index counts requests on this connection, from 0.
	index int
}

// fakeBroker is a TCP server that decodes request frames the way a Kafka
// broker does and lets each test decide what to answer.
type fakeBroker struct {
	t       *testing.T
	ln      net.Listener
	accepts atomic.Int32
	handle  func(r fakeRequest)
	// closed receives, for each connection, the error its read ended with.
	closed chan error
	wg     sync.WaitGroup
}

func startFake(t *testing.T, handle func(r fakeRequest)) *fakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{t: t, ln: ln, handle: handle, closed: make(chan error, 64)}
	f.wg.Go(f.acceptLoop)
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeBroker) addr() string { return f.ln.Addr().String() }

func (f *fakeBroker) acceptLoop() {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.accepts.Add(1)
		conns = append(conns, nc)
		f.wg.Go(func() { f.serve(nc) })
	}
}

func (f *fakeBroker) serve(nc net.Conn) {
	r := bufio.NewReader(nc)
	for i := 0; ; i++ {
		req, err := readRequest(r)
		if err != nil {
			f.closed <- err
			nc.Close()
			return
		}
		req.conn, req.index = nc, i
		f.handle(req)
	}
}

// readRequest parses a request frame as internal/server does.
func readRequest(r io.Reader) (fakeRequest, error) {
	frame, err := readFrame(r, 1<<20)
	if err != nil {
		return fakeRequest{}, err
	}
	req := fakeRequest{
		key:           int16(binary.BigEndian.Uint16(frame[0:])),
		version:       int16(binary.BigEndian.Uint16(frame[2:])),
		correlationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	idLen := int(int16(binary.BigEndian.Uint16(frame[8:])))
	req.clientID = string(frame[10 : 10+idLen])
	rest := frame[10+idLen:]
	body := kmsg.RequestForKey(req.key)
	body.SetVersion(req.version)
	if body.IsFlexible() {
		if rest, err = SkipTags(rest); err != nil {
			return fakeRequest{}, err
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return fakeRequest{}, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(req.key), req.version, err)
	}
	req.body = body
	return req, nil
}

// answer writes resp with a response header for the request's version; a
// flexible header (not ApiVersions) gets a non-empty tag section so that
// the client must really skip it.
func (r fakeRequest) answer(resp kmsg.Response) {
	r.answerWithID(r.correlationID, resp)
}

func (r fakeRequest) answerWithID(correlationID int32, resp kmsg.Response) {
	resp.SetVersion(r.version)
	if r.key == kmsg.ApiVersions.Int16() && resp.(*kmsg.ApiVersionsResponse).ErrorCode == kerr.UnsupportedVersion.Code {
		resp.SetVersion(0)
	}
	frame := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 0}, uint32(correlationID))
	if r.body.IsFlexible() && r.key != kmsg.ApiVersions.Int16() {
		frame = append(frame, 1, 7, 2, 'h', 'i') // one tag (7) of two bytes
	}
	frame = resp.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	r.conn.Write(frame)
}

// echoMetadata answers a Metadata request with a topic of the name asked
// for, so that a test can tell responses apart.
func echoMetadata(r fakeRequest) {
	resp := kmsg.NewPtrMetadataResponse()
	for _, t := range r.body.(*kmsg.MetadataRequest).Topics {
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = t.Topic
		resp.Topics = append(resp.Topics, topic)
	}
	r.answer(resp)
}

func metadataFor(version int16, topic string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	return req
}

func askedTopic(t *testing.T, resp kmsg.Response) string {
	t.Helper()
	m := resp.(*kmsg.MetadataResponse)
	if len(m.Topics) != 1 || m.Topics[0].Topic == nil {
		t.Fatalf("metadata response %+v: want one named topic", m)
	}
	return *m.Topics[0].Topic
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, addr string) *Client {
	c := New(addr)
	t.Cleanup(func() { c.Close() })
	return c
}

// Request and response headers follow each version's flexibility: v1
// headers for Metadata v8, v2/v1 with tags for v12, and ApiVersions' v0
// response header even at a flexible version (KIP-511).
func TestHeadersPerVersion(t *testing.T) {
	var clientIDs sync.Map
	f := startFake(t, func(r fakeRequest) {
		clientIDs.Store(r.clientID, true)
		switch r.key {
		case kmsg.Metadata.Int16():
			echoMetadata(r)
		case kmsg.ApiVersions.Int16():
			resp := kmsg.NewPtrApiVersionsResponse()
			key := kmsg.NewApiVersionsResponseApiKey()
			key.ApiKey, key.MaxVersion = 3, 12
			resp.ApiKeys = append(resp.ApiKeys, key)
			r.answer(resp)
		}
	})
	c := newClient(t, f.addr())
	ctx := testContext(t)
	for _, version := range []int16{0, 8, 9, 12} {
		resp, err := c.Request(ctx, metadataFor(version, fmt.Sprintf("topic-v%d", version)))
		if err != nil {
			t.Fatalf("Metadata v%d: %v", version, err)
		}
		if got := askedTopic(t, resp); got != fmt.Sprintf("topic-v%d", version) {
			t.Fatalf("Metadata v%d answered for %q", version, got)
		}
	}
	for _, version := range []int16{0, 3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(version)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice", "test"
		resp, err := c.Request(ctx, req)
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", version, err)
		}
		if keys := resp.(*kmsg.ApiVersionsResponse).ApiKeys; len(keys) != 1 || keys[0].MaxVersion != 12 {
			t.Fatalf("ApiVersions v%d decoded %+v", version, keys)
		}
	}
	if _, ok := clientIDs.Load(ClientID); !ok {
		t.Fatalf("client id %q never sent", ClientID)
	}
	if n := f.accepts.Load(); n != 1 {
		t.Fatalf("%d connections for sequential requests, want 1", n)
	}
}

// A broker refusing an ApiVersions version answers at v0 (KIP-511); the
// client decodes it at v0 rather than failing.
func TestApiVersionsUnsupportedVersionDecodesAtV0(t *testing.T) {
	f := startFake(t, func(r fakeRequest) {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey, key.MaxVersion = 18, 2
		resp.ApiKeys = append(resp.ApiKeys, key)
		r.answer(resp)
	})
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(4)
	resp, err := newClient(t, f.addr()).Request(testContext(t), req)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.(*kmsg.ApiVersionsResponse)
	if got.ErrorCode != kerr.UnsupportedVersion.Code || len(got.ApiKeys) != 1 || got.ApiKeys[0].MaxVersion != 2 {
		t.Fatalf("decoded %+v", got)
	}
}

// The peer closing the connection fails the request in flight; the next
// request dials again.
func TestRedialAfterPeerClose(t *testing.T) {
	f := startFake(t, func(r fakeRequest) {
		if askedTopicOf(r) == "drop" {
			r.conn.Close()
			return
		}
		echoMetadata(r)
	})
	c := newClient(t, f.addr())
	ctx := testContext(t)
	if _, err := c.Request(ctx, metadataFor(12, "drop")); err == nil {
		t.Fatal("request on a closed connection succeeded")
	}
	resp, err := c.Request(ctx, metadataFor(12, "after"))
	if err != nil {
		t.Fatalf("request after redial: %v", err)
	}
	if askedTopic(t, resp) != "after" || f.accepts.Load() != 2 {
		t.Fatalf("want the answer on a second connection, got %d connections", f.accepts.Load())
	}
}

func askedTopicOf(r fakeRequest) string {
	if m, ok := r.body.(*kmsg.MetadataRequest); ok && len(m.Topics) == 1 && m.Topics[0].Topic != nil {
		return *m.Topics[0].Topic
	}
	return ""
}

// A deadline that passes closes the connection (the peer is stuck); the
// next request works on a new one.
func TestDeadlineClosesConnection(t *testing.T) {
	f := startFake(t, func(r fakeRequest) {
		if askedTopicOf(r) != "stuck" {
			echoMetadata(r)
		}
	})
	c := newClient(t, f.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Request(ctx, metadataFor(12, "stuck")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stuck request: err = %v, want DeadlineExceeded", err)
	}
	select {
	case <-f.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after the deadline passed")
	}
	resp, err := c.Request(testContext(t), metadataFor(12, "next"))
	if err != nil || askedTopic(t, resp) != "next" {
		t.Fatalf("request after deadline: %v", err)
	}
}

// A cancelled request stops waiting but leaves the connection up: its late
// response is discarded and the next request gets its own.
func TestCancelKeepsConnection(t *testing.T) {
	release := make(chan struct{})
	f := startFake(t, func(r fakeRequest) {
		if askedTopicOf(r) == "slow" {
			<-release
		}
		echoMetadata(r)
	})
	c := newClient(t, f.addr())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, metadataFor(12, "slow"))
		done <- err
	}()
	waitFor(t, func() bool { return f.accepts.Load() == 1 && c.outstanding() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: err = %v", err)
	}
	close(release)
	resp, err := c.Request(testContext(t), metadataFor(12, "fast"))
	if err != nil || askedTopic(t, resp) != "fast" {
		t.Fatalf("request after a cancelled one: %v", err)
	}
	if n := f.accepts.Load(); n != 1 {
		t.Fatalf("%d connections, want the first one kept", n)
	}
}

// outstanding counts the requests waiting on the current connection.
func (c *Client) outstanding() int {
	c.mu.Lock()
	cn := c.conn
	c.mu.Unlock()
	if cn == nil {
		return 0
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return len(cn.queue)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// A response that is not for the oldest outstanding request, or too big,
// makes the stream unusable: the connection is dropped, the next request
// redials.
func TestMalformedResponsesDropConnection(t *testing.T) {
	f := startFake(t, func(r fakeRequest) {
		switch askedTopicOf(r) {
		case "wrong-id":
			r.answerWithID(r.correlationID+5, kmsg.NewPtrMetadataResponse())
		case "huge":
			r.conn.Write([]byte{0x40, 0, 0, 0})
		default:
			echoMetadata(r)
		}
	})
	c := newClient(t, f.addr())
	ctx := testContext(t)
	for topic, want := range map[string]string{"wrong-id": "correlation ID", "huge": "response size"} {
		if _, err := c.Request(ctx, metadataFor(12, topic)); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err = %v, want it to mention %q", topic, err, want)
		}
		if resp, err := c.Request(ctx, metadataFor(12, "ok")); err != nil || askedTopic(t, resp) != "ok" {
			t.Fatalf("request after %s: %v", topic, err)
		}
	}
	if n := f.accepts.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 (two dropped)", n)
	}
}

// Concurrent requests share one connection, pipelined, and each gets its
// own response.
func TestConcurrentRequestsPipeline(t *testing.T) {
	f := startFake(t, echoMetadata)
	c := newClient(t, f.addr())
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32*20)
	for g := range 32 {
		wg.Go(func() {
			for i := range 20 {
				topic := fmt.Sprintf("g%d-%d", g, i)
				resp, err := c.Request(ctx, metadataFor(int16(8+i%5), topic))
				if err != nil {
					errs <- err
					continue
				}
				if got := *resp.(*kmsg.MetadataResponse).Topics[0].Topic; got != topic {
					errs <- fmt.Errorf("asked for %s, answered for %s", topic, got)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.accepts.Load(); n != 1 {
		t.Fatalf("%d connections, want one shared", n)
	}
}

// Close fails the request in flight and every later one with ErrClosed.
func TestCloseFailsRequests(t *testing.T) {
	f := startFake(t, func(fakeRequest) {})
	c := New(f.addr())
	done := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), metadataFor(12, "never"))
		done <- err
	}()
	waitFor(t, func() bool { return c.outstanding() == 1 })
	c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("in-flight request: err = %v, want ErrClosed", err)
	}
	if _, err := c.Request(testContext(t), metadataFor(12, "later")); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after Close: err = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRequestsRefusedBeforeSending(t *testing.T) {
	c := newClient(t, "127.0.0.1:1")
	ctx := testContext(t)
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(9)
	produce.Acks = 0
	if _, err := c.Request(ctx, produce); err == nil || !strings.Contains(err.Error(), "acks=0") {
		t.Fatalf("acks=0 produce: err = %v", err)
	}
	if _, err := c.Request(ctx, metadataFor(99, "x")); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("version 99: err = %v", err)
	}
	if _, err := c.Request(ctx, metadataFor(12, "x")); err == nil || !strings.Contains(err.Error(), "dial") {
		t.Fatalf("unreachable address: err = %v, want a dial error", err)
	}
}

func TestOptions(t *testing.T) {
	var clientID atomic.Value
	f := startFake(t, func(r fakeRequest) {
		clientID.Store(r.clientID)
		echoMetadata(r)
	})
	var dials atomic.Int32
	var d net.Dialer
	c := New(f.addr(), WithClientID("replica-fetcher-1"), WithMaxResponseBytes(64), WithDialTimeout(time.Second),
		WithRequestTimeout(time.Second), WithDialer(func(ctx context.Context, network, address string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, address)
		}))
	defer c.Close()
	if resp, err := c.Request(context.Background(), metadataFor(12, "t")); err != nil || askedTopic(t, resp) != "t" {
		t.Fatalf("request: %v", err)
	}
	if got := clientID.Load(); got != "replica-fetcher-1" || dials.Load() != 1 {
		t.Fatalf("client id %v, %d dials: want the configured ones", got, dials.Load())
	}
	if _, err := c.Request(context.Background(), metadataFor(12, strings.Repeat("x", 100))); err == nil || !strings.Contains(err.Error(), "outside 4-64") {
		t.Fatalf("response above WithMaxResponseBytes: err = %v", err)
	}
}
