package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one TCP connection: callers write frames under the write
// semaphore, one reader goroutine (readLoop) hands each response to the
// oldest outstanding call.
type conn struct {
	nc       net.Conn
	maxBytes int32
	// writing is a one-slot semaphore guarding nextID and writes to nc, so
	// that the queue order is the order frames went out.
	writing chan struct{}
	nextID  int32
	// dead is closed, once, when the connection fails; err says why.
	dead chan struct{}

	mu    sync.Mutex // guards queue and err
	queue []*call    // calls written and not yet answered, oldest first
	err   error
}

// call is one request waiting for its response.
type call struct {
	correlationID int32
	// headerTags: the response header carries a tag section (flexible
	// versions, except ApiVersions).
	headerTags bool
	// body receives the response body after its header; buffered, so the
	// reader never blocks on a caller that stopped waiting.
	body chan []byte
}

func newConn(nc net.Conn, maxBytes int32) *conn {
	return &conn{nc: nc, maxBytes: maxBytes, writing: make(chan struct{}, 1), dead: make(chan struct{})}
}

// send frames req and writes it, with the context's deadline as the write
// deadline. A failed write fails the connection.
func (cn *conn) send(ctx context.Context, f *kmsg.RequestFormatter, req kmsg.Request) (*call, error) {
	select {
	case cn.writing <- struct{}{}:
	case <-cn.dead:
		return nil, cn.cause()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-cn.writing }()
	if err := ctx.Err(); err != nil {
		return nil, err // nothing written: the connection is still good
	}
	c := &call{
		correlationID: cn.nextID,
		headerTags:    req.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16(),
		body:          make(chan []byte, 1),
	}
	cn.nextID++
	if !cn.enqueue(c) {
		return nil, cn.cause()
	}
	frame := f.AppendRequest(nil, req, c.correlationID)
	deadline, _ := ctx.Deadline()
	if err := cn.nc.SetWriteDeadline(deadline); err != nil {
		cn.fail(fmt.Errorf("set write deadline: %w", err))
		return nil, cn.cause()
	}
	if _, err := cn.nc.Write(frame); err != nil {
		cn.fail(fmt.Errorf("write: %w", err))
		return nil, cn.cause()
	}
	return c, nil
}

// wait returns the call's response body. A passed deadline fails the
// connection (the peer is stuck, as Kafka's request timeout judges it); a
// cancellation only stops waiting.
func (cn *conn) wait(ctx context.Context, c *call) ([]byte, error) {
	select {
	case body := <-c.body:
		return body, nil
	case <-cn.dead:
		select {
		case body := <-c.body: // answered just before the failure
			return body, nil
		default:
			return nil, cn.cause()
		}
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cn.fail(fmt.Errorf("no response before the deadline: %w", ctx.Err()))
		}
		return nil, ctx.Err()
	}
}

func (cn *conn) enqueue(c *call) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return false
	}
	cn.queue = append(cn.queue, c)
	return true
}

func (cn *conn) dequeue() *call {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if len(cn.queue) == 0 {
		return nil
	}
	c := cn.queue[0]
	cn.queue[0] = nil
	cn.queue = cn.queue[1:]
	return c
}

// fail closes the connection; the first error is kept as the cause that
// every waiting and later call reports.
func (cn *conn) fail(err error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return
	}
	cn.err = err
	cn.queue = nil
	close(cn.dead)
	cn.nc.Close()
}

func (cn *conn) failed() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

func (cn *conn) cause() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return fmt.Errorf("connection failed: %w", cn.err)
}

// readLoop reads responses until the connection fails.
func (cn *conn) readLoop() {
	r := bufio.NewReaderSize(cn.nc, 32<<10)
	for {
		frame, err := readFrame(r, cn.maxBytes)
		if err != nil {
			cn.fail(err)
			return
		}
		if err := cn.deliver(frame); err != nil {
			cn.fail(err)
			return
		}
	}
}

// readFrame reads one size-prefixed response, refusing a size that cannot
// hold a correlation ID or exceeds max before allocating.
func readFrame(r io.Reader, max int32) ([]byte, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
		return nil, fmt.Errorf("read response size: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 4 || size > max {
		return nil, fmt.Errorf("response size %d is outside 4-%d: is this address a Kafka listener?", size, max)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(r, frame); err != nil {
		return nil, fmt.Errorf("read %d-byte response: %w", size, err)
	}
	return frame, nil
}

// deliver hands a response to the oldest outstanding call: Kafka answers a
// connection's requests in order, so any other correlation ID means the
// stream is out of step and unusable.
func (cn *conn) deliver(frame []byte) error {
	correlationID := int32(binary.BigEndian.Uint32(frame))
	c := cn.dequeue()
	if c == nil {
		return fmt.Errorf("response with correlation ID %d, but no request is outstanding", correlationID)
	}
	if c.correlationID != correlationID {
		return fmt.Errorf("response with correlation ID %d, want %d (the oldest outstanding request)", correlationID, c.correlationID)
	}
	body := frame[4:]
	if c.headerTags {
		var err error
		if body, err = SkipTags(body); err != nil {
			return fmt.Errorf("response %d header tags: %w", correlationID, err)
		}
	}
	c.body <- body
	return nil
}

// ErrTruncatedTags is SkipTags' error for a tagged-field section that runs
// past the end of its bytes.
var ErrTruncatedTags = errors.New("tagged fields truncated")

// SkipTags skips a tagged-field section (KIP-482): a count, then per field
// a tag and a length-prefixed value, all unsigned varints. It is the one
// reader of header tags for both directions: this client's response headers
// and the server's request headers. Each field takes at least two bytes, so
// a forged count ends at the end of b, never in a long loop.
func SkipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, ErrTruncatedTags
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, ErrTruncatedTags
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, ErrTruncatedTags
		}
		b = b[n+int(size):]
	}
	return b, nil
}
