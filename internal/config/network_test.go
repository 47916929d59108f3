package config

import (
	"maps"
	"strconv"
	"strings"
	"testing"
)

func TestNetworkLimitDefaults(t *testing.T) {
	b := DefaultBroker()
	checks := []struct {
		name      string
		got, want any
	}{
		{"queued.max.request.bytes", b.QueuedMaxRequestBytes, int64(256 << 20)},
		{"sluice.request.read.timeout.ms", b.RequestReadTimeoutMs, int32(30000)},
		{"sluice.response.write.timeout.ms", b.ResponseWriteTimeoutMs, int32(30000)},
		{"connections.max.idle.ms", b.ConnectionsMaxIdleMs, int64(600000)},
		{"max.connections.per.ip.overrides", len(b.PerIPConnectionOverrides()), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// queued.max.request.bytes defaults to at least socket.request.max.bytes,
// so raising the frame limit alone never fails validation; set explicitly
// below it, it is refused as Kafka refuses it.
func TestQueuedMaxRequestBytesFollowsFrameLimit(t *testing.T) {
	b, err := ParseBroker(map[string]string{"socket.request.max.bytes": "536870912"})
	if err != nil {
		t.Fatal(err)
	}
	if b.QueuedMaxRequestBytes != 536870912 {
		t.Fatalf("queued.max.request.bytes = %d, want socket.request.max.bytes", b.QueuedMaxRequestBytes)
	}
	entry := describeEntry(t, b, "queued.max.request.bytes")
	if entry == nil || *entry != "536870912" {
		t.Fatalf("DescribeConfigs reports %v, want the derived 536870912", entry)
	}
	for _, unbounded := range []string{"-1", "0"} {
		b, err := ParseBroker(map[string]string{"queued.max.request.bytes": unbounded})
		if err != nil || b.QueuedMaxRequestBytes != mustInt(t, unbounded) {
			t.Fatalf("queued.max.request.bytes=%s: %v, %d", unbounded, err, b.QueuedMaxRequestBytes)
		}
	}
	_, err = ParseBroker(map[string]string{"queued.max.request.bytes": "1000"})
	if err == nil || !strings.Contains(err.Error(), `config "queued.max.request.bytes": value "1000" must be at least socket.request.max.bytes (104857600)`) {
		t.Fatalf("err = %v", err)
	}
}

func TestPerIPConnectionOverrides(t *testing.T) {
	b, err := ParseBroker(map[string]string{
		"max.connections.per.ip":           "0",
		"max.connections.per.ip.overrides": " hostName:100 , 127.0.0.1:200,::1:3,[fe80::1]:4",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int32{"hostName": 100, "127.0.0.1": 200, "::1": 3, "fe80::1": 4}
	if got := b.PerIPConnectionOverrides(); !maps.Equal(got, want) {
		t.Fatalf("overrides = %v, want %v", got, want)
	}
	rejects := map[string]map[string]string{
		`has entry "host": want host:count`:            {"max.connections.per.ip.overrides": "host"},
		`has entry "host:-1": the count must be`:       {"max.connections.per.ip.overrides": "host:-1"},
		`has entry "host:many"`:                        {"max.connections.per.ip.overrides": "a:1,host:many"},
		`has entry ":5"`:                               {"max.connections.per.ip.overrides": ":5"},
		`can be 0 only if max.connections.per.ip.over`: {"max.connections.per.ip": "0"},
	}
	for want, props := range rejects {
		if _, err := ParseBroker(props); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: err = %v, want %q", props, err, want)
		}
	}
}

func TestRequestTimeoutsParse(t *testing.T) {
	b, err := ParseBroker(map[string]string{"sluice.request.read.timeout.ms": "0", "sluice.response.write.timeout.ms": "1500"})
	if err != nil {
		t.Fatal(err)
	}
	if b.RequestReadTimeoutMs != 0 || b.ResponseWriteTimeoutMs != 1500 {
		t.Fatalf("timeouts = %d, %d", b.RequestReadTimeoutMs, b.ResponseWriteTimeoutMs)
	}
	if _, err := ParseBroker(map[string]string{"sluice.request.read.timeout.ms": "-1"}); err == nil {
		t.Fatal("a negative read timeout was accepted")
	}
	if got := InertKeys(map[string]string{"max.connections.per.ip.overrides": "a:1", "queued.max.requests": "500"}); len(got) != 1 || got[0] != "queued.max.requests" {
		t.Fatalf("InertKeys = %v, want only queued.max.requests", got)
	}
}

func describeEntry(t *testing.T, b Broker, name string) *string {
	t.Helper()
	for _, e := range DescribeBroker(b, b.static) {
		if e.Name == name {
			return e.Value
		}
	}
	t.Fatalf("%s not described", name)
	return nil
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
