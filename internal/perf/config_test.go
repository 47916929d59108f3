package perf

import (
	"strings"
	"testing"
	"time"
)

func TestParseAcks(t *testing.T) {
	cases := map[string]Acks{"0": AcksNone, "1": AcksLeader, "all": AcksAll, "ALL": AcksAll, "-1": AcksAll}
	for in, want := range cases {
		got, err := ParseAcks(in)
		if err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "2", "leader"} {
		if _, err := ParseAcks(bad); err == nil {
			t.Errorf("ParseAcks(%q) accepted", bad)
		}
	}
}

func TestParseCompression(t *testing.T) {
	for _, ok := range []string{"none", "gzip", "snappy", "lz4", "zstd", "ZSTD"} {
		if _, err := ParseCompression(ok); err != nil {
			t.Errorf("ParseCompression(%q): %v", ok, err)
		}
	}
	if _, err := ParseCompression("brotli"); err == nil {
		t.Errorf("ParseCompression(brotli) accepted")
	}
}

func TestProduceConfigValidate(t *testing.T) {
	if err := DefaultProduceConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	cases := []struct {
		name   string
		change func(*ProduceConfig)
		want   string
	}{
		{"no bootstrap", func(c *ProduceConfig) { c.Bootstrap = nil }, "bootstrap"},
		{"no topic", func(c *ProduceConfig) { c.Topic = "" }, "topic"},
		{"zero records", func(c *ProduceConfig) { c.Records = 0 }, "records"},
		{"zero partitions", func(c *ProduceConfig) { c.Partitions = 0 }, "partitions"},
		{"zero replication", func(c *ProduceConfig) { c.ReplicationFactor = 0 }, "replication"},
		{"negative size", func(c *ProduceConfig) { c.RecordSize = -1 }, "record size"},
		{"zero producers", func(c *ProduceConfig) { c.Producers = 0 }, "producers"},
		{"negative linger", func(c *ProduceConfig) { c.Linger = -time.Second }, "linger"},
		{"bad acks", func(c *ProduceConfig) { c.Acks = 3 }, "acks"},
		{"bad codec", func(c *ProduceConfig) { c.Compression = "brotli" }, "compression"},
		{"negative timeout", func(c *ProduceConfig) { c.Timeout = -1 }, "timeout"},
		{"empty transactions", func(c *ProduceConfig) { c.TransactionalID, c.TransactionRecords = "t", 0 }, "transaction records"},
		{"transactions without acks all", func(c *ProduceConfig) { c.TransactionalID, c.Acks = "t", AcksLeader }, "acks all"},
	}
	for _, c := range cases {
		cfg := DefaultProduceConfig()
		c.change(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want an error about %q", c.name, err, c.want)
		}
	}
}

func TestConsumeConfigValidate(t *testing.T) {
	if err := DefaultConsumeConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	cases := []struct {
		name   string
		change func(*ConsumeConfig)
		want   string
	}{
		{"zero consumers", func(c *ConsumeConfig) { c.Consumers = 0 }, "consumers"},
		{"negative records", func(c *ConsumeConfig) { c.Records = -1 }, "records"},
		{"negative fetch bytes", func(c *ConsumeConfig) { c.FetchMaxBytes = -1 }, "fetch"},
		{"negative wait", func(c *ConsumeConfig) { c.FetchMaxWait = -1 }, "fetch max wait"},
	}
	for _, c := range cases {
		cfg := DefaultConsumeConfig()
		c.change(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want an error about %q", c.name, err, c.want)
		}
	}
}

func TestInFlightRecords(t *testing.T) {
	cases := []struct {
		size    int
		records int64
		want    int
	}{
		{100, 1_000_000, maxInFlight},
		{1 << 20, 1_000_000, minInFlight},
		{1 << 16, 1_000_000, 512},
		{100, 10, 10},
		{0, 1_000_000, maxInFlight},
	}
	for _, c := range cases {
		if got := inFlightRecords(c.size, c.records); got != c.want {
			t.Errorf("inFlightRecords(%d, %d) = %d, want %d", c.size, c.records, got, c.want)
		}
	}
}
