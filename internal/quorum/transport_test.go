package quorum

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/vfs"
)

// divertListener accepts connections the way a Sluice listener with the
// Raft divert does: the first four bytes decide, and Raft's go to the
// stream layer. (internal/server runs the same test through server.Server;
// this package may not import it.)
func divertListener(t *testing.T, l net.Listener, stream *StreamLayer) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				var magic [4]byte
				if _, err := io.ReadFull(nc, magic[:]); err != nil || string(magic[:]) != TransportMagic {
					nc.Close()
					return
				}
				stream.Handoff(nc)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
}

// testCluster is n quorum nodes over real TCP.
type testCluster struct {
	t       *testing.T
	dirs    []string
	voters  []Voter
	streams []*StreamLayer
	nodes   []*Node
}

func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return startClusterOn(t, make([]vfs.FS, n))
}

// startClusterOn is startCluster with node i on fsys[i] (nil: the OS).
func startClusterOn(t *testing.T, fsys []vfs.FS) *testCluster {
	t.Helper()
	n := len(fsys)
	c := &testCluster{t: t}
	var listeners []net.Listener
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		c.voters = append(c.voters, Voter{NodeID: int32(i + 1), Address: l.Addr().String()})
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i, l := range listeners {
		stream, transport, err := NewTransport(TransportConfig{Advertise: l.Addr().String()})
		if err != nil {
			t.Fatal(err)
		}
		divertListener(t, l, stream)
		c.streams = append(c.streams, stream)
		c.nodes = append(c.nodes, openNode(t, c.dirs[i], func(cfg *Config) {
			cfg.NodeID, cfg.Voters, cfg.Transport, cfg.FS = int32(i+1), c.voters, transport, fsys[i]
			cfg.HeartbeatTimeout, cfg.ElectionTimeout = 300*time.Millisecond, 300*time.Millisecond
		}))
	}
	return c
}

// leader waits until the open nodes agree on one leader among them.
func (c *testCluster) leader(open []*Node) *Node {
	c.t.Helper()
	var found *Node
	poll(c.t, 20*time.Second, "an agreed leader", func() bool {
		found = nil
		for _, n := range open {
			if n.IsLeader() {
				found = n
			}
		}
		if found == nil {
			return false
		}
		id, _ := found.Leader()
		for _, n := range open {
			if other, ok := n.Leader(); !ok || other != id {
				return false
			}
		}
		return true
	})
	return found
}

// proposeOnLeader proposes through whichever open node leads, retrying
// while leadership moves.
func (c *testCluster) proposeOnLeader(open []*Node, records ...metadata.Record) {
	c.t.Helper()
	var last error
	poll(c.t, 20*time.Second, "a committed proposal", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		last = c.leader(open).Propose(ctx, records)
		return last == nil || !errors.Is(last, ErrNotLeader)
	})
	if last != nil {
		c.t.Fatalf("Propose: %v", last)
	}
}

func (c *testCluster) waitTopic(open []*Node, name string) {
	c.t.Helper()
	poll(c.t, 20*time.Second, "topic "+name+" on every node", func() bool {
		for _, n := range open {
			if n.Image().TopicByName(name) == nil {
				return false
			}
		}
		return true
	})
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func without(nodes []*Node, gone *Node) []*Node {
	var out []*Node
	for _, n := range nodes {
		if n != gone {
			out = append(out, n)
		}
	}
	return out
}

// Three voters over TCP elect a leader and commit; when the leader closes,
// the other two elect a new one and keep committing.
func TestThreeVotersOverTCP(t *testing.T) {
	c := startCluster(t, 3)
	open := c.nodes
	first := c.leader(open)
	for i := range 5 {
		c.proposeOnLeader(open, topicBatch(fmt.Sprintf("before-%d", i), byte(i+1), 1)...)
	}
	c.waitTopic(open, "before-4")
	checkDescribe(t, first, open)

	if err := first.Close(); err != nil {
		t.Fatalf("close the leader: %v", err)
	}
	open = without(open, first)
	second := c.leader(open)
	if second == first {
		t.Fatal("closed node still leads")
	}
	c.proposeOnLeader(open, topicBatch("after", 42, 2)...)
	c.waitTopic(open, "after")
	for _, n := range open {
		if got := n.Image().TopicCount(); got != 6 {
			t.Errorf("node sees %d topics, want 6", got)
		}
	}
}

// checkDescribe compares the leader's and the followers' Descriptions
// with what the cluster has done.
func checkDescribe(t *testing.T, leader *Node, open []*Node) {
	t.Helper()
	d := leader.Describe(nil)
	id, _ := leader.Leader()
	if !d.IsLeader || d.LeaderID != id || d.LeaderEpoch < 1 || d.HighWatermark < 5 || len(d.Voters) != 3 || len(d.Observers) != 0 {
		t.Fatalf("leader's Describe: %+v", d)
	}
	for _, v := range d.Voters {
		if v.Address == "" || (v.NodeID == id) != (v.LogEndOffset >= d.HighWatermark) {
			t.Errorf("voter %+v: want an address, and the leader alone with a known offset", v)
		}
	}
	for _, n := range without(open, leader) {
		if f := n.Describe(nil); f.IsLeader || f.LeaderID != id || f.LeaderEpoch != d.LeaderEpoch {
			t.Errorf("follower's Describe %+v disagrees with the leader's", f)
		}
	}
}

// Close of the stream layer ends Accept, closes the connections it holds,
// refuses later handoffs and dials.
func TestStreamLayerClose(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stream, transport, err := NewTransport(TransportConfig{Advertise: l.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	divertListener(t, l, stream)
	if got := transport.LocalAddr(); got != raft.ServerAddress(l.Addr().String()) {
		t.Fatalf("LocalAddr %s, want the advertised %s", got, l.Addr())
	}
	// A second layer dials the first; the first's transport accepts.
	peer, peerTransport, err := NewTransport(TransportConfig{Advertise: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer peerTransport.Close()
	out, err := peer.Dial(raft.ServerAddress(l.Addr().String()), time.Second)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer out.Close()
	poll(t, 5*time.Second, "the dialled connection accepted", func() bool { return stream.open() == 1 })

	if err := transport.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	out.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := out.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("peer's connection after Close: %v, want EOF", err)
	}
	if _, err := stream.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := stream.Dial(raft.ServerAddress(l.Addr().String()), time.Second); err == nil {
		t.Fatal("Dial after Close succeeded")
	}
	a, b := net.Pipe()
	defer b.Close()
	stream.Handoff(a)
	if _, err := b.Write([]byte{1}); err == nil {
		t.Fatal("a connection handed to a closed layer stays open")
	}
	if err := stream.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// open counts the connections the layer holds.
func (s *StreamLayer) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func TestNewTransportNeedsAddress(t *testing.T) {
	for _, addr := range []string{"", "localhost"} {
		if _, _, err := NewTransport(TransportConfig{Advertise: addr}); err == nil {
			t.Errorf("advertise %q accepted", addr)
		}
	}
}
