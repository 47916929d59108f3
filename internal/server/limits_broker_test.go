package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/config"
)

// A started broker plans its open-file budget (logged at INFO, on
// /metrics next to the process's open descriptors) and applies the
// connection limits from its configuration.
func TestBrokerFileBudgetAndLimits(t *testing.T) {
	cfg := config.DefaultBroker()
	cfg.LogDirs = []string{t.TempDir()}
	cfg.Listeners = []config.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.AdvertisedListeners = nil
	cfg.MetricsListener = "127.0.0.1:0"
	cfg.MaxConnections = 1
	var logs logBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := StartBroker(ctx, BrokerOptions{Config: cfg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	budget := b.FileBudget()
	if budget.Limit <= 0 || budget.Connections != 1 || budget.Storage != budget.Limit-budget.Reserve-1 {
		t.Fatalf("budget %+v, want the limit minus one connection and the reserve", budget)
	}
	if lines := logs.records("open-file budget"); len(lines) != 1 || lines[0]["storage"] != float64(budget.Storage) {
		t.Fatalf("budget log lines %v", lines)
	}
	body := scrapeText(t, b.MetricsURL())
	for series, want := range map[string]float64{
		`sluice_fd_budget{use="storage"}`:     float64(budget.Storage),
		`sluice_fd_budget{use="connections"}`: 1,
		`sluice_fd_budget{use="reserve"}`:     float64(budget.Reserve),
		"sluice_queued_request_bytes_limit":   float64(cfg.QueuedMaxRequestBytes),
	} {
		if got := seriesValue(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if open := seriesValue(t, body, "process_open_fds"); open <= 0 || open > float64(budget.Limit) {
		t.Errorf("process_open_fds = %v", open)
	}
	first := dial(t, b.Addrs()[0])
	roundTrip(t, first, 1)
	expectDropped(t, dial(t, b.Addrs()[0]))
	roundTrip(t, first, 2)
}
