package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClientID is the client_id of every request a Client sends unless
// WithClientID says otherwise. Receivers use it to tell a request one
// node forwarded from a user's (a forwarded request is never forwarded
// again).
const ClientID = "sluice-broker"

// ErrClosed is returned by Request after Close.
var ErrClosed = errors.New("wire client closed")

// Defaults of the Options.
const (
	// DefaultDialTimeout is short because the peer is a broker of the same
	// cluster: one that does not accept within 2 s is down or partitioned,
	// and the caller (a heartbeat every 500 ms, a fetcher) retries anyway.
	DefaultDialTimeout = 2 * time.Second
	// DefaultRequestTimeout is Kafka's request.timeout.ms, applied when the
	// caller's context has no deadline.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxResponseBytes bounds a response frame, as kgo's
	// BrokerMaxReadBytes does.
	DefaultMaxResponseBytes = 100 << 20
)

// Option tunes a Client; the defaults suit a broker of the same cluster.
type Option func(*options)

// options are a Client's settings after the Options are applied.
type options struct {
	dialTimeout      time.Duration
	requestTimeout   time.Duration
	maxResponseBytes int32
	clientID         string
	dial             func(ctx context.Context, network, address string) (net.Conn, error)
}

// WithDialTimeout bounds establishing the TCP connection (default
// DefaultDialTimeout; zero or less keeps the default).
func WithDialTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.dialTimeout = d
		}
	}
}

// WithRequestTimeout bounds a Request whose context has no deadline
// (default DefaultRequestTimeout; zero or less keeps the default).
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.requestTimeout = d
		}
	}
}

// WithMaxResponseBytes bounds a response frame; a larger size prefix closes
// the connection before anything is allocated (default
// DefaultMaxResponseBytes; zero or less keeps the default).
func WithMaxResponseBytes(n int32) Option {
	return func(o *options) {
		if n > 0 {
			o.maxResponseBytes = n
		}
	}
}

// WithClientID replaces ClientID in the request headers.
func WithClientID(id string) Option {
	return func(o *options) { o.clientID = id }
}

// WithDialer opens connections with dial instead of a net.Dialer: the seam
// for tests and virtual networks.
func WithDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) Option {
	return func(o *options) { o.dial = dial }
}

func newOptions(opts []Option) options {
	var d net.Dialer
	o := options{
		dialTimeout:      DefaultDialTimeout,
		requestTimeout:   DefaultRequestTimeout,
		maxResponseBytes: DefaultMaxResponseBytes,
		clientID:         ClientID,
		dial:             d.DialContext,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Client sends Kafka requests to one address. See the package doc for the
// connection and threading contract.
type Client struct {
	addr      string
	opts      options
	formatter *kmsg.RequestFormatter
	// dialing is a one-slot semaphore: one dial at a time, waited for under
	// the caller's context (a sync.Mutex could not honour it).
	dialing chan struct{}
	// readers tracks each connection's reader goroutine; Close waits.
	readers sync.WaitGroup

	mu     sync.Mutex // guards conn and closed
	conn   *conn
	closed bool
}

// New returns a client for addr (host:port). It dials nothing until the
// first Request.
func New(addr string, opts ...Option) *Client {
	o := newOptions(opts)
	return &Client{
		addr:      addr,
		opts:      o,
		formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(o.clientID)),
		dialing:   make(chan struct{}, 1),
	}
}

// Addr is the address the client talks to.
func (c *Client) Addr() string { return c.addr }

// Request sends req at the version it carries and returns the decoded
// response. A Kafka error code is not an error here: it is in the
// response. Errors are a request refused before sending (a version outside
// kmsg's range, acks=0), ErrClosed, the context's error, or a transport
// failure (dial, I/O, a response that does not decode); a transport failure
// or a passed deadline closes the connection, a cancellation does not.
func (c *Client) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if err := checkRequest(req); err != nil {
		return nil, c.errorf(req, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.requestTimeout)
		defer cancel()
	}
	cn, err := c.connection(ctx)
	if err != nil {
		return nil, c.errorf(req, err)
	}
	call, err := cn.send(ctx, c.formatter, req)
	if err != nil {
		return nil, c.errorf(req, err)
	}
	body, err := cn.wait(ctx, call)
	if err != nil {
		return nil, c.errorf(req, err)
	}
	resp, err := decodeResponse(req, body)
	if err != nil {
		cn.fail(err)
		return nil, c.errorf(req, err)
	}
	return resp, nil
}

// checkRequest refuses what this client cannot frame or match.
func checkRequest(req kmsg.Request) error {
	if v := req.GetVersion(); v < 0 || v > req.MaxVersion() {
		return fmt.Errorf("version %d is outside kmsg's range 0-%d", v, req.MaxVersion())
	}
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		// Kafka sends no response to acks=0, so there would be nothing to
		// match the correlation ID against.
		return errors.New("acks=0 produce gets no response; this client needs one")
	}
	return nil
}

// decodeResponse decodes a response body (after its header). ApiVersions
// refused with UNSUPPORTED_VERSION is encoded at v0 whatever version was
// asked (KIP-511).
func decodeResponse(req kmsg.Request, body []byte) (kmsg.Response, error) {
	resp := req.ResponseKind()
	if req.Key() == kmsg.ApiVersions.Int16() && len(body) >= 2 &&
		int16(uint16(body[0])<<8|uint16(body[1])) == kerr.UnsupportedVersion.Code {
		resp.SetVersion(0)
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return resp, nil
}

func (c *Client) errorf(req kmsg.Request, err error) error {
	return fmt.Errorf("%s v%d to %s: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), c.addr, err)
}

// connection returns the live connection, dialling one if there is none.
func (c *Client) connection(ctx context.Context) (*conn, error) {
	if cn, err := c.current(); cn != nil || err != nil {
		return cn, err
	}
	select {
	case c.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.dialing }()
	// Another caller may have dialled while this one waited.
	if cn, err := c.current(); cn != nil || err != nil {
		return cn, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, c.opts.dialTimeout)
	defer cancel()
	nc, err := c.opts.dial(dialCtx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return c.install(nc)
}

// current is the live connection, nil if there is none, or ErrClosed.
func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.conn != nil && !c.conn.failed() {
		return c.conn, nil
	}
	return nil, nil
}

// install makes nc the client's connection and starts its reader.
func (c *Client) install(nc net.Conn) (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		nc.Close()
		return nil, ErrClosed
	}
	cn := newConn(nc, c.opts.maxResponseBytes)
	c.conn = cn
	c.readers.Go(cn.readLoop)
	return cn, nil
}

// Close closes the connection, failing requests in flight with ErrClosed,
// and waits for the reader goroutine. Later Requests fail with ErrClosed.
// It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if cn != nil {
		cn.fail(ErrClosed)
	}
	c.readers.Wait()
	return nil
}
