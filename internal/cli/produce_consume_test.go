package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumed decodes consume -o json output: one record per line.
func consumedRecords(t *testing.T, out string) []jsonRecord {
	t.Helper()
	var records []jsonRecord
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r jsonRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q is not a JSON record: %v", line, err)
		}
		records = append(records, r)
	}
	return records
}

func TestProduceAndConsumeTextKeysHeadersPartitions(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "orders", "-p", "2", bs)

	produced := mustRun(t, "k1:v1\nk2:v2\r\n\nk3:v:3\n", "produce", "orders", "-k", ":", "-H", "source=test", "-p", "1", bs)
	// The blank line holds no key separator to parse: it is skipped.
	if !strings.Contains(produced.stdout, `Produced 3 record(s) to "orders".`) {
		t.Fatalf("produce summary %q", produced.stdout)
	}
	out := mustRun(t, "", "consume", "orders", "--from", "beginning", "--format", "%p/%o %k=%v [%h]", bs)
	want := "1/0 k1=v1 [source=test]\n1/1 k2=v2 [source=test]\n"
	if !strings.HasPrefix(out.stdout, want) {
		t.Fatalf("consume printed %q, want it to start with %q", out.stdout, want)
	}
	if !strings.Contains(out.stdout, "1/2 k3=v:3 [source=test]\n") || !strings.Contains(out.stderr, "Consumed 3 record(s).") {
		t.Errorf("consume printed %q (stderr %q): want the value split at the first separator only", out.stdout, out.stderr)
	}
}

func TestProduceRefusesBadLinesAndKeepsEarlierOnes(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "orders", bs)

	r := runCLI(t, "a\tb\nno separator here\nc\td\n", "produce", "orders", "--key-separator", "\\t", bs)
	if r.code == 0 || !strings.Contains(r.stderr, "line 2: no \"\\t\" after the key") {
		t.Fatalf("produce with a bad line: exit %d, stderr %q", r.code, r.stderr)
	}
	records := consumedRecords(t, mustRun(t, "", "consume", "orders", "--from", "beginning", "-o", "json", bs).stdout)
	if len(records) != 1 || *records[0].Key != "a" || *records[0].Value != "b" {
		t.Fatalf("after a bad line 2: %+v, want only line 1 written", records)
	}

	mustFail(t, `topic "absent" does not exist`, "produce", "absent", bs)
	mustFail(t, "--acks: acks \"2\"", "produce", "orders", "--acks", "2", bs)
	mustFail(t, "--partition 5: topic \"orders\" has 1 partitions", "produce", "orders", "-p", "5", bs)
	mustFail(t, "unknown verb %x", "produce", "orders", "--format", "%x", bs)
	mustFail(t, "%o cannot be set when producing", "produce", "orders", "--format", "%o %v", bs)
	mustFail(t, "put a separator between them", "produce", "orders", "--format", "%k%v", bs)
	if r := runCLI(t, `{"vaule":"typo"}`+"\n", "produce", "orders", "--input", "json", bs); r.code == 0 || !strings.Contains(r.stderr, `line 1: invalid JSON record: json: unknown field "vaule"`) {
		t.Errorf("misspelt JSON field: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, `{"value":"x","partition":3}`+"\n", "produce", "orders", "--input", "json", bs); r.code == 0 || !strings.Contains(r.stderr, "partition 3: topic \"orders\" has 1 partitions") {
		t.Errorf("JSON partition out of range: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestProduceFromFileWithFormatAndCompression(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "events", "-p", "3", bs)
	path := filepath.Join(t.TempDir(), "input.txt")
	if err := os.WriteFile(path, []byte("2|user-1|1700000000000|kind=login|hello\n0|user-2|1700000001000||bye\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var summary produceSummary
	decodeJSON(t, mustRun(t, "", "produce", "events", "--file", path, "--format", "%p|%k|%t|%h|%v", "--compression", "zstd", "--acks", "1", "-o", "json", bs), &summary)
	if summary.Records != 2 || len(summary.Partitions) != 2 || summary.Partitions[0].Partition != 0 || summary.Partitions[1].Partition != 2 {
		t.Fatalf("summary %+v: want one record on partition 0 and one on 2", summary)
	}
	out := mustRun(t, "", "consume", "events", "--from", "beginning", "-p", "2", "--format", "%T %p %t %k %h %v", bs)
	if want := "events 2 1700000000000 user-1 kind=login hello\n"; out.stdout != want {
		t.Fatalf("consume -p 2 printed %q, want %q", out.stdout, want)
	}
	mustFail(t, "--file: open", "produce", "events", "--file", filepath.Join(t.TempDir(), "missing"), bs)
}

func TestJSONRoundTripIncludingBinaryAndTombstones(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "source", bs)
	mustRun(t, "", "topic", "create", "copy", bs)
	input := strings.Join([]string{
		`{"key":"k1","value":{"amount":3},"headers":{"b":"2","a":"1"},"timestamp":1700000000000}`,
		`{"key_base64":"//8=","value_base64":"/w==","headers":[{"key":"bin","value_base64":"AP8="}]}`,
		`{"key":"gone","value":null}`,
		``,
	}, "\n")
	mustRun(t, input, "produce", "source", "--input", "json", bs)
	first := mustRun(t, "", "consume", "source", "--from", "beginning", "-o", "json", bs).stdout
	records := consumedRecords(t, first)
	if len(records) != 3 {
		t.Fatalf("consumed %d records, want 3:\n%s", len(records), first)
	}
	if *records[0].Value != `{"amount":3}` || *records[0].Timestamp != 1700000000000 || records[0].Headers[0].Key != "a" {
		t.Errorf("record 0 = %+v: want the JSON value as compact text, the timestamp, sorted object headers", records[0])
	}
	if records[1].Key != nil || *records[1].KeyBase64 != "//8=" || *records[1].ValueBase64 != "/w==" || *records[1].Headers[0].ValueBase64 != "AP8=" {
		t.Errorf("record 1 = %+v: want binary key, value and header as base64", records[1])
	}
	if records[2].Value != nil || *records[2].Key != "gone" {
		t.Errorf("record 2 = %+v: want a tombstone (null value)", records[2])
	}
	mustRun(t, first, "produce", "copy", "--input", "json", bs)
	second := mustRun(t, "", "consume", "copy", "--from", "beginning", "-o", "json", bs).stdout
	if strings.ReplaceAll(second, `"topic":"copy"`, `"topic":"source"`) != first {
		t.Errorf("copy differs from source:\n%s\n%s", first, second)
	}
	yaml := mustRun(t, "", "consume", "source", "--from", "beginning", "-n", "1", "-o", "yaml", bs).stdout
	if !strings.HasPrefix(yaml, "---\ntopic: source\npartition: 0\noffset: 0\n") || !strings.Contains(yaml, "value: '{\"amount\":3}'") {
		t.Errorf("yaml record:\n%s", yaml)
	}
}

func TestConsumeStartPositions(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "log", bs)
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf(`{"value":"v%d","timestamp":%d}`, i, 1700000000000+int64(i)*1000))
	}
	mustRun(t, strings.Join(lines, "\n"), "produce", "log", "--input", "json", bs)
	cases := []struct {
		from string
		want string
	}{
		{"beginning", "v0 v1 v2 v3 v4 v5 v6 v7 v8 v9"},
		{"end", ""},
		{"7", "v7 v8 v9"},
		{"42", ""},
		{"-2", "v8 v9"},
		{"+8", "v8 v9"},
		{"-100", "v0 v1 v2 v3 v4 v5 v6 v7 v8 v9"},
		{"@1700000007500", "v8 v9"},
		{time.UnixMilli(1700000006000).UTC().Format(time.RFC3339), "v6 v7 v8 v9"},
	}
	for _, c := range cases {
		out := mustRun(t, "", "consume", "log", "--from", c.from, "-q", bs)
		if got := strings.Join(strings.Fields(out.stdout), " "); got != c.want {
			t.Errorf("--from %s: got %q, want %q", c.from, got, c.want)
		}
	}
	if out := mustRun(t, "", "consume", "log", "--from-beginning", "--count", "3", "-q", bs); out.stdout != "v0\nv1\nv2\n" {
		t.Errorf("--count 3 printed %q", out.stdout)
	}
	mustFail(t, "--from: position \"yesterday\"", "consume", "log", "--from", "yesterday", bs)
	mustFail(t, `topic "nothing" does not exist`, "consume", "nothing", bs)
	mustFail(t, "--partition 3: topic \"log\" has 1 partitions", "consume", "log", "-p", "3", bs)
	mustFail(t, "--partition cannot be used with --group", "consume", "log", "-p", "0", "-g", "g", bs)
}

func TestConsumeWithGroupCommitsWhatItPrinted(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "jobs", "-p", "2", bs)
	mustRun(t, "a:1\nb:2\nc:3\nd:4\ne:5\n", "produce", "jobs", "-k", ":", bs)

	first := mustRun(t, "", "consume", "jobs", "--group", "workers", "--from", "beginning", "-n", "2", "-q", bs)
	if n := strings.Count(first.stdout, "\n"); n != 2 {
		t.Fatalf("first run printed %q, want 2 records", first.stdout)
	}
	var groups []groupDescription
	decodeJSON(t, mustRun(t, "", "group", "describe", "workers", "-o", "json", bs), &groups)
	if groups[0].TotalLag != 3 {
		t.Fatalf("after 2 of 5 records the group lags %d, want 3: %+v", groups[0].TotalLag, groups[0].Offsets)
	}
	second := mustRun(t, "", "consume", "jobs", "--group", "workers", "--from", "beginning", "-q", bs)
	got := strings.Fields(first.stdout + second.stdout)
	if len(got) != 5 {
		t.Fatalf("two runs printed %v, want all 5 values once", got)
	}
	decodeJSON(t, mustRun(t, "", "group", "describe", "workers", "-o", "json", bs), &groups)
	if groups[0].TotalLag != 0 || groups[0].State != "Empty" {
		t.Fatalf("after reading everything: %+v, want lag 0 and no members", groups[0])
	}
	if third := mustRun(t, "", "consume", "jobs", "--group", "workers", "-q", bs); third.stdout != "" {
		t.Errorf("a third run printed %q, want nothing left", third.stdout)
	}
}

func TestConsumeFollowWaitsForNewRecords(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "live", bs)
	done := make(chan cliResult, 1)
	go func() { done <- runCLI(t, "", "consume", "live", "--follow", "--count", "2", "-q", bs) }()
	producer := b.Client(kgo.DefaultProduceTopic("live"))
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		// The consumer starts at the end: keep producing until it has
		// seen two records, however late it joined.
		if err := producer.ProduceSync(context.Background(), &kgo.Record{Value: []byte("live")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.code != 0 || r.stdout != "live\nlive\n" {
				t.Fatalf("follow: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("consume --follow --count 2 did not finish after %d records", i+1)
		}
	}
}

func TestConsumeIdleTimeoutEndsAFollow(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "quiet", bs)
	mustRun(t, "x\n", "produce", "quiet", bs)
	start := time.Now()
	out := mustRun(t, "", "consume", "quiet", "--from", "beginning", "--follow", "--idle-timeout", "200ms", "-q", bs)
	if out.stdout != "x\n" || time.Since(start) > 5*time.Second {
		t.Errorf("follow with idle timeout printed %q after %s", out.stdout, time.Since(start))
	}
}
