package server

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/vfs"
)

// A started broker exposes its storage file cache, partition count and
// refusal counters on /metrics; a produce refused because the disk fails
// is counted as a storage_error refusal.
func TestResourceMetrics(t *testing.T) {
	cfg := config.DefaultBroker()
	cfg.LogDirs = []string{t.TempDir()}
	cfg.Listeners = []config.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.AdvertisedListeners = nil
	cfg.MetricsListener = "127.0.0.1:0"
	fsys := vfs.NewFaultFS(vfs.OS{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := StartBroker(ctx, BrokerOptions{Config: cfg, FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0]), kgo.DefaultProduceTopic("metered"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	created, err := kadm.NewClient(client).CreateTopic(ctx, 2, 1, nil, "metered")
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	for p := range int32(2) {
		if err := client.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}

	body := scrapeText(t, b.MetricsURL())
	for series, want := range map[string]float64{
		"sluice_partitions":                                   2,
		"sluice_storage_files_limit":                          float64(b.FileBudget().Storage),
		`sluice_refusals_total{reason="max_partitions"}`:      0,
		`sluice_refusals_total{reason="too_many_open_files"}`: 0,
		`sluice_refusals_total{reason="storage_error"}`:       0,
		"sluice_storage_file_refusals_total":                  0,
	} {
		if got := seriesValue(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// Each partition's active segment has its log and indexes open.
	if open := seriesValue(t, body, "sluice_storage_files_open"); open < 2 || open > float64(b.FileBudget().Storage) {
		t.Errorf("sluice_storage_files_open = %v, want at least one file per partition, within the budget", open)
	}
	if opens := seriesValue(t, body, "sluice_storage_file_opens_total"); opens < 2 {
		t.Errorf("sluice_storage_file_opens_total = %v, want at least 2", opens)
	}
	for _, series := range []string{"sluice_storage_files_in_use", "sluice_storage_file_evictions_total",
		"sluice_storage_file_reopens_total", "sluice_storage_file_waits_total", "sluice_storage_file_overdrafts_total",
		`sluice_fd_budget{use="storage"}`} {
		seriesValue(t, body, series) // exposed
	}

	// The disk under partition 0 fails: its produce is refused.
	fsys.SetInjector(vfs.InjectorFunc(func(op vfs.Op) error {
		if op.Kind == vfs.OpWrite && strings.Contains(op.Path, "metered-0") {
			return syscall.EIO
		}
		return nil
	}))
	// The client retries a storage error until its delivery timeout:
	// watch the broker's counter instead of waiting for the client.
	refused := make(chan error, 1)
	client.Produce(ctx, &kgo.Record{Partition: 0, Value: []byte("lost")}, func(_ *kgo.Record, err error) { refused <- err })
	storageErrors := func() float64 {
		return seriesValue(t, scrapeText(t, b.MetricsURL()), `sluice_refusals_total{reason="storage_error"}`)
	}
	for deadline := time.Now().Add(10 * time.Second); storageErrors() < 1; {
		if time.Now().After(deadline) {
			t.Fatal(`sluice_refusals_total{reason="storage_error"} still 0 10 s after a produce to a failing disk`)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
	if got := seriesValue(t, scrapeText(t, b.MetricsURL()), `sluice_refusals_total{reason="too_many_open_files"}`); got != 0 {
		t.Errorf(`sluice_refusals_total{reason="too_many_open_files"} = %v, want 0 (the disk failed, not the budget)`, got)
	}
	client.Close()
	if err := <-refused; err == nil {
		t.Error("the produce to a failing disk succeeded")
	}
}
