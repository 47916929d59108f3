package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Error is one rejected setting. Its text names the key, and the value when
// there is one, so an operator can find the line to fix and a Kafka client
// gets a message it can show as-is (the api layer maps every Error to
// INVALID_CONFIG).
type Error struct {
	// Name is the config key as it was given.
	Name string
	// Value is the rejected value ("" for an unknown key).
	Value string
	// Reason says what is wrong, worded to follow the value: "is not a
	// valid long", "must be at least 1". For an unknown key it is a hint
	// ("did you mean ...") or empty.
	Reason string
	// Unknown is set when the key itself is not a recognised config.
	Unknown bool
}

// Error formats the rejection, for example
// `config "log.retention.ms": value "abc" is not a valid long` or
// `unknown config "foo.bar"`.
func (e *Error) Error() string {
	if e.Unknown {
		if e.Reason == "" {
			return fmt.Sprintf("unknown config %q", e.Name)
		}
		return fmt.Sprintf("unknown config %q: %s", e.Name, e.Reason)
	}
	return fmt.Sprintf("config %q: value %q %s", e.Name, e.Value, e.Reason)
}

// check inspects a parsed value and returns "" when it is acceptable, or the
// reason it is not (worded to follow "value X").
type check func(value any) string

// parseChecked parses the text of setting name as typ and applies validate
// (nil: none), so broker settings and topic configs reject bad values with
// the same *Error.
func parseChecked(name, text string, typ kmsg.ConfigType, validate check) (any, error) {
	value, reason := parseValue(typ, text)
	if reason == "" && validate != nil {
		reason = validate(value)
	}
	if reason != "" {
		return nil, &Error{Name: name, Value: text, Reason: reason}
	}
	return value, nil
}

// parseValue turns configuration text into the Go value for typ, the way
// Kafka's ConfigDef does: surrounding whitespace is ignored, booleans are
// case-insensitive, and a list is comma-separated with blanks trimmed
// (an empty text is an empty list). Numbers become int64 (within the range
// of the Kafka type) and doubles float64. It returns a reason on failure.
func parseValue(typ kmsg.ConfigType, text string) (any, string) {
	trimmed := strings.TrimSpace(text)
	switch typ {
	case kmsg.ConfigTypeBoolean:
		switch strings.ToLower(trimmed) {
		case "true":
			return true, ""
		case "false":
			return false, ""
		}
		return nil, "is not a valid boolean (expected true or false)"
	case kmsg.ConfigTypeShort:
		return parseInteger(trimmed, 16, "short")
	case kmsg.ConfigTypeInt:
		return parseInteger(trimmed, 32, "int")
	case kmsg.ConfigTypeLong:
		return parseInteger(trimmed, 64, "long")
	case kmsg.ConfigTypeDouble:
		f, err := strconv.ParseFloat(trimmed, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, "is not a valid double"
		}
		return f, ""
	case kmsg.ConfigTypeList:
		return splitList(trimmed), ""
	default:
		return trimmed, ""
	}
}

func parseInteger(text string, bits int, typeName string) (any, string) {
	n, err := strconv.ParseInt(text, 10, bits)
	if err != nil {
		return nil, "is not a valid " + typeName
	}
	return n, ""
}

// splitList splits a comma-separated list, trimming each element. Like
// Kafka, an empty text is an empty list and empty elements are kept (so a
// validator can reject them).
func splitList(text string) []string {
	if text == "" {
		return []string{}
	}
	parts := strings.Split(text, ",")
	for i, part := range parts {
		parts[i] = strings.TrimSpace(part)
	}
	return parts
}

// formatValue renders a parsed value the way Kafka's DescribeConfigs does
// (ConfigDef.convertToString): lists comma-joined, doubles in Java's
// Double.toString form.
func formatValue(value any) string {
	switch v := value.(type) {
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return javaDouble(v)
	case []string:
		return strings.Join(v, ",")
	case string:
		return v
	}
	return fmt.Sprint(value)
}

// javaDouble formats f like Java's Double.toString: plain decimal with at
// least one fractional digit for magnitudes in [1e-3, 1e7), otherwise
// computerized scientific notation ("1.0E7", "1.7976931348623157E308").
func javaDouble(f float64) string {
	abs := math.Abs(f)
	if f == 0 || (abs >= 1e-3 && abs < 1e7) {
		text := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(text, ".") {
			text += ".0"
		}
		return text
	}
	text := strconv.FormatFloat(f, 'E', -1, 64)
	mantissa, exponent, _ := strings.Cut(text, "E")
	if !strings.Contains(mantissa, ".") {
		mantissa += ".0"
	}
	exponent = strings.TrimPrefix(exponent, "+")
	negative := strings.HasPrefix(exponent, "-")
	exponent = strings.TrimLeft(strings.TrimPrefix(exponent, "-"), "0")
	if negative {
		exponent = "-" + exponent
	}
	return mantissa + "E" + exponent
}

// assign stores a parsed value into the field pointer, converting int64 to
// the field's width. Checks guarantee the value fits before this runs.
func assign(field any, value any) {
	switch p := field.(type) {
	case *bool:
		*p = value.(bool)
	case *int16:
		*p = int16(value.(int64))
	case *int32:
		*p = int32(value.(int64))
	case *int64:
		*p = value.(int64)
	case *float64:
		*p = value.(float64)
	case *string:
		if list, ok := value.([]string); ok {
			*p = strings.Join(list, ",")
			return
		}
		*p = value.(string)
	case *[]string:
		*p = slices.Clone(value.([]string))
	}
}

// read returns a field's current value in parsed form (int64 for every
// integer width), the inverse of assign. A LIST kept in a string field (such
// as Topic.CleanupPolicy) is split again.
func read(typ kmsg.ConfigType, field any) any {
	switch p := field.(type) {
	case *bool:
		return *p
	case *int16:
		return int64(*p)
	case *int32:
		return int64(*p)
	case *int64:
		return *p
	case *float64:
		return *p
	case *string:
		if typ == kmsg.ConfigTypeList {
			return splitList(*p)
		}
		return *p
	case *[]string:
		return *p
	}
	return nil
}

// Checks, named after Kafka's ConfigDef validators.

func atLeast(min int64) check {
	return func(value any) string {
		if value.(int64) < min {
			return fmt.Sprintf("must be at least %d", min)
		}
		return ""
	}
}

func between(min, max int64) check {
	return func(value any) string {
		n := value.(int64)
		if n < min || n > max {
			return fmt.Sprintf("must be between %d and %d", min, max)
		}
		return ""
	}
}

func betweenDouble(min, max float64) check {
	return func(value any) string {
		f := value.(float64)
		if f < min || f > max {
			return fmt.Sprintf("must be between %s and %s", javaDouble(min), javaDouble(max))
		}
		return ""
	}
}

// oneOf accepts exactly one of the given strings (case-sensitive, as
// Kafka's ValidString).
func oneOf(allowed ...string) check {
	return func(value any) string {
		if slices.Contains(allowed, value.(string)) {
			return ""
		}
		return "must be one of " + quoteList(allowed)
	}
}

// oneOfFold is oneOf ignoring case (Kafka's CaseInsensitiveValidString).
func oneOfFold(allowed ...string) check {
	return func(value any) string {
		for _, candidate := range allowed {
			if strings.EqualFold(candidate, value.(string)) {
				return ""
			}
		}
		return "must be one of " + quoteList(allowed)
	}
}

// listOf accepts lists whose elements are all allowed, without duplicates
// (Kafka's ValidList.in). The empty list is accepted.
func listOf(allowed ...string) check {
	return func(value any) string {
		items := value.([]string)
		for i, item := range items {
			if !slices.Contains(allowed, item) {
				return fmt.Sprintf("has element %q: each element must be one of %s", item, quoteList(allowed))
			}
			if slices.Contains(items[:i], item) {
				return fmt.Sprintf("lists %q twice", item)
			}
		}
		return ""
	}
}

// nonEmptyDistinctList accepts lists with at least one element, none of
// them empty and none repeated (Kafka's ValidList.anyNonDuplicateValues).
func nonEmptyDistinctList(value any) string {
	items := value.([]string)
	if len(items) == 0 {
		return "must list at least one element"
	}
	return distinctNonBlank(items)
}

// distinctList is nonEmptyDistinctList that also accepts the empty list.
func distinctList(value any) string {
	return distinctNonBlank(value.([]string))
}

func distinctNonBlank(items []string) string {
	for i, item := range items {
		if item == "" {
			return "has an empty element"
		}
		if slices.Contains(items[:i], item) {
			return fmt.Sprintf("lists %q twice", item)
		}
	}
	return ""
}

func quoteList(items []string) string {
	quoted := make([]string, len(items))
	for i, item := range items {
		quoted[i] = strconv.Quote(item)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
