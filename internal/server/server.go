package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
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

	// QueuedMaxRequestBytes bounds the bytes of requests read but not yet
	// answered, across the connections of unprotected listeners
	// (queued.max.request.bytes; 0 or negative: unbounded). See byteBudget.
	QueuedMaxRequestBytes int64
	// MaxConnections bounds the connections open at once on unprotected
	// listeners (max.connections): 0 is unbounded, negative allows none.
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections open at once from one IP
	// address on every listener (max.connections.per.ip): 0 is unbounded,
	// negative allows none.
	MaxConnectionsPerIP int
	// MaxConnectionsPerIPOverrides replaces MaxConnectionsPerIP for the
	// hosts named (IP addresses or names, resolved in New); 0 allows none.
	MaxConnectionsPerIPOverrides map[string]int
	// IdleTimeout closes a connection with nothing in flight that has read
	// and written nothing for this long (connections.max.idle.ms; 0: never).
	IdleTimeout time.Duration
	// RequestReadTimeout closes a connection whose request does not arrive
	// whole within this long of its first byte, not counting the wait for
	// QueuedMaxRequestBytes (sluice.request.read.timeout.ms; 0: never).
	RequestReadTimeout time.Duration
	// ResponseWriteTimeout closes a connection whose response write makes
	// no progress for this long (sluice.response.write.timeout.ms; 0: never).
	ResponseWriteTimeout time.Duration
	// ProtectedAddrs are the addresses (Addr().String()) of listeners whose
	// connections MaxConnections and QueuedMaxRequestBytes do not apply to:
	// the controller and inter-broker listeners (limits_broker.go).
	ProtectedAddrs []string
	// LimitLogInterval is the least time between two log lines about the
	// same refusal or drop; each line counts the events since the last
	// (0: 10s).
	LimitLogInterval time.Duration
}

// defaultLimitLogInterval is LimitLogInterval's default.
const defaultLimitLogInterval = 10 * time.Second

// Server accepts Kafka connections on its listeners until Close.
type Server struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every listener and connection goroutine

	budget  *byteBudget  // queued.max.request.bytes
	limiter *connLimiter // max.connections, max.connections.per.ip
	reserve *fdReserve   // the descriptor spent to refuse connections on EMFILE

	mu        sync.Mutex // guards listeners, conns and logs
	listeners []net.Listener
	conns     map[*conn]struct{}
	closed    bool
	logs      map[string]*rateLog // rate-limited lines, by event (every)
}

// New returns a server that serves nothing until Serve is given listeners.
func New(cfg Config) *Server {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 32
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LimitLogInterval <= 0 {
		cfg.LimitLogInterval = defaultLimitLogInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{},
		budget:  newByteBudget(cfg.QueuedMaxRequestBytes, cfg.Metrics),
		limiter: newConnLimiter(cfg, resolveOverrides(cfg.MaxConnectionsPerIPOverrides, cfg.Logger)),
		reserve: newFDReserve(),
		logs:    map[string]*rateLog{},
	}
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
	protected := slices.Contains(s.cfg.ProtectedAddrs, l.Addr().String())
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) || !s.acceptFailed(l, err, &backoff) {
				return
			}
			continue
		}
		backoff = 0
		if !s.admit(nc, protected, diverts) {
			return
		}
	}
}

// acceptFailed handles an Accept error and reports whether to keep
// accepting. Out of file descriptors, the pending connection is accepted
// with the reserved descriptor and closed, so its client sees a close
// rather than a hang, and one line per LimitLogInterval counts them; the
// loop then tries again at once, as more may be queued. Otherwise (nobody
// pending: Linux fails accept4 with EMFILE even on an empty queue, other
// errors) it backs off as net/http does, so a new client waits at most a
// second to be served or refused.
func (s *Server) acceptFailed(l net.Listener, err error, backoff *time.Duration) bool {
	addr := l.Addr().String()
	outOfFiles := outOfFiles(err)
	if outOfFiles && s.reserve.refuseOne(l) == nil {
		*backoff = 0
		s.cfg.Metrics.ConnectionRefused(metrics.RefusedTooManyOpenFiles)
		s.every("accept emfile").log(s.log, slog.LevelError,
			"out of file descriptors: closing new connections as they arrive", "listener", addr, "err", err)
		return true
	}
	*backoff = min(max(2**backoff, 5*time.Millisecond), time.Second)
	s.every("accept error").log(s.log, slog.LevelError, "accept failed, retrying", "listener", addr, "err", err, "backoff", *backoff)
	select {
	case <-time.After(*backoff):
		return true
	case <-s.ctx.Done():
		return false
	}
}

// admit serves a new connection, or closes it at once when it is over a
// connection limit. It reports false once the server is closed.
func (s *Server) admit(nc net.Conn, protected bool, diverts []Divert) bool {
	ip := remoteIP(nc)
	if reason := s.limiter.acquire(ip, protected); reason != "" {
		s.refused(reason, ip)
		nc.Close()
		return true
	}
	c := newConn(s, nc, ip, protected)
	if !s.track(c) {
		nc.Close()
		s.limiter.release(ip, protected)
		return false
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
	return true
}

// refused counts and logs (rate-limited) a connection closed over a limit.
func (s *Server) refused(reason, ip string) {
	s.cfg.Metrics.ConnectionRefused(reason)
	switch reason {
	case metrics.RefusedMaxConnections:
		s.every(reason).log(s.log, slog.LevelWarn, "refusing connections: max.connections reached",
			"limit", limitText(s.cfg.MaxConnections), "last_remote", ip)
	case metrics.RefusedMaxConnectionsPerIP:
		s.every(reason).log(s.log, slog.LevelWarn, "refusing connections: max.connections.per.ip reached",
			"limit", limitText(s.limiter.limitFor(ip)), "last_remote", ip)
	}
}

// every returns the rate-limited log of one kind of event.
func (s *Server) every(event string) *rateLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.logs[event]
	if !ok {
		r = &rateLog{interval: s.cfg.LimitLogInterval}
		s.logs[event] = r
	}
	return r
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

// untrack forgets a connection that has closed, or that a divert took
// over: from then on it counts against no limit.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.limiter.release(c.ip, c.protected)
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
	s.reserve.close()
	return errors.Join(errs...)
}
