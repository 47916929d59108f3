package crash

import (
	"errors"
	"fmt"
	"net"
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
	port := testbin.FreePort(t)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatalf("make data dir: %v", err)
	}
	template := os.Getenv("SLUICE_CRASH_BROKER_CMD")
	if template == "" {
		binary := testbin.Build(t, dir)
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
	if err := testbin.WaitListening(b.address, b.exited, listenTimeout); err != nil {
		b.t.Fatalf("broker %v (start %d):\n%s", err, b.starts, b.logTail())
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
