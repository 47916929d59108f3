package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/wire"
)

// conn is one client connection: a reader goroutine (serve) and a writer
// goroutine (writeLoop) joined by the bounded replies queue.
type conn struct {
	srv    *Server
	nc     net.Conn
	log    *slog.Logger
	ctx    context.Context // cancelled when the connection dies
	cancel context.CancelFunc
	host   string
	// ip keys the per-IP connection count (remoteIP).
	ip string
	// protected: the listener is exempt from max.connections and the
	// request byte budget (Config.ProtectedAddrs).
	protected bool
	// replies carries queued replies from the reader to the writer in
	// request order; its capacity is the connection's in-flight limit.
	replies chan queuedReply
	// prefix holds the bytes a listener's divert peek read that were no
	// divert's magic: the start of the first Kafka request (divert.go).
	prefix []byte

	// inflight counts requests read whose reply is not written yet: a
	// connection waiting on one is not idle.
	inflight atomic.Int32
	// lastActive is when a request was last read or response bytes last
	// written (UnixNano), for connections.max.idle.ms.
	lastActive atomic.Int64
	// readDeadline: the reader has a deadline set on nc (reader only).
	readDeadline bool
	// exempt is the bytes of broker requests read without budget whose
	// replies have not left yet (brokerAllowance): the reader adds, the
	// writer subtracts.
	exempt atomic.Int64
}

// queuedReply is one request's reply waiting for the writer.
type queuedReply struct {
	key           int16
	version       int16
	correlationID int32
	start         time.Time
	reply         api.Reply
	// held is what the request took from the server's byte budget, and
	// exempt what it took of the connection's broker allowance instead;
	// both are given back once the reply is written or dropped.
	held, exempt int64
}

// errIdle ends a connection idle for connections.max.idle.ms.
var errIdle = errors.New("connection idle")

func newConn(s *Server, nc net.Conn, ip string, protected bool) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	c := &conn{
		srv:       s,
		nc:        nc,
		log:       s.log.With("remote", nc.RemoteAddr().String()),
		ctx:       ctx,
		cancel:    cancel,
		host:      host,
		ip:        ip,
		protected: protected,
		replies:   make(chan queuedReply, s.cfg.MaxInFlight),
	}
	c.touch()
	return c
}

// serve runs the reader on the calling goroutine and the writer on a second
// one, returning when both have exited.
func (c *conn) serve() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.writeLoop()
	}()
	err := c.readLoop()
	c.cancel()
	close(c.replies)
	<-done
	c.closed(err)
	c.nc.Close()
}

// closed reports why the reader stopped: limits are counted and logged at
// most once per LimitLogInterval, a client's own close not at all.
func (c *conn) closed(err error) {
	switch {
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.srv.ctx.Err() != nil:
	case errors.Is(err, errIdle):
		c.srv.cfg.Metrics.ConnectionClosed(metrics.ClosedIdle)
		c.log.Debug("closing idle connection", "idle", c.srv.cfg.IdleTimeout)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.srv.cfg.Metrics.ConnectionClosed(metrics.ClosedRequestReadTimeout)
		c.srv.every(metrics.ClosedRequestReadTimeout).log(c.srv.log, slog.LevelWarn,
			"closed connections whose request did not arrive within sluice.request.read.timeout.ms",
			"timeout", c.srv.cfg.RequestReadTimeout, "last_remote", c.nc.RemoteAddr().String(), "err", err)
	case errors.Is(err, context.Canceled):
		// The writer failed and closed the connection; it said why.
	default:
		c.log.Warn("closing connection", "err", err)
	}
}

// readLoop reads, decodes and dispatches requests until the connection
// fails or a request is malformed. Before allocating a frame it takes the
// frame's size from the server's byte budget, waiting for room, unless
// the frame is a broker's request (readRequest); the writer gives it back.
func (c *conn) readLoop() error {
	r := bufio.NewReaderSize(c.source(), readBufferSize)
	var sizeBuf [4]byte
	for {
		if err := c.awaitRequest(r); err != nil {
			return err
		}
		c.armRead(r, len(sizeBuf))
		if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if err := c.checkFrameSize(size, sizeBuf); err != nil {
			return err
		}
		a, err := c.readRequest(r, size)
		if err != nil {
			return err
		}
		if err := c.dispatch(a); err != nil {
			c.unhold(a.held, a.exempt)
			return err
		}
	}
}

// readBufferSize is each connection's read buffer, and so the largest
// frame the reader can look at whole before deciding what it holds.
const readBufferSize = 64 << 10

// brokerAllowance bounds the bytes of broker requests (brokerRequest) one
// connection may have in flight outside the server's byte budget: a
// follower's Fetch of about 20,000 partitions. Past it they take budget
// like any request, so a client claiming a replica ID gets no more than
// this past queued.max.request.bytes.
const brokerAllowance = 1 << 20

// admitted is a request read off the wire and what it holds until its
// reply leaves: bytes of the server's budget, or of the connection's
// broker allowance.
type admitted struct {
	req    *api.Request
	start  time.Time
	held   int64 // of the server's byte budget
	exempt int64 // of the connection's brokerAllowance
}

// readRequest reads and decodes one size-byte frame. A frame whose header
// names a broker request is read before any budget is taken (a Fetch v15+
// only when it fits the read buffer, as its replica ID comes last), and
// once decoded, a broker request within the allowance holds no budget:
// requests that budget holders wait for (an acks=all produce, for the
// followers' fetches) must never wait behind them, on any listener.
// Anything else takes its size from the budget, before it is read if it
// can be.
func (c *conn) readRequest(r *bufio.Reader, size int32) (admitted, error) {
	first, err := c.readFirst(r, size)
	if err != nil {
		return admitted{}, err
	}
	if !first {
		held, err := c.hold(size)
		if err != nil {
			return admitted{}, err
		}
		a, err := c.readFrame(r, size)
		if err != nil {
			c.unhold(held, 0)
			return admitted{}, err
		}
		a.held = held
		return a, nil
	}
	a, err := c.readFrame(r, size)
	if err != nil {
		return admitted{}, err
	}
	if brokerRequest(a.req) && c.withinAllowance(size) {
		a.exempt = int64(size)
		c.exempt.Add(a.exempt)
		return a, nil
	}
	a.held, err = c.hold(size)
	return a, err
}

// readFirst reports whether the frame may be read before taking budget:
// its header, peeked into the read buffer without consuming it, names a
// broker request within the allowance (brokerHeader).
func (c *conn) readFirst(r *bufio.Reader, size int32) (bool, error) {
	if c.protected || !c.withinAllowance(size) {
		return false, nil
	}
	c.armRead(r, 2)
	key, err := r.Peek(2)
	if err != nil {
		return false, err
	}
	if !brokerKey(int16(binary.BigEndian.Uint16(key))) {
		return false, nil
	}
	n := min(int(size), r.Size())
	c.armRead(r, n)
	head, err := r.Peek(n)
	if err != nil {
		return false, err
	}
	return brokerHeader(head, n == int(size)), nil
}

// withinAllowance reports whether size more bytes of broker requests fit
// the connection's brokerAllowance.
func (c *conn) withinAllowance(size int32) bool {
	return c.exempt.Load()+int64(size) <= brokerAllowance
}

// readFrame reads one size-byte frame and decodes it.
func (c *conn) readFrame(r *bufio.Reader, size int32) (admitted, error) {
	frame := make([]byte, size)
	c.armRead(r, int(size))
	if _, err := io.ReadFull(r, frame); err != nil {
		return admitted{}, fmt.Errorf("read %d-byte request: %w", size, err)
	}
	c.touch()
	start := time.Now()
	req, err := c.decode(frame)
	return admitted{req: req, start: start}, err
}

// dispatch runs the handler's ordered phase and queues the reply, which
// then owns what a holds.
func (c *conn) dispatch(a admitted) error {
	reply := c.srv.cfg.Handler.Handle(c.ctx, a.req)
	c.inflight.Add(1)
	req := a.req
	select {
	case c.replies <- queuedReply{key: req.Key, version: req.Version, correlationID: req.CorrelationID, start: a.start,
		reply: reply, held: a.held, exempt: a.exempt}:
		return nil
	case <-c.ctx.Done():
		c.inflight.Add(-1)
		return c.ctx.Err()
	}
}

// hold takes a frame's bytes from the server's budget (nothing on a
// protected listener) and returns what it took.
func (c *conn) hold(size int32) (int64, error) {
	if c.protected {
		return 0, nil
	}
	if err := c.srv.budget.acquire(c.ctx, int64(size)); err != nil {
		return 0, err
	}
	return int64(size), nil
}

// unhold gives back what a request held: budget bytes and allowance.
func (c *conn) unhold(held, exempt int64) {
	c.srv.budget.release(held)
	c.exempt.Add(-exempt)
}

// awaitRequest waits for the first byte of the next request, closing the
// connection (errIdle) once it has had nothing in flight and no traffic
// for IdleTimeout, as Kafka's idle expiry does.
func (c *conn) awaitRequest(r *bufio.Reader) error {
	if r.Buffered() > 0 {
		return nil
	}
	idle := c.srv.cfg.IdleTimeout
	for {
		if idle <= 0 {
			c.setReadDeadline(time.Time{})
		} else if c.inflight.Load() > 0 {
			c.setReadDeadline(time.Now().Add(idle))
		} else {
			c.setReadDeadline(time.Unix(0, c.lastActive.Load()).Add(idle))
		}
		_, err := r.Peek(1)
		if err == nil {
			return nil
		}
		if idle <= 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if c.inflight.Load() == 0 && time.Since(time.Unix(0, c.lastActive.Load())) >= idle {
			return errIdle
		}
	}
}

// armRead starts the RequestReadTimeout clock for reading n more bytes of
// a request, unless they are buffered already.
func (c *conn) armRead(r *bufio.Reader, n int) {
	if r.Buffered() >= n {
		return
	}
	if timeout := c.srv.cfg.RequestReadTimeout; timeout > 0 {
		c.setReadDeadline(time.Now().Add(timeout))
		return
	}
	c.setReadDeadline(time.Time{})
}

// setReadDeadline sets nc's read deadline (zero: none), skipping the call
// when clearing one that is not set.
func (c *conn) setReadDeadline(t time.Time) {
	if t.IsZero() && !c.readDeadline {
		return
	}
	c.nc.SetReadDeadline(t)
	c.readDeadline = !t.IsZero()
}

// touch records traffic for the idle check.
func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// checkFrameSize refuses sizes that cannot be a Kafka request before any
// allocation, naming the likely mistake when the bytes look like another
// protocol.
func (c *conn) checkFrameSize(size int32, prefix [4]byte) error {
	if size >= 8 && size <= c.srv.cfg.MaxRequestBytes {
		return nil
	}
	switch {
	case string(prefix[:]) == "GET " || string(prefix[:]) == "POST" || string(prefix[:]) == "HEAD":
		return fmt.Errorf("request size bytes %q look like HTTP: is the client pointed at the metrics port instead of the Kafka listener?", prefix[:])
	case prefix[0] == 0x16 && prefix[1] == 0x03:
		return errors.New("request bytes look like a TLS handshake: this listener is PLAINTEXT")
	case size < 8:
		return fmt.Errorf("request size %d is smaller than a request header", size)
	}
	return fmt.Errorf("request size %d exceeds socket.request.max.bytes %d", size, c.srv.cfg.MaxRequestBytes)
}

// decode parses the request header and body. An error means the frame is
// unusable and the connection must close (Kafka does the same).
func (c *conn) decode(frame []byte) (*api.Request, error) {
	key := int16(binary.BigEndian.Uint16(frame[0:]))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	correlationID := int32(binary.BigEndian.Uint32(frame[4:]))
	rest := frame[8:]
	clientID, rest, err := readNullableString(rest)
	if err != nil {
		return nil, fmt.Errorf("request key %d correlation %d: client id: %w", key, correlationID, err)
	}
	req := &api.Request{Key: key, Version: version, CorrelationID: correlationID, ClientID: clientID, ClientHost: c.host}
	body := kmsg.RequestForKey(key)
	minVersion, maxVersion, ok := c.srv.cfg.Handler.Versions(key)
	if body == nil || !ok {
		return nil, fmt.Errorf("request key %d (%s) is not supported", key, kmsg.NameForKey(key))
	}
	if version < minVersion || version > maxVersion {
		if key == kmsg.ApiVersions.Int16() {
			// KIP-511: answer an unknown ApiVersions version with a v0
			// response listing what we support, so the client can pick.
			req.UnsupportedVersion = true
			req.Version = 0
			req.Body = &kmsg.ApiVersionsRequest{}
			return req, nil
		}
		return nil, fmt.Errorf("%s v%d is not supported (supported v%d-v%d)", kmsg.NameForKey(key), version, minVersion, maxVersion)
	}
	body.SetVersion(version)
	if body.IsFlexible() {
		if rest, err = wire.SkipTags(rest); err != nil {
			return nil, fmt.Errorf("%s v%d header tags: %w", kmsg.NameForKey(key), version, err)
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	req.Body = body
	return req, nil
}

// writeLoop writes replies in request order. After a write error it keeps
// draining the queue (without writing) so the reader never blocks on it;
// every reply's budget bytes are released as it leaves, written or not.
func (c *conn) writeLoop() {
	w := bufio.NewWriterSize(connWriter{c}, 64<<10)
	var buf []byte
	var failed bool
	for q := range c.replies {
		if q.reply.Wait != nil {
			// Send what is already encoded before blocking: a finished
			// response must not sit behind a long-poll fetch or a parked
			// JoinGroup (librdkafka pipelines both on one connection).
			if w.Buffered() > 0 && !failed {
				if err := w.Flush(); err != nil {
					failed = c.fail(err)
				}
			}
			q.reply.Wait()
		}
		c.srv.cfg.Metrics.ObserveRequest(q.key, time.Since(q.start))
		if q.reply.Response != nil && !failed {
			buf = appendResponse(buf[:0], q)
			failed = c.write(w, buf)
		}
		if q.reply.Release != nil {
			q.reply.Release()
		}
		c.unhold(q.held, q.exempt)
		c.inflight.Add(-1)
		if cap(buf) > maxKeptWriteBuffer {
			buf = nil // do not pin an unusually large response's buffer
		}
	}
}

// maxKeptWriteBuffer bounds the encoding buffer a connection keeps between
// responses. Fetch responses of a few MiB are the common large case;
// regrowing the buffer for each one cost more CPU than the copy itself.
const maxKeptWriteBuffer = 16 << 20

// write sends one encoded response, flushing when no other reply is queued.
// It reports whether the connection failed.
func (c *conn) write(w *bufio.Writer, frame []byte) bool {
	if _, err := w.Write(frame); err != nil {
		return c.fail(err)
	}
	if len(c.replies) == 0 {
		if err := w.Flush(); err != nil {
			return c.fail(err)
		}
	}
	return false
}

// fail closes the connection after a write error; a write that made no
// progress for ResponseWriteTimeout (a client not reading) is counted and
// logged at most once per LimitLogInterval.
func (c *conn) fail(err error) bool {
	switch {
	case c.ctx.Err() != nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.srv.cfg.Metrics.ConnectionClosed(metrics.ClosedResponseWriteTimeout)
		c.srv.every(metrics.ClosedResponseWriteTimeout).log(c.srv.log, slog.LevelWarn,
			"closed connections that did not read their responses within sluice.response.write.timeout.ms",
			"timeout", c.srv.cfg.ResponseWriteTimeout, "last_remote", c.nc.RemoteAddr().String())
	default:
		c.log.Debug("write failed", "err", err)
	}
	c.cancel()
	c.nc.Close()
	return true
}

// connWriter writes to the connection under ResponseWriteTimeout: each
// attempt gets the timeout anew, and an attempt that timed out after
// writing something is continued, so a slow reader is served and only one
// that stops reading is dropped.
type connWriter struct{ c *conn }

func (w connWriter) Write(p []byte) (int, error) {
	timeout := w.c.srv.cfg.ResponseWriteTimeout
	written := 0
	for {
		if timeout > 0 {
			w.c.nc.SetWriteDeadline(time.Now().Add(timeout))
		}
		n, err := w.c.nc.Write(p[written:])
		written += n
		if n > 0 {
			w.c.touch()
		}
		if err == nil || n == 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return written, err
		}
	}
}

// appendResponse frames a response: size, correlation ID, the flexible
// header's empty tag section (never for ApiVersions, KIP-511), then the body.
func appendResponse(dst []byte, q queuedReply) []byte {
	resp := q.reply.Response
	resp.SetVersion(q.version)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(q.correlationID))
	if resp.IsFlexible() && q.key != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst, uint32(len(dst)-4))
	return dst
}

var errShortHeader = errors.New("request header truncated")

func readNullableString(b []byte) (string, []byte, error) {
	s, rest, err := nullableString(b)
	return string(s), rest, err
}

// nullableString splits a Kafka nullable string (int16 length, -1 for
// null) off the front of b, without copying it.
func nullableString(b []byte) (s, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, errShortHeader
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n < 0 {
		return nil, b, nil
	}
	if int(n) > len(b) {
		return nil, nil, errShortHeader
	}
	return b[:n], b[n:], nil
}
