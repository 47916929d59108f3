package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/server"
	"github.com/sluice-io/sluice/internal/vfs"
)

// InProcessOptions configures StartCluster. The zero value is three
// combined broker+controller nodes, all voters, with Sluice's defaults.
type InProcessOptions struct {
	// Nodes is how many nodes to run (default 3), node ids 1..Nodes, every
	// one a broker and a quorum voter (process.roles=broker,controller).
	Nodes int
	// ExtraConfig is added to every node's properties, overriding the
	// harness's keys (Kafka key names, as in server.properties).
	ExtraConfig map[string]string
	// NodeConfig is added to one node's properties after ExtraConfig.
	NodeConfig map[int32]map[string]string
	// StartTimeout bounds how long Start waits for every node to be
	// registered, unfenced and listed by every other (default 30 s).
	StartTimeout time.Duration
}

// InProcessCluster runs a cluster of brokers inside the test process, each
// started by server.StartBroker from a config.Broker that ParseBroker
// builds from the same properties a real node's server.properties holds
// (node.id, process.roles, controller.quorum.voters, a PLAINTEXT and a
// CONTROLLER listener on 127.0.0.1 ports reserved for the cluster's life,
// inter.broker.listener.name): the same code paths as `sluice serve`, with
// real TCP between the nodes.
//
// Each node keeps everything it persists in its own vfs.MemFS, for the
// cluster's life: its partition data (everything internal/storage writes)
// and its member of the metadata quorum (the Raft log, its term and vote,
// its snapshots: internal/quorum), under the node's log.dirs. So a test can
// cut the power of every node at once (PowerCut), and the cut drops what
// was not fsynced of both: a topic whose creation was acknowledged must
// come back from what the quorum had made durable.
//
// Methods are called from the test goroutine; Client, Admin, Bootstrap and
// MemFS may be called from any goroutine.
type InProcessCluster struct {
	t     testing.TB
	opts  InProcessOptions
	nodes []*inProcessNode // node id i is nodes[i-1]

	mu      sync.Mutex // guards each node's broker and power, clients and admin
	clients []*kgo.Client
	admin   *kadm.Client // shared by Admin; its client is in clients
}

// inProcessNode is one node: its fixed addresses, data and configuration,
// and the broker running on them now.
type inProcessNode struct {
	spec   nodeSpec
	mem    *vfs.MemFS
	cfg    config.Broker
	static map[string]string
	// Guarded by InProcessCluster.mu.
	broker *server.Broker // nil while stopped
	power  *vfs.PowerFS   // the running broker's power supply
	starts int
}

// StartCluster starts an in-process cluster of brokers and waits until
// every node is registered, unfenced and known to every other. Every node
// is stopped when the test ends.
func StartCluster(t testing.TB, opts InProcessOptions) *InProcessCluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = defaultNodes
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	if opts.Nodes < 1 {
		t.Fatalf("testcluster: InProcessOptions.Nodes = %d, want at least 1", opts.Nodes)
	}
	c := &InProcessCluster{t: t, opts: opts}
	used := map[int]bool{}
	specs := make([]nodeSpec, opts.Nodes)
	for i := range specs {
		specs[i] = nodeSpec{id: int32(i + 1), controller: true, clientPort: pickPort(t, used), controllerPort: pickPort(t, used),
			dataDir: filepath.Join(t.TempDir(), "data")}
	}
	voters := quorumVoters(specs)
	for _, spec := range specs {
		props := nodeProperties(spec, voters, opts.ExtraConfig, opts.NodeConfig[spec.id])
		cfg, err := config.ParseBroker(props)
		if err != nil {
			t.Fatalf("testcluster: node %d configuration: %v", spec.id, err)
		}
		c.nodes = append(c.nodes, &inProcessNode{spec: spec, mem: vfs.NewMem(), cfg: cfg, static: props})
	}
	t.Cleanup(c.cleanup)
	c.Start()
	return c
}

// node returns node id, failing the test for an id the cluster lacks.
func (c *InProcessCluster) node(id int32) *inProcessNode {
	c.t.Helper()
	if id < 1 || int(id) > len(c.nodes) {
		c.t.Fatalf("testcluster: no node %d (the cluster has nodes 1..%d)", id, len(c.nodes))
	}
	return c.nodes[id-1]
}

// Nodes returns every node id, 1..Nodes.
func (c *InProcessCluster) Nodes() []int32 {
	ids := make([]int32, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.spec.id
	}
	return ids
}

// Start starts every stopped node at once, on its ports, MemFS and
// metadata directory, and waits until every node is registered, unfenced
// and listed by every other (StartTimeout).
func (c *InProcessCluster) Start() {
	c.t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, n := range c.nodes {
		if c.Running(n.spec.id) {
			continue
		}
		wg.Go(func() { errs[i] = c.startNode(n) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatalf("testcluster: %v", err)
	}
	c.WaitServing()
	c.WaitBrokersJoined(c.opts.StartTimeout)
}

// WaitServing waits until every running broker, in its current
// incarnation, is registered and unfenced and has applied the metadata
// it knew (server.Broker.WaitServing). After a restart that takes about
// broker.session.timeout.ms: the controller refuses the new incarnation
// until the old one's session expires, while Metadata still lists the old
// registration, so WaitBrokersJoined alone would pass too early.
func (c *InProcessCluster) WaitServing() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	c.mu.Lock()
	brokers := map[int32]*server.Broker{}
	for _, n := range c.nodes {
		if n.broker != nil {
			brokers[n.spec.id] = n.broker
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for id, b := range brokers {
		wg.Go(func() {
			if err := b.WaitServing(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("node %d: %w", id, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatalf("testcluster: waiting %s for every broker to serve: %v", c.opts.StartTimeout, err)
	}
}

// StartNode starts stopped node id again and waits until it accepts
// connections (not until it has rejoined: see WaitBrokersJoined).
func (c *InProcessCluster) StartNode(id int32) {
	c.t.Helper()
	n := c.node(id)
	if c.Running(id) {
		c.t.Fatalf("testcluster: StartNode(%d): node is running", id)
	}
	if err := c.startNode(n); err != nil {
		c.t.Fatalf("testcluster: %v", err)
	}
}

func (c *InProcessCluster) startNode(n *inProcessNode) error {
	power := vfs.NewPowerFS(n.mem)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	logger := testLogger().With("node", n.spec.id)
	b, err := server.StartBroker(ctx, server.BrokerOptions{Config: n.cfg, StaticConfig: n.static, FS: power, Logger: logger})
	if err != nil {
		return fmt.Errorf("start node %d: %w", n.spec.id, err)
	}
	c.mu.Lock()
	n.broker, n.power = b, power
	n.starts++
	c.mu.Unlock()
	return nil
}

// Running tells whether node id's broker is up.
func (c *InProcessCluster) Running(id int32) bool {
	n := c.node(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.broker != nil
}

// take detaches node n's broker (nil if it is stopped).
func (c *InProcessCluster) take(n *inProcessNode) *server.Broker {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := n.broker
	n.broker = nil
	return b
}

// StopNode shuts node id down cleanly (a controlled shutdown, as SIGTERM).
func (c *InProcessCluster) StopNode(id int32) {
	c.t.Helper()
	if b := c.take(c.node(id)); b != nil {
		if err := b.Close(); err != nil {
			c.t.Errorf("testcluster: stop node %d: %v", id, err)
		}
	}
}

// KillNode stops node id as a crashed process would leave the cluster: no
// controlled shutdown (server.Broker.Halt), its MemFS left as it is (a
// process crash keeps the page cache; for a power cut see PowerOff). Its
// partitions fail over once the controller fences it; StartNode brings it
// back.
func (c *InProcessCluster) KillNode(id int32) {
	c.t.Helper()
	if b := c.take(c.node(id)); b != nil {
		_ = b.Halt()
	}
}

// Stop shuts every running node down cleanly, one after another.
func (c *InProcessCluster) Stop() {
	c.t.Helper()
	for _, id := range c.Nodes() {
		c.StopNode(id)
	}
}

// PowerCut cuts the power of every node at the same instant and brings the
// cluster back: PowerOff, then Start. It returns once the cluster has
// rejoined.
func (c *InProcessCluster) PowerCut() {
	c.t.Helper()
	c.PowerOff()
	c.Start()
}

// PowerCutTorn is PowerCut with torn writes (PowerOffTorn).
func (c *InProcessCluster) PowerCutTorn(rng *rand.Rand) {
	c.t.Helper()
	c.PowerOffTorn(rng)
	c.Start()
}

// PowerOff cuts the power of every running node at the same instant and
// leaves the cluster down (Start brings it back): every node's MemFS
// crashes (vfs.MemFS.Crash: every byte not fsynced and every directory
// change not synced is gone) while no file operation of any node is in
// flight; from that instant nothing the old brokers do reaches their MemFS
// (their power supplies stay off, see vfs.PowerFS); then the brokers are torn
// down together without a controlled shutdown (server.Broker.Halt), as
// dead machines would not hand anything over.
//
// Between the cut and its Halt an old broker still runs, on failing
// files, and may still see Raft traffic with a newer term: the raft
// goroutine that cannot persist it stops (quorum's raftStores) rather
// than panic as hashicorp/raft does on a real disk error.
func (c *InProcessCluster) PowerOff() { c.powerOff(nil) }

// PowerOffTorn is PowerOff with torn writes (vfs.MemFS.CrashTorn: each
// file keeps a random prefix of its unsynced tail, a new file survives
// half the time); rng drives the choices.
func (c *InProcessCluster) PowerOffTorn(rng *rand.Rand) { c.powerOff(rng) }

func (c *InProcessCluster) powerOff(rng *rand.Rand) {
	c.t.Helper()
	c.mu.Lock()
	var supplies []*vfs.PowerFS
	var brokers []*server.Broker
	for _, n := range c.nodes {
		if n.broker != nil {
			supplies = append(supplies, n.power)
			brokers = append(brokers, n.broker)
			n.broker = nil
		}
	}
	c.mu.Unlock()
	// Hold every node's supply, so the crashes of all the MemFS happen at
	// one instant with respect to every node's I/O.
	for _, p := range supplies {
		p.LockForCut()
	}
	for _, n := range c.nodes {
		if rng == nil {
			n.mem.Crash()
		} else {
			n.mem.CrashTorn(rng)
		}
	}
	for _, p := range supplies {
		p.UnlockAfterCut()
	}
	// Errors are expected: the brokers' files are gone.
	var wg sync.WaitGroup
	for _, b := range brokers {
		wg.Go(func() { _ = b.Halt() })
	}
	wg.Wait()
}

// ReadReplica reads node id's replica of topic-partition as storage
// recovers it from what the node's MemFS holds (ReadReplicaLog), without
// touching that MemFS: it works on a copy, so the node's own recovery at
// its next start begins from the same state (after PowerOff: the state
// the power cut left). The node must be stopped.
func (c *InProcessCluster) ReadReplica(id int32, topic string, partition int32) (ReplicaLog, error) {
	c.t.Helper()
	if c.Running(id) {
		c.t.Fatalf("testcluster: ReadReplica: node %d is running; stop it (or PowerOff) first", id)
	}
	n := c.node(id)
	cp := vfs.NewMem()
	if err := copyDurable(n.mem, cp, "/"); err != nil {
		return ReplicaLog{Node: id}, fmt.Errorf("copy node %d's file system: %w", id, err)
	}
	rl, err := ReadReplicaLog(cp, n.spec.dataDir, topic, partition)
	rl.Node = id
	return rl, err
}

// copyDurable copies the tree at dir of src into dst, every file and
// directory made durable there.
func copyDurable(src, dst vfs.FS, dir string) error {
	if err := dst.MkdirAll(dir); err != nil {
		return err
	}
	names, err := src.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		info, err := src.Stat(p)
		if err != nil {
			return err
		}
		if info.IsDir {
			if err := copyDurable(src, dst, p); err != nil {
				return err
			}
			continue
		}
		if err := copyFile(src, dst, p, info.Size); err != nil {
			return err
		}
	}
	return dst.SyncDir(dir)
}

func copyFile(src, dst vfs.FS, name string, size int64) error {
	in, err := src.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	data := make([]byte, size)
	if n, err := in.ReadAt(data, 0); int64(n) != size {
		return fmt.Errorf("read %s: %d of %d bytes: %w", name, n, size, err)
	}
	out, err := dst.Create(name)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := out.Write(data); err != nil {
		return err
	}
	return out.Sync()
}

// Values returns the value of every data record in the replica by offset
// (control batches, such as transaction markers, are left out).
func (rl ReplicaLog) Values() (map[int64][]byte, error) {
	values := map[int64][]byte{}
	var it record.Iterator
	for _, b := range rl.Batches {
		if err := it.Reset(b.Bytes); err != nil {
			return values, fmt.Errorf("node %d: batch at offset %d: %w", rl.Node, b.BaseOffset, err)
		}
		if it.Header().IsControl() {
			continue
		}
		for rec, ok := it.Next(); ok; rec, ok = it.Next() {
			values[rec.Offset] = bytes.Clone(rec.Value)
		}
		if err := it.Err(); err != nil {
			return values, fmt.Errorf("node %d: batch at offset %d: %w", rl.Node, b.BaseOffset, err)
		}
	}
	return values, nil
}

// MemFS is node id's file system (partition logs, the metadata quorum's
// log and snapshots), for inspecting a node's data offline.
func (c *InProcessCluster) MemFS(id int32) *vfs.MemFS { return c.node(id).mem }

// DataDir is node id's log.dirs, a directory on its MemFS (the metadata
// quorum's files are in its __cluster_metadata).
func (c *InProcessCluster) DataDir(id int32) string { return c.node(id).spec.dataDir }

// ClientAddr is node id's PLAINTEXT address.
func (c *InProcessCluster) ClientAddr(id int32) string { return c.node(id).spec.clientAddr() }

// Bootstrap returns every node's client address (running or not: a client
// reconnects once the node is back on the same port).
func (c *InProcessCluster) Bootstrap() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.spec.clientAddr()
	}
	return addrs
}

// Client returns a franz-go client seeded with every node, closed when the
// test ends (or by the caller earlier). opts come after the harness's
// defaults (fast metadata refresh and retries) and override them.
func (c *InProcessCluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	all := append(append([]kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...)}, clientDefaults()...), opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		c.t.Fatalf("testcluster: new client: %v", err)
	}
	c.mu.Lock()
	c.clients = append(c.clients, cl)
	c.mu.Unlock()
	return cl
}

// Admin returns a kadm client over the cluster's shared admin client
// (created on first use with the harness's defaults, closed when the test
// ends): tests may call it for every query without piling up clients.
func (c *InProcessCluster) Admin() *kadm.Client {
	c.t.Helper()
	c.mu.Lock()
	admin := c.admin
	c.mu.Unlock()
	if admin == nil {
		cl := c.Client()
		c.mu.Lock()
		if c.admin == nil {
			c.admin = kadm.NewClient(cl)
		}
		admin = c.admin
		c.mu.Unlock()
	}
	return admin
}

// nodeRequest sends req to node id alone, over a client of its own.
func (c *InProcessCluster) nodeRequest(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ClientAddr(id)))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	seeds := cl.SeedBrokers()
	if len(seeds) != 1 {
		return nil, fmt.Errorf("client for node %d has %d seed brokers", id, len(seeds))
	}
	return seeds[0].Request(ctx, req)
}

// NodeMetadata is node id's own Metadata answer for topics (every topic if
// none are given): what that node's metadata image holds, not whichever
// broker a client would pick.
func (c *InProcessCluster) NodeMetadata(ctx context.Context, id int32, topics ...string) (*kmsg.MetadataResponse, error) {
	resp, err := c.nodeRequest(ctx, id, metadataRequest(topics...))
	if err != nil {
		return nil, fmt.Errorf("metadata from node %d: %w", id, err)
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// WaitBrokersJoined waits until every running node's Metadata answer names
// an active controller and lists every running node as a broker.
func (c *InProcessCluster) WaitBrokersJoined(timeout time.Duration) {
	c.t.Helper()
	c.Eventually(timeout, "every broker registered and unfenced", func() error {
		return brokersJoined(runningNodes(c.Nodes(), c.Running), c.NodeMetadata)
	})
}

// WaitTopicReady waits until every running node's Metadata shows topic with
// partitions partitions, each with a leader and an ISR of rf replicas.
func (c *InProcessCluster) WaitTopicReady(timeout time.Duration, topic string, partitions, rf int) {
	c.t.Helper()
	c.Eventually(timeout, "topic "+topic+" with leaders and full ISRs on every node", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
		defer cancel()
		for _, id := range runningNodes(c.Nodes(), c.Running) {
			md, err := c.NodeMetadata(ctx, id, topic)
			if err != nil {
				return err
			}
			if len(md.Topics) != 1 {
				return fmt.Errorf("node %d: %d topics in the answer", id, len(md.Topics))
			}
			mt := md.Topics[0]
			if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
				return fmt.Errorf("node %d: topic %s: %w", id, topic, err)
			}
			if len(mt.Partitions) != partitions {
				return fmt.Errorf("node %d: topic %s has %d partitions, want %d", id, topic, len(mt.Partitions), partitions)
			}
			for _, p := range mt.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.Leader < 0 || len(p.ISR) != rf || !sameSet(p.ISR, p.Replicas) {
					return fmt.Errorf("node %d: %s-%d: leader %d, replicas %v, ISR %v, error %v", id, topic, p.Partition, p.Leader, p.Replicas, p.ISR, err)
				}
			}
		}
		return nil
	})
}

// Eventually polls check every 50 ms until it returns nil, failing the test
// with the last error if that takes longer than timeout.
func (c *InProcessCluster) Eventually(timeout time.Duration, what string, check func() error) {
	c.t.Helper()
	if _, err := poll(timeout, check); err != nil {
		c.t.Fatalf("testcluster: waiting %s for %s: %v", timeout, what, err)
	}
}

// cleanup closes the clients and halts every node (the test is over: no
// controlled shutdown, which could not finish once a majority is gone).
func (c *InProcessCluster) cleanup() {
	c.mu.Lock()
	clients := slices.Clone(c.clients)
	c.clients = nil
	c.mu.Unlock()
	for _, cl := range clients {
		cl.Close()
	}
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		if b := c.take(n); b != nil {
			wg.Go(func() { _ = b.Halt() })
		}
	}
	wg.Wait()
}
