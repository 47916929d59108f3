package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
)

// The dev cluster's port layout: node i (1-based) listens for clients on
// base+i-1, for the controller quorum on base+controllerPortOffset+i-1 and
// serves /metrics on base+metricsPortOffset+i-1. The ranges do not overlap
// while nodes <= maxDevNodes.
const (
	controllerPortOffset = 100
	metricsPortOffset    = 200
	maxDevNodes          = 100
)

// devLayoutFile records, in the cluster directory, the shape a dev cluster
// was created with: its metadata quorum stores the voters' addresses, so a
// restart must use the same node count, host and ports.
const devLayoutFile = "dev-cluster.json"

// devStopTimeout bounds how long the dev cluster waits for its nodes after
// SIGTERM (a controlled shutdown waits up to 10 s for leaderships to move)
// before it SIGKILLs them.
const devStopTimeout = 30 * time.Second

// devReadyTimeout bounds the wait for every node to listen and register.
const devReadyTimeout = 60 * time.Second

// devLayout is the shape of a dev cluster.
type devLayout struct {
	Nodes    int    `json:"nodes"`
	BasePort int    `json:"base_port"`
	Host     string `json:"host"`
}

func newDevCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Development helpers: run a local multi-node cluster",
	}
	cmd.AddCommand(newDevClusterCommand())
	return cmd
}

// devClusterOptions are the flags of `sluice dev cluster`.
type devClusterOptions struct {
	layout   devLayout
	dir      string
	sets     []string
	logLevel string
}

func newDevClusterCommand() *cobra.Command {
	opts := devClusterOptions{layout: devLayout{Nodes: 3, BasePort: 9092, Host: "localhost"}}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local N-node cluster (combined broker+controller nodes) until Ctrl-C",
		Long: `Run a local cluster for development: N sluice serve processes on this
machine, each a combined broker and controller (process.roles=broker,controller)
voting in one metadata quorum.

Node i (1-based) gets
  client listener      HOST:BASE+i-1        (PLAINTEXT, what clients bootstrap from)
  controller listener  HOST:BASE+100+i-1    (CONTROLLER, the Raft quorum)
  metrics              HOST:BASE+200+i-1    (Prometheus /metrics)
  directory            DIR/node-i           (its data and its server.properties)

Each node's log lines are printed prefixed with its name. Ctrl-C (or SIGTERM)
stops every node with SIGTERM, a controlled shutdown, and waits for them; a
second Ctrl-C kills them at once. Running the command again with the same
--dir restarts the same cluster on its data: the node count, host and ports
are kept in DIR/` + devLayoutFile + ` and reused when the flags are not given.
--set applies any server.properties key to every node.`,
		Example: "  sluice dev cluster\n" +
			"  sluice dev cluster --nodes 5 --dir /tmp/sluice-dev --base-port 19092\n" +
			"  sluice dev cluster --set min.insync.replicas=2 --set default.replication.factor=3",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevCluster(cmd, opts)
		},
	}
	flags := cmd.Flags()
	flags.IntVar(&opts.layout.Nodes, "nodes", opts.layout.Nodes, "how many nodes (each a broker and a controller)")
	flags.StringVar(&opts.dir, "dir", "./sluice-dev", "directory for the nodes' data and configs (node-1, node-2, ...)")
	flags.IntVar(&opts.layout.BasePort, "base-port", opts.layout.BasePort, "client port of node 1; node i listens on base+i-1")
	flags.StringVar(&opts.layout.Host, "host", opts.layout.Host, "host name or address every node listens on and advertises")
	flags.StringArrayVar(&opts.sets, "set", nil, "set a config key on every node: --set log.retention.hours=1 (repeatable)")
	flags.StringVar(&opts.logLevel, "log-level", "info", "the nodes' log level: debug, info, warn or error")
	return cmd
}

// devNode is one node of the dev cluster.
type devNode struct {
	id         int
	dir        string
	configPath string
	clientAddr string
	props      map[string]string

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	err    error         // cmd.Wait's result, set before exited closes
}

func (n *devNode) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

func runDevCluster(cmd *cobra.Command, opts devClusterOptions) error {
	dir, err := filepath.Abs(opts.dir)
	if err != nil {
		return fmt.Errorf("--dir %s: %w", opts.dir, err)
	}
	layout, err := resolveDevLayout(cmd, dir, opts.layout)
	if err != nil {
		return err
	}
	extra, err := parseSets(opts.sets)
	if err != nil {
		return err
	}
	nodes, err := prepareDevNodes(dir, layout, extra)
	if err != nil {
		return err
	}
	if err := checkDevPorts(layout); err != nil {
		return err
	}
	if err := writeDevLayout(dir, layout); err != nil {
		return err
	}
	binary, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the sluice binary to start the nodes with: %w", err)
	}
	// Further signals after the first (which cancels the command's
	// context) kill the nodes at once.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	logs := &prefixedLogs{w: cmd.ErrOrStderr()}
	for _, n := range nodes {
		if err := startDevNode(n, binary, opts.logLevel, logs); err != nil {
			stopDevNodes(cmd, nodes, signals)
			return err
		}
	}
	// The first SIGINT or SIGTERM both cancels the command's context and
	// arrives on signals; stopping starts on either, and only a signal
	// after that one kills.
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	go func() {
		select {
		case <-signals:
		case <-ctx.Done():
			consumeSignal(signals)
		}
		cancel()
	}()
	if err := waitDevReady(ctx, nodes); err != nil {
		interrupted := ctx.Err() != nil
		cancel()
		stopDevNodes(cmd, nodes, signals)
		if interrupted {
			return nil
		}
		return err
	}
	printDevBanner(cmd.OutOrStdout(), dir, layout, nodes)

	failed := waitDevDone(ctx, nodes)
	cancel()
	if failed != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "sluice dev cluster: node-%d exited on its own (%v): stopping the others\n", failed.id, failed.err)
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "sluice dev cluster: stopping %d nodes (controlled shutdown)...\n", len(nodes))
	}
	stopErr := stopDevNodes(cmd, nodes, signals)
	if failed != nil {
		return fmt.Errorf("node-%d exited on its own: %v (its log is above)", failed.id, failed.err)
	}
	if stopErr != nil {
		return stopErr
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "sluice dev cluster: stopped; the data stays in %s for the next start\n", dir)
	return nil
}

// resolveDevLayout reconciles the flags with the layout a previous run
// recorded: a flag not given takes the recorded value, a flag given with
// another value is refused (the quorum would not form).
func resolveDevLayout(cmd *cobra.Command, dir string, flags devLayout) (devLayout, error) {
	layout := flags
	data, err := os.ReadFile(filepath.Join(dir, devLayoutFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return devLayout{}, fmt.Errorf("read %s: %w", devLayoutFile, err)
	default:
		var recorded devLayout
		if err := json.Unmarshal(data, &recorded); err != nil {
			return devLayout{}, fmt.Errorf("read %s: %w", filepath.Join(dir, devLayoutFile), err)
		}
		for _, f := range []struct {
			flag        string
			given, kept any
			set         func()
		}{
			{"nodes", flags.Nodes, recorded.Nodes, func() { layout.Nodes = recorded.Nodes }},
			{"base-port", flags.BasePort, recorded.BasePort, func() { layout.BasePort = recorded.BasePort }},
			{"host", flags.Host, recorded.Host, func() { layout.Host = recorded.Host }},
		} {
			if !cmd.Flags().Changed(f.flag) {
				f.set()
				continue
			}
			if f.given != f.kept {
				return devLayout{}, fmt.Errorf("--%s %v: the cluster in %s was created with --%s %v; "+
					"use that (or leave the flag out), or remove the directory to start a new cluster", f.flag, f.given, dir, f.flag, f.kept)
			}
		}
	}
	switch {
	case layout.Nodes < 1 || layout.Nodes > maxDevNodes:
		return devLayout{}, fmt.Errorf("--nodes %d: want 1 to %d", layout.Nodes, maxDevNodes)
	case layout.BasePort < 1 || layout.BasePort+metricsPortOffset+layout.Nodes-1 > 65535:
		return devLayout{}, fmt.Errorf("--base-port %d: the nodes' ports run up to base+%d, which must stay at most 65535", layout.BasePort, metricsPortOffset+layout.Nodes-1)
	case strings.TrimSpace(layout.Host) == "":
		return devLayout{}, errors.New("--host: want a host name or address")
	}
	return layout, nil
}

func writeDevLayout(dir string, layout devLayout) error {
	data, err := json.MarshalIndent(layout, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, devLayoutFile), append(data, '\n'), 0o644)
}

// parseSets reads --set key=value pairs.
func parseSets(sets []string) (map[string]string, error) {
	out := make(map[string]string, len(sets))
	for _, kv := range sets {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return nil, fmt.Errorf("--set %q: want key=value", kv)
		}
		out[strings.TrimSpace(key)] = value
	}
	return out, nil
}

func (l devLayout) clientPort(id int) int     { return l.BasePort + id - 1 }
func (l devLayout) controllerPort(id int) int { return l.BasePort + controllerPortOffset + id - 1 }
func (l devLayout) metricsPort(id int) int    { return l.BasePort + metricsPortOffset + id - 1 }

func (l devLayout) addr(port int) string { return net.JoinHostPort(l.Host, strconv.Itoa(port)) }

// bootstrap is every node's client address, comma-separated.
func (l devLayout) bootstrap() string {
	addrs := make([]string, l.Nodes)
	for i := range addrs {
		addrs[i] = l.addr(l.clientPort(i + 1))
	}
	return strings.Join(addrs, ",")
}

// devNodeProperties is node id's server.properties: a combined node of a
// cluster whose voters are all the nodes, extra applied last.
func devNodeProperties(l devLayout, id int, dataDir string, extra map[string]string) map[string]string {
	voters := make([]string, l.Nodes)
	for i := range voters {
		voters[i] = strconv.Itoa(i+1) + "@" + l.addr(l.controllerPort(i+1))
	}
	client := "PLAINTEXT://" + l.addr(l.clientPort(id))
	props := map[string]string{
		"node.id":                        strconv.Itoa(id),
		"process.roles":                  "broker,controller",
		"controller.quorum.voters":       strings.Join(voters, ","),
		"listeners":                      client + ",CONTROLLER://" + l.addr(l.controllerPort(id)),
		"advertised.listeners":           client,
		"controller.listener.names":      "CONTROLLER",
		"inter.broker.listener.name":     "PLAINTEXT",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs":                       dataDir,
		"sluice.metrics.listener":        l.addr(l.metricsPort(id)),
	}
	maps.Copy(props, extra)
	return props
}

// prepareDevNodes creates the nodes' directories and writes their
// server.properties, after checking each parses as `serve` would.
func prepareDevNodes(dir string, layout devLayout, extra map[string]string) ([]*devNode, error) {
	nodes := make([]*devNode, layout.Nodes)
	for i := range nodes {
		id := i + 1
		n := &devNode{id: id, dir: filepath.Join(dir, "node-"+strconv.Itoa(id)), clientAddr: layout.addr(layout.clientPort(id))}
		n.configPath = filepath.Join(n.dir, "server.properties")
		n.props = devNodeProperties(layout, id, n.dir, extra)
		if _, err := config.ParseBroker(n.props); err != nil {
			return nil, fmt.Errorf("node-%d: %w", id, err)
		}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return nil, fmt.Errorf("node-%d: %w", id, err)
		}
		if err := os.WriteFile(n.configPath, []byte(renderDevProperties(n.props)), 0o644); err != nil {
			return nil, fmt.Errorf("node-%d: %w", id, err)
		}
		nodes[i] = n
	}
	return nodes, nil
}

// renderDevProperties writes props as server.properties, keys sorted.
func renderDevProperties(props map[string]string) string {
	var b strings.Builder
	b.WriteString("# Written by `sluice dev cluster` at every start (edits here are overwritten:\n")
	b.WriteString("# pass --set key=value instead). Kafka's KRaft key names.\n")
	for _, key := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", key, props[key])
	}
	return b.String()
}

// checkDevPorts fails early, naming the port, when one is taken (another
// dev cluster or broker is running).
func checkDevPorts(l devLayout) error {
	for id := 1; id <= l.Nodes; id++ {
		for _, p := range []struct {
			what string
			port int
		}{{"client", l.clientPort(id)}, {"controller", l.controllerPort(id)}, {"metrics", l.metricsPort(id)}} {
			ln, err := net.Listen("tcp", l.addr(p.port))
			if err != nil {
				return fmt.Errorf("node-%d's %s port %s is not free (another cluster running? pick other ports with --base-port): %w",
					id, p.what, l.addr(p.port), err)
			}
			ln.Close()
		}
	}
	return nil
}

// startDevNode runs `sluice serve --config` for n, its output prefixed
// into logs. SLUICE_* variables are not passed on: they would override
// the node's server.properties for every node alike (node.id, log.dirs).
func startDevNode(n *devNode, binary, logLevel string, logs *prefixedLogs) error {
	c := exec.Command(binary, "serve", "--config", n.configPath, "--log-level", logLevel)
	c.Env = withoutSluiceVariables(os.Environ())
	out := logs.writer(fmt.Sprintf("node-%d | ", n.id))
	c.Stdout, c.Stderr = out, out
	configureDevChild(c)
	if err := c.Start(); err != nil {
		return fmt.Errorf("start node-%d: %w", n.id, err)
	}
	n.cmd, n.exited = c, make(chan struct{})
	go func() {
		n.err = c.Wait()
		out.flush()
		close(n.exited)
	}()
	return nil
}

func withoutSluiceVariables(environ []string) []string {
	env := make([]string, 0, len(environ))
	for _, v := range environ {
		if !strings.HasPrefix(v, "SLUICE_") {
			env = append(env, v)
		}
	}
	return env
}

// waitDevReady waits until every node accepts connections and the
// cluster's metadata lists every node as a broker.
func waitDevReady(ctx context.Context, nodes []*devNode) error {
	ctx, cancel := context.WithTimeout(ctx, devReadyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	wait := func(ready func() bool) error {
		for !ready() {
			for _, n := range nodes {
				if !n.running() {
					return fmt.Errorf("node-%d exited while starting (%v): its log is above", n.id, n.err)
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the cluster was not up after %s: %w", devReadyTimeout, ctx.Err())
			case <-tick.C:
			}
		}
		return nil
	}
	if err := wait(func() bool { return allListening(nodes) }); err != nil {
		return err
	}
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.clientAddr
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return err
	}
	defer client.Close()
	return wait(func() bool { return brokersRegistered(ctx, client) == len(nodes) })
}

func allListening(nodes []*devNode) bool {
	for _, n := range nodes {
		conn, err := net.DialTimeout("tcp", n.clientAddr, time.Second)
		if err != nil {
			return false
		}
		conn.Close()
	}
	return true
}

// brokersRegistered is how many brokers the cluster's metadata lists (0 on
// an error).
func brokersRegistered(ctx context.Context, client *kgo.Client) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, client)
	if err != nil {
		return 0
	}
	return len(resp.Brokers)
}

func printDevBanner(w io.Writer, dir string, l devLayout, nodes []*devNode) {
	t := newTableWriter(w)
	t.line("Sluice dev cluster: %d nodes up (data and configs in %s)", len(nodes), dir)
	t.row("NODE", "CLIENT", "CONTROLLER", "METRICS", "CONFIG")
	for _, n := range nodes {
		t.row("node-"+strconv.Itoa(n.id), n.clientAddr, l.addr(l.controllerPort(n.id)),
			"http://"+l.addr(l.metricsPort(n.id))+"/metrics", n.configPath)
	}
	t.flush()
	fmt.Fprintf(w, "bootstrap: %s\n", l.bootstrap())
	fmt.Fprintf(w, "  export %s=%s\n", bootstrapEnv, l.bootstrap())
	fmt.Fprintf(w, "  sluice topic create demo --partitions 3 --replication-factor %d\n", min(3, l.Nodes))
	fmt.Fprintln(w, "Ctrl-C stops the cluster.")
}

// consumeSignal takes the signal that cancelled the command's context off
// signals (it arrives on both), so that it does not count as a second one;
// a context cancelled otherwise sends none, hence the bound.
func consumeSignal(signals <-chan os.Signal) {
	select {
	case <-signals:
	case <-time.After(time.Second):
	}
}

// waitDevDone waits for the command's context to end (Ctrl-C, SIGTERM)
// or a node to exit on its own, which it returns.
func waitDevDone(ctx context.Context, nodes []*devNode) *devNode {
	exited := make(chan *devNode, len(nodes))
	for _, n := range nodes {
		go func() {
			select {
			case <-n.exited:
				exited <- n
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case n := <-exited:
		return n
	}
}

// stopDevNodes sends every running node SIGTERM at once and waits for
// them; a signal received meanwhile, or devStopTimeout, SIGKILLs the rest.
func stopDevNodes(cmd *cobra.Command, nodes []*devNode, signals <-chan os.Signal) error {
	for _, n := range nodes {
		if n.cmd != nil && n.running() {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	timeout := time.NewTimer(devStopTimeout)
	defer timeout.Stop()
	var problems []error
	for _, n := range nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.exited:
		case <-signals:
			fmt.Fprintln(cmd.ErrOrStderr(), "sluice dev cluster: killing the nodes")
			killDevNodes(nodes)
			<-n.exited
		case <-timeout.C:
			fmt.Fprintf(cmd.ErrOrStderr(), "sluice dev cluster: nodes still running %s after SIGTERM: killing them\n", devStopTimeout)
			killDevNodes(nodes)
			<-n.exited
		}
	}
	for _, n := range nodes {
		if n.cmd != nil && n.err != nil {
			problems = append(problems, fmt.Errorf("node-%d: %v", n.id, n.err))
		}
	}
	return errors.Join(problems...)
}

func killDevNodes(nodes []*devNode) {
	for _, n := range nodes {
		if n.cmd != nil && n.running() {
			_ = n.cmd.Process.Kill()
		}
	}
}

// prefixedLogs interleaves the nodes' output line by line, each line
// prefixed with its node's name.
type prefixedLogs struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *prefixedLogs) writer(prefix string) *prefixWriter {
	return &prefixWriter{logs: l, prefix: prefix}
}

// prefixWriter is one node's output: complete lines go out at once, a
// partial line waits for its end (or for flush, when the node exits).
// exec.Cmd writes to it from one goroutine.
type prefixWriter struct {
	logs    *prefixedLogs
	prefix  string
	pending []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.pending = append(p.pending, b...)
	end := bytes.LastIndexByte(p.pending, '\n')
	if end < 0 {
		return len(b), nil
	}
	p.emit(p.pending[:end+1])
	p.pending = append(p.pending[:0], p.pending[end+1:]...)
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.pending) > 0 {
		p.emit(append(p.pending, '\n'))
		p.pending = p.pending[:0]
	}
}

func (p *prefixWriter) emit(lines []byte) {
	var out bytes.Buffer
	for line := range bytes.Lines(lines) {
		out.WriteString(p.prefix)
		out.Write(line)
	}
	p.logs.mu.Lock()
	defer p.logs.mu.Unlock()
	_, _ = p.logs.w.Write(out.Bytes())
}
