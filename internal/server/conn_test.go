package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
)

// echoHandler answers ApiVersions (v0-v4) and Metadata, enough to drive the
// framing with a real client.
type echoHandler struct{}

func (echoHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case kmsg.ApiVersions.Int16():
		return 0, 4, true
	case kmsg.Metadata.Int16():
		return 0, 12, true
	}
	return 0, 0, false
}

func (echoHandler) Handle(_ context.Context, req *api.Request) api.Reply {
	switch body := req.Body.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := kmsg.NewPtrApiVersionsResponse()
		if req.UnsupportedVersion {
			resp.ErrorCode = kerr.UnsupportedVersion.Code
		}
		for _, k := range []int16{kmsg.ApiVersions.Int16(), kmsg.Metadata.Int16()} {
			ak := kmsg.NewApiVersionsResponseApiKey()
			ak.ApiKey = k
			_, ak.MaxVersion, _ = echoHandler{}.Versions(k)
			resp.ApiKeys = append(resp.ApiKeys, ak)
		}
		return api.Reply{Response: resp}
	case *kmsg.MetadataRequest:
		resp := body.ResponseKind().(*kmsg.MetadataResponse)
		resp.ClusterID = kmsg.StringPtr("test")
		return api.Reply{Response: resp}
	}
	return api.Reply{}
}

func startTestServer(t *testing.T) (*Server, string) {
	t.Helper()
	srv := New(Config{Handler: echoHandler{}, MaxRequestBytes: 1 << 20})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, l.Addr().String()
}

func TestRealClientRoundTrip(t *testing.T) {
	_, addr := startTestServer(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if resp.ClusterID == nil || *resp.ClusterID != "test" {
		t.Fatalf("cluster id = %v, want test", resp.ClusterID)
	}
}

// writeRaw sends one framed request with the given header fields and body.
func writeRaw(t *testing.T, c net.Conn, key, version int16, corr int32, body []byte) {
	t.Helper()
	frame := binary.BigEndian.AppendUint16(nil, uint16(key))
	frame = binary.BigEndian.AppendUint16(frame, uint16(version))
	frame = binary.BigEndian.AppendUint32(frame, uint32(corr))
	frame = binary.BigEndian.AppendUint16(frame, 0xffff) // null client id
	frame = append(frame, body...)
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(frame)))
	if _, err := c.Write(append(msg, frame...)); err != nil {
		t.Fatal(err)
	}
}

func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return buf
}

func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := c.Read(b[:]); !errors.Is(err, io.EOF) {
		t.Fatalf("read after bad frame: %v, want EOF (connection closed)", err)
	}
}

// KIP-511: an ApiVersions version above ours is answered at v0 with
// UNSUPPORTED_VERSION and the list, not a closed connection.
func TestApiVersionsUnsupportedVersionAnsweredAtV0(t *testing.T) {
	_, addr := startTestServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	writeRaw(t, c, kmsg.ApiVersions.Int16(), 99, 7, []byte{0, 0})
	frame := readFrame(t, c)
	if corr := int32(binary.BigEndian.Uint32(frame)); corr != 7 {
		t.Fatalf("correlation id %d, want 7", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(frame[4:]); err != nil {
		t.Fatalf("decode v0 response: %v", err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d keys %d, want UNSUPPORTED_VERSION with keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

// Garbage closes that one connection; other connections keep working.
func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	_, addr := startTestServer(t)
	cases := map[string][]byte{
		"huge size":        {0x7f, 0xff, 0xff, 0xff},
		"negative size":    {0xff, 0xff, 0xff, 0xf0},
		"http":             []byte("GET /metrics HTTP/1.1\r\n\r\n"),
		"tls hello":        {0x16, 0x03, 0x01, 0x02, 0x00, 0x01},
		"short header":     {0, 0, 0, 3, 0, 1, 2},
		"unknown key":      {0, 0, 0, 10, 0x7f, 0x00, 0, 1, 0, 0, 0, 1, 0xff, 0xff},
		"truncated string": {0, 0, 0, 10, 0, 18, 0, 1, 0, 0, 0, 1, 0x00, 0x40},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(raw); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
		})
	}
	good, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	writeRaw(t, good, kmsg.ApiVersions.Int16(), 0, 1, nil)
	readFrame(t, good)
}

// An unsupported version of a known API closes the connection, as Kafka does.
func TestUnsupportedVersionClosesConnection(t *testing.T) {
	_, addr := startTestServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	writeRaw(t, c, kmsg.Metadata.Int16(), 13, 1, []byte{0, 0, 0, 0})
	expectClosed(t, c)
}

// Replies leave in request order even when sent back to back.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	_, addr := startTestServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for corr := int32(1); corr <= 50; corr++ {
		writeRaw(t, c, kmsg.ApiVersions.Int16(), 0, corr, nil)
	}
	for corr := int32(1); corr <= 50; corr++ {
		frame := readFrame(t, c)
		if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
			t.Fatalf("response %d has correlation id %d", corr, got)
		}
	}
}

// FuzzDecode feeds arbitrary frames to the request decoder with the real
// handler registry, so every supported API's body parser is reached: a
// frame may be rejected, never panic.
func FuzzDecode(f *testing.F) {
	formatter := new(kmsg.RequestFormatter)
	seeds := []kmsg.Request{
		func() kmsg.Request { r := kmsg.NewPtrMetadataRequest(); r.Version = 12; return r }(),
		func() kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.Version = 9
			t := kmsg.NewProduceRequestTopic()
			t.Topic = "t"
			p := kmsg.NewProduceRequestTopicPartition()
			p.Records = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 49}
			t.Partitions = append(t.Partitions, p)
			r.Topics = append(r.Topics, t)
			return r
		}(),
		func() kmsg.Request {
			r := kmsg.NewPtrFetchRequest()
			r.Version = 12
			t := kmsg.NewFetchRequestTopic()
			t.Topic = "t"
			t.Partitions = append(t.Partitions, kmsg.NewFetchRequestTopicPartition())
			r.Topics = append(r.Topics, t)
			return r
		}(),
		func() kmsg.Request { r := kmsg.NewPtrCreateTopicsRequest(); r.Version = 7; return r }(),
		func() kmsg.Request { r := kmsg.NewPtrIncrementalAlterConfigsRequest(); r.Version = 1; return r }(),
		func() kmsg.Request { r := kmsg.NewPtrApiVersionsRequest(); r.Version = 3; return r }(),
	}
	for i, req := range seeds {
		f.Add(formatter.AppendRequest(nil, req, int32(i))[4:])
	}
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 0, 0})
	srv := New(Config{Handler: api.New(api.Config{}), MaxRequestBytes: 1 << 20})
	c := &conn{srv: srv}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 8 {
			return
		}
		req, err := c.decode(frame)
		if err == nil && req.Body == nil {
			t.Fatal("decode succeeded without a body")
		}
	})
}

// blockingHandler answers ApiVersions at once and Metadata only when
// release is closed, to pipeline a finished reply ahead of a parked one.
type blockingHandler struct {
	echoHandler
	release chan struct{}
}

func (h blockingHandler) Handle(ctx context.Context, req *api.Request) api.Reply {
	r := h.echoHandler.Handle(ctx, req)
	if req.Key == kmsg.Metadata.Int16() {
		r.Wait = func() {
			select {
			case <-h.release:
			case <-ctx.Done():
			}
		}
	}
	return r
}

// A finished response is sent even while the next request on the
// connection is parked (a long-poll fetch, a JoinGroup), as Kafka does.
func TestFinishedReplyNotHeldBehindParkedOne(t *testing.T) {
	h := blockingHandler{release: make(chan struct{})}
	defer close(h.release)
	srv := New(Config{Handler: h, MaxRequestBytes: 1 << 20})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(l)
	defer srv.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	writeRaw(t, c, kmsg.ApiVersions.Int16(), 0, 1, nil)
	writeRaw(t, c, kmsg.Metadata.Int16(), 0, 2, []byte{0, 0, 0, 0})
	c.SetReadDeadline(time.Now().Add(time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("ApiVersions answer held back behind a parked Metadata: %v", err)
	}
}

// flakyListener fails its first Accept the way a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failed bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: errors.New("too many open files")}
	}
	return l.Listener.Accept()
}

// One accept error must not stop the listener for good.
func TestAcceptErrorIsRetried(t *testing.T) {
	srv := New(Config{Handler: echoHandler{}, MaxRequestBytes: 1 << 20})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Serve(&flakyListener{Listener: l})
	defer srv.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	writeRaw(t, c, kmsg.ApiVersions.Int16(), 0, 1, nil)
	readFrame(t, c)
}
