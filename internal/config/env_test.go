package config

import (
	"maps"
	"testing"
)

func TestEnvOverrides(t *testing.T) {
	environ := []string{
		"SLUICE_LOG_DIRS=/data/a,/data/b",
		"SLUICE_NODE_ID=3",
		"SLUICE_LOG_RETENTION_HOURS=24",
		"SLUICE_METRICS_LISTENER=",                         // sluice.* without its prefix; empty disables
		"SLUICE_SLUICE_CLUSTER_ID=MkU3OEVBNTcwNTJENDM2Qg",  // sluice.* spelt out
		"SLUICE_ADVERTISED_LISTENERS=PLAINTEXT://a=b:9092", // only the first '=' separates
		"SLUICE_BOOTSTRAP_SERVERS=localhost:9092",          // a CLI variable, not a broker key
		"SLUICE_LOG_RETENTION_HOUR=1",                      // misspelt: not a key, ignored
		"SLUICE_=x",
		"SLUICE_NUM_PARTITIONS", // no '=': not a variable
		"KAFKA_NUM_PARTITIONS=9",
		"PATH=/usr/bin",
		"sluice_num_partitions=4", // prefix is case-sensitive, like the environment
	}
	want := map[string]string{
		"log.dirs":                "/data/a,/data/b",
		"node.id":                 "3",
		"log.retention.hours":     "24",
		"sluice.metrics.listener": "",
		"sluice.cluster.id":       "MkU3OEVBNTcwNTJENDM2Qg",
		"advertised.listeners":    "PLAINTEXT://a=b:9092",
	}
	if got := EnvOverrides(environ); !maps.Equal(got, want) {
		t.Fatalf("EnvOverrides = %q\nwant %q", got, want)
	}
}

func TestEnvKey(t *testing.T) {
	tests := []struct {
		variable, key string
		ok            bool
	}{
		{"SLUICE_NODE_ID", "node.id", true},
		{"SLUICE_node_id", "node.id", true},
		{"SLUICE_METRICS_LISTENER", "sluice.metrics.listener", true},
		{"SLUICE_BOOTSTRAP_SERVERS", "", false},
		{"NODE_ID", "", false},
		{"SLUICE_", "", false},
	}
	for _, test := range tests {
		key, ok := EnvKey(test.variable)
		if key != test.key || ok != test.ok {
			t.Errorf("EnvKey(%q) = %q, %v; want %q, %v", test.variable, key, ok, test.key, test.ok)
		}
	}
}

func TestMergeLaterLayersWin(t *testing.T) {
	file := map[string]string{"node.id": "1", "num.partitions": "3"}
	env := map[string]string{"node.id": "2"}
	flags := map[string]string{"num.partitions": "5"}
	got := Merge(file, env, flags)
	want := map[string]string{"node.id": "2", "num.partitions": "5"}
	if !maps.Equal(got, want) {
		t.Fatalf("Merge = %v, want %v", got, want)
	}
	if file["node.id"] != "1" {
		t.Fatal("Merge modified a layer")
	}
	b, err := ParseBroker(got)
	if err != nil || b.NodeID != 2 || b.NumPartitions != 5 {
		t.Fatalf("ParseBroker(merged) = %d, %d, %v", b.NodeID, b.NumPartitions, err)
	}
}
