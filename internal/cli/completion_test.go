package cli

import (
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	isolateEnvironment(t)
	for shell, want := range map[string]string{
		"bash":       "bash completion V2 for sluice",
		"zsh":        "#compdef sluice",
		"powershell": "Register-ArgumentCompleter",
		"fish":       "fish completion for sluice",
	} {
		r := mustRun(t, "", "completion", shell)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("completion %s: output lacks %q", shell, want)
		}
	}
	mustFail(t, `invalid argument "tcsh" for "sluice completion"`, "completion", "tcsh")
}

// complete asks the binary for completions as a shell script does and
// returns the candidates (without descriptions or the directive line).
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	r := mustRun(t, "", append([]string{"__complete"}, args...)...)
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(line, ":") || line == "" {
			continue
		}
		name, _, _ := strings.Cut(line, "\t")
		out = append(out, name)
	}
	return out
}

func TestDynamicCompletion(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "orders", bs)
	mustRun(t, "", "topic", "create", "payments", bs)
	mustRun(t, "", "topic", "create", "audit", bs)
	mustRun(t, "x\n", "produce", "orders", bs)
	mustRun(t, "", "consume", "orders", "-g", "billing", "--from", "beginning", "-q", bs)

	if got := strings.Join(complete(t, "topic", "describe", bs, ""), " "); got != "audit orders payments" {
		t.Errorf("topic describe completes %q", got)
	}
	if got := strings.Join(complete(t, "topic", "delete", bs, "orders", "p"), " "); got != "payments" {
		t.Errorf("topic delete orders p completes %q", got)
	}
	if got := strings.Join(complete(t, "consume", bs, "o"), " "); got != "orders" {
		t.Errorf("consume o completes %q", got)
	}
	if got := strings.Join(complete(t, "group", "describe", bs, ""), " "); got != "billing" {
		t.Errorf("group describe completes %q", got)
	}
	if got := strings.Join(complete(t, "topic", "list", "-o", ""), " "); got != "table json yaml" {
		t.Errorf("-o completes %q", got)
	}
	writeProfiles(t, "profiles:\n  prod: {}\n  local: {}\n")
	if got := strings.Join(complete(t, "group", "list", "--profile", ""), " "); got != "local prod" {
		t.Errorf("--profile completes %q", got)
	}
	// An unreachable cluster completes nothing rather than hanging.
	if got := complete(t, "topic", "describe", "--bootstrap", "127.0.0.1:1", "--timeout", "100ms", ""); len(got) != 0 {
		t.Errorf("completion against no broker gave %q", got)
	}
}
