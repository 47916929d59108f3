package quorum

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogAdapterFiltersAndStructures(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	adapter := newHCLogAdapter(logger, hclog.Warn).Named("raft").With("node", 1)

	adapter.Info("entering follower state")
	adapter.Debug("noise")
	adapter.Warn("heartbeat timeout reached", "term", 3)
	adapter.StandardLogger(nil).Print("from std log")

	text := out.String()
	if strings.Contains(text, "follower") || strings.Contains(text, "noise") {
		t.Fatalf("below-warn records passed: %s", text)
	}
	for _, want := range []string{"level=WARN", `msg="heartbeat timeout reached"`, "component=raft", "node=1", "term=3", `msg="from std log"`} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %s:\n%s", want, text)
		}
	}
	if adapter.IsInfo() || !adapter.IsWarn() {
		t.Fatalf("level predicates wrong")
	}
}
