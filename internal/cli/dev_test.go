package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testbin"
)

// devClusterTimeout bounds each wait of the dev cluster test.
const devClusterTimeout = 30 * time.Second

// freeDevBasePort finds a base port whose whole dev-cluster layout for
// nodes (client, controller and metrics ports) is free on 127.0.0.1,
// below the kernel's usual ephemeral range.
func freeDevBasePort(t *testing.T, nodes int) int {
	t.Helper()
	for range 200 {
		base := 20000 + rand.IntN(10000)
		layout := devLayout{Nodes: nodes, BasePort: base, Host: "127.0.0.1"}
		if checkDevPorts(layout) == nil {
			return base
		}
	}
	t.Fatal("no free port range for a dev cluster")
	return 0
}

// TestDevClusterRunsThreeNodes runs `sluice dev cluster` as a real process:
// three nodes come up, an RF=3 topic takes records with acks=all and gives
// them back, every replica joins the ISR, each node serves metrics, and
// SIGTERM stops all the nodes cleanly (exit 0, clean-shutdown markers).
func TestDevClusterRunsThreeNodes(t *testing.T) {
	isolateEnvironment(t)
	dir := t.TempDir()
	binary := testbin.Build(t, dir)
	clusterDir := filepath.Join(dir, "dev")
	base := freeDevBasePort(t, 3)

	logPath := filepath.Join(dir, "dev.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	dev := exec.Command(binary, "dev", "cluster", "--nodes", "3", "--dir", clusterDir, "--base-port", strconv.Itoa(base), "--host", "127.0.0.1")
	dev.Stderr = logFile
	dev.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	banner := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		var text strings.Builder
		for scanner.Scan() {
			text.WriteString(scanner.Text() + "\n")
			if strings.HasPrefix(scanner.Text(), "bootstrap: ") {
				banner <- text.String()
			}
		}
		io.Copy(io.Discard, stdout)
		exited <- dev.Wait()
	}()
	devLog := func() string {
		data, _ := os.ReadFile(logPath)
		return string(data)
	}
	t.Cleanup(func() {
		if dev.ProcessState == nil {
			dev.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(devClusterTimeout):
				dev.Process.Kill()
			}
		}
	})

	var printed string
	select {
	case printed = <-banner:
	case err := <-exited:
		t.Fatalf("dev cluster exited before it was up: %v\n%s", err, devLog())
	case <-time.After(devClusterTimeout):
		t.Fatalf("dev cluster not up after %s:\n%s", devClusterTimeout, devLog())
	}
	layout := devLayout{Nodes: 3, BasePort: base, Host: "127.0.0.1"}
	bootstrap := layout.bootstrap()
	if !strings.Contains(printed, "bootstrap: "+bootstrap+"\n") || !strings.Contains(printed, "node-3") {
		t.Fatalf("banner lacks the bootstrap string %s and the nodes:\n%s", bootstrap, printed)
	}

	ctx, cancel := context.WithTimeout(context.Background(), devClusterTimeout)
	defer cancel()
	client, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...), kgo.DefaultProduceTopic("replicated"),
		kgo.ConsumeTopics("replicated"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	created, err := kadm.NewClient(client).CreateTopic(ctx, 3, 3, nil, "replicated")
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatalf("create an RF=3 topic: %v", err)
	}
	const records = 30
	for i := range records {
		if err := client.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v\n%s", i, err, devLog())
		}
	}
	got := map[string]bool{}
	for len(got) < records {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), records, fetches.Errors())
		}
		fetches.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}

	// Every replica joins the ISR; topic describe then flags nothing.
	var described []topicDescription
	for {
		decodeJSON(t, mustRun(t, "", "topic", "describe", "replicated", "-o", "json", "--bootstrap", bootstrap), &described)
		if fullyReplicated(described[0]) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("ISR never complete: %+v", described[0].Partitions)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out := mustRun(t, "", "topic", "describe", "replicated", "--under-replicated", "--bootstrap", bootstrap).stdout; strings.Contains(out, "replicated") {
		t.Errorf("--under-replicated lists partitions of a fully replicated topic:\n%s", out)
	}

	// Each node serves metrics on its own port; together they lead the
	// three partitions and follow the other six.
	var leaders, lagSeries int
	for id := 1; id <= 3; id++ {
		body := scrapeURL(t, "http://"+layout.addr(layout.metricsPort(id))+"/metrics")
		leaders += int(seriesValue(t, body, "sluice_leader_partitions"))
		lagSeries += len(regexp.MustCompile(`(?m)^sluice_follower_lag_records\{partition="\d",topic="replicated"\}`).FindAllString(body, -1))
		if v := seriesValue(t, body, "sluice_offline_partitions"); v != 0 {
			t.Errorf("node-%d: sluice_offline_partitions = %v", id, v)
		}
	}
	if leaders < 3 {
		t.Errorf("the nodes lead %d partitions together, want at least the topic's 3", leaders)
	}
	if lagSeries > 6 {
		t.Errorf("%d follower lag series for the topic, want at most 6 (two followers per partition)", lagSeries)
	}

	start := time.Now()
	if err := dev.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("dev cluster exited with %v after SIGTERM, want 0:\n%s", err, devLog())
		}
	case <-time.After(devClusterTimeout):
		t.Fatalf("dev cluster still running %s after SIGTERM:\n%s", devClusterTimeout, devLog())
	}
	t.Logf("dev cluster stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	log := devLog()
	for id := 1; id <= 3; id++ {
		nodeDir := filepath.Join(clusterDir, "node-"+strconv.Itoa(id))
		if _, err := os.Stat(filepath.Join(nodeDir, cleanShutdownMarker)); err != nil {
			t.Errorf("node-%d left no clean-shutdown marker: %v", id, err)
		}
		if !strings.Contains(log, fmt.Sprintf("node-%d | ", id)) || !strings.Contains(log, "shutdown complete") {
			t.Errorf("node-%d's log lines are not forwarded with their prefix", id)
		}
	}
	if !strings.Contains(log, "the data stays in "+clusterDir) {
		t.Errorf("no goodbye naming the data directory:\n%s", log)
	}
}

func fullyReplicated(d topicDescription) bool {
	for _, p := range d.Partitions {
		if len(p.ISR) != 3 || p.UnderReplicated {
			return false
		}
	}
	return len(d.Partitions) == 3
}

func scrapeURL(t *testing.T, url string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics"), 5*time.Second)
	if err != nil {
		t.Fatalf("metrics at %s: %v", url, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
	data, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("metrics at %s: %v", url, err)
	}
	return string(data)
}

func seriesValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)\r?$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("series %s not exposed", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("series %s: %v", series, err)
	}
	return v
}

// A restart takes the layout the cluster was created with for the flags
// not given, and refuses a flag that contradicts it.
func TestDevLayoutIsKeptAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	if err := writeDevLayout(dir, devLayout{Nodes: 5, BasePort: 19092, Host: "localhost"}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (devLayout, error) {
		cmd := &cobra.Command{}
		flags := devLayout{Nodes: 3, BasePort: 9092, Host: "localhost"}
		cmd.Flags().IntVar(&flags.Nodes, "nodes", flags.Nodes, "")
		cmd.Flags().IntVar(&flags.BasePort, "base-port", flags.BasePort, "")
		cmd.Flags().StringVar(&flags.Host, "host", flags.Host, "")
		if err := cmd.Flags().Parse(args); err != nil {
			t.Fatal(err)
		}
		return resolveDevLayout(cmd, dir, flags)
	}
	if got, err := run(); err != nil || got != (devLayout{Nodes: 5, BasePort: 19092, Host: "localhost"}) {
		t.Errorf("no flags: %+v, %v; want the recorded layout", got, err)
	}
	if got, err := run("--nodes", "5"); err != nil || got.Nodes != 5 {
		t.Errorf("--nodes 5: %+v, %v", got, err)
	}
	if _, err := run("--nodes", "3"); err == nil || !strings.Contains(err.Error(), "created with --nodes 5") {
		t.Errorf("--nodes 3 against a 5-node cluster: %v", err)
	}
	if _, err := resolveDevLayout(&cobra.Command{}, t.TempDir(), devLayout{Nodes: 0, BasePort: 9092, Host: "x"}); err == nil {
		t.Error("--nodes 0 accepted")
	}
	if _, err := resolveDevLayout(&cobra.Command{}, t.TempDir(), devLayout{Nodes: 3, BasePort: 65400, Host: "x"}); err == nil {
		t.Error("ports above 65535 accepted")
	}
}

// Every node's server.properties parses as serve parses it, names all the
// voters and keeps the nodes' ports and directories apart; --set reaches
// every node.
func TestDevNodePropertiesFormACluster(t *testing.T) {
	dir := t.TempDir()
	layout := devLayout{Nodes: 3, BasePort: 9092, Host: "localhost"}
	nodes, err := prepareDevNodes(dir, layout, map[string]string{"min.insync.replicas": "2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		f, err := os.Open(n.configPath)
		if err != nil {
			t.Fatal(err)
		}
		props, err := config.LoadProperties(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.ParseBroker(props)
		if err != nil {
			t.Fatalf("node-%d: %v", n.id, err)
		}
		if int(cfg.NodeID) != n.id || len(cfg.ControllerQuorumVoters) != 3 || cfg.LogDirs[0] != filepath.Join(dir, "node-"+strconv.Itoa(n.id)) ||
			cfg.Listeners[0].Port != 9092+n.id-1 || cfg.MetricsListener != "localhost:"+strconv.Itoa(9292+n.id-1) ||
			cfg.TopicDefaults.MinInsyncReplicas != 2 || !cfg.IsBroker() || !cfg.IsController() {
			t.Errorf("node-%d config: %+v", n.id, cfg)
		}
	}
	if _, err := prepareDevNodes(t.TempDir(), layout, map[string]string{"no.such.key": "1"}); err == nil || !strings.Contains(err.Error(), "no.such.key") {
		t.Errorf("an unknown --set key: %v", err)
	}
}
