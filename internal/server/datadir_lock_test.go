package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/vfs"
)

// A second broker on a data directory in use fails at start, naming the
// directory and its holder; once the first has closed, the second starts.
// flock conflicts between two open file descriptions in one process as
// between two processes, so brokers in this test process stand for sluice
// processes. A refused broker opens and changes nothing there: the clean
// shutdown marker the first one left, which a start consumes, survives it.
func TestDataDirLockRefusesSecondBroker(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultBroker()
	cfg.LogDirs = []string{dir}
	cfg.Listeners = []config.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.AdvertisedListeners = nil
	cfg.MetricsListener = ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := func() (*Broker, error) {
		return StartBroker(ctx, BrokerOptions{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	}
	first, err := start()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := start()
	if err == nil {
		second.Close()
		t.Fatal("a second broker started on a data directory in use")
	}
	pid := "pid " + strconv.Itoa(os.Getpid())
	for _, want := range []string{dir, "in use", "another Sluice process", pid, filepath.Join(dir, lockFileName)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	other, err := lockDataDirs(vfs.OS{}, cfg.LogDirs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("lock after the first broker closed: %v", err)
	}
	before := dirNames(t, dir)
	if !strings.Contains(before, ".sluice_cleanshutdown") {
		t.Fatalf("no clean-shutdown marker after a clean close: %s", before)
	}
	if second, err = start(); err == nil {
		second.Close()
		t.Fatal("a broker started on a data directory another holder locked")
	}
	if after := dirNames(t, dir); after != before {
		t.Fatalf("the refused broker changed the data directory: %s, then %s", before, after)
	}
	other.release()
	second, err = start()
	if err != nil {
		t.Fatalf("start once the lock was released: %v", err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
}

// dirNames lists dir's entries, sorted, for comparing.
func dirNames(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}
