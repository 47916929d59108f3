package testcluster

import (
	"context"
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

func TestNodePropertiesOfMixedRoles(t *testing.T) {
	specs := []nodeSpec{
		{id: 1, controller: true, clientPort: 9001, controllerPort: 9101, dataDir: "/d/1"},
		{id: 2, controller: true, clientPort: 9002, controllerPort: 9102, dataDir: "/d/2"},
		{id: 3, clientPort: 9003, dataDir: "/d/3"},
	}
	voters := quorumVoters(specs)
	if want := "1@127.0.0.1:9101,2@127.0.0.1:9102"; voters != want {
		t.Errorf("voters = %q, want %q", voters, want)
	}
	controller := nodeProperties(specs[0], voters, map[string]string{"min.insync.replicas": "2"}, map[string]string{"broker.rack": "a"})
	for key, want := range map[string]string{
		"node.id":                        "1",
		"process.roles":                  "broker,controller",
		"listeners":                      "PLAINTEXT://127.0.0.1:9001,CONTROLLER://127.0.0.1:9101",
		"advertised.listeners":           "PLAINTEXT://127.0.0.1:9001",
		"controller.listener.names":      "CONTROLLER",
		"inter.broker.listener.name":     "PLAINTEXT",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"controller.quorum.voters":       voters,
		"log.dirs":                       "/d/1",
		"sluice.metrics.listener":        "",
		"min.insync.replicas":            "2",
		"broker.rack":                    "a",
	} {
		if got, ok := controller[key]; !ok || got != want {
			t.Errorf("controller %s = %q (set %v), want %q", key, got, ok, want)
		}
	}
	broker := nodeProperties(specs[2], voters, map[string]string{"process.roles": "broker"})
	if broker["process.roles"] != "broker" || broker["listeners"] != "PLAINTEXT://127.0.0.1:9003" {
		t.Errorf("broker-only node: roles %q, listeners %q", broker["process.roles"], broker["listeners"])
	}
	single := nodeProperties(specs[0], "")
	if _, ok := single["controller.quorum.voters"]; ok {
		t.Error("no voters given, but controller.quorum.voters is set")
	}
	text := renderProperties(controller)
	if !strings.Contains(text, "\nsluice.metrics.listener=\n") || !strings.Contains(text, "\nnode.id=1\n") {
		t.Errorf("rendered properties lack keys:\n%s", text)
	}
}

func TestChildEnvDropsSluiceVariables(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "SLUICE_LOG_DIRS=/x", "HOME=/h", "SLUICE_NODE_ID=4"})
	if strings.Join(got, " ") != "PATH=/bin HOME=/h" {
		t.Errorf("childEnv = %q", got)
	}
}

// writeReplica appends batches (one record each, with the given values)
// to a fresh log of t-0 under logDir and closes it.
func writeReplica(t *testing.T, fs vfs.FS, logDir string, epoch int32, values ...string) {
	t.Helper()
	dir := path.Join(logDir, "t-0")
	if err := fs.MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	l, err := storage.Open(fs, dir, storage.DefaultConfig(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		batch, err := record.AppendBatch(nil, record.NewBatchSpec(), []record.RecordSpec{{Timestamp: 1000, Value: []byte(v)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(batch, epoch); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func readReplica(t *testing.T, fs vfs.FS, node int32, logDir string) ReplicaLog {
	t.Helper()
	rl, err := ReadReplicaLog(fs, logDir, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	rl.Node = node
	return rl
}

// TestDiffReplicaLogs checks the comparison finds each kind of
// difference, and none between identical replicas.
func TestDiffReplicaLogs(t *testing.T) {
	fs := vfs.NewMem()
	writeReplica(t, fs, "/1", 3, "a", "b", "c")
	writeReplica(t, fs, "/2", 3, "a", "b", "c")
	writeReplica(t, fs, "/3", 3, "a", "b")
	writeReplica(t, fs, "/4", 3, "a", "x", "c")
	writeReplica(t, fs, "/5", 4, "a", "b", "c")
	one, two := readReplica(t, fs, 1, "/1"), readReplica(t, fs, 2, "/2")
	if one.LogEndOffset != 3 || len(one.Batches) != 3 || one.Batches[2].BaseOffset != 2 || one.Batches[2].LeaderEpoch != 3 {
		t.Fatalf("replica 1 read as LEO %d, batches %+v", one.LogEndOffset, one.Batches)
	}
	if err := DiffReplicaLogs([]ReplicaLog{one, two}); err != nil {
		t.Errorf("identical replicas differ: %v", err)
	}
	for _, tc := range []struct {
		node int32
		dir  string
		want string
	}{
		{3, "/3", "node 3's log ends at offset 2; node 1 continues with the batch at offsets 2-2"},
		{4, "/4", "first difference at offset 1"},
		{5, "/5", "partitionLeaderEpoch"},
	} {
		err := DiffReplicaLogs([]ReplicaLog{one, two, readReplica(t, fs, tc.node, tc.dir)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("replica %d: diff = %v, want it to contain %q", tc.node, err, tc.want)
		}
	}
	if _, err := ReadReplicaLog(fs, "/6", "t", 0); err == nil {
		t.Error("reading a missing replica succeeded")
	}
}

// TestProcessClusterSingleNode runs the process harness as far as it works
// before cluster mode: one node without voters (a plain `sluice serve`)
// starts, serves, survives Kill and Start on the same data and port, stops
// cleanly on SIGTERM, and its log can be read offline.
func TestProcessClusterSingleNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	c := StartProcesses(t, ProcessOptions{Nodes: 1, NoQuorumVoters: true, ExtraConfig: map[string]string{"num.partitions": "1"}})
	if got := c.Bootstrap(); len(got) != 1 || got[0] != c.ClientAddr(1) {
		t.Fatalf("Bootstrap() = %v, want [%s]", got, c.ClientAddr(1))
	}
	config, err := os.ReadFile(c.ConfigPath(1))
	if err != nil || !strings.Contains(string(config), "log.dirs="+c.DataDir(1)+"\n") {
		t.Fatalf("server.properties (%v):\n%s", err, config)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Admin(t).CreateTopic(ctx, 1, 1, nil, "harness"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	c.WaitFor(t, 10*time.Second, "a leader for harness-0", func() bool { return c.LeaderOf(t, "harness", 0) == 1 })

	producer := c.Client(t, kgo.DefaultProduceTopic("harness"))
	for i := range 10 {
		if err := producer.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	c.Kill(1)
	if c.Running(1) || len(c.Bootstrap()) != 0 {
		t.Fatalf("after Kill: running %v, bootstrap %v", c.Running(1), c.Bootstrap())
	}
	c.Start(1)
	if got := consume(t, ctx, c, "harness", 10); strings.Join(got, ",") != "0,1,2,3,4,5,6,7,8,9" {
		t.Errorf("after Kill and Start, read %v", got)
	}
	if id := c.ActiveController(t); id != 1 {
		t.Errorf("ActiveController = %d, want 1", id)
	}
	md, err := c.NodeMetadata(ctx, 1, "harness")
	if err != nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 1 {
		t.Errorf("NodeMetadata: %v, %+v", err, md)
	}

	c.Stop(1)
	if !strings.Contains(string(c.Log(1)), "=== testcluster: start 2 of node 1") {
		t.Errorf("node log lacks the second start:\n%s", c.Log(1))
	}
	rl, err := ReadReplicaLog(vfs.OS{}, c.DataDir(1), "harness", 0)
	if err != nil || rl.LogEndOffset != 10 || len(rl.Batches) != 10 {
		t.Errorf("replica log offline: %v, LEO %d, %d batches", err, rl.LogEndOffset, len(rl.Batches))
	}
}

// consume reads n records of topic from the start.
func consume(t *testing.T, ctx context.Context, c *ProcessCluster, topic string, n int) []string {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var values []string
	for len(values) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %v after %d records", topic, ctx.Err(), len(values))
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		fetches.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	return values
}

// recordingTB stands in for a test whose failures are the subject: it
// records Errorf, Fatalf and Logf instead of failing, and Fatalf ends the
// calling goroutine as testing.T's does. Cleanups go to the real test.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	failed   bool
	messages []string
}

func (r *recordingTB) record(failed bool, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = r.failed || failed
	r.messages = append(r.messages, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Errorf(format string, args ...any) { r.record(true, format, args...) }
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.record(true, format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatal(args ...any)               { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *recordingTB) Logf(format string, args ...any) { r.record(false, format, args...) }
func (r *recordingTB) Failed() bool                    { r.mu.Lock(); defer r.mu.Unlock(); return r.failed }
func (r *recordingTB) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.messages, "\n")
}

// TestProcessClusterReportsFailedStart checks the harness's failure
// reporting: a node that refuses its configuration fails StartProcesses
// with the node's log tail, and cleanup reports the exit nobody asked for.
func TestProcessClusterReportsFailedStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	var rec *recordingTB
	t.Run("start", func(t *testing.T) {
		rec = &recordingTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			StartProcesses(rec, ProcessOptions{Nodes: 1, NoQuorumVoters: true, ExtraConfig: map[string]string{"no.such.key": "1"}})
			rec.Errorf("StartProcesses returned")
		}()
		<-done
	})
	text := rec.text()
	for _, want := range []string{
		"testcluster: node 1: process exited before listening",
		"no.such.key",                        // the log tail, with the broker's reason
		"node 1 (start 1) exited on its own", // cleanup
		"testcluster: node 1 log",            // the tail printed because the test failed
	} {
		if !strings.Contains(text, want) {
			t.Errorf("harness messages lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "StartProcesses returned") {
		t.Error("StartProcesses returned although the node never listened")
	}
}

func TestPickPortAvoidsEphemeralRange(t *testing.T) {
	used := map[int]bool{}
	low, known := ephemeralLow()
	for range 20 {
		p := pickPort(t, used)
		if known && (p < lowestPort || p >= low) {
			t.Errorf("port %d outside [%d, %d): the kernel may hand it to a client", p, lowestPort, low)
		}
	}
	if len(used) != 20 {
		t.Errorf("20 picks gave %d distinct ports", len(used))
	}
}
