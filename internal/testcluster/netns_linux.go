//go:build linux

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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A process cluster with ProcessOptions.NetNS runs each node in a network
// namespace of its own, wired to a private switch, so that a test can cut a
// node off the network while it keeps running:
//
//	            switch namespace <prefix>-sw
//	+-----------------------------------------------------+
//	|  br0 (Linux bridge) 10.213.S.254/24: the test's end |
//	|    |            |             |                     |
//	|   n1           n2            n3        (veth ends)  |
//	+----|------------|-------------|---------------------+
//	     |            |             |
//	   eth0         eth0          eth0      (their peers)
//	10.213.S.1   10.213.S.2    10.213.S.3
//	<prefix>-n1  <prefix>-n2   <prefix>-n3  (node namespaces)
//
// Every name, interface, address and route exists only inside namespaces
// the harness made itself: nothing in the root namespace is touched (no
// interface, address, route or firewall rule), and there is no default
// route anywhere, so no node can send a packet beyond the switch. The
// prefix is sluice-<test binary's pid>-<cluster number>, so parallel test
// binaries never share a name, and a run that was killed before its
// cleanups can be recognised (its pid is gone) and removed by the next.
//
// Nodes run under `ip netns exec <node namespace>`, listen on and
// advertise 10.213.S.<id>, client port 9092 and CONTROLLER port 9093 (each
// namespace has its own ports, so nothing has to be picked and a restart
// can never find its port taken).
//
// The test process stays in the root namespace, which has no route to the
// switch. Its clients still reach the nodes directly: their dialer
// (netnsNetwork.dial) opens each TCP socket on an OS thread that has
// entered the switch namespace with setns(2) for the one socket(2) call,
// and a socket belongs to the namespace it was created in for its whole
// life, whichever thread uses it later. That was chosen over the two
// other ways in: a veth pair from the root namespace into the bridge
// would put an interface, an address and a route into the host's own
// network (where they could collide with a real 10.213.x network, and
// leak if the test were killed), and a TCP forwarder would be one more
// process to supervise while kgo would still have to be taught to map
// the brokers' advertised addresses to the forwarder's. With the dialer,
// kgo connects to exactly the addresses the brokers advertise. The test's
// connections come from the switch's own address, 10.213.S.254.
//
// Isolate installs iptables rules in the node's namespace that drop every
// packet to or from eth0 except those of the test's address: the node
// can no longer reach any other node, nor they it (replication, Raft,
// heartbeats all stop, silently, as with a pulled cable), while the
// test's clients can still talk to it, as clients on the node's side of a
// split would. Heal restores an empty rule set.
const (
	netnsPrefix  = "sluice-"
	netnsRunDir  = "/run/netns" // where `ip netns add` names namespaces
	netnsSubnet  = "10.213."    // + <pid-derived byte>.<host>
	switchBridge = "br0"
	nodeIface    = "eth0"
	// switchHost is the switch's own address on the bridge, the one the
	// test's clients connect from.
	switchHost         = 254
	nodeClientPort     = 9092
	nodeControllerPort = 9093
	// netnsCommandTimeout bounds one ip or iptables-restore command.
	netnsCommandTimeout = 15 * time.Second
)

// netnsClusters numbers the namespace sets made by this test binary.
var netnsClusters atomic.Int32

// staleNetNS matches the harness's namespace names and captures the pid
// of the test binary that made them.
var staleNetNS = regexp.MustCompile(`^sluice-([0-9]+)-[0-9]+-(sw|n[0-9]+)$`)

// netnsNetwork is one cluster's set of namespaces.
type netnsNetwork struct {
	t               testing.TB
	ip              string // path of ip (iproute2)
	iptablesRestore string // path of iptables-restore
	prefix          string // sluice-<pid>-<n>
	subnet          string // 10.213.S.
	switchNS        string
	nodeNS          map[int32]string

	// mu guards the namespace files against cleanup while a dial is
	// switching a thread.
	mu       sync.RWMutex
	switchFD *os.File // the switch namespace, entered to create sockets
	homeFD   *os.File // the test process's own namespace, to come back to
	created  []string // namespaces made so far, deleted by cleanup
}

// setupNetNS makes the switch and one namespace per node id, or skips the
// test saying why it cannot (not root, ip or iptables missing, namespaces
// refused by the kernel or the sandbox).
func setupNetNS(t testing.TB, ids []int32) *netnsNetwork {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testcluster: ProcessOptions.NetNS needs root (network namespaces, veth pairs, iptables)")
	}
	n := &netnsNetwork{t: t, nodeNS: map[int32]string{}}
	var missing []string
	if n.ip = lookTool("ip"); n.ip == "" {
		missing = append(missing, "ip (Debian package iproute2)")
	}
	if n.iptablesRestore = lookTool("iptables-restore"); n.iptablesRestore == "" {
		missing = append(missing, "iptables-restore (Debian package iptables)")
	}
	if len(missing) > 0 {
		t.Skipf("testcluster: ProcessOptions.NetNS needs %s; bash scripts/test-deps.sh installs what is missing", strings.Join(missing, " and "))
	}
	n.removeStale()

	pid := os.Getpid()
	seq := int(netnsClusters.Add(1))
	n.prefix = fmt.Sprintf("%s%d-%d", netnsPrefix, pid, seq)
	n.subnet = fmt.Sprintf("%s%d.", netnsSubnet, (pid+seq)%256)
	n.switchNS = n.prefix + "-sw"
	t.Cleanup(n.cleanup) // before anything exists: it removes whatever was made

	if err := n.run("", "netns", "add", n.switchNS); err != nil {
		t.Skipf("testcluster: cannot create a network namespace here: %v", err)
	}
	n.created = append(n.created, n.switchNS)
	n.must("", "-n", n.switchNS, "link", "set", "lo", "up")
	n.must("", "-n", n.switchNS, "link", "add", switchBridge, "type", "bridge")
	n.must("", "-n", n.switchNS, "addr", "add", n.host(switchHost)+"/24", "dev", switchBridge)
	n.must("", "-n", n.switchNS, "link", "set", switchBridge, "up")
	for _, id := range ids {
		if id < 1 || id >= switchHost {
			t.Fatalf("testcluster: NetNS supports node ids 1..%d, not %d", switchHost-1, id)
		}
		ns := fmt.Sprintf("%s-n%d", n.prefix, id)
		n.must("", "netns", "add", ns)
		n.created = append(n.created, ns)
		n.nodeNS[id] = ns
		port := fmt.Sprintf("n%d", id)
		n.must("", "-n", ns, "link", "set", "lo", "up")
		// Made in the switch namespace with its peer straight in the
		// node's: the pair never exists in the root namespace.
		n.must("", "-n", n.switchNS, "link", "add", port, "type", "veth", "peer", "name", nodeIface, "netns", ns)
		n.must("", "-n", n.switchNS, "link", "set", port, "master", switchBridge, "up")
		n.must("", "-n", ns, "addr", "add", n.host(int(id))+"/24", "dev", nodeIface)
		n.must("", "-n", ns, "link", "set", nodeIface, "up")
	}
	// iptables may be installed yet unusable (a kernel without netfilter):
	// that is a reason to skip, found before any node starts.
	if len(ids) > 0 {
		if err := n.restoreRules(ids[0], openRules); err != nil {
			t.Skipf("testcluster: iptables does not work in a network namespace here: %v", err)
		}
	}
	var err error
	if n.switchFD, err = os.Open(filepath.Join(netnsRunDir, n.switchNS)); err != nil {
		t.Fatalf("testcluster: open the switch namespace: %v", err)
	}
	if n.homeFD, err = os.Open("/proc/self/ns/net"); err != nil {
		t.Fatalf("testcluster: open the test's own network namespace: %v", err)
	}
	t.Logf("testcluster: network namespaces %s-{sw,n1..n%d}, nodes on %s1..%d, the test's clients from %s",
		n.prefix, len(ids), n.subnet, len(ids), n.host(switchHost))
	return n
}

// lookTool finds a system tool on PATH or in the sbin directories, which
// a non-login root shell may lack on PATH.
func lookTool(name string) string {
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return path
		}
	}
	return ""
}

func (n *netnsNetwork) host(h int) string { return n.subnet + strconv.Itoa(h) }

// nodeHost is node id's address inside its namespace.
func (n *netnsNetwork) nodeHost(id int32) string { return n.host(int(id)) }

func (n *netnsNetwork) clientPort() int     { return nodeClientPort }
func (n *netnsNetwork) controllerPort() int { return nodeControllerPort }

// command runs name args... in node id's namespace.
func (n *netnsNetwork) command(id int32, name string, args ...string) *exec.Cmd {
	return exec.Command(n.ip, append([]string{"netns", "exec", n.nodeNS[id], name}, args...)...)
}

// run runs ip with args (stdin fed to it), returning an error with its
// output if it fails.
func (n *netnsNetwork) run(stdin string, args ...string) error {
	return n.runTool(stdin, n.ip, args...)
}

func (n *netnsNetwork) runTool(stdin, tool string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), netnsCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", filepath.Base(tool), strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// must is run failing the test.
func (n *netnsNetwork) must(stdin string, args ...string) {
	n.t.Helper()
	if err := n.run(stdin, args...); err != nil {
		n.t.Fatalf("testcluster: %v", err)
	}
}

// openRules is an empty filter table: every packet passes.
const openRules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"

// isolatedRules drops everything on the node's link except the test's own
// traffic (from and to the switch's address).
func (n *netnsNetwork) isolatedRules() string {
	test := n.host(switchHost)
	return "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n" +
		"-A INPUT -i " + nodeIface + " -s " + test + " -j ACCEPT\n" +
		"-A INPUT -i " + nodeIface + " -j DROP\n" +
		"-A OUTPUT -o " + nodeIface + " -d " + test + " -j ACCEPT\n" +
		"-A OUTPUT -o " + nodeIface + " -j DROP\n" +
		"COMMIT\n"
}

// restoreRules replaces node id's filter table with rules, atomically.
func (n *netnsNetwork) restoreRules(id int32, rules string) error {
	ns, ok := n.nodeNS[id]
	if !ok {
		return fmt.Errorf("no network namespace for node %d", id)
	}
	return n.run(rules, "netns", "exec", ns, n.iptablesRestore, "--wait")
}

func (n *netnsNetwork) isolate(id int32) error { return n.restoreRules(id, n.isolatedRules()) }
func (n *netnsNetwork) heal(id int32) error    { return n.restoreRules(id, openRules) }

// dial connects to address from the switch namespace (see the package
// comment above): the socket is created on a thread locked to this
// goroutine and moved into the switch namespace, which goes back to the
// test's namespace before the thread is released. If it cannot go back,
// the thread stays locked and the runtime ends it with the goroutine.
func (n *netnsNetwork) dial(ctx context.Context, network, address string) (net.Conn, error) {
	type dialed struct {
		conn net.Conn
		err  error
	}
	done := make(chan dialed, 1)
	go func() {
		runtime.LockOSThread()
		n.mu.RLock()
		if n.switchFD == nil {
			n.mu.RUnlock()
			done <- dialed{err: errors.New("testcluster: the cluster's network namespaces are gone")}
			return // the thread, never moved, ends locked: harmless
		}
		if err := setns(n.switchFD); err != nil {
			n.mu.RUnlock()
			done <- dialed{err: fmt.Errorf("testcluster: enter the switch namespace: %w", err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, address)
		back := setns(n.homeFD)
		n.mu.RUnlock()
		done <- dialed{conn: conn, err: err}
		if back == nil {
			runtime.UnlockOSThread()
		}
	}()
	r := <-done
	return r.conn, r.err
}

// setns moves the calling thread into the network namespace of f.
func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// cleanup kills anything still running in the namespaces (the process
// cluster's own cleanup has killed the nodes by then) and deletes them,
// which deletes their veth pairs and the bridge with them.
func (n *netnsNetwork) cleanup() {
	n.mu.Lock()
	for _, f := range []*os.File{n.switchFD, n.homeFD} {
		if f != nil {
			f.Close()
		}
	}
	n.switchFD, n.homeFD = nil, nil
	n.mu.Unlock()
	for i := len(n.created) - 1; i >= 0; i-- {
		if err := n.deleteNamespace(n.created[i]); err != nil {
			n.t.Errorf("testcluster: %v", err)
		}
	}
	n.created = nil
}

// deleteNamespace SIGKILLs the processes in ns (never this test binary)
// and deletes it.
func (n *netnsNetwork) deleteNamespace(ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), netnsCommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, n.ip, "netns", "pids", ns).Output()
	if err == nil {
		for _, field := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(field); err == nil && pid != os.Getpid() && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL) // gone already is fine
			}
		}
	}
	return n.run("", "netns", "del", ns)
}

// removeStale deletes namespaces left by earlier test binaries that died
// before their cleanups ran (SIGKILL, go test's -timeout): those whose
// pid no longer runs.
func (n *netnsNetwork) removeStale() {
	entries, err := os.ReadDir(netnsRunDir)
	if err != nil {
		return // no namespace was ever named on this machine
	}
	for _, e := range entries {
		m := staleNetNS.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := n.deleteNamespace(e.Name()); err != nil {
			n.t.Logf("testcluster: stale namespace %s: %v", e.Name(), err)
			continue
		}
		n.t.Logf("testcluster: removed network namespace %s left by dead test process %d", e.Name(), pid)
	}
}

// processAlive tells whether a process with pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
