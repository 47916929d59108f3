package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/config"
)

// examplesDir holds the example server.properties files (the module's
// config/examples, from this package's directory).
const examplesDir = "../../config/examples"

// Every example configuration parses as `sluice serve --config` parses it,
// with only the host names (host1..host4) substituted, names only keys
// Sluice acts on, and the three combined nodes agree on the cluster-wide
// settings.
func TestConfigExamplesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.properties"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("examples %v: want host1..host3 and broker-only", files)
	}
	hosts := regexp.MustCompile(`\bhost[1-4]\b`)
	parsed := map[string]config.Broker{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		substituted := filepath.Join(t.TempDir(), filepath.Base(file))
		if err := os.WriteFile(substituted, []byte(hosts.ReplaceAllString(string(data), "localhost")), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := newServeCommand()
		props, err := gatherProperties(cmd, substituted, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		cfg, err := config.ParseBroker(props)
		if err != nil {
			t.Errorf("%s does not parse: %v", filepath.Base(file), err)
			continue
		}
		if inert := config.InertKeys(props); len(inert) > 0 {
			t.Errorf("%s sets keys Sluice does not act on: %v", filepath.Base(file), inert)
		}
		parsed[filepath.Base(file)] = cfg
	}
	for i, name := range []string{"host1.server.properties", "host2.server.properties", "host3.server.properties"} {
		cfg, ok := parsed[name]
		if !ok {
			continue
		}
		if int(cfg.NodeID) != i+1 || !cfg.IsBroker() || !cfg.IsController() || len(cfg.ControllerQuorumVoters) != 3 {
			t.Errorf("%s: node %d, roles %v, %d voters; want node %d, broker and controller, 3 voters", name, cfg.NodeID, cfg.ProcessRoles, len(cfg.ControllerQuorumVoters), i+1)
		}
		if cfg.TopicDefaults.MinInsyncReplicas != 2 || cfg.OffsetsTopicReplicationFactor != 3 {
			t.Errorf("%s: min.insync.replicas %d, offsets RF %d", name, cfg.TopicDefaults.MinInsyncReplicas, cfg.OffsetsTopicReplicationFactor)
		}
	}
	if cfg, ok := parsed["broker-only.server.properties"]; ok && (cfg.IsController() || !cfg.IsBroker() || cfg.NodeID != 4) {
		t.Errorf("broker-only example: node %d, roles %v", cfg.NodeID, cfg.ProcessRoles)
	}
	// The files differ only where a node's identity is.
	base := exampleLines(t, "host1.server.properties")
	for _, name := range []string{"host2.server.properties", "host3.server.properties"} {
		other := exampleLines(t, name)
		if len(other) != len(base) {
			t.Errorf("%s has %d lines, host1 %d", name, len(other), len(base))
			continue
		}
		for i := range base {
			if base[i] != other[i] && !regexp.MustCompile(`^(#.*|node\.id=|advertised\.listeners=|broker\.rack=|sluice serve|\s*sluice serve)`).MatchString(strings.TrimSpace(other[i])) {
				t.Errorf("%s line %d %q differs from host1's %q", name, i+1, other[i], base[i])
			}
		}
	}
}

func exampleLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(data), "\n")
}
