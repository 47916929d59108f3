package server

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/wire"
)

// byteBudget is queued.max.request.bytes: bytes of requests read but not
// yet answered, across every connection that counts against it. A reader
// acquires a frame's size before allocating the frame and the writer
// releases it once the reply is written or dropped, so request memory is
// bounded by the limit (plus one frame larger than the limit, admitted
// alone when nothing else is held, so that no request can wait forever).
// Waiters are served in arrival order: a large request is not starved by a
// stream of small ones. Safe for concurrent use (mu).
type byteBudget struct {
	limit   int64 // <= 0: unbounded, only counted
	metrics *metrics.Broker

	mu      sync.Mutex
	held    int64
	peak    int64
	waiters list.List // *budgetWaiter, oldest first
}

// budgetWaiter is one reader waiting for room; ready is closed once its
// bytes are granted.
type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newByteBudget(limit int64, m *metrics.Broker) *byteBudget {
	m.SetQueuedRequestBytesLimit(limit)
	return &byteBudget{limit: limit, metrics: m}
}

// acquire takes n bytes, waiting for room; it fails only when ctx ends
// (the connection or the server closing), and then holds nothing.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.fitsLocked(n) {
		b.grantLocked(n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	select {
	case <-w.ready:
		// Granted while ctx ended: give the bytes back.
		b.held -= n
		b.metrics.AddQueuedRequestBytes(-n)
	default:
		b.waiters.Remove(elem)
	}
	b.wakeLocked()
	b.mu.Unlock()
	return ctx.Err()
}

// release returns n bytes taken by acquire and admits the waiters that now
// fit, oldest first.
func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.held -= n
	b.metrics.AddQueuedRequestBytes(-n)
	b.wakeLocked()
	b.mu.Unlock()
}

func (b *byteBudget) fitsLocked(n int64) bool {
	return b.limit <= 0 || b.held == 0 || b.held+n <= b.limit
}

func (b *byteBudget) grantLocked(n int64) {
	b.held += n
	b.peak = max(b.peak, b.held)
	b.metrics.AddQueuedRequestBytes(n)
}

// wakeLocked grants the oldest waiters while they fit; one that does not
// fit keeps the ones behind it waiting (FIFO).
func (b *byteBudget) wakeLocked() {
	for front := b.waiters.Front(); front != nil; front = b.waiters.Front() {
		w := front.Value.(*budgetWaiter)
		if !b.fitsLocked(w.n) {
			return
		}
		b.grantLocked(w.n)
		b.waiters.Remove(front)
		close(w.ready)
	}
}

// budgetStats is a snapshot of a byteBudget, for tests and logs.
type budgetStats struct {
	Held, Peak int64
	Waiting    int
}

func (b *byteBudget) stats() budgetStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return budgetStats{Held: b.held, Peak: b.peak, Waiting: b.waiters.Len()}
}

// Broker requests and the budget. A request holds its budget bytes until
// its reply leaves, also while the reply waits (Reply.Wait): an acks=all
// produce waits for the followers' fetches, a coordinator's write or a
// transaction marker for the same. Kafka releases a request's pool memory
// once its handler returns, before such a wait, so its pool cannot
// deadlock this way (and it recommends a listener of their own for
// brokers anyway); here the followers' requests must not wait for budget,
// on whatever listener they arrive, or produces that fill it wait for
// fetches that wait for them until the produces time out. So a broker
// request is read without budget: a Fetch or OffsetForLeaderEpoch (v3+)
// naming a replica ID (>= 0) and WriteTxnMarkers, the requests Sluice's
// brokers send to each other's inter-broker listener. The client ID could
// be anyone's; the replica ID is what the handlers act on, and a client
// that claims one gets at most brokerAllowance per connection past the
// budget.

// brokerKey reports whether requests with this API key may be a broker's
// (brokerRequest), so that the reader looks at their header before it
// takes budget.
func brokerKey(key int16) bool {
	switch key {
	case kmsg.Fetch.Int16(), kmsg.OffsetForLeaderEpoch.Int16(), kmsg.WriteTxnMarkers.Int16():
		return true
	}
	return false
}

// brokerHeader reports whether a frame starting with head may be a
// broker's request, to be read before taking budget: head names one in
// its header and body's first field, or it is a Fetch v15+ (whose replica
// ID is a tagged field at the end of the body) and head is the whole
// frame, small enough to decode first. A frame it accepts is still checked
// by brokerRequest once decoded.
func brokerHeader(head []byte, whole bool) bool {
	if len(head) < 8 {
		return false
	}
	key := int16(binary.BigEndian.Uint16(head))
	version := int16(binary.BigEndian.Uint16(head[2:]))
	switch key {
	case kmsg.WriteTxnMarkers.Int16():
		return true
	case kmsg.Fetch.Int16():
		if version >= 15 {
			return whole
		}
		fetch := kmsg.FetchRequest{Version: version}
		return bodyReplicaID(head, fetch.IsFlexible()) >= 0
	case kmsg.OffsetForLeaderEpoch.Int16():
		epochs := kmsg.OffsetForLeaderEpochRequest{Version: version}
		return version >= 3 && bodyReplicaID(head, epochs.IsFlexible()) >= 0
	}
	return false
}

// bodyReplicaID reads the int32 that starts the body of the request
// framed in head (after the header v1, or v2 when flexible), -1 if head
// ends first.
func bodyReplicaID(head []byte, flexible bool) int32 {
	_, body, err := nullableString(head[8:])
	if err == nil && flexible {
		body, err = wire.SkipTags(body)
	}
	if err != nil || len(body) < 4 {
		return -1
	}
	return int32(binary.BigEndian.Uint32(body))
}

// brokerRequest reports whether a decoded request is one brokers send
// each other that may pass the budget (see above): a follower's Fetch (its
// replica ID in the body before v15, in ReplicaState from v15, KIP-903),
// a follower's OffsetForLeaderEpoch (v3+, KIP-392) or WriteTxnMarkers.
func brokerRequest(req *api.Request) bool {
	switch body := req.Body.(type) {
	case *kmsg.FetchRequest:
		if body.Version >= 15 {
			return body.ReplicaState.ID >= 0
		}
		return body.ReplicaID >= 0
	case *kmsg.OffsetForLeaderEpochRequest:
		return body.Version >= 3 && body.ReplicaID >= 0
	case *kmsg.WriteTxnMarkersRequest:
		return true
	}
	return false
}

// connLimiter counts open connections, in total on the listeners that are
// not protected (max.connections) and per remote IP address on every
// listener (max.connections.per.ip and its overrides), as Kafka's
// ConnectionQuotas does. Safe for concurrent use (mu).
type connLimiter struct {
	maxTotal    int            // < 0: none; 0: unbounded
	maxPerIP    int            // < 0: none; 0: unbounded
	perIPByAddr map[string]int // overrides by IP address text
	gauge       *metrics.Broker

	mu    sync.Mutex
	total int
	perIP map[string]int
}

func newConnLimiter(cfg Config, overrides map[string]int) *connLimiter {
	return &connLimiter{maxTotal: cfg.MaxConnections, maxPerIP: cfg.MaxConnectionsPerIP,
		perIPByAddr: overrides, perIP: map[string]int{}, gauge: cfg.Metrics}
}

// acquire counts a new connection from ip, or returns the metrics reason
// it is refused for (and counts nothing).
func (l *connLimiter) acquire(ip string, protected bool) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !protected && exceeded(l.total, l.maxTotal) {
		return metrics.RefusedMaxConnections
	}
	if exceeded(l.perIP[ip], l.limitFor(ip)) {
		return metrics.RefusedMaxConnectionsPerIP
	}
	l.perIP[ip]++
	if !protected {
		l.total++
		l.gauge.AddConnections(1)
	}
	return ""
}

// release forgets a connection acquire counted.
func (l *connLimiter) release(ip string, protected bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
	if !protected {
		l.total--
		l.gauge.AddConnections(-1)
	}
}

func (l *connLimiter) limitFor(ip string) int {
	if n, ok := l.perIPByAddr[ip]; ok {
		if n == 0 {
			return -1
		}
		return n
	}
	return l.maxPerIP
}

// exceeded reports whether one more connection would pass limit (< 0: none
// allowed, 0: unbounded).
func exceeded(count, limit int) bool {
	return limit < 0 || (limit > 0 && count >= limit)
}

// limitText describes a connLimiter limit for logs.
func limitText(limit int) any {
	if limit == 0 {
		return "unbounded"
	}
	return max(limit, 0)
}

// remoteIP is the connection's remote address as the per-IP limits key it:
// the IP without port or zone, IPv4-mapped IPv6 as IPv4.
func remoteIP(nc net.Conn) string {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return canonicalIP(host)
}

func canonicalIP(host string) string {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	return addr.WithZone("").Unmap().String()
}

// resolveOverrides turns max.connections.per.ip.overrides (host → count)
// into IP address → count. Kafka resolves each host name at start and
// fails if it cannot; Sluice logs the host and starts without its
// override, since a transient DNS failure should not keep a broker down.
func resolveOverrides(hosts map[string]int, log *slog.Logger) map[string]int {
	out := make(map[string]int, len(hosts))
	for host, n := range hosts {
		if _, err := netip.ParseAddr(host); err == nil {
			out[canonicalIP(host)] = n
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		cancel()
		if err != nil {
			log.Warn("max.connections.per.ip.overrides: host not resolved; its override is not applied", "host", host, "err", err)
			continue
		}
		for _, a := range addrs {
			out[a.WithZone("").Unmap().String()] = n
		}
	}
	return out
}

// rateLog writes at most one line per interval for a repeated event,
// carrying how many events happened since the previous line, so a flood of
// refusals costs one line every interval instead of one per connection.
// Safe for concurrent use (mu).
type rateLog struct {
	interval time.Duration
	now      func() time.Time // nil: time.Now

	mu    sync.Mutex
	last  time.Time
	count int
}

// log records one event and writes msg (with count) if the interval since
// the last line has passed.
func (r *rateLog) log(logger *slog.Logger, level slog.Level, msg string, args ...any) {
	r.mu.Lock()
	r.count++
	now := time.Now()
	if r.now != nil {
		now = r.now()
	}
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.mu.Unlock()
		return
	}
	count := r.count
	r.count, r.last = 0, now
	r.mu.Unlock()
	logger.Log(context.Background(), level, msg, append(args, "count", count, "interval", r.interval)...)
}

// fdReserve is one descriptor (/dev/null) held back for the moment the
// process runs out: on EMFILE the accept loop closes it, accepts the
// pending connection and closes that at once, so the client sees a closed
// connection instead of hanging in the backlog, then reopens it (the
// classic trick of libev and nginx). Safe for concurrent use (mu); shared
// by every listener of a server.
type fdReserve struct {
	mu sync.Mutex
	f  *os.File // nil when it could not be reopened yet
}

func newFDReserve() *fdReserve {
	r := &fdReserve{}
	r.f, _ = os.Open(os.DevNull)
	return r
}

// refuseOne spends the reserve to accept and close one pending connection
// on l (acceptAndCloseNow), then takes it back. errNothingPending means
// no client was waiting; EMFILE, that the freed descriptor was taken
// meanwhile.
func (r *fdReserve) refuseOne(l net.Listener) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	defer func() { r.f, _ = os.Open(os.DevNull) }()
	return acceptAndCloseNow(l)
}

func (r *fdReserve) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// outOfFiles reports whether err is the process (EMFILE) or the system
// (ENFILE) running out of file descriptors.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
