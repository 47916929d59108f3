package logging

import (
	"context"
	"log/slog"
	"time"
)

// Defaults of Options.
const (
	DefaultInterval      = 10 * time.Second
	DefaultMaxValueBytes = 1024
	DefaultMaxListItems  = 16
	// RepeatedKey is the attribute a collapsed line carries: how many
	// other records of its kind were not shown since the previous line.
	RepeatedKey = "repeated"
)

// Options configures a Handler; the zero value gives the defaults.
type Options struct {
	// Interval is how long records of one kind are counted instead of
	// written after one was written; 0 means DefaultInterval.
	Interval time.Duration
	// Collapse is the lowest level that is collapsed; nil means WARN.
	// INFO and DEBUG lines are events an operator reads one by one (a
	// group member joining), and a storm of them is not a failure.
	Collapse slog.Leveler
	// MaxValueBytes caps a string or error attribute; 0 means
	// DefaultMaxValueBytes.
	MaxValueBytes int
	// MaxListItems is the longest slice printed in full; 0 means
	// DefaultMaxListItems.
	MaxListItems int
	// Now is the clock (tests); nil means time.Now. The report timer runs
	// on real time either way.
	Now func() time.Time
}

// Handler collapses repeated records and caps attribute values before
// passing records to the next handler (see the package doc). Safe for
// concurrent use.
type Handler struct {
	next     slog.Handler
	collapse slog.Leveler
	caps     caps
	state    *collapser // shared with every derived handler
}

// New wraps next.
func New(next slog.Handler, opts Options) *Handler {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Collapse == nil {
		opts.Collapse = slog.LevelWarn
	}
	if opts.MaxValueBytes <= 0 {
		opts.MaxValueBytes = DefaultMaxValueBytes
	}
	if opts.MaxListItems <= 0 {
		opts.MaxListItems = DefaultMaxListItems
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{
		next:     next,
		collapse: opts.Collapse,
		caps:     caps{maxValue: opts.MaxValueBytes, maxItems: opts.MaxListItems},
		state:    newCollapser(opts.Interval, opts.Now),
	}
}

// Enabled reports whether the next handler takes records at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle caps r's attributes and passes it on, unless a record of its
// kind was passed on less than an interval ago: then it is counted.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	needsCap, cause := h.caps.scan(r)
	if needsCap {
		r = h.caps.record(r)
	}
	if r.Level < h.collapse.Level() {
		return h.next.Handle(ctx, r)
	}
	k := kind{level: r.Level, pc: r.PC, msg: r.Message, cause: cause}
	repeated, pass := h.state.admit(k, r, h.next)
	if !pass {
		return nil
	}
	if repeated > 0 {
		r = withRepeated(r, repeated)
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler whose records carry attrs (capped once,
// here), sharing this handler's collapsing state.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	derived := *h
	derived.next = h.next.WithAttrs(h.caps.attrs(attrs))
	return &derived
}

// WithGroup returns a handler that qualifies later attributes with name,
// sharing this handler's collapsing state. A collapsed line's repeated
// attribute is inside the group too.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	derived := *h
	derived.next = h.next.WithGroup(name)
	return &derived
}

// Flush passes on a line for every kind with records not shown yet, with
// their count, without waiting for the interval to end.
func (h *Handler) Flush() { h.state.flush() }

// Close flushes and stops the report timer; later records are passed on
// as they come (still capped), since no timer would report their counts.
// Call it when the program stops logging (shutdown).
func (h *Handler) Close() { h.state.close() }

// withRepeated returns a copy of r with the repeated count added (a copy:
// r's attribute storage may be shared with its caller).
func withRepeated(r slog.Record, n int) slog.Record {
	r = r.Clone()
	r.AddAttrs(slog.Int(RepeatedKey, n))
	return r
}
