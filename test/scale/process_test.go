package scale

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/testbin"
)

// startTimeout bounds how long a started broker may take to accept
// connections (recovery of its partitions may go on after that).
const startTimeout = 60 * time.Second

// stopTimeout bounds a clean shutdown (every log fsynced and closed). It
// is a hang detector, not a target: at 100,000 partitions that each took
// a record, the shutdown costs about seven fsyncs per partition and took
// 62-93 s on a quiet machine, over 120 s on a busy one.
const stopTimeout = 5 * time.Minute

// killTimeout bounds how long a SIGKILLed broker may take to be reaped.
const killTimeout = 30 * time.Second

// broker runs one `sluice serve` under prlimit again and again on the same
// ports and data directory (testbin.Process), and reads what the scale
// tests report from its /proc entries and /metrics. It is driven by the
// test goroutine only.
type broker struct {
	*testbin.Process
	t              *testing.T
	address        string
	metrics        string // the /metrics URL
	metricsAddress string
}

// newBroker prepares a single-node broker limited to nofile descriptors,
// with extra `--set key=value` settings.
func newBroker(t *testing.T, binary string, nofile int, sets ...string) *broker {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	dir := t.TempDir()
	port, metricsPort := testbin.FreePort(t), testbin.FreePort(t)
	b := &broker{t: t,
		address:        net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		metricsAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort))}
	b.metrics = "http://" + b.metricsAddress + "/metrics"
	argv := []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--", binary, "serve",
		"--listeners", "PLAINTEXT://" + b.address, "--log-dirs", filepath.Join(dir, "data"),
		"--metrics-listener", b.metricsAddress}
	for _, s := range sets {
		argv = append(argv, "--set", s)
	}
	b.Process = testbin.NewProcess(t, argv, filepath.Join(dir, "broker.log"))
	return b
}

// start runs the broker (prlimit execs it in place, so the process is the
// broker itself) and waits until it accepts connections and scrapes.
func (b *broker) start() {
	b.t.Helper()
	b.Start(startTimeout, b.address, b.metricsAddress)
}

// stopCleanly sends SIGTERM and waits for a clean exit, returning how long
// the shutdown took.
func (b *broker) stopCleanly() time.Duration {
	b.t.Helper()
	return b.Terminate(stopTimeout)
}

// kill SIGKILLs the broker and waits until it has been reaped.
func (b *broker) kill() {
	b.t.Helper()
	b.Kill(killTimeout)
}

// procStatus reads one kB field of /proc/<pid>/status, in bytes.
func (b *broker) procStatus(field string) int64 {
	b.t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", b.Pid()))
	if err != nil {
		b.t.Fatalf("read broker status: %v", err)
	}
	defer f.Close()
	for s := bufio.NewScanner(f); s.Scan(); {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.t.Fatalf("parse %s %q: %v", field, rest, err)
			}
			return kb << 10
		}
	}
	b.t.Fatalf("no %s in the broker's /proc status", field)
	return 0
}

// rss is the broker's resident set size.
func (b *broker) rss() int64 { return b.procStatus("VmRSS") }

// openFiles counts the broker's open descriptors.
func (b *broker) openFiles() int {
	b.t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.Pid()))
	if err != nil {
		b.t.Fatalf("list broker descriptors: %v", err)
	}
	return len(entries)
}

// cpuTime is the CPU the broker has used (user + system).
func (b *broker) cpuTime() time.Duration {
	b.t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.Pid()))
	if err != nil {
		b.t.Fatalf("read broker stat: %v", err)
	}
	// Fields after the command name (which may hold spaces) start at ")".
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// metric reads one unlabelled sample from the broker's /metrics.
func (b *broker) metric(name string) float64 {
	b.t.Helper()
	resp, err := http.Get(b.metrics)
	if err != nil {
		b.t.Fatalf("scrape %s: %v", b.metrics, err)
	}
	defer resp.Body.Close()
	for s := bufio.NewScanner(resp.Body); s.Scan(); {
		if rest, ok := strings.CutPrefix(s.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				b.t.Fatalf("parse %s %q: %v", name, rest, err)
			}
			return v
		}
	}
	b.t.Fatalf("no %s on %s", name, b.metrics)
	return 0
}
