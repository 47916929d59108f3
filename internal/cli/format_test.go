package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFormatPrintsRecords(t *testing.T) {
	record := &kgo.Record{Topic: "t", Partition: 2, Offset: 41, Key: []byte("k"), Value: []byte("v"),
		Timestamp: time.UnixMilli(1700000000123), Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b"}}}
	cases := map[string]string{
		"%v":                     "v",
		`%T/%p@%o %k=%v\t%t %h`:  "t/2@41 k=v\t1700000000123 a=1,b=",
		`100%% %v\n`:             "100% v\n",
		`back\\slash`:            `back\slash`,
		"no verbs":               "no verbs",
		"%k%v%k":                 "kvk",
		"crlf\\r\\n":             "crlf\r\n",
		"header-less %h end":     "header-less a=1,b= end",
		"%t":                     "1700000000123",
		"offset %o partition %p": "offset 41 partition 2",
	}
	for template, want := range cases {
		f, err := compileFormat(template)
		if err != nil {
			t.Errorf("compileFormat(%q): %v", template, err)
			continue
		}
		if got := string(f.appendRecord(nil, record)); got != want {
			t.Errorf("format %q printed %q, want %q", template, got, want)
		}
	}
	for _, bad := range []string{"%", "%x", `\q`, `ends with \`} {
		if _, err := compileFormat(bad); err == nil {
			t.Errorf("compileFormat(%q) accepted", bad)
		}
	}
}

func TestFormatParsesLines(t *testing.T) {
	f, err := compileFormat(`[%p] %k: %v`)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.checkInput(); err != nil {
		t.Fatal(err)
	}
	parsed, err := f.parseLine([]byte("[3] user-1: a: b"))
	if err != nil || parsed.partition != 3 || !parsed.hasPartition || string(parsed.key) != "user-1" || string(parsed.value) != "a: b" {
		t.Fatalf("parseLine = %+v, %v", parsed, err)
	}
	for line, want := range map[string]string{
		"3] k: v":     `expected "["`,
		"[3] k v":     `no ": " after the key`,
		"[x] k: v":    `partition "x" is not a partition number`,
		"[-1] k: v":   `partition "-1"`,
		"[3 k: v":     `no "] " after the partition`,
		"[3] : empty": "",
	} {
		_, err := f.parseLine([]byte(line))
		if want == "" {
			if err != nil {
				t.Errorf("parseLine(%q): %v, want an empty key accepted", line, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseLine(%q) = %v, want an error about %q", line, err, want)
		}
	}
	headers, err := compileFormat("%h|%t|%v")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err = headers.parseLine([]byte("a=1,b=2|1700000000000|value"))
	if err != nil || len(parsed.headers) != 2 || string(parsed.headers[1].Value) != "2" || parsed.timestamp.UnixMilli() != 1700000000000 {
		t.Fatalf("headers and timestamp: %+v, %v", parsed, err)
	}
	if _, err := headers.parseLine([]byte("nokey|1|v")); err == nil || !strings.Contains(err.Error(), `header "nokey"`) {
		t.Errorf("bad header: %v", err)
	}
	for template, want := range map[string]string{
		"%k":    "needs %v",
		"%v %v": "appears twice",
		"%T %v": "%T cannot be set",
	} {
		f, err := compileFormat(template)
		if err == nil {
			err = f.checkInput()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("input format %q: %v, want an error about %q", template, err, want)
		}
	}
}

func TestParsePosition(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]position{
		"beginning":                 {kind: positionBeginning},
		"earliest":                  {kind: positionBeginning},
		"END":                       {kind: positionEnd},
		"latest":                    {kind: positionEnd},
		"1234":                      {kind: positionOffset, value: 1234},
		"-10":                       {kind: positionFromEnd, value: 10},
		"+10":                       {kind: positionFromStart, value: 10},
		"-1h":                       {kind: positionTime, value: now.Add(-time.Hour).UnixMilli()},
		"@1700000000000":            {kind: positionTime, value: 1700000000000},
		"2024-05-01T10:00:00Z":      {kind: positionTime, value: now.Add(-2 * time.Hour).UnixMilli()},
		"2024-05-01T10:00:00+02:00": {kind: positionTime, value: now.Add(-4 * time.Hour).UnixMilli()},
	}
	for in, want := range cases {
		got, err := parsePosition(in, now)
		if err != nil || got != want {
			t.Errorf("parsePosition(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "@x", "-1x", "2024-13-01"} {
		if _, err := parsePosition(bad, now); err == nil {
			t.Errorf("parsePosition(%q) accepted", bad)
		}
	}
	b := bounds{start: 10, end: 20, atTime: -1}
	for p, want := range map[position]int64{
		{kind: positionBeginning}:           10,
		{kind: positionEnd}:                 20,
		{kind: positionOffset, value: 5}:    10,
		{kind: positionOffset, value: 15}:   15,
		{kind: positionOffset, value: 99}:   20,
		{kind: positionFromEnd, value: 3}:   17,
		{kind: positionFromEnd, value: 30}:  10,
		{kind: positionFromStart, value: 3}: 13,
		{kind: positionTime, value: 1}:      20,
	} {
		if got := p.resolve(b); got != want {
			t.Errorf("%+v resolves to %d, want %d", p, got, want)
		}
	}
	if got := (position{kind: positionTime}).resolve(bounds{start: 0, end: 9, atTime: 4}); got != 4 {
		t.Errorf("time position resolves to %d, want the listed offset 4", got)
	}
}

func TestYAMLKeepsJSONFieldOrderAndTypes(t *testing.T) {
	var out strings.Builder
	value := []configEntry{{Name: "a", Value: ptr("007"), Source: "DEFAULT_CONFIG"}, {Name: "b", Value: nil, Sensitive: true}}
	if err := writeYAML(&out, value); err != nil {
		t.Fatal(err)
	}
	want := "- name: a\n  value: \"007\"\n  source: DEFAULT_CONFIG\n  sensitive: false\n- name: b\n  value: null\n  source: \"\"\n  sensitive: true\n"
	if out.String() != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", out.String(), want)
	}
}

func ptr(s string) *string { return &s }
