package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// runPerf runs the sluice command line in-process and decodes the one JSON
// line it printed.
func runPerf(t *testing.T, args ...string) map[string]any {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Main(args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("sluice %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr.String())
	}
	var result map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &result); err != nil {
		t.Fatalf("sluice %s: output %q is not one JSON object: %v", strings.Join(args, " "), stdout.String(), err)
	}
	return result
}

func TestPerfProduceThenConsumeJSON(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	defer cluster.Close()
	isolateEnvironment(t)
	t.Setenv(bootstrapEnv, cluster.ListenAddrs()[0])

	produced := runPerf(t, "perf", "produce", "--topic", "cli", "--records", "700", "--record-size", "10",
		"--partitions", "2", "--producers", "2", "--acks", "1", "--compression", "lz4", "--json", "--quiet")
	if produced["records"] != 700.0 || produced["partitions"] != 2.0 || produced["latency_ms"] == nil {
		t.Fatalf("produce result %v: want 700 records on 2 partitions with latency", produced)
	}
	consumed := runPerf(t, "perf", "consume", "--topic", "cli", "--consumers", "2", "--fetch-max-bytes", "4096", "--json", "--quiet")
	if consumed["records"] != 700.0 || consumed["bytes"] != 7000.0 {
		t.Fatalf("consume result %v: want 700 records, 7000 bytes", consumed)
	}
}

func TestPerfRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"perf", "produce", "--acks", "2"},
		{"perf", "produce", "--compression", "brotli"},
		{"perf", "consume", "--consumers", "0"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(args, strings.NewReader(""), &stdout, &stderr); code == 0 {
			t.Errorf("sluice %s succeeded, want a refusal", strings.Join(args, " "))
		}
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), "sluice: ") {
			t.Errorf("sluice %s: stdout %q stderr %q, want only an error on stderr", strings.Join(args, " "), stdout.String(), stderr.String())
		}
	}
}
