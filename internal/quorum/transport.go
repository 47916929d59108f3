package quorum

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TransportMagic opens every Raft connection. Raft shares a node's
// CONTROLLER listener with Kafka requests: the listener reads the first four
// bytes of each connection and hands those opening with this magic to the
// StreamLayer (server.Divert), the rest to the Kafka reader. Read as a
// Kafka size prefix, "SLRF" is 1.4 GB, far above socket.request.max.bytes,
// so no Kafka request can be mistaken for it.
//
//	raft connection: "SLRF" | hashicorp/raft NetworkTransport stream
//	                          (rpc type byte, msgpack request, ...)
const TransportMagic = "SLRF"

// Transport defaults, for a cluster whose voters share a network.
const (
	// DefaultDialTimeout bounds connecting to a voter: one that does not
	// accept within 2 s is down, and Raft retries on its own schedule.
	DefaultDialTimeout = 2 * time.Second
	// DefaultIOTimeout is the I/O deadline of one RPC (NetworkTransport's
	// Timeout; InstallSnapshot scales it by the snapshot's size).
	DefaultIOTimeout = 10 * time.Second
	// DefaultMaxPool is how many idle connections to each voter are kept.
	DefaultMaxPool = 3
)

// TransportConfig configures NewTransport. Advertise is required.
type TransportConfig struct {
	// Advertise is the host:port the other voters dial to reach this node:
	// its CONTROLLER listener as controller.quorum.voters names it. It is
	// the transport's LocalAddr, so it is what bootstrap records for this
	// node.
	Advertise string
	// DialTimeout (0: DefaultDialTimeout), IOTimeout (0: DefaultIOTimeout)
	// and MaxPool (0: DefaultMaxPool) tune the NetworkTransport.
	DialTimeout time.Duration
	IOTimeout   time.Duration
	MaxPool     int
	// Dial opens outgoing connections (nil: a net.Dialer); the seam for
	// tests and virtual networks.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Logger receives the transport's logs (hashicorp/raft's at warn and
	// above). Nil discards them.
	Logger *slog.Logger
}

// NewTransport returns a Raft transport whose connections ride on a Kafka
// listener: the StreamLayer's Handoff must be registered as the listener's
// divert for TransportMagic, and Dial writes the magic. Pass the transport
// as Config.Transport; the Node then owns it and Close closes it, which
// closes the StreamLayer and every connection it accepted or dialled.
func NewTransport(cfg TransportConfig) (*StreamLayer, *raft.NetworkTransport, error) {
	if _, _, err := net.SplitHostPort(cfg.Advertise); err != nil {
		return nil, nil, fmt.Errorf("quorum transport: advertised address %q: %w", cfg.Advertise, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	stream := newStreamLayer(cfg)
	transport := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: cmpOr(cfg.MaxPool, DefaultMaxPool),
		Timeout: cmpOr(cfg.IOTimeout, DefaultIOTimeout),
		Logger:  newHCLogAdapter(cfg.Logger, hclog.Warn).Named("raft-net"),
	})
	return stream, transport, nil
}

// StreamLayer is the raft.StreamLayer of NewTransport: Accept returns the
// connections a listener handed over (Handoff), Dial connects to another
// voter's listener and sends TransportMagic.
//
// Threading: every method is safe for concurrent use. It starts no
// goroutines. Close closes every connection still open through it, so that
// the NetworkTransport's connection goroutines end (NetworkTransport.Close
// closes neither its accepted nor its pooled connections).
type StreamLayer struct {
	advertise   net.Addr
	dial        func(ctx context.Context, network, address string) (net.Conn, error)
	dialTimeout time.Duration
	// handoffTimeout bounds how long Handoff waits for Accept.
	handoffTimeout time.Duration
	log            *slog.Logger
	accepted       chan net.Conn
	// ctx ends when the layer is closed.
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex // guards conns
	conns map[*streamConn]struct{}
}

func newStreamLayer(cfg TransportConfig) *StreamLayer {
	dial := cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &StreamLayer{
		ctx:            ctx,
		cancel:         cancel,
		advertise:      advertisedAddr(cfg.Advertise),
		dial:           dial,
		dialTimeout:    cmpOr(cfg.DialTimeout, DefaultDialTimeout),
		handoffTimeout: cmpOr(cfg.IOTimeout, DefaultIOTimeout),
		log:            cfg.Logger,
		accepted:       make(chan net.Conn),
		conns:          map[*streamConn]struct{}{},
	}
}

// advertisedAddr is the address other voters dial; it may be a host name,
// so it is not a *net.TCPAddr.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// Handoff takes a connection whose TransportMagic the listener has already
// read, for Accept to return. It is the listener's divert handler: it
// returns once Raft has taken the connection, or closes it when the layer
// is closed or Raft does not take it within the I/O timeout.
func (s *StreamLayer) Handoff(nc net.Conn) {
	c, ok := s.track(nc)
	if !ok {
		return
	}
	timer := time.NewTimer(s.handoffTimeout)
	defer timer.Stop()
	select {
	case s.accepted <- c:
	case <-s.ctx.Done():
		c.Close()
	case <-timer.C:
		s.log.Warn("raft did not accept a connection in time, closing it", "remote", nc.RemoteAddr().String())
		c.Close()
	}
}

// Accept implements net.Listener for raft.NetworkTransport.
func (s *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.accepted:
		return c, nil
	case <-s.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Addr is the advertised address (raft.Transport.LocalAddr).
func (s *StreamLayer) Addr() net.Addr { return s.advertise }

// Dial implements raft.StreamLayer: it connects to a voter's listener
// within the smaller of timeout and the dial timeout, and writes the magic.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > s.dialTimeout {
		timeout = s.dialTimeout
	}
	// Under the layer's context, so that Close does not wait out a dial.
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	nc, err := s.dial(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	if err := writeMagic(nc, time.Now().Add(timeout)); err != nil {
		nc.Close()
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	c, ok := s.track(nc)
	if !ok {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, net.ErrClosed)
	}
	return c, nil
}

func writeMagic(nc net.Conn, deadline time.Time) error {
	if err := nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if _, err := io.WriteString(nc, TransportMagic); err != nil {
		return fmt.Errorf("write transport magic: %w", err)
	}
	return nc.SetWriteDeadline(time.Time{})
}

// Close stops Accept and closes every connection accepted or dialled
// through the layer. It is safe to call more than once.
func (s *StreamLayer) Close() error {
	s.cancel()
	s.mu.Lock()
	conns := s.conns
	s.conns = map[*streamConn]struct{}{}
	s.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
	return nil
}

// track wraps nc so that closing it forgets it; false (and nc closed) when
// the layer is closed.
func (s *StreamLayer) track(nc net.Conn) (*streamConn, bool) {
	c := &streamConn{Conn: nc, layer: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.ctx.Done():
		nc.Close()
		return nil, false
	default:
	}
	s.conns[c] = struct{}{}
	return c, true
}

func (s *StreamLayer) forget(c *streamConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// streamConn is a connection of the layer; Close forgets it.
type streamConn struct {
	net.Conn
	layer *StreamLayer
	once  sync.Once
	err   error
}

// Read reports a read cut short by the layer's Close as io.EOF, the end
// NetworkTransport expects of a connection, so a clean shutdown does not
// log a decode error for every connection it closed.
func (c *streamConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, net.ErrClosed) && c.layer.ctx.Err() != nil {
		err = io.EOF
	}
	return n, err
}

func (c *streamConn) Close() error {
	c.once.Do(func() {
		c.layer.forget(c)
		c.err = c.Conn.Close()
		if errors.Is(c.err, net.ErrClosed) {
			c.err = nil
		}
	})
	return c.err
}
