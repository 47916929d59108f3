package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// maxPropertiesBytes bounds what LoadProperties reads: a server.properties
// is a few kilobytes, so anything near this is not one.
const maxPropertiesBytes = 16 << 20

// LoadProperties reads a Java .properties file (java.util.Properties.load
// semantics, read as UTF-8): lines starting with # or ! are comments; a key
// ends at the first unescaped '=', ':' or whitespace, and the value starts
// after that separator and any whitespace around it; a line ending in an odd
// number of backslashes continues on the next line (whose leading
// whitespace is dropped); \t \n \r \f and \uXXXX are escapes, and a
// backslash before any other character stands for that character. Later
// duplicates win. Values keep trailing whitespace, as Java does; ParseBroker
// trims them.
func LoadProperties(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPropertiesBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read properties: %w", err)
	}
	if len(data) > maxPropertiesBytes {
		return nil, fmt.Errorf("read properties: larger than %d bytes, which no properties file should be", maxPropertiesBytes)
	}
	props := make(map[string]string)
	lines := naturalLines(string(data))
	for i := 0; i < len(lines); i++ {
		first := i + 1
		logical, ok := startLogicalLine(lines[i])
		if !ok {
			continue
		}
		for continues(logical) && i+1 < len(lines) {
			i++
			logical = logical[:len(logical)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		if continues(logical) {
			logical = logical[:len(logical)-1]
		}
		key, value, err := splitProperty(logical)
		if err != nil {
			return nil, fmt.Errorf("read properties: line %d: %w", first, err)
		}
		props[key] = value
	}
	return props, nil
}

// naturalLines splits on \n, \r or \r\n, as Java's LineReader does.
func naturalLines(data string) []string {
	data = strings.ReplaceAll(data, "\r\n", "\n")
	data = strings.ReplaceAll(data, "\r", "\n")
	return strings.Split(data, "\n")
}

// startLogicalLine drops leading whitespace and reports whether the line
// holds a property (it is neither blank nor a comment). A comment does not
// continue onto the next line even if it ends in a backslash.
func startLogicalLine(line string) (string, bool) {
	line = strings.TrimLeft(line, " \t\f")
	if line == "" || line[0] == '#' || line[0] == '!' {
		return "", false
	}
	return line, true
}

// continues reports whether a line ends in an odd number of backslashes.
func continues(line string) bool {
	backslashes := len(line) - len(strings.TrimRight(line, `\`))
	return backslashes%2 == 1
}

// splitProperty separates and unescapes the key and value of a logical line.
func splitProperty(line string) (string, string, error) {
	keyEnd, valueStart := len(line), len(line)
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			keyEnd = i
			valueStart = separatorEnd(line, i)
			break
		}
	}
	key, err := unescape(line[:keyEnd])
	if err != nil {
		return "", "", err
	}
	value, err := unescape(line[valueStart:])
	if err != nil {
		return "", "", err
	}
	return key, value, nil
}

// separatorEnd skips whitespace, at most one '=' or ':', and whitespace
// again, from the end of the key at i.
func separatorEnd(line string, i int) int {
	skipSpace := func(i int) int {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\f') {
			i++
		}
		return i
	}
	i = skipSpace(i)
	if i < len(line) && (line[i] == '=' || line[i] == ':') {
		i = skipSpace(i + 1)
	}
	return i
}

// unescape resolves backslash escapes.
func unescape(escaped string) (string, error) {
	if !strings.Contains(escaped, `\`) {
		return escaped, nil
	}
	var out strings.Builder
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c != '\\' || i+1 == len(escaped) {
			if c != '\\' {
				out.WriteByte(c)
			}
			continue
		}
		i++
		switch escaped[i] {
		case 't':
			out.WriteByte('\t')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 'f':
			out.WriteByte('\f')
		case 'u':
			r, consumed, err := unicodeEscape(escaped[i+1:])
			if err != nil {
				return "", err
			}
			out.WriteRune(r)
			i += consumed
		default:
			out.WriteByte(escaped[i])
		}
	}
	return out.String(), nil
}

// unicodeEscape decodes the four hex digits after \u, joining a UTF-16
// surrogate pair written as two escapes (as Java strings hold them). It
// returns the rune and how many bytes of rest it used.
func unicodeEscape(rest string) (rune, int, error) {
	high, err := hexUnit(rest)
	if err != nil {
		return 0, 0, err
	}
	if !utf16.IsSurrogate(high) || !strings.HasPrefix(rest[4:], `\u`) {
		return high, 4, nil
	}
	low, err := hexUnit(rest[6:])
	if err != nil {
		return 0, 0, err
	}
	if pair := utf16.DecodeRune(high, low); pair != unicode.ReplacementChar {
		return pair, 10, nil
	}
	return high, 4, nil
}

// hexUnit parses four hex digits.
func hexUnit(text string) (rune, error) {
	if len(text) < 4 {
		return 0, fmt.Errorf(`malformed \uxxxx escape: need four hex digits`)
	}
	n, err := strconv.ParseUint(text[:4], 16, 16)
	if err != nil {
		return 0, fmt.Errorf(`malformed \uxxxx escape %q: need four hex digits`, `\u`+text[:4])
	}
	return rune(n), nil
}
