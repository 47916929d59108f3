package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testbin"
)

// Defaults of ProcessOptions.
const (
	defaultNodes        = 3
	defaultStartTimeout = 30 * time.Second
	defaultStopTimeout  = 15 * time.Second
	defaultLogTailBytes = 6000
	// killTimeout bounds how long a SIGKILLed process may take to be
	// reaped; longer means the machine is in trouble, not the broker.
	killTimeout = 10 * time.Second
)

// keepDirEnv names a directory to run process clusters in instead of the
// test's temporary directory: the nodes' data and complete logs are then
// kept after the test, for debugging a failure.
const keepDirEnv = "SLUICE_TEST_CLUSTER_DIR"

// ProcessOptions configures StartProcesses. The zero value is a 3-node
// cluster of combined broker+controller nodes, all voters.
type ProcessOptions struct {
	// Nodes is how many nodes to run (default 3), with node ids 1..Nodes.
	Nodes int
	// Controllers is how many of the nodes are controllers (quorum
	// voters, process.roles=broker,controller): nodes 1..Controllers. The
	// rest are broker-only (process.roles=broker). 0 means every node.
	// Broker-only nodes let a test kill every replica of a partition while
	// the metadata quorum keeps its majority.
	Controllers int
	// NoQuorumVoters leaves controller.quorum.voters unset: with Nodes=1
	// that is today's plain single node (config.SingleNode).
	NoQuorumVoters bool
	// ExtraConfig is added to every node's server.properties, overriding
	// the harness's keys (Kafka key names: cluster-contracts.md, B).
	ExtraConfig map[string]string
	// NodeConfig is added to one node's server.properties after
	// ExtraConfig (e.g. broker.rack per node).
	NodeConfig map[int32]map[string]string
	// StartTimeout bounds how long a started node may take to accept
	// connections on its client port (default 30 s).
	StartTimeout time.Duration
	// StopTimeout bounds how long Stop waits after SIGTERM before it
	// SIGKILLs the node and fails the test (default 15 s).
	StopTimeout time.Duration
	// LogTailBytes is how much of each node's log the harness prints when
	// the test has failed (default 6000).
	LogTailBytes int
	// Binary is a prebuilt sluice binary; "" builds ./cmd/sluice.
	Binary string
	// NetNS runs every node in a network namespace of its own, joined to
	// the others by a private bridge (netns_linux.go), so that Isolate
	// and Heal can cut a node off the network and reconnect it. Nodes
	// listen on 10.213.S.<id> (ports 9092 and 9093) instead of 127.0.0.1.
	// The test is skipped, saying why, when that is impossible: not root,
	// ip or iptables missing (scripts/test-deps.sh installs them), or
	// namespaces refused; and on systems other than Linux.
	NetNS bool
}

func (o ProcessOptions) withDefaults(t testing.TB) ProcessOptions {
	t.Helper()
	if o.Nodes == 0 {
		o.Nodes = defaultNodes
	}
	if o.Controllers == 0 {
		o.Controllers = o.Nodes
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = defaultStartTimeout
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = defaultStopTimeout
	}
	if o.LogTailBytes == 0 {
		o.LogTailBytes = defaultLogTailBytes
	}
	switch {
	case o.Nodes < 1:
		t.Fatalf("testcluster: ProcessOptions.Nodes = %d, want at least 1", o.Nodes)
	case o.Controllers < 1 || o.Controllers > o.Nodes:
		t.Fatalf("testcluster: ProcessOptions.Controllers = %d, want 1..%d", o.Controllers, o.Nodes)
	case o.NoQuorumVoters && o.Nodes != 1:
		t.Fatalf("testcluster: NoQuorumVoters needs Nodes = 1, not %d", o.Nodes)
	}
	return o
}

// ProcessCluster is a cluster of real `sluice serve` processes on
// 127.0.0.1, each with its own data directory, client port, CONTROLLER
// port (controllers only) and log file. It is driven from the test
// goroutine; Running, Bootstrap and the query methods (process_query.go)
// may also be called from other goroutines. Everything is killed when the
// test ends, and each node's log tail is printed if the test failed.
type ProcessCluster struct {
	t      testing.TB
	dir    string
	binary string
	opts   ProcessOptions
	nodes  []*processNode // node id i is nodes[i-1]

	// query reaches the cluster through every broker's address, running
	// or not, for the query methods; closed by cleanup.
	query *kgo.Client

	// net is the cluster's network namespaces (ProcessOptions.NetNS),
	// nil when the nodes run on 127.0.0.1.
	net *netnsNetwork
	// dial opens every connection the harness and its clients make: from
	// the switch namespace with NetNS, else a plain net.Dialer.
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	// mu guards the process fields of every node, the direct clients, and
	// unexpected.
	mu sync.Mutex
	// unexpected lists nodes that exited without Kill or Stop (a crash or
	// a refused start-up); cleanup fails the test with them.
	unexpected []string
}

// processNode is one node: fixed spec and paths, and the current process.
type processNode struct {
	spec       nodeSpec
	dir        string
	configPath string
	logPath    string

	// Guarded by ProcessCluster.mu.
	cmd        *exec.Cmd     // nil before the first start
	exited     chan struct{} // closed when cmd has been reaped
	expectExit bool          // set by Kill and Stop before they signal
	exitErr    error         // cmd.Wait's result, set before exited closes
	starts     int
	direct     *kgo.Client // talks to this node only; created on first use
}

// StartProcesses builds the sluice binary, writes every node's
// server.properties, starts all the nodes at once and waits until each
// accepts connections on its client port. The cluster is killed when the
// test ends.
func StartProcesses(t testing.TB, opts ProcessOptions) *ProcessCluster {
	t.Helper()
	opts = opts.withDefaults(t)
	c := &ProcessCluster{t: t, opts: opts, dial: (&net.Dialer{}).DialContext}
	var specs []nodeSpec
	if opts.NetNS {
		// First, so that a test that cannot have namespaces skips before
		// anything is built; its cleanup, registered first, runs after
		// c.cleanup has killed the nodes.
		c.net = setupNetNS(t, nodeIDs(opts.Nodes))
		c.dial = c.net.dial
		specs = netnsSpecs(c.net, opts)
	} else {
		specs = allocatePorts(t, opts)
	}
	c.dir = clusterDir(t)
	c.binary = opts.Binary
	if c.binary == "" {
		c.binary = testbin.Build(t, c.dir)
	}
	c.nodes = c.prepareNodes(specs)
	c.query = c.newClient(t, c.allClientAddrs())
	t.Cleanup(c.cleanup)
	for _, n := range c.nodes {
		c.launch(n)
	}
	for _, n := range c.nodes {
		c.waitListening(n)
	}
	if !opts.NoQuorumVoters {
		c.WaitBrokersJoined(t, opts.StartTimeout)
	}
	return c
}

// clusterDir is the test's temporary directory, or a kept directory under
// $SLUICE_TEST_CLUSTER_DIR.
func clusterDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv(keepDirEnv)
	if root == "" {
		return t.TempDir()
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatalf("testcluster: %s: %v", keepDirEnv, err)
	}
	dir, err := os.MkdirTemp(root, name+"-")
	if err != nil {
		t.Fatalf("testcluster: %s: %v", keepDirEnv, err)
	}
	t.Logf("testcluster: cluster directory %s is kept (%s)", dir, keepDirEnv)
	return dir
}

// allocatePorts picks a client port for every node and a CONTROLLER port
// for every controller, all distinct (pickPort).
func allocatePorts(t testing.TB, opts ProcessOptions) []nodeSpec {
	t.Helper()
	used := map[int]bool{}
	specs := make([]nodeSpec, opts.Nodes)
	for i := range specs {
		specs[i] = nodeSpec{id: int32(i + 1), controller: i < opts.Controllers, clientPort: pickPort(t, used)}
		if specs[i].controller {
			specs[i].controllerPort = pickPort(t, used)
		}
	}
	return specs
}

func nodeIDs(nodes int) []int32 {
	ids := make([]int32, nodes)
	for i := range ids {
		ids[i] = int32(i + 1)
	}
	return ids
}

// netnsSpecs gives every node its namespace's address and the fixed ports
// (each namespace has ports of its own).
func netnsSpecs(n *netnsNetwork, opts ProcessOptions) []nodeSpec {
	specs := make([]nodeSpec, opts.Nodes)
	for i := range specs {
		id := int32(i + 1)
		specs[i] = nodeSpec{id: id, controller: i < opts.Controllers, clientPort: n.clientPort(), host: n.nodeHost(id)}
		if specs[i].controller {
			specs[i].controllerPort = n.controllerPort()
		}
	}
	return specs
}

// prepareNodes makes every node's directories and writes its
// server.properties.
func (c *ProcessCluster) prepareNodes(specs []nodeSpec) []*processNode {
	c.t.Helper()
	voters := ""
	if !c.opts.NoQuorumVoters {
		voters = quorumVoters(specs)
	}
	nodes := make([]*processNode, len(specs))
	for i, spec := range specs {
		n := &processNode{dir: filepath.Join(c.dir, fmt.Sprintf("node-%d", spec.id))}
		spec.dataDir = filepath.Join(n.dir, "data")
		n.spec = spec
		n.configPath = filepath.Join(n.dir, "server.properties")
		n.logPath = filepath.Join(n.dir, "node.log")
		if err := os.MkdirAll(spec.dataDir, 0o755); err != nil {
			c.t.Fatalf("testcluster: node %d data dir: %v", spec.id, err)
		}
		props := nodeProperties(spec, voters, c.opts.ExtraConfig, c.opts.NodeConfig[spec.id])
		if err := os.WriteFile(n.configPath, []byte(renderProperties(props)), 0o644); err != nil {
			c.t.Fatalf("testcluster: node %d config: %v", spec.id, err)
		}
		nodes[i] = n
	}
	return nodes
}

// node returns node id, failing the test for an id the cluster lacks.
func (c *ProcessCluster) node(id int32) *processNode {
	c.t.Helper()
	if id < 1 || int(id) > len(c.nodes) {
		c.t.Fatalf("testcluster: no node %d (the cluster has nodes 1..%d)", id, len(c.nodes))
	}
	return c.nodes[id-1]
}

// launch starts node n's process with its output appended to its log
// file, and a goroutine that reaps it.
func (c *ProcessCluster) launch(n *processNode) {
	c.t.Helper()
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatalf("testcluster: node %d log: %v", n.spec.id, err)
	}
	defer logFile.Close() // the child holds its own descriptor
	c.mu.Lock()
	defer c.mu.Unlock()
	n.starts++
	cmd := exec.Command(c.binary, "serve", "--config", n.configPath)
	if c.net != nil {
		// ip netns exec execs the binary in place (no fork), so the
		// process signalled and reaped is the node itself.
		cmd = c.net.command(n.spec.id, c.binary, "serve", "--config", n.configPath)
	}
	fmt.Fprintf(logFile, "=== testcluster: start %d of node %d at %s: %s\n",
		n.starts, n.spec.id, time.Now().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = childEnv(os.Environ())
	configureChild(cmd)
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("testcluster: start node %d: %v", n.spec.id, err)
	}
	n.cmd, n.exited, n.expectExit, n.exitErr = cmd, make(chan struct{}), false, nil
	go c.reap(n, cmd, n.exited)
}

// childEnv is the test's environment without SLUICE_ variables: they
// would override the node's server.properties (config.EnvOverrides).
func childEnv(environ []string) []string {
	env := make([]string, 0, len(environ))
	for _, v := range environ {
		if !strings.HasPrefix(v, "SLUICE_") {
			env = append(env, v)
		}
	}
	return env
}

// reap waits for cmd and records how it ended; an exit nobody asked for is
// remembered for cleanup to report.
func (c *ProcessCluster) reap(n *processNode, cmd *exec.Cmd, exited chan struct{}) {
	err := cmd.Wait()
	c.mu.Lock()
	n.exitErr = err
	if !n.expectExit {
		c.unexpected = append(c.unexpected, fmt.Sprintf("node %d (start %d) exited on its own: %v", n.spec.id, n.starts, err))
	}
	c.mu.Unlock()
	close(exited)
}

// waitListening waits until node n accepts connections on its client
// port, failing the test with the node's log tail if it exits or times out.
func (c *ProcessCluster) waitListening(n *processNode) {
	c.t.Helper()
	c.mu.Lock()
	exited := n.exited
	c.mu.Unlock()
	if err := c.waitDialable(n.spec.clientAddr(), exited, c.opts.StartTimeout); err != nil {
		c.t.Fatalf("testcluster: node %d: %v\n%s", n.spec.id, err, c.logTail(n))
	}
}

// waitDialable polls address (through c.dial) until it accepts a TCP
// connection, giving up when exited is closed first or after timeout.
func (c *ProcessCluster) waitDialable(address string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := c.dial(ctx, "tcp", address)
		cancel()
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before listening on %s", address)
		case <-time.After(20 * time.Millisecond): // poll the port again
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s: %v", address, timeout, err)
		}
	}
}

// Start starts a stopped or killed node again on the same ports, data
// directory and configuration, and waits until it accepts connections.
func (c *ProcessCluster) Start(id int32) {
	c.t.Helper()
	n := c.node(id)
	if c.Running(id) {
		c.t.Fatalf("testcluster: Start(%d): node is running", id)
	}
	c.launch(n)
	c.waitListening(n)
}

// Kill SIGKILLs node id and waits until it has been reaped: a crash, with
// the page cache (so every write the process made) surviving.
func (c *ProcessCluster) Kill(id int32) {
	c.t.Helper()
	n := c.node(id)
	exited := c.signal(n, syscall.SIGKILL)
	if exited == nil {
		c.t.Fatalf("testcluster: Kill(%d): node is not running", id)
	}
	select {
	case <-exited:
	case <-time.After(killTimeout):
		c.t.Fatalf("testcluster: node %d still running %s after SIGKILL", id, killTimeout)
	}
}

// Stop sends node id SIGTERM (a controlled shutdown) and waits for it to
// exit. A node that takes longer than StopTimeout is SIGKILLed and the
// test fails; so does one that exits with an error.
func (c *ProcessCluster) Stop(id int32) {
	c.t.Helper()
	n := c.node(id)
	exited := c.signal(n, syscall.SIGTERM)
	if exited == nil {
		c.t.Fatalf("testcluster: Stop(%d): node is not running", id)
	}
	start := time.Now()
	select {
	case <-exited:
	case <-time.After(c.opts.StopTimeout):
		c.t.Errorf("testcluster: node %d still running %s after SIGTERM: SIGKILLing it", id, c.opts.StopTimeout)
		c.Kill(id)
		return
	}
	c.mu.Lock()
	err := n.exitErr
	c.mu.Unlock()
	if err != nil {
		c.t.Errorf("testcluster: node %d exited with %v after SIGTERM, want a clean exit", id, err)
	}
	c.t.Logf("testcluster: node %d stopped by SIGTERM in %s", id, time.Since(start).Round(time.Millisecond))
}

// KillAll SIGKILLs every running node (e.g. before comparing replica logs
// offline: a SIGKILL loses nothing the processes wrote).
func (c *ProcessCluster) KillAll() {
	c.t.Helper()
	for _, id := range c.Nodes() {
		if c.Running(id) {
			c.Kill(id)
		}
	}
}

// signal marks n's exit as expected and sends it sig; it returns the
// channel closed when the process has been reaped, nil if it is not
// running.
func (c *ProcessCluster) signal(n *processNode, sig syscall.Signal) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !n.runningLocked() {
		return nil
	}
	n.expectExit = true
	if err := n.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Errorf("testcluster: signal node %d: %v", n.spec.id, err)
	}
	return n.exited
}

func (n *processNode) runningLocked() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Running tells whether node id's process is alive.
func (c *ProcessCluster) Running(id int32) bool {
	n := c.node(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.runningLocked()
}

// Nodes returns every node id, 1..Nodes.
func (c *ProcessCluster) Nodes() []int32 {
	ids := make([]int32, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.spec.id
	}
	return ids
}

// Controllers returns the ids of the controller (voter) nodes.
func (c *ProcessCluster) Controllers() []int32 {
	var ids []int32
	for _, n := range c.nodes {
		if n.spec.controller {
			ids = append(ids, n.spec.id)
		}
	}
	return ids
}

// Bootstrap returns the client addresses of the running nodes.
func (c *ProcessCluster) Bootstrap() []string {
	var addrs []string
	for _, n := range c.nodes {
		if c.Running(n.spec.id) {
			addrs = append(addrs, n.spec.clientAddr())
		}
	}
	return addrs
}

func (c *ProcessCluster) allClientAddrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.spec.clientAddr()
	}
	return addrs
}

// ClientAddr is node id's PLAINTEXT address.
func (c *ProcessCluster) ClientAddr(id int32) string { return c.node(id).spec.clientAddr() }

// ControllerAddr is node id's CONTROLLER address ("" for a broker-only node).
func (c *ProcessCluster) ControllerAddr(id int32) string {
	n := c.node(id)
	if !n.spec.controller {
		return ""
	}
	return n.spec.controllerAddr()
}

// DataDir is node id's log.dirs directory.
func (c *ProcessCluster) DataDir(id int32) string { return c.node(id).spec.dataDir }

// ConfigPath is node id's server.properties.
func (c *ProcessCluster) ConfigPath(id int32) string { return c.node(id).configPath }

// LogPath is the file collecting node id's stdout and stderr, over all its
// starts (each begins with a "=== testcluster: start" line).
func (c *ProcessCluster) LogPath(id int32) string { return c.node(id).logPath }

// Log returns node id's log so far.
func (c *ProcessCluster) Log(id int32) []byte {
	c.t.Helper()
	data, err := os.ReadFile(c.node(id).logPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		c.t.Fatalf("testcluster: read node %d log: %v", id, err)
	}
	return data
}

// logTail returns the end of n's log for failure messages.
func (c *ProcessCluster) logTail(n *processNode) string {
	data, err := os.ReadFile(n.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(data) > c.opts.LogTailBytes {
		data = data[len(data)-c.opts.LogTailBytes:]
		if i := strings.IndexByte(string(data), '\n'); i >= 0 {
			data = data[i+1:] // start at a whole line
		}
		return "...\n" + string(data)
	}
	return string(data)
}

// cleanup closes the clients, kills every node, reports nodes that exited
// on their own, and prints the log tails if the test failed.
func (c *ProcessCluster) cleanup() {
	c.query.Close()
	c.mu.Lock()
	for _, n := range c.nodes {
		if n.direct != nil {
			n.direct.Close()
			n.direct = nil
		}
	}
	c.mu.Unlock()
	for _, n := range c.nodes {
		if exited := c.signal(n, syscall.SIGKILL); exited != nil {
			select {
			case <-exited:
			case <-time.After(killTimeout):
				c.t.Errorf("testcluster: node %d still running %s after SIGKILL", n.spec.id, killTimeout)
			}
		}
	}
	c.mu.Lock()
	unexpected := c.unexpected
	c.mu.Unlock()
	for _, u := range unexpected {
		c.t.Errorf("testcluster: %s", u)
	}
	if c.t.Failed() {
		for _, n := range c.nodes {
			c.t.Logf("testcluster: node %d log (%s), last %d bytes:\n%s", n.spec.id, n.logPath, c.opts.LogTailBytes, c.logTail(n))
		}
	}
}

// UnexpectedExits lists the nodes that exited without Kill or Stop so far.
func (c *ProcessCluster) UnexpectedExits() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.unexpected...)
}
