package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metrics"
)

// The budget admits in arrival order, lets a request larger than the
// whole budget in alone, and forgets a waiter whose context ends.
func TestByteBudgetOrderAndOversize(t *testing.T) {
	b := newByteBudget(10, nil)
	ctx := context.Background()
	if err := b.acquire(ctx, 6); err != nil {
		t.Fatal(err)
	}
	granted := make(chan int64, 3)
	for i, n := range []int64{8, 3} { // 8 waits for room; 3 would fit but queues behind it
		go func() {
			if err := b.acquire(ctx, n); err == nil {
				granted <- n
			}
		}()
		waitFor(t, func() bool { return b.stats().Waiting == i+1 }, "waiter queued")
	}
	if len(granted) != 0 {
		t.Fatalf("a waiter was admitted past the one ahead of it: %d", <-granted)
	}
	b.release(6) // 8 fits now, and 3 no longer does beside it
	if first := <-granted; first != 8 || b.stats().Waiting != 1 {
		t.Fatalf("granted %d first (%d waiting), want 8 with 3 still waiting", first, b.stats().Waiting)
	}
	b.release(8)
	if second := <-granted; second != 3 {
		t.Fatalf("granted %d second, want 3", second)
	}
	b.release(3)
	if err := b.acquire(ctx, 25); err != nil { // larger than the budget: alone
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.acquire(cancelled, 1) }()
	waitFor(t, func() bool { return b.stats().Waiting == 1 }, "waiter behind the oversize request")
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled waiter was granted")
	}
	b.release(25)
	if s := b.stats(); s.Held != 0 || s.Waiting != 0 || s.Peak != 25 {
		t.Fatalf("stats %+v, want nothing held or waiting, peak 25", s)
	}
}

func TestUnboundedBudgetOnlyCounts(t *testing.T) {
	b := newByteBudget(-1, nil)
	for range 3 {
		if err := b.acquire(context.Background(), math.MaxInt32); err != nil {
			t.Fatal(err)
		}
	}
	if s := b.stats(); s.Held != 3*math.MaxInt32 || s.Waiting != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConnLimiter(t *testing.T) {
	l := newConnLimiter(Config{MaxConnections: 2, MaxConnectionsPerIP: 1}, map[string]int{"10.0.0.9": 3, "10.0.0.8": 0})
	steps := []struct {
		ip        string
		protected bool
		want      string
	}{
		{"10.0.0.1", false, ""},
		{"10.0.0.1", false, metrics.RefusedMaxConnectionsPerIP},
		{"10.0.0.1", true, metrics.RefusedMaxConnectionsPerIP},  // per-IP applies on every listener
		{"10.0.0.8", false, metrics.RefusedMaxConnectionsPerIP}, // override 0: nobody from there
		{"10.0.0.9", false, ""},
		{"10.0.0.9", false, metrics.RefusedMaxConnections},
		{"10.0.0.9", true, ""}, // protected listeners are not counted in the total
	}
	for i, s := range steps {
		if got := l.acquire(s.ip, s.protected); got != s.want {
			t.Fatalf("step %d (%s protected=%v): %q, want %q", i, s.ip, s.protected, got, s.want)
		}
	}
	l.release("10.0.0.1", false)
	if got := l.acquire("10.0.0.9", false); got != "" {
		t.Fatalf("after a release: %q", got)
	}
	if none := newConnLimiter(Config{MaxConnections: -1}, nil); none.acquire("10.0.0.1", false) != metrics.RefusedMaxConnections {
		t.Fatal("max.connections=0 admitted a client")
	}
}

func TestResolveOverrides(t *testing.T) {
	got := resolveOverrides(map[string]int{"localhost": 3, "::ffff:10.1.2.3": 4, "no-such-host.invalid": 5}, slog.New(slog.DiscardHandler))
	if got["127.0.0.1"] != 3 || got["10.1.2.3"] != 4 {
		t.Fatalf("overrides %v, want localhost as 127.0.0.1 and the mapped address unmapped", got)
	}
	if _, ok := got["no-such-host.invalid"]; ok {
		t.Fatalf("an unresolved host is kept: %v", got)
	}
}

// One line per interval, carrying the number of events since the last.
func TestRateLogCounts(t *testing.T) {
	var logs logBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	now := time.Unix(1000, 0)
	r := &rateLog{interval: 10 * time.Second, now: func() time.Time { return now }}
	for range 5 {
		r.log(logger, slog.LevelWarn, "refusing")
	}
	now = now.Add(10 * time.Second)
	r.log(logger, slog.LevelWarn, "refusing")
	lines := logs.records("refusing")
	if len(lines) != 2 || lines[0]["count"] != 1.0 || lines[1]["count"] != 5.0 {
		t.Fatalf("lines %v, want counts 1 then 5", lines)
	}
}

func TestFileBudgetFor(t *testing.T) {
	cfg := config.DefaultBroker() // one listener, the metrics listener, max.connections unbounded
	got := fileBudgetFor(20000, cfg)
	reserve := reserveSpareFiles + metadataLogFiles + 2 + 1
	want := FileBudget{Limit: 20000, Reserve: reserve, Connections: (20000 - reserve) / 4}
	want.Storage = 20000 - reserve - want.Connections
	if got != want {
		t.Fatalf("budget %+v, want %+v", got, want)
	}
	cfg.MaxConnections = 1000
	if got := fileBudgetFor(20000, cfg); got.Connections != 1000 || got.Storage != 20000-reserve-1000 {
		t.Fatalf("bounded max.connections: %+v", got)
	}
	cfg.MaxConnections = 50000 // more than the limit: storage still gets its minimum
	if got := fileBudgetFor(20000, cfg); got.Storage != minStorageFiles {
		t.Fatalf("overcommitted: %+v", got)
	}
}

func TestServerLimitMapping(t *testing.T) {
	for kafka, want := range map[int32]int{math.MaxInt32: 0, 0: -1, 7: 7} {
		if got := serverLimit(kafka); got != want {
			t.Errorf("serverLimit(%d) = %d, want %d", kafka, got, want)
		}
	}
	b := &Broker{cfg: config.DefaultBroker()}
	b.cfg.Listeners = []config.Listener{{Name: "CLIENT"}, {Name: "REPLICATION"}}
	b.cfg.InterBrokerListenerName = "REPLICATION"
	ls := []net.Listener{fakeListener("a:1"), fakeListener("b:2"), fakeListener("c:3")} // the last: the controller listener
	if got := b.protectedAddrs(ls); !slices.Equal(got, []string{"b:2", "c:3"}) {
		t.Fatalf("protected %v, want the inter-broker and controller listeners", got)
	}
	b.cfg.Listeners = b.cfg.Listeners[1:]
	if got := b.protectedAddrs(ls[1:2]); len(got) != 0 {
		t.Fatalf("the only listener is protected: %v", got)
	}
}

type fakeListener string

func (fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr          { return fakeAddr(l) }

type fakeAddr string

func (fakeAddr) Network() string  { return "tcp" }
func (a fakeAddr) String() string { return string(a) }

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// logBuffer collects JSON log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// records returns the logged records whose msg is msg.
func (l *logBuffer) records(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return parseRecords(l.buf.String(), msg)
}

func parseRecords(text, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(text, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// metricValue scrapes m and returns one series' value (-1 if absent).
func metricValue(t *testing.T, m *metrics.Broker, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	found := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(rec.Body.String())
	if found == nil {
		return -1
	}
	v, err := strconv.ParseFloat(found[1], 64)
	if err != nil {
		t.Fatalf("series %s: %v", series, err)
	}
	return v
}
