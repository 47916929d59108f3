package logging

import (
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// caps are the limits on one attribute value (Options.MaxValueBytes,
// Options.MaxListItems).
type caps struct {
	maxValue int // bytes of a string value or error text
	maxItems int // elements of a slice shown in full
}

// listPreviewItems is how many elements a summarised slice names.
const listPreviewItems = 3

// scan walks r's attributes once: it reports whether any needs capping
// and the root-cause hash of the first error attribute (0: none).
func (c caps) scan(r slog.Record) (needsCap bool, cause uint64) {
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve()
		if cause == 0 {
			if err, ok := errorOf(v); ok {
				cause = causeHash(err.Error())
			}
		}
		needsCap = needsCap || c.needs(v)
		return true
	})
	return needsCap, cause
}

// needs reports whether a resolved value is over a cap.
func (c caps) needs(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindString:
		return len(v.String()) > c.maxValue
	case slog.KindGroup:
		for _, a := range v.Group() {
			if c.needs(a.Value.Resolve()) {
				return true
			}
		}
		return false
	case slog.KindAny:
		return c.needsAny(v.Any())
	}
	return false
}

func (c caps) needsAny(x any) bool {
	if err, ok := x.(error); ok {
		return len(err.Error()) > c.maxValue
	}
	rv, ok := listOf(x)
	if !ok {
		return false
	}
	if rv.Len() > c.maxItems {
		return true
	}
	if ss, ok := x.([]string); ok {
		total := 0
		for _, s := range ss {
			total += len(s) + 1
		}
		return total > c.maxValue
	}
	return false
}

// record returns a copy of r with every attribute capped.
func (c caps) record(r slog.Record) slog.Record {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(c.attr(a))
		return true
	})
	return out
}

// attrs caps a list of attributes (WithAttrs), copying only if one changes.
func (c caps) attrs(as []slog.Attr) []slog.Attr {
	var out []slog.Attr
	for i, a := range as {
		if !c.needs(a.Value.Resolve()) {
			if out != nil {
				out = append(out, a)
			}
			continue
		}
		if out == nil {
			out = append(make([]slog.Attr, 0, len(as)), as[:i]...)
		}
		out = append(out, c.attr(a))
	}
	if out == nil {
		return as
	}
	return out
}

// attr returns a with its value capped.
func (c caps) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if !c.needs(v) {
		return a
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, c.cut(v.String()))
	case slog.KindGroup:
		group := v.Group()
		capped := make([]slog.Attr, len(group))
		for i, g := range group {
			capped[i] = c.attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(capped...)}
	}
	x := v.Any()
	if err, ok := x.(error); ok {
		return slog.String(a.Key, c.cut(err.Error()))
	}
	rv, _ := listOf(x)
	return slog.String(a.Key, c.summarise(rv))
}

// cut shortens s to maxValue bytes (on a rune boundary) and says how long
// it was.
func (c caps) cut(s string) string {
	if len(s) <= c.maxValue {
		return s
	}
	return runePrefix(s, c.maxValue) + "…(" + thousands(len(s)) + " bytes)"
}

// summarise describes a long slice by its length and first elements:
// "6,339 items, first: a, b, c".
func (c caps) summarise(rv reflect.Value) string {
	n := rv.Len()
	var b strings.Builder
	b.WriteString(thousands(n))
	if n == 1 {
		b.WriteString(" item, first: ")
	} else {
		b.WriteString(" items, first: ")
	}
	perItem := max(c.maxValue/(2*listPreviewItems), 16)
	for i := range min(n, listPreviewItems) {
		if i > 0 {
			b.WriteString(", ")
		}
		item := fmt.Sprint(rv.Index(i).Interface())
		if len(item) > perItem {
			item = runePrefix(item, perItem) + "…"
		}
		b.WriteString(item)
	}
	return b.String()
}

// errorOf returns the error a resolved value holds.
func errorOf(v slog.Value) (error, bool) {
	if v.Kind() != slog.KindAny {
		return nil, false
	}
	err, ok := v.Any().(error)
	return err, ok && err != nil
}

// listOf returns x as a slice or array other than bytes (which handlers
// print as text).
func listOf(x any) (reflect.Value, bool) {
	if x == nil {
		return reflect.Value{}, false
	}
	if _, isBytes := x.([]byte); isBytes {
		return reflect.Value{}, false
	}
	rv := reflect.ValueOf(x)
	kind := rv.Kind()
	return rv, kind == reflect.Slice || kind == reflect.Array
}

// causeHash identifies an error's root cause: the text after its last
// ": " (Go's wrapping convention puts the operation and file names
// before it), each run of digits counted as one '#' so counts, offsets
// and descriptor numbers do not split a kind. Never 0.
func causeHash(text string) uint64 {
	if i := strings.LastIndex(text, ": "); i >= 0 {
		text = text[i+2:]
	}
	h := uint64(fnvOffset)
	digits := false
	for i := 0; i < len(text); i++ {
		ch := text[i]
		isDigit := ch >= '0' && ch <= '9'
		if isDigit && digits {
			continue
		}
		digits = isDigit
		if isDigit {
			ch = '#'
		}
		h = (h ^ uint64(ch)) * fnvPrime
	}
	return h | 1
}

// FNV-1a's 64-bit parameters (hash/fnv's, inlined: no allocation).
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// runePrefix returns at most n bytes of s, not splitting a rune.
func runePrefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// thousands formats n with commas: 812345 → "812,345".
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead == 0 {
		lead = 3
	}
	b.WriteString(s[:lead])
	for i := lead; i < len(s); i += 3 {
		b.WriteByte(',')
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
