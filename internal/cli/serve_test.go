package cli

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testbin"
)

// serveTimeout bounds every wait on a broker in these tests: start-up,
// one produce or consume, shutdown.
const serveTimeout = 8 * time.Second

// cleanShutdownMarker is the file a broker leaves in its log directory
// after a clean shutdown (storage's cleanShutdownName, Kafka's
// .kafka_cleanshutdown).
const cleanShutdownMarker = ".sluice_cleanshutdown"

// serveMustFail runs `sluice serve args...` in-process, expects start-up to
// be refused, and returns what it printed on stderr. A serve that does not
// return has started a broker: the test fails rather than hangs.
func serveMustFail(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(append([]string{"serve"}, args...), strings.NewReader(""), &stdout, &stderr) }()
	select {
	case code := <-done:
		if code == 0 {
			t.Fatalf("sluice serve %s: exit 0, want a refusal", strings.Join(args, " "))
		}
	case <-time.After(serveTimeout):
		t.Fatalf("sluice serve %s still running after %s: it started a broker instead of refusing", strings.Join(args, " "), serveTimeout)
	}
	return stderr.String()
}

// TestServeRefusesUnknownKeysAndBadValues checks each configuration source
// (file, --set, environment): start-up stops with a non-zero exit code and
// a message naming the key, before anything is written to the log dir.
func TestServeRefusesUnknownKeysAndBadValues(t *testing.T) {
	for _, tc := range []struct {
		name       string
		file       string   // server.properties contents ("" for none)
		args       []string // extra serve arguments
		env        []string // NAME=value pairs to set
		wantInText []string
	}{
		{name: "typo in the config file", file: "log.retention.mss=1000\n", wantInText: []string{`"log.retention.mss"`, "log.retention.ms"}},
		{name: "unknown --set key", args: []string{"--set", "foo.bar=1"}, wantInText: []string{`"foo.bar"`}},
		{name: "bad value from the environment", env: []string{"SLUICE_LOG_RETENTION_MS=abc"}, wantInText: []string{`"log.retention.ms"`, `"abc"`}},
		{name: "bad value for a flag", args: []string{"--node-id", "one"}, wantInText: []string{`"node.id"`, `"one"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			args := []string{"--listeners", "PLAINTEXT://127.0.0.1:0", "--metrics-listener=", "--log-dirs", data}
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, dir, "server.properties", tc.file))
			}
			for _, kv := range tc.env {
				name, value, _ := strings.Cut(kv, "=")
				t.Setenv(name, value)
			}
			stderr := serveMustFail(t, append(args, tc.args...)...)
			for _, want := range tc.wantInText {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not mention %s", stderr, want)
				}
			}
			if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused start-up touched the log dir %s: stat error %v", data, err)
			}
		})
	}
}

// TestServeConfigPrecedence checks the documented layering: the --config
// file, then SLUICE_* environment variables, then flags (named flags and
// --set), later sources winning key by key.
func TestServeConfigPrecedence(t *testing.T) {
	file := writeFile(t, t.TempDir(), "server.properties", strings.Join([]string{
		"node.id=7",
		"log.retention.ms=1000",
		"num.partitions=2",
		"log.segment.bytes=2097152",
		"log.dirs=/from/the/file",
	}, "\n"))
	environ := []string{
		"SLUICE_NODE_ID=8",
		"SLUICE_LOG_RETENTION_MS=2000",
		"SLUICE_NUM_PARTITIONS=3",
		"SLUICE_BOOTSTRAP_SERVERS=localhost:9092", // a CLI variable, not a broker key: ignored
		"PATH=/usr/bin",
	}
	cmd := newServeCommand()
	if err := cmd.ParseFlags([]string{"--config", file, "--node-id", "9", "--set", "num.partitions=4"}); err != nil {
		t.Fatalf("parse flags: %v", err)
	}
	configFile, _ := cmd.Flags().GetString("config")
	sets, _ := cmd.Flags().GetStringArray("set")
	props, err := gatherProperties(cmd, configFile, sets, environ)
	if err != nil {
		t.Fatalf("gatherProperties: %v", err)
	}
	b, err := config.ParseBroker(props)
	if err != nil {
		t.Fatalf("ParseBroker(%v): %v", props, err)
	}
	if b.NodeID != 9 {
		t.Errorf("node.id = %d, want 9 (--node-id over SLUICE_NODE_ID=8 over the file's 7)", b.NodeID)
	}
	if b.NumPartitions != 4 {
		t.Errorf("num.partitions = %d, want 4 (--set over SLUICE_NUM_PARTITIONS=3 over the file's 2)", b.NumPartitions)
	}
	if b.TopicDefaults.RetentionMs != 2000 {
		t.Errorf("log.retention.ms = %d, want 2000 (SLUICE_LOG_RETENTION_MS over the file's 1000)", b.TopicDefaults.RetentionMs)
	}
	if b.TopicDefaults.SegmentBytes != 2097152 || !slices.Equal(b.LogDirs, []string{"/from/the/file"}) {
		t.Errorf("log.segment.bytes = %d, log.dirs = %v: want the file's 2097152 and [/from/the/file]", b.TopicDefaults.SegmentBytes, b.LogDirs)
	}
}

func TestWarnInertKeys(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		want  string // "" for no output
	}{
		{props: map[string]string{"num.partitions": "3"}, want: ""},
		{
			props: map[string]string{"num.io.threads": "8", "num.partitions": "3", "controller.quorum.election.timeout.ms": "1000"},
			want:  "level=WARN msg=\"config keys accepted but not acted on yet\" keys=controller.quorum.election.timeout.ms,num.io.threads\n",
		},
		{
			// Cluster-mode keys are acted on: no warning.
			props: map[string]string{"controller.quorum.voters": "1@localhost:9093", "process.roles": "broker,controller",
				"broker.session.timeout.ms": "1500", "controlled.shutdown.enable": "true"},
			want: "",
		},
	} {
		var out bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
		warnInertKeys(logger, tc.props)
		if out.String() != tc.want {
			t.Errorf("warnInertKeys(%v) logged %q, want %q", tc.props, out.String(), tc.want)
		}
	}
}

// TestServeBinaryShutsDownCleanlyAndRestarts runs the real binary: a record
// produced before SIGTERM is read back after a restart, the shutdown exits
// 0 and leaves the clean-shutdown marker, and inert keys are warned about.
func TestServeBinaryShutsDownCleanlyAndRestarts(t *testing.T) {
	dir := t.TempDir()
	binary := testbin.Build(t, dir)
	data := filepath.Join(dir, "data")
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(testbin.FreePort(t)))
	args := []string{"serve", "--listeners", "PLAINTEXT://" + address, "--log-dirs", data, "--metrics-listener="}
	marker := filepath.Join(data, cleanShutdownMarker)

	first := startServe(t, binary, filepath.Join(dir, "first.log"), address, append(args, "--set", "num.io.threads=8")...)
	produceOne(t, address, "serve-test", "kept across a restart")
	first.terminate(t)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no clean-shutdown marker after SIGTERM: %v\n%s", err, first.log())
	}
	if log := first.log(); !strings.Contains(log, "not acted on yet") || !strings.Contains(log, "num.io.threads") {
		t.Errorf("no warning naming the inert key num.io.threads in the log:\n%s", log)
	}

	second := startServe(t, binary, filepath.Join(dir, "second.log"), address, args...)
	if _, err := os.Stat(marker); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("clean-shutdown marker still present while the broker runs (stat error %v): a crash now would skip recovery", err)
	}
	if got := consumeOne(t, address, "serve-test"); got != "kept across a restart" {
		t.Errorf("after restart read %q, want %q", got, "kept across a restart")
	}
	second.terminate(t)
	if strings.Contains(second.log(), "not acted on yet") {
		t.Errorf("inert-key warning without inert keys:\n%s", second.log())
	}
}

// serveProcess is one run of the sluice binary, driven by the test
// goroutine only.
type serveProcess struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been waited for
	logPath string        // the process's stdout and stderr
}

// startServe runs binary with args, its output going to logPath, and waits
// until it accepts connections on address.
func startServe(t *testing.T, binary, logPath, address string, args ...string) *serveProcess {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create broker log: %v", err)
	}
	defer logFile.Close()
	p := &serveProcess{cmd: exec.Command(binary, args...), exited: make(chan struct{}), logPath: logPath}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", binary, err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	if err := testbin.WaitListening(address, p.exited, serveTimeout); err != nil {
		t.Fatalf("sluice serve: %v\n%s", err, p.log())
	}
	return p
}

// terminate sends SIGTERM and expects a clean exit (code 0) in time.
func (p *serveProcess) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(serveTimeout):
		t.Fatalf("sluice serve still running %s after SIGTERM:\n%s", serveTimeout, p.log())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("sluice serve exited with %d after SIGTERM, want 0:\n%s", code, p.log())
	}
}

// kill stops a process a failed test left running.
func (p *serveProcess) kill() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *serveProcess) log() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(data)
}

// produceOne creates topic and writes one acknowledged record (acks=all).
func produceOne(t *testing.T, address, topic, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serveTimeout)
	defer cancel()
	client, err := kgo.NewClient(kgo.SeedBrokers(address))
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	defer client.Close()
	created, err := kadm.NewClient(client).CreateTopic(ctx, 1, 1, nil, topic)
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := client.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consumeOne reads the first record of topic's only partition.
func consumeOne(t *testing.T, address, topic string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serveTimeout)
	defer cancel()
	client, err := kgo.NewClient(kgo.SeedBrokers(address), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	defer client.Close()
	for {
		fetches := client.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record from %s within %s: %v", topic, serveTimeout, fetches.Errors())
		}
		for _, fetchErr := range fetches.Errors() {
			t.Logf("fetch %s[%d]: %v", fetchErr.Topic, fetchErr.Partition, fetchErr.Err)
		}
		if records := fetches.Records(); len(records) > 0 {
			return string(records[0].Value)
		}
	}
}

func writeFile(t *testing.T, dir, name, contents string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(contents), 0o644); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return path
}
