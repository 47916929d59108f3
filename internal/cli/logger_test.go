package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The broker's logger collapses a storm of one failure and caps long
// values (internal/logging), and its Close writes the pending count.
func TestServeLoggerCollapsesAndCaps(t *testing.T) {
	var stderr bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetErr(&stderr)
	logger, logs, err := newLogger(cmd, "info")
	if err != nil {
		t.Fatal(err)
	}
	for p := range 100 {
		logger.Error("open partition failed", "topic", "t", "partition", p, "err", errors.New("too many open files"))
	}
	logger.Info("not marking a clean shutdown: logs were never opened", "logs", make([]string, 6339))
	logs.Close()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (first failure, list, count):\n%s", len(lines), stderr.String())
	}
	if !strings.Contains(lines[0], "partition=0 ") || strings.Contains(lines[0], "repeated") {
		t.Errorf("first line %q: want partition 0, no count", lines[0])
	}
	if !strings.Contains(lines[1], `logs="6,339 items, first: `) {
		t.Errorf("list line %q: want a summary", lines[1])
	}
	if !strings.Contains(lines[2], "partition=99 ") || !strings.Contains(lines[2], "repeated=98") {
		t.Errorf("count line %q: want the latest failure with repeated=98", lines[2])
	}
}
