package scale

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/testbin"
)

// startTimeout bounds how long a started broker may take to accept
// connections (recovery of its partitions may go on after that).
const startTimeout = 60 * time.Second

// stopTimeout bounds a clean shutdown (every log fsynced and closed).
const stopTimeout = 120 * time.Second

// broker runs one `sluice serve` under prlimit again and again on the same
// ports and data directory. It is driven by the test goroutine only.
type broker struct {
	t              *testing.T
	argv           []string
	address        string
	metrics        string // the /metrics URL
	metricsAddress string
	logPath        string
	cmd            *exec.Cmd
	exited         chan struct{} // closed once cmd has been waited for
	starts         int
	launched       time.Time
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
		metricsAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort)),
		logPath:        filepath.Join(dir, "broker.log")}
	b.metrics = "http://" + b.metricsAddress + "/metrics"
	b.argv = []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--", binary, "serve",
		"--listeners", "PLAINTEXT://" + b.address, "--log-dirs", filepath.Join(dir, "data"),
		"--metrics-listener", b.metricsAddress}
	for _, s := range sets {
		b.argv = append(b.argv, "--set", s)
	}
	t.Cleanup(b.stop)
	return b
}

// start runs the broker (prlimit execs it in place, so the process is the
// broker itself) and waits until it accepts connections.
func (b *broker) start() {
	b.t.Helper()
	logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatalf("open broker log: %v", err)
	}
	defer logFile.Close()
	b.starts++
	fmt.Fprintf(logFile, "=== start %d: %s\n", b.starts, strings.Join(b.argv, " "))
	cmd := exec.Command(b.argv[0], b.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	b.launched = time.Now()
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start broker %q: %v", b.argv, err)
	}
	b.cmd, b.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(b.exited)
	for _, address := range []string{b.address, b.metricsAddress} {
		if err := testbin.WaitListening(address, b.exited, startTimeout); err != nil {
			b.t.Fatalf("broker %v (start %d):\n%s", err, b.starts, b.logTail())
		}
	}
}

// stopCleanly sends SIGTERM and waits for the exit, returning how long the
// shutdown took.
func (b *broker) stopCleanly() time.Duration {
	b.t.Helper()
	began := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.t.Fatalf("SIGTERM broker: %v", err)
	}
	select {
	case <-b.exited:
	case <-time.After(stopTimeout):
		b.t.Fatalf("broker still running %v after SIGTERM:\n%s", stopTimeout, b.logTail())
	}
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		b.t.Fatalf("broker exited with %d after SIGTERM:\n%s", code, b.logTail())
	}
	return time.Since(began)
}

// kill SIGKILLs the broker and waits until it has been reaped.
func (b *broker) kill() {
	b.t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		b.t.Fatalf("SIGKILL broker: %v", err)
	}
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		b.t.Fatal("broker still running 30s after SIGKILL")
	}
}

// stop kills a broker still running at the end of the test.
func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	select {
	case <-b.exited:
	default:
		b.cmd.Process.Signal(syscall.SIGKILL)
		<-b.exited
	}
	if b.t.Failed() {
		b.t.Logf("broker log tail:\n%s", b.logTail())
	}
}

// alive reports whether the broker process is running.
func (b *broker) alive() bool {
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

// procStatus reads one kB field of /proc/<pid>/status, in bytes.
func (b *broker) procStatus(field string) int64 {
	b.t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
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
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.cmd.Process.Pid))
	if err != nil {
		b.t.Fatalf("list broker descriptors: %v", err)
	}
	return len(entries)
}

// cpuTime is the CPU the broker has used (user + system).
func (b *broker) cpuTime() time.Duration {
	b.t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid))
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

// log is the broker's whole log.
func (b *broker) log() string {
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return fmt.Sprintf("(no broker log: %v)", err)
	}
	return string(data)
}

// logTail is the end of the broker's log, for failure messages.
func (b *broker) logTail() string {
	data := b.log()
	const keep = 6000
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return data
}
