package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeProfiles writes a profiles file at the default location the test's
// environment points to and returns its path.
func writeProfiles(t *testing.T, content string) string {
	t.Helper()
	dir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "sluice")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnreachableBrokerIsNamedWithTheTimeout(t *testing.T) {
	isolateEnvironment(t)
	start := time.Now()
	r := mustFail(t, "broker 127.0.0.1:1 unreachable after 300ms", "topic", "list", "--bootstrap", "127.0.0.1:1", "--timeout", "300ms")
	if r.stdout != "" || !strings.HasPrefix(r.stderr, "sluice: ") {
		t.Errorf("stdout %q stderr %q: want only the error on stderr", r.stdout, r.stderr)
	}
	if elapsed := time.Since(start); elapsed < 250*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("gave up after %s, want about the 300ms timeout", elapsed)
	}
	mustFail(t, "brokers 127.0.0.1:1,127.0.0.1:2 unreachable after 200ms", "group", "list", "--bootstrap", "127.0.0.1:1,127.0.0.1:2", "--timeout", "200ms")
	t.Setenv(bootstrapEnv, "127.0.0.1:3")
	mustFail(t, "broker 127.0.0.1:3 unreachable", "cluster", "info", "--timeout", "100ms")
	mustFail(t, "--timeout 0s: want a positive duration", "cluster", "info", "--timeout", "0")
}

func TestProfilesChooseTheCluster(t *testing.T) {
	b := startBroker(t)
	writeProfiles(t, `current-profile: dead
profiles:
  dead:
    bootstrap: 127.0.0.1:1
    timeout: 150ms
  local:
    bootstrap: [`+b.Addr()+`]
    output: json
`)
	mustRun(t, "", "topic", "create", "orders", "--bootstrap", b.Addr())

	// The file's current profile points at nothing.
	mustFail(t, "broker 127.0.0.1:1 unreachable after 150ms", "topic", "list")
	// --profile picks another, with its default output format.
	var listed []topicSummary
	decodeJSON(t, mustRun(t, "", "topic", "list", "--profile", "local"), &listed)
	if len(listed) != 1 || listed[0].Name != "orders" {
		t.Fatalf("topic list with --profile local = %+v", listed)
	}
	// -o on the command line beats the profile's output.
	if r := mustRun(t, "", "topic", "list", "--profile", "local", "-o", "table"); !strings.HasPrefix(r.stdout, "NAME") {
		t.Errorf("-o table with a json profile printed %q", r.stdout)
	}
	// SLUICE_PROFILE picks one too; an explicit --bootstrap beats any profile.
	t.Setenv(profileEnv, "local")
	mustRun(t, "", "topic", "list")
	mustFail(t, "broker 127.0.0.1:1 unreachable", "topic", "list", "--bootstrap", "127.0.0.1:1", "--timeout", "100ms")
	// SLUICE_BOOTSTRAP beats a profile chosen by environment or file, not
	// one chosen with --profile.
	t.Setenv(bootstrapEnv, "127.0.0.1:2")
	mustFail(t, "broker 127.0.0.1:2 unreachable", "topic", "list", "--timeout", "100ms")
	mustRun(t, "", "topic", "list", "--profile", "local")

	mustFail(t, `profile "prod" not found in `, "topic", "list", "--profile", "prod")
	mustFail(t, "(profiles: dead, local)", "topic", "list", "--profile", "prod")
}

func TestProfilesFileErrors(t *testing.T) {
	isolateEnvironment(t)
	path := writeProfiles(t, "profiles:\n  a:\n    bootstrap: x:1\n    colour: blue\n")
	mustFail(t, "profiles file "+path, "topic", "list", "--profile", "a")
	mustFail(t, "field colour not found", "topic", "list", "--profile", "a")
	writeProfiles(t, "profiles:\n  a:\n    timeout: soon\n")
	mustFail(t, `profile "a": timeout "soon"`, "topic", "list", "--profile", "a")
	writeProfiles(t, "profiles:\n  a:\n    output: xml\n")
	mustFail(t, `profile "a": output "xml"`, "topic", "list", "--profile", "a")
	writeProfiles(t, "profiles: [")
	mustFail(t, "profiles file", "topic", "list")

	other := filepath.Join(t.TempDir(), "elsewhere.yaml")
	if err := os.WriteFile(other, []byte("current-profile: gone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(profilesFileEnv, other)
	mustFail(t, `profile "gone": `+other+" defines no profiles", "topic", "list")
}

func TestErrorsOfKafkaCodesAreExplained(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{topicError("t", errTopicAuth()), `not authorized to access topic "t" (TOPIC_AUTHORIZATION_FAILED)`},
		{groupError("g", errGroupAuth()), `not authorized to access group "g" (GROUP_AUTHORIZATION_FAILED)`},
		{explain(errClusterAuth()), "not authorized for this cluster operation (CLUSTER_AUTHORIZATION_FAILED)"},
		{topicError("t", errInvalidPartitions()), `topic "t": Number of partitions is below 1. (INVALID_PARTITIONS)`},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
