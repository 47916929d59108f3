// Package testcluster starts real Sluice brokers for tests. It is imported
// only by tests (internal/lint enforces this).
//
// Start runs one broker in-process: on 127.0.0.1 with a kernel-chosen port,
// a temporary data directory (or a given vfs), and restart on the same
// data.
//
// StartCluster (inprocess_cluster.go) runs a cluster of brokers in the
// test process, configured from the same KRaft properties as real nodes,
// each with its partition data on its own vfs.MemFS: PowerCut (or
// PowerOff, then Start) cuts every node's power at one instant and
// restarts them on what was fsynced; ReadReplica reads a stopped node's
// replica without disturbing its recovery; KillNode stops one node as a
// crash. The metadata log stays on the real disk (outside the vfs seam).
//
// StartProcesses (process.go) runs a cluster of real `sluice serve`
// processes built from ./cmd/sluice: each node with its own data directory,
// server.properties in Kafka's KRaft key names, client port and CONTROLLER
// port on 127.0.0.1, and log file; Kill (SIGKILL), Stop (SIGTERM), Start
// on the same ports and data; queries that ask the cluster or one node
// (process_query.go); and an offline comparison of replica logs read with
// internal/storage once the nodes are down (replicalog.go). With
// ProcessOptions.NetNS every node runs in a network namespace of its own
// behind a private bridge, and Isolate / Heal cut and restore its links
// (netns_linux.go, process_netns.go). Failures print
// every node's log tail; SIGKILL on cleanup, and on the test binary's death
// (Linux), leaves no process behind.
package testcluster

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/server"
	"github.com/sluice-io/sluice/internal/vfs"
)

// Broker is one in-process broker under test.
type Broker struct {
	t      testing.TB
	opts   server.BrokerOptions
	broker *server.Broker
	addr   string
}

// Option adjusts the broker configuration before start.
type Option func(*config.Broker, *server.BrokerOptions)

// WithFS runs the broker on the given file system (e.g. vfs.NewMem()).
func WithFS(fs vfs.FS) Option {
	return func(_ *config.Broker, o *server.BrokerOptions) { o.FS = fs }
}

// WithConfig changes the broker config.
func WithConfig(fn func(*config.Broker)) Option {
	return func(c *config.Broker, _ *server.BrokerOptions) { fn(c) }
}

// Start runs a single-node broker and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	cfg := config.DefaultBroker()
	cfg.Listeners = []config.Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 0}}
	cfg.AdvertisedListeners = nil
	cfg.LogDirs = []string{t.TempDir()}
	cfg.MetricsListener = ""
	bo := server.BrokerOptions{Logger: testLogger()}
	for _, o := range opts {
		o(&cfg, &bo)
	}
	bo.Config = cfg
	b := &Broker{t: t, opts: bo}
	b.start()
	t.Cleanup(func() { b.Stop() })
	return b
}

func testLogger() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (b *Broker) start() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb, err := server.StartBroker(ctx, b.opts)
	if err != nil {
		b.t.Fatalf("start broker: %v", err)
	}
	b.broker = sb
	b.addr = sb.Addrs()[0]
	// Keep the same port across restarts so clients reconnect.
	b.opts.Config.Listeners[0].Port = portOf(b.addr)
}

// MetricsURL is the broker's Prometheus endpoint ("" unless the test set
// MetricsListener, e.g. to 127.0.0.1:0).
func (b *Broker) MetricsURL() string { return b.broker.MetricsURL() }

// Addr is the broker's Kafka listener address.
func (b *Broker) Addr() string { return b.addr }

// Config is the configuration the broker runs with.
func (b *Broker) Config() config.Broker { return b.opts.Config }

// Stop shuts the broker down cleanly; stopping twice is harmless.
func (b *Broker) Stop() {
	if b.broker == nil {
		return
	}
	if err := b.broker.Close(); err != nil {
		b.t.Errorf("close broker: %v", err)
	}
	b.broker = nil
}

// Kill stops the broker as a crash would leave it: errors from closing are
// ignored, because after a simulated power cut (vfs.MemFS.Crash) its open
// files are gone. Start it again with Start.
func (b *Broker) Kill() {
	if b.broker == nil {
		return
	}
	b.broker.Close()
	b.broker = nil
}

// StartAgain starts a stopped or killed broker on the same data and port.
func (b *Broker) StartAgain() {
	b.t.Helper()
	if b.broker == nil {
		b.start()
	}
}

// Restart stops the broker cleanly and starts it again on the same data
// and port.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start()
}

// Client returns a franz-go client for the broker, closed with the test.
func (b *Broker) Client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		b.t.Fatalf("new client: %v", err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

// Partition returns the hosted partition topic-partition, failing the test
// if the broker does not host it: tests use it to write transaction
// markers directly (replica.Partition.AppendTxnMarker).
func (b *Broker) Partition(topic string, partition int32) *replica.Partition {
	b.t.Helper()
	p, ok := b.broker.Partitions().Get(topic, partition)
	if !ok {
		b.t.Fatalf("partition %s-%d is not hosted", topic, partition)
	}
	return p
}

// Admin returns a kadm client for the broker.
func (b *Broker) Admin() *kadm.Client { return kadm.NewClient(b.Client()) }

func portOf(addr string) int {
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return n
}
