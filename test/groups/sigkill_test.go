package groups

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/testbin"
)

// Commits survive a SIGKILL of the real sluice binary: after the restart
// on the same data directory OffsetFetch returns them, and the member that
// stayed up resumes after them.
func TestCommitsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	broker := startProcess(t)
	checkCommitsSurvive(t, broker.address, func() {
		broker.kill()
		broker.start()
	})
}

// brokerProcess runs `sluice serve` as a child process, again and again on
// one port and data directory, with the short group timeouts of the
// in-process brokers. It is driven by the test goroutine only.
type brokerProcess struct {
	t       *testing.T
	argv    []string
	address string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been waited for
}

func startProcess(t *testing.T) *brokerProcess {
	t.Helper()
	dir := t.TempDir()
	binary := testbin.Build(t, dir)
	port := testbin.FreePort(t)
	data := filepath.Join(dir, "data")
	b := &brokerProcess{
		t: t,
		argv: []string{binary, "serve",
			"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", port),
			"--log-dirs", data, "--metrics-listener=",
			"--set", fmt.Sprintf("group.min.session.timeout.ms=%d", minSessionTimeout.Milliseconds()),
			"--set", "group.initial.rebalance.delay.ms=0",
		},
		address: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		logPath: filepath.Join(dir, "broker.log"),
	}
	t.Cleanup(b.stop)
	b.start()
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
	if err := testbin.WaitListening(b.address, b.exited, testTimeout); err != nil {
		log, _ := os.ReadFile(b.logPath)
		b.t.Fatalf("broker %v:\n%s", err, log)
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
	case <-time.After(testTimeout):
		b.t.Fatalf("broker still running %v after SIGKILL", testTimeout)
	}
}

// stop kills a broker still running at the end of the test.
func (b *brokerProcess) stop() {
	select {
	case <-b.exited:
	default:
		b.cmd.Process.Signal(syscall.SIGKILL)
		<-b.exited
	}
}
