package crash

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/testbin"
)

// listenTimeout bounds how long a started broker may take to accept
// connections (recovery of the data directory included).
const listenTimeout = 20 * time.Second

// exitTimeout bounds how long a SIGKILLed broker may take to be reaped.
const exitTimeout = 10 * time.Second

// brokerProcess runs one broker command line (testbin.Process) again and
// again on the same port and data directory. It is driven by the test
// goroutine only.
type brokerProcess struct {
	*testbin.Process
	address string
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
	return &brokerProcess{
		Process: testbin.NewProcess(t, strings.Fields(template), filepath.Join(dir, "broker.log")),
		address: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
	}
}

// start runs the broker and waits until it accepts connections.
func (b *brokerProcess) start() { b.Start(listenTimeout, b.address) }

// kill SIGKILLs the broker and waits until it has been reaped.
func (b *brokerProcess) kill() { b.Kill(exitTimeout) }
