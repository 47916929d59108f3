package groups

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"

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

// brokerProcess runs `sluice serve` as a child process (testbin.Process),
// again and again on one port and data directory, with the short group
// timeouts of the in-process brokers. It is driven by the test goroutine
// only.
type brokerProcess struct {
	*testbin.Process
	address string
}

func startProcess(t *testing.T) *brokerProcess {
	t.Helper()
	dir := t.TempDir()
	binary := testbin.Build(t, dir)
	port := testbin.FreePort(t)
	data := filepath.Join(dir, "data")
	argv := []string{binary, "serve",
		"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", port),
		"--log-dirs", data, "--metrics-listener=",
		"--set", fmt.Sprintf("group.min.session.timeout.ms=%d", minSessionTimeout.Milliseconds()),
		"--set", "group.initial.rebalance.delay.ms=0",
	}
	b := &brokerProcess{Process: testbin.NewProcess(t, argv, filepath.Join(dir, "broker.log")),
		address: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	b.start()
	return b
}

// start runs the broker and waits until it accepts connections.
func (b *brokerProcess) start() { b.Start(testTimeout, b.address) }

// kill SIGKILLs the broker and waits until it has been reaped.
func (b *brokerProcess) kill() { b.Kill(testTimeout) }
