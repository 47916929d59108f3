package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormat is a compiled record template: `sluice consume --format`
// prints records with it and `sluice produce --format` parses lines with
// it, so what one prints the other reads back. Verbs:
//
//	%k key        %v value       %p partition    %o offset
//	%t timestamp (Unix milliseconds)             %T topic
//	%h headers as k=v,k=v                        %% a percent sign
//
// and the escapes \n, \t, \r and \\.
type recordFormat struct {
	parts []formatPart
}

// formatPart is a literal (verb 0) or one verb.
type formatPart struct {
	verb    byte
	literal string
}

// formatVerbs are the verbs a template may use.
const formatVerbs = "kvpotTh"

// compileFormat parses a template.
func compileFormat(template string) (recordFormat, error) {
	var f recordFormat
	var literal strings.Builder
	flush := func() {
		if literal.Len() > 0 {
			f.parts = append(f.parts, formatPart{literal: literal.String()})
			literal.Reset()
		}
	}
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != '%' && c != '\\' {
			literal.WriteByte(c)
			continue
		}
		if i+1 == len(template) {
			return recordFormat{}, fmt.Errorf("format %q: ends with a lone %q", template, c)
		}
		i++
		next := template[i]
		if c == '\\' {
			escaped, ok := map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', '\\': '\\'}[next]
			if !ok {
				return recordFormat{}, fmt.Errorf("format %q: unknown escape \\%c (want \\n, \\t, \\r or \\\\)", template, next)
			}
			literal.WriteByte(escaped)
			continue
		}
		if next == '%' {
			literal.WriteByte('%')
			continue
		}
		if !strings.ContainsRune(formatVerbs, rune(next)) {
			return recordFormat{}, fmt.Errorf("format %q: unknown verb %%%c (want %%k %%v %%p %%o %%t %%T %%h or %%%%)", template, next)
		}
		flush()
		f.parts = append(f.parts, formatPart{verb: next})
	}
	flush()
	return f, nil
}

// endsWithNewline tells whether the template prints its own line ends.
func (f recordFormat) endsWithNewline() bool {
	if len(f.parts) == 0 {
		return false
	}
	last := f.parts[len(f.parts)-1]
	return last.verb == 0 && strings.HasSuffix(last.literal, "\n")
}

// appendRecord prints r with the template.
func (f recordFormat) appendRecord(dst []byte, r *kgo.Record) []byte {
	for _, part := range f.parts {
		switch part.verb {
		case 0:
			dst = append(dst, part.literal...)
		case 'k':
			dst = append(dst, r.Key...)
		case 'v':
			dst = append(dst, r.Value...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 't':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		case 'T':
			dst = append(dst, r.Topic...)
		case 'h':
			dst = appendHeaders(dst, r.Headers)
		}
	}
	return dst
}

// appendHeaders prints headers as k=v,k=v.
func appendHeaders(dst []byte, headers []kgo.RecordHeader) []byte {
	for i, h := range headers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, h.Key...)
		dst = append(dst, '=')
		dst = append(dst, h.Value...)
	}
	return dst
}

// inputVerbs are the verbs a line can set when producing.
const inputVerbs = "kvpth"

// checkInput tells whether the template can parse lines: every verb must
// be one a producer sets, and two verbs need a literal between them to
// know where one ends.
func (f recordFormat) checkInput() error {
	seen := map[byte]bool{}
	for i, part := range f.parts {
		if part.verb == 0 {
			continue
		}
		if !strings.ContainsRune(inputVerbs, rune(part.verb)) {
			return fmt.Errorf("format: %%%c cannot be set when producing (use %%k %%v %%p %%t %%h)", part.verb)
		}
		if seen[part.verb] {
			return fmt.Errorf("format: %%%c appears twice", part.verb)
		}
		seen[part.verb] = true
		if i > 0 && f.parts[i-1].verb != 0 {
			return fmt.Errorf("format: %%%c directly follows %%%c: put a separator between them", part.verb, f.parts[i-1].verb)
		}
	}
	if !seen['v'] {
		return errors.New("format: needs %v (the value)")
	}
	return nil
}

// parsedLine is what a template read from one line.
type parsedLine struct {
	key, value   []byte
	hasKey       bool
	partition    int32
	hasPartition bool
	timestamp    time.Time
	headers      []kgo.RecordHeader
}

// parseLine matches line against the template: each verb takes the text
// up to the first occurrence of the literal after it, the last verb the
// rest of the line. The returned slices alias line.
func (f recordFormat) parseLine(line []byte) (parsedLine, error) {
	var out parsedLine
	rest := line
	for i, part := range f.parts {
		if part.verb == 0 {
			if !bytes.HasPrefix(rest, []byte(part.literal)) {
				return parsedLine{}, fmt.Errorf("expected %q", part.literal)
			}
			rest = rest[len(part.literal):]
			continue
		}
		field := rest
		if i+1 < len(f.parts) {
			separator := f.parts[i+1].literal
			end := bytes.Index(rest, []byte(separator))
			if end < 0 {
				return parsedLine{}, fmt.Errorf("no %q after %s", separator, verbName(part.verb))
			}
			field = rest[:end]
		}
		rest = rest[len(field):]
		if err := out.set(part.verb, field); err != nil {
			return parsedLine{}, err
		}
	}
	return out, nil
}

// set stores one parsed field.
func (p *parsedLine) set(verb byte, field []byte) error {
	switch verb {
	case 'k':
		p.key, p.hasKey = field, true
	case 'v':
		p.value = field
	case 'p':
		n, err := strconv.ParseInt(string(field), 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("partition %q is not a partition number", field)
		}
		p.partition, p.hasPartition = int32(n), true
	case 't':
		millis, err := strconv.ParseInt(string(field), 10, 64)
		if err != nil || millis < 0 {
			return fmt.Errorf("timestamp %q: want Unix milliseconds", field)
		}
		p.timestamp = time.UnixMilli(millis)
	case 'h':
		headers, err := parseHeaders(string(field))
		if err != nil {
			return err
		}
		p.headers = headers
	}
	return nil
}

// parseHeaders reads k=v,k=v; an empty string is no headers.
func parseHeaders(s string) ([]kgo.RecordHeader, error) {
	if s == "" {
		return nil, nil
	}
	var headers []kgo.RecordHeader
	for pair := range strings.SplitSeq(s, ",") {
		key, value, ok := strings.Cut(pair, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("header %q: want key=value", pair)
		}
		headers = append(headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
	}
	return headers, nil
}

func verbName(verb byte) string {
	switch verb {
	case 'k':
		return "the key"
	case 'v':
		return "the value"
	case 'p':
		return "the partition"
	case 't':
		return "the timestamp"
	case 'h':
		return "the headers"
	}
	return "%" + string(verb)
}
