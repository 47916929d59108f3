package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/metrics"
)

// Config is what a Server needs; the cli layer builds it.
type Config struct {
	// Handler answers decoded requests.
	Handler api.Handler
	// MaxRequestBytes bounds a request frame (socket.request.max.bytes); a
	// larger size prefix closes the connection before anything is allocated.
	MaxRequestBytes int32
	// MaxInFlight bounds the replies one connection may have queued.
	MaxInFlight int
	// Logger receives connection-level events.
	Logger *slog.Logger
	// Metrics, when non-nil, counts requests and their latency.
	Metrics *metrics.Broker
	// PeekTimeout bounds how long a connection to a listener with diverts
	// (Serve) may take to send its first four bytes before it is served as
	// Kafka (0: 10s).
	PeekTimeout time.Duration
}

// Server accepts Kafka connections on its listeners until Close.
type Server struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every listener and connection goroutine

	mu        sync.Mutex // guards listeners and conns
	listeners []net.Listener
	conns     map[*conn]struct{}
	closed    bool
}

// New returns a server that serves nothing until Serve is given listeners.
func New(cfg Config) *Server {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 32
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}}
}

// Serve accepts connections on l in a tracked goroutine and returns at once.
// With diverts, each connection's first four bytes are read first, on its
// own goroutine, and a connection opening with a divert's magic is handed to
// it (Divert); every other connection is served as Kafka, bytes included.
func (s *Server) Serve(l net.Listener, diverts ...Divert) error {
	if err := s.checkDiverts(diverts); err != nil {
		return fmt.Errorf("serve %s: %w", l.Addr(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server closed")
	}
	s.listeners = append(s.listeners, l)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop(l, diverts)
	}()
	return nil
}

func (s *Server) acceptLoop(l net.Listener, diverts []Divert) {
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, an aborted handshake...: keep the
			// listener alive and try again, backing off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed, retrying", "addr", l.Addr().String(), "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-s.ctx.Done():
				return
			}
		}
		backoff = 0
		c := newConn(s, nc)
		if !s.track(c) {
			nc.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			if c.divert(diverts) {
				c.cancel()
				return
			}
			c.serve()
		}()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// Close stops accepting, closes every connection and waits for all of the
// server's goroutines to exit.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	var errs []error
	for _, l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close listener %s: %w", l.Addr(), err))
		}
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}
