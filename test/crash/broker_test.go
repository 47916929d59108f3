package crash

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listenTimeout bounds how long a started broker may take to accept
// connections (recovery of the data directory included).
const listenTimeout = 20 * time.Second

// exitTimeout bounds how long a SIGKILLed broker may take to be reaped.
const exitTimeout = 10 * time.Second

// brokerProcess runs one broker command line again and again on the same
// port and data directory. It is driven by the test goroutine only.
type brokerProcess struct {
	t       *testing.T
	argv    []string
	address string
	logPath string

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	starts int
}

// newBrokerProcess prepares the broker command: SLUICE_CRASH_BROKER_CMD if
// set, otherwise a freshly built sluice serve.
func newBrokerProcess(t *testing.T, dir string) *brokerProcess {
	t.Helper()
	port := freePort(t)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatalf("make data dir: %v", err)
	}
	template := os.Getenv("SLUICE_CRASH_BROKER_CMD")
	if template == "" {
		binary := buildSluice(t, dir)
		template = binary + " serve --listeners PLAINTEXT://127.0.0.1:{port} --log-dirs {data} --metrics-listener="
	}
	template = strings.ReplaceAll(template, "{port}", strconv.Itoa(port))
	template = strings.ReplaceAll(template, "{data}", data)
	b := &brokerProcess{
		t:       t,
		argv:    strings.Fields(template),
		address: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		logPath: filepath.Join(dir, "broker.log"),
	}
	t.Cleanup(b.stop)
	return b
}

// buildSluice compiles cmd/sluice from this module into dir.
func buildSluice(t *testing.T, dir string) string {
	t.Helper()
	binary := filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", binary, "./cmd/sluice")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return binary
}

// moduleRoot walks up from this source file to the directory with go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller: no source file")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if dir == filepath.Dir(dir) {
			t.Fatalf("no go.mod above %s", file)
		}
	}
}

// freePort asks the kernel for a free port; the broker binds it again on
// every restart (listeners set SO_REUSEADDR, so a restart can rebind).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the broker and waits until it accepts connections.
func (b *brokerProcess) start() {
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
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start broker %q: %v", b.argv, err)
	}
	b.cmd, b.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(b.exited)
	b.waitListening()
}

func (b *brokerProcess) waitListening() {
	b.t.Helper()
	deadline := time.Now().Add(listenTimeout)
	for {
		conn, err := net.DialTimeout("tcp", b.address, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-b.exited:
			b.t.Fatalf("broker exited before listening on %s (start %d):\n%s", b.address, b.starts, b.logTail())
		case <-time.After(20 * time.Millisecond): // poll the port again
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("broker not listening on %s after %s (start %d):\n%s", b.address, listenTimeout, b.starts, b.logTail())
		}
	}
}

// kill SIGKILLs the broker and waits until it has been reaped.
func (b *brokerProcess) kill() {
	b.t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		b.t.Fatalf("SIGKILL broker: %v", err)
	}
	select {
	case <-b.exited:
	case <-time.After(exitTimeout):
		b.t.Fatalf("broker still running %s after SIGKILL", exitTimeout)
	}
}

// alive tells whether the broker process is still running.
func (b *brokerProcess) alive() bool {
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

// stop kills a broker still running at the end of the test.
func (b *brokerProcess) stop() {
	if b.cmd != nil && b.alive() {
		b.cmd.Process.Signal(syscall.SIGKILL)
		<-b.exited
	}
}

// logTail returns the end of the broker's log for failure messages.
func (b *brokerProcess) logTail() string {
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return fmt.Sprintf("(no broker log: %v)", err)
	}
	const keep = 4000
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return string(data)
}
