package logging

import (
	"io"
	"unicode/utf8"
)

// DefaultMaxLineBytes is the longest line NewLineWriter lets through by
// default: a few attributes at their cap, well under a terminal page.
const DefaultMaxLineBytes = 4096

// LineWriter cuts every write longer than its maximum, keeping the
// trailing newline and noting the full length: slog's text and JSON
// handlers write each record with one Write, so no log line is longer
// than the maximum whatever a record holds. It keeps no state: it is as
// safe for concurrent use as the writer it wraps (slog's handlers
// serialise their writes).
type LineWriter struct {
	w   io.Writer
	max int
}

// NewLineWriter wraps w; max 0 means DefaultMaxLineBytes.
func NewLineWriter(w io.Writer, max int) *LineWriter {
	if max <= 0 {
		max = DefaultMaxLineBytes
	}
	return &LineWriter{w: w, max: max}
}

// Write writes p, or its first bytes with a note of its length when it is
// longer than the maximum. It reports len(p) written on success: the line
// was consumed, cut or not.
func (lw *LineWriter) Write(p []byte) (int, error) {
	if len(p) <= lw.max {
		return lw.w.Write(p)
	}
	note := "…(line cut: " + thousands(len(p)) + " bytes)"
	newline := p[len(p)-1] == '\n'
	keep := max(lw.max-len(note)-1, 0)
	for keep > 0 && !utf8.RuneStart(p[keep]) {
		keep--
	}
	out := make([]byte, 0, keep+len(note)+1)
	out = append(out, p[:keep]...)
	out = append(out, note...)
	if newline {
		out = append(out, '\n')
	}
	if _, err := lw.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
