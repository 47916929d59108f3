package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

// cliResult is what one in-process run of the command line left behind.
type cliResult struct {
	code   int
	stdout string
	stderr string
}

// startBroker runs an in-process broker for CLI tests: groups rebalance at
// once (no initial delay), and no profile or environment from the machine
// running the tests leaks in.
func startBroker(t *testing.T) *testcluster.Broker {
	t.Helper()
	isolateEnvironment(t)
	return testcluster.Start(t, testcluster.WithConfig(func(c *config.Broker) { c.GroupInitialRebalanceDelayMs = 0 }))
}

// isolateEnvironment points the profiles file at an empty temporary
// directory and clears the client variables.
func isolateEnvironment(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(profilesFileEnv, "")
	t.Setenv(profileEnv, "")
	t.Setenv(bootstrapEnv, "")
}

// runCLI runs sluice with args against the broker at addr (prepending
// --bootstrap unless addr is empty) with stdin as standard input.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustRun runs the command line and fails the test unless it exits 0.
func mustRun(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("sluice %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// mustFail runs the command line and checks that it exits non-zero with
// an error on stderr containing want, and nothing on stdout.
func mustFail(t *testing.T, want string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, "", args...)
	if r.code == 0 {
		t.Fatalf("sluice %s: succeeded, want an error about %q\nstdout: %s", strings.Join(args, " "), want, r.stdout)
	}
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("sluice %s: stderr %q, want it to mention %q", strings.Join(args, " "), r.stderr, want)
	}
	return r
}

// decodeJSON decodes a command's JSON output into out.
func decodeJSON(t *testing.T, r cliResult, out any) {
	t.Helper()
	decoder := json.NewDecoder(strings.NewReader(r.stdout))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(out); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, r.stdout)
	}
	if err := decoder.Decode(new(any)); err != io.EOF {
		t.Fatalf("output has more than one JSON value:\n%s", r.stdout)
	}
}

func itoa32(n int32) string { return strconv.Itoa(int(n)) }

func errTopicAuth() error         { return kerr.TopicAuthorizationFailed }
func errGroupAuth() error         { return kerr.GroupAuthorizationFailed }
func errClusterAuth() error       { return kerr.ClusterAuthorizationFailed }
func errInvalidPartitions() error { return kerr.InvalidPartitions }
