package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lines is a concurrency-safe sink for a JSON handler.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records parses every line written so far.
func (l *lines) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	text := l.buf.String()
	l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// clock is a manual clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTest returns a handler over a JSON sink with a manual clock and an
// interval long enough that its timer never fires during a test: tests
// call tick themselves.
func newTest(t *testing.T, opts Options) (*slog.Logger, *Handler, *lines, *clock) {
	t.Helper()
	sink := &lines{}
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	if opts.Interval == 0 {
		opts.Interval = time.Hour
	}
	opts.Now = clk.Now
	h := New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}), opts)
	t.Cleanup(h.Close)
	return slog.New(h), h, sink, clk
}

func repeatedOf(m map[string]any) int {
	n, _ := m[RepeatedKey].(float64)
	return int(n)
}

var errTooMany = errors.New("too many open files")

// openFailed is one call site logging a per-partition failure.
func openFailed(log *slog.Logger, topic string, partition int) {
	log.Error("open partition failed", "topic", topic, "partition", partition,
		"err", fmt.Errorf("open /data/%s-%d/00000000000000000000.log: %w", topic, partition, errTooMany))
}

// A storm of one failure across partitions: the first line goes out at
// once, the rest are counted, and the next line after the interval
// carries the count.
func TestRepeatsCollapsedWithCount(t *testing.T) {
	log, _, sink, clk := newTest(t, Options{})
	for p := range 1000 {
		openFailed(log, "t", p)
	}
	got := sink.records(t)
	if len(got) != 1 || got[0]["partition"] != 0.0 || repeatedOf(got[0]) != 0 {
		t.Fatalf("after 1000 identical failures: %v, want only the first, without repeated", got)
	}
	clk.Advance(time.Hour)
	openFailed(log, "u", 7)
	got = sink.records(t)
	if len(got) != 2 || got[1]["topic"] != "u" || repeatedOf(got[1]) != 999 {
		t.Fatalf("first failure after the interval: %v, want it with repeated=999", got[len(got)-1])
	}
}

// When the repeats stop, the timer reports the count on its own, with the
// latest record counted.
func TestTimerReportsCountWhenRepeatsStop(t *testing.T) {
	sink := &lines{}
	h := New(slog.NewJSONHandler(sink, nil), Options{Interval: 20 * time.Millisecond})
	defer h.Close()
	log := slog.New(h)
	for p := range 10 {
		openFailed(log, "t", p)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := sink.records(t)
		if len(got) == 2 {
			if repeatedOf(got[1]) != 8 || got[1]["partition"] != 9.0 {
				t.Fatalf("report: %v, want the latest record (partition 9) with repeated=8", got[1])
			}
			return
		}
		if len(got) > 2 || time.Now().After(deadline) {
			t.Fatalf("lines %v: want the first and one report within 5 s", got)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising
	}
}

// Interval rollover: a report starts a new window, so a continuous storm
// writes one line per interval; a kind quiet for a whole window is
// forgotten, and its next record goes out at once without a count.
func TestIntervalRollover(t *testing.T) {
	log, h, sink, clk := newTest(t, Options{})
	openFailed(log, "t", 0) // written
	clk.Advance(time.Minute)
	for p := 1; p <= 5; p++ {
		openFailed(log, "t", p) // counted
	}
	clk.Advance(time.Hour)
	h.state.tick() // window ended: partition 5 with repeated=4, new window
	openFailed(log, "t", 6)
	clk.Advance(30 * time.Minute)
	openFailed(log, "t", 7) // still inside the report's window: counted
	clk.Advance(31 * time.Minute)
	openFailed(log, "t", 8) // window over: written with repeated=2
	got := sink.records(t)
	want := []struct{ partition, repeated int }{{0, 0}, {5, 4}, {8, 2}}
	if len(got) != len(want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i]["partition"] != float64(w.partition) || repeatedOf(got[i]) != w.repeated {
			t.Fatalf("line %d: %v, want partition %d repeated=%d", i, got[i], w.partition, w.repeated)
		}
	}
	clk.Advance(time.Hour)
	h.state.tick() // nothing counted: nothing written, the kind forgotten
	h.state.mu.Lock()
	kinds := len(h.state.kinds)
	h.state.mu.Unlock()
	if kinds != 0 || len(sink.records(t)) != 3 {
		t.Fatalf("after a quiet window: %d kinds tracked, %d lines; want 0 and 3", kinds, len(sink.records(t)))
	}
	openFailed(log, "t", 9)
	if got := sink.records(t); len(got) != 4 || repeatedOf(got[3]) != 0 {
		t.Fatalf("after a forgotten kind: %v, want a fresh line", got[len(got)-1])
	}
}

// What makes two records the same kind: call site, message, level and
// the error's root cause; not the attributes, file names or numbers.
func TestKinds(t *testing.T) {
	log, _, sink, _ := newTest(t, Options{})
	openFailed(log, "a", 1)
	openFailed(log, "b", 22)                                            // same site and cause, other names and digits: counted
	log.Error("open partition failed", "topic", "a", "err", errTooMany) // another call site
	for _, file := range []string{"a-1/0.log", "b-9/7.log"} {           // one call site, another cause, twice: the second counted
		log.Error("open partition failed", "topic", "a", "err", fmt.Errorf("open /data/%s: %w", file, syscall.ENOSPC))
	}
	log.Warn("open partition failed", "topic", "a") // another level and site
	for range 3 {
		log.Info("member joins the consumer group", "member", "m") // below WARN: never collapsed
	}
	if got := sink.records(t); len(got) != 7 {
		t.Fatalf("%d lines, want 7 (2 counted): %v", len(got), got)
	}
}

// Close reports every pending count, then passes records through.
func TestCloseReportsPendingCounts(t *testing.T) {
	log, h, sink, _ := newTest(t, Options{})
	for p := range 4 {
		openFailed(log, "t", p)
	}
	h.Flush()
	if got := sink.records(t); len(got) != 2 || got[1]["partition"] != 3.0 || repeatedOf(got[1]) != 2 {
		t.Fatalf("after Flush: %v, want the first and partition 3 with repeated=2", got)
	}
	openFailed(log, "t", 4) // still in the window: counted
	h.Close()
	got := sink.records(t)
	if len(got) != 3 || got[2]["partition"] != 4.0 {
		t.Fatalf("after Close: %v, want partition 4's record written", got)
	}
	openFailed(log, "t", 5)
	openFailed(log, "t", 6)
	if got := sink.records(t); len(got) != 5 {
		t.Fatalf("after Close: %d lines, want every record written (5)", len(got))
	}
}

// A collapsed line goes through the handler its record was logged with:
// With attributes and groups are kept, and derived handlers share one
// state (a per-partition logger storm is one kind).
func TestWithAndWithGroup(t *testing.T) {
	log, h, sink, _ := newTest(t, Options{})
	for p := range 4 {
		log.With("component", "replica", "partition", p).WithGroup("detail").Error("fetch failed", "err", errTooMany)
	}
	h.Flush()
	got := sink.records(t)
	if len(got) != 2 {
		t.Fatalf("lines %v, want the first and one report", got)
	}
	if got[0]["component"] != "replica" || got[0]["partition"] != 0.0 {
		t.Fatalf("first line %v: With attributes lost", got[0])
	}
	detail, _ := got[1]["detail"].(map[string]any)
	if got[1]["partition"] != 3.0 || detail == nil || detail["err"] != errTooMany.Error() || repeatedOf(detail) != 2 {
		t.Fatalf("report %v: want partition 3's With attributes and the group holding err and repeated=2", got[1])
	}
}

func TestAttributeCaps(t *testing.T) {
	log, _, sink, _ := newTest(t, Options{})
	logs := make([]string, 6339)
	for i := range logs {
		logs[i] = fmt.Sprintf("topic-%d", i)
	}
	long := strings.Repeat("x", 800_000)
	log.Info("not marking a clean shutdown: logs were never opened", "logs", logs)
	log.Info("long", "s", long, "err", errors.New(long), "small", []int32{1, 2, 3},
		slog.Group("g", slog.String("inner", long)))
	log.With("dirs", logs).Info("with")
	got := sink.records(t)
	if s := got[0]["logs"]; s != "6,339 items, first: topic-0, topic-1, topic-2" {
		t.Errorf("list: %q", s)
	}
	wantCut := strings.Repeat("x", DefaultMaxValueBytes) + "…(800,000 bytes)"
	if got[1]["s"] != wantCut || got[1]["err"] != wantCut {
		t.Errorf("long string and error not cut to %d bytes with their length", DefaultMaxValueBytes)
	}
	if g, _ := got[1]["g"].(map[string]any); g == nil || g["inner"] != wantCut {
		t.Errorf("group attribute not cut: %v", got[1]["g"])
	}
	if small, _ := got[1]["small"].([]any); len(small) != 3 {
		t.Errorf("small list changed: %v", got[1]["small"])
	}
	if got[2]["dirs"] != "6,339 items, first: topic-0, topic-1, topic-2" {
		t.Errorf("With list: %v", got[2]["dirs"])
	}
	// A short list of very long strings is summarised too.
	log.Info("few", "names", []string{long, "b"})
	if s, _ := sink.records(t)[3]["names"].(string); !strings.HasPrefix(s, "2 items, first: xxx") || len(s) > DefaultMaxValueBytes {
		t.Errorf("short list of long strings: %d bytes %.60q", len(s), s)
	}
}

func TestLineWriter(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(NewLineWriter(&buf, 200), nil))
	log.Info("short")
	log.Info("long", "s", strings.Repeat("é", 1000))
	lines := strings.SplitAfter(buf.String(), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("lines %q: want two, each ending in a newline", lines)
	}
	if !strings.Contains(lines[0], "msg=short") {
		t.Errorf("short line changed: %q", lines[0])
	}
	if len(lines[1]) > 200 || !regexp.MustCompile(`…\(line cut: 2,0\d\d bytes\)\n$`).MatchString(lines[1]) || !strings.Contains(lines[1], "msg=long") {
		t.Errorf("long line: %d bytes %q", len(lines[1]), lines[1])
	}
}

// Many goroutines logging through derived handlers while the timer
// reports: every record is either written or counted in a written
// line's repeated (run with -race).
func TestConcurrentNothingLost(t *testing.T) {
	sink := &lines{}
	h := New(slog.NewJSONHandler(sink, nil), Options{Interval: time.Millisecond})
	log := slog.New(h)
	const goroutines, each = 8, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			l := log.With("goroutine", g)
			for i := range each {
				if i%2 == 0 {
					l.Error("even failure", "i", i, "err", errTooMany)
				} else {
					l.Warn("odd failure", "i", i)
				}
			}
		})
	}
	wg.Wait()
	h.Close()
	total := 0
	got := sink.records(t)
	for _, m := range got {
		total += 1 + repeatedOf(m)
	}
	if total != goroutines*each {
		t.Fatalf("lines account for %d records, want %d", total, goroutines*each)
	}
	if len(got) >= goroutines*each {
		t.Fatalf("%d lines for %d records: nothing collapsed", len(got), goroutines*each)
	}
}

// The paths a busy broker takes on every record allocate nothing in the
// handler: a record below the collapse level, a counted repeat, and a
// known kind written again after its window.
func TestAllocations(t *testing.T) {
	clk := &clock{now: time.Unix(0, 0)}
	h := New(slog.DiscardHandler, Options{Interval: time.Hour, Now: clk.Now})
	defer h.Close()
	ctx := context.Background()
	record := func(level slog.Level) slog.Record {
		r := slog.NewRecord(clk.Now(), level, "append failed", 1)
		r.AddAttrs(slog.String("topic", "t"), slog.Int("partition", 3), slog.Any("err", errTooMany))
		return r
	}
	info, failure := record(slog.LevelInfo), record(slog.LevelError)
	_ = h.Handle(ctx, failure) // the kind is known from here on
	for name, run := range map[string]func(){
		"below collapse level": func() { _ = h.Handle(ctx, info) },
		"counted repeat":       func() { _ = h.Handle(ctx, failure) },
		"written after its window": func() {
			clk.Advance(2 * time.Hour)
			_ = h.Handle(ctx, failure)
		},
	} {
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Errorf("%s: %v allocations per record, want 0", name, n)
		}
	}
}
