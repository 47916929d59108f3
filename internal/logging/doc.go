// Package logging keeps the broker's log readable when something fails at
// scale: a partition-wide or request-wide failure (100,000 partitions that
// cannot open, every produce refused) must cost a few lines, not a
// million, and no single line may carry an 800 KB list.
//
// Handler wraps any slog.Handler and does two things:
//
//   - It collapses repeated records. Records at or above Options.Collapse
//     (default WARN) are keyed by level, message, call site (the record's
//     PC) and the root cause of their first error attribute (the error
//     text after its last ": ", digits masked, so "open /d/t-7/0.log: too
//     many open files" and "open /d/u-1/0.log: too many open files" are
//     one kind while "no space left on device" is another). The first
//     record of a kind is passed on at once; the others within
//     Options.Interval (default 10 s) are counted instead. Once the
//     interval has passed, the next line of that kind carries
//     repeated=N: N other records of its kind were not shown since the
//     previous line. That line is the next record logged, or, when none
//     comes, the latest one counted, written by a timer within another
//     interval. So a continuous failure writes one line per interval per
//     kind, and every record is either a line or in a line's count:
//     Flush and Close write every pending count too.
//     Attributes (topic, partition, With attributes) are deliberately not
//     part of the key: a per-partition storm is one kind.
//
//   - It caps attribute values: a string (or error text) over
//     Options.MaxValueBytes (default 1 KiB) is cut with a note of its full
//     length, and a slice with more than Options.MaxListItems (default 16)
//     elements, or whose strings exceed MaxValueBytes together, is
//     summarised as "6,339 items, first: a, b, c". With attributes are
//     capped once, when the derived handler is made.
//
// LineWriter is the backstop below the handler: it cuts any single write
// (slog's built-in handlers write one line per Write) to a maximum length,
// so no line exceeds a few KB whatever the record holds.
//
// Threading: a Handler and every handler derived from it by WithAttrs or
// WithGroup share one collapsing state guarded by a mutex that is never
// held while writing; the non-repeated path takes it once per record at
// or above Options.Collapse and allocates nothing once a kind is known.
// Records below Options.Collapse never take it. The only goroutine is the
// report timer's (time.AfterFunc), stopped by Close; Close waits for a
// running report to finish.
//
// Imported by internal/cli, which builds the broker's logger; it imports
// nothing of the module.
package logging
