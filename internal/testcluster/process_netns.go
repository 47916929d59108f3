package testcluster

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Network faults of a cluster started with ProcessOptions.NetNS (the
// plumbing is in netns_linux.go).

// Isolate cuts node id off from every other node: inside its namespace,
// iptables drops every packet to or from its link except the test's own,
// so replication, Raft and heartbeats between it and the rest stop
// silently (no reset, as with a pulled cable) while the process keeps
// running. The test's clients (Client, NodeClient, the query methods) can
// still reach it, as clients on its side of the split could.
func (c *ProcessCluster) Isolate(id int32) {
	c.t.Helper()
	c.netFault(id, "Isolate", (*netnsNetwork).isolate)
	c.t.Logf("testcluster: node %d isolated from the other nodes at %s", id, time.Now().Format("15:04:05.000"))
}

// Heal undoes Isolate: node id's link passes everything again.
func (c *ProcessCluster) Heal(id int32) {
	c.t.Helper()
	c.netFault(id, "Heal", (*netnsNetwork).heal)
	c.t.Logf("testcluster: node %d reconnected at %s", id, time.Now().Format("15:04:05.000"))
}

func (c *ProcessCluster) netFault(id int32, what string, apply func(*netnsNetwork, int32) error) {
	c.t.Helper()
	c.node(id)
	if c.net == nil {
		c.t.Fatalf("testcluster: %s(%d) needs a cluster started with ProcessOptions.NetNS", what, id)
	}
	if err := apply(c.net, id); err != nil {
		c.t.Fatalf("testcluster: %s(%d): %v", what, id, err)
	}
}

// NodeClient returns a franz-go client that can reach node id alone: it
// is seeded with that node, and its dialer refuses every other address,
// so whatever metadata says, each request goes to node id or fails (as
// for a client that sees only that node, e.g. on its side of a network
// split). Closed when t ends; opts override the harness's defaults.
func (c *ProcessCluster) NodeClient(t testing.TB, id int32, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	only := c.node(id).spec.clientAddr()
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		if address != only {
			return nil, fmt.Errorf("testcluster: client of node %d only: %s is not reachable", id, address)
		}
		return c.dial(ctx, network, address)
	}
	cl := c.newClient(t, []string{only}, append([]kgo.Opt{kgo.Dialer(dial)}, opts...)...)
	t.Cleanup(cl.Close)
	return cl
}
