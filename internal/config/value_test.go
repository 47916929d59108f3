package config

import (
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		typ    kmsg.ConfigType
		text   string
		want   any
		reason string
	}{
		{kmsg.ConfigTypeBoolean, " TRUE ", true, ""},
		{kmsg.ConfigTypeBoolean, "false", false, ""},
		{kmsg.ConfigTypeBoolean, "1", nil, "is not a valid boolean (expected true or false)"},
		{kmsg.ConfigTypeShort, "32767", int64(32767), ""},
		{kmsg.ConfigTypeShort, "32768", nil, "is not a valid short"},
		{kmsg.ConfigTypeInt, "-2147483648", int64(math.MinInt32), ""},
		{kmsg.ConfigTypeInt, "+7", int64(7), ""},
		{kmsg.ConfigTypeInt, "2147483648", nil, "is not a valid int"},
		{kmsg.ConfigTypeInt, "", nil, "is not a valid int"},
		{kmsg.ConfigTypeInt, "0x10", nil, "is not a valid int"},
		{kmsg.ConfigTypeLong, "9223372036854775807", int64(math.MaxInt64), ""},
		{kmsg.ConfigTypeLong, "9223372036854775808", nil, "is not a valid long"},
		{kmsg.ConfigTypeDouble, "0.5", 0.5, ""},
		{kmsg.ConfigTypeDouble, "1e3", 1000.0, ""},
		{kmsg.ConfigTypeDouble, "Infinity", nil, "is not a valid double"},
		{kmsg.ConfigTypeString, "  padded  ", "padded", ""},
	}
	for _, test := range tests {
		got, reason := parseValue(test.typ, test.text)
		if got != test.want || reason != test.reason {
			t.Errorf("parseValue(%v, %q) = %v, %q; want %v, %q", test.typ, test.text, got, reason, test.want, test.reason)
		}
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"", []string{}},
		{"   ", []string{}},
		{"a", []string{"a"}},
		{" a , b ,c", []string{"a", "b", "c"}},
		{"a,", []string{"a", ""}},
	}
	for _, test := range tests {
		got, _ := parseValue(kmsg.ConfigTypeList, test.text)
		if !slices.Equal(got.([]string), test.want) {
			t.Errorf("parseValue(LIST, %q) = %q, want %q", test.text, got, test.want)
		}
	}
}

// TestJavaDouble checks doubles render as Java's Double.toString, which is
// what Kafka's DescribeConfigs sends.
func TestJavaDouble(t *testing.T) {
	tests := []struct {
		value float64
		want  string
	}{
		{0, "0.0"},
		{0.5, "0.5"},
		{1, "1.0"},
		{0.9, "0.9"},
		{-2.25, "-2.25"},
		{0.001, "0.001"},
		{0.0001, "1.0E-4"},
		{1234567, "1234567.0"},
		{1e7, "1.0E7"},
		{1.5e10, "1.5E10"},
		{math.MaxFloat64, "1.7976931348623157E308"},
	}
	for _, test := range tests {
		if got := javaDouble(test.value); got != test.want {
			t.Errorf("javaDouble(%v) = %q, want %q", test.value, got, test.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Name: "log.retention.ms", Value: "abc", Reason: "is not a valid long"}, `config "log.retention.ms": value "abc" is not a valid long`},
		{&Error{Name: "foo.bar", Unknown: true}, `unknown config "foo.bar"`},
		{&Error{Name: "num.partition", Unknown: true, Reason: `did you mean "num.partitions"?`}, `unknown config "num.partition": did you mean "num.partitions"?`},
	}
	for _, test := range tests {
		if got := test.err.Error(); got != test.want {
			t.Errorf("Error() = %q, want %q", got, test.want)
		}
	}
}
