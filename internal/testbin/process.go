package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process runs one command line (a broker, usually) again and again on
// the same ports and data directory, appending its output to one log
// file: the harness of the tests that kill and restart the real binary
// (test/crash, test/groups, test/scale). It is driven by the test
// goroutine only.
type Process struct {
	t testing.TB
	// Argv is the command line; a test may change it between starts.
	Argv []string
	// LogPath is the file the process's stdout and stderr are appended
	// to, each start headed by "=== start N: <argv>".
	LogPath string

	cmd      *exec.Cmd
	exited   chan struct{} // closed once cmd has been waited for
	starts   int
	launched time.Time
}

// NewProcess prepares argv; the process is SIGKILLed at the end of the
// test if still running, and its log's tail printed if the test failed.
func NewProcess(t testing.TB, argv []string, logPath string) *Process {
	p := &Process{t: t, Argv: argv, LogPath: logPath}
	t.Cleanup(p.stop)
	return p
}

// Start runs the command and waits, up to timeout, until every address
// accepts connections, failing the test (with the log's tail) if the
// process exits first or the time runs out.
func (p *Process) Start(timeout time.Duration, addresses ...string) {
	p.t.Helper()
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("open process log: %v", err)
	}
	defer logFile.Close()
	p.starts++
	fmt.Fprintf(logFile, "=== start %d: %s\n", p.starts, strings.Join(p.Argv, " "))
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p.launched = time.Now()
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %q: %v", p.Argv, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(p.exited)
	for _, address := range addresses {
		if err := WaitListening(address, p.exited, timeout); err != nil {
			p.t.Fatalf("process %v (start %d):\n%s", err, p.starts, p.LogTail())
		}
	}
}

// Kill SIGKILLs the process and waits, up to timeout, until it has been
// reaped.
func (p *Process) Kill(timeout time.Duration) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("process still running %v after SIGKILL", timeout)
	}
}

// Terminate sends SIGTERM, waits up to timeout for the exit, fails the
// test unless the exit status is 0, and returns how long the exit took.
func (p *Process) Terminate(timeout time.Duration) time.Duration {
	p.t.Helper()
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("process still running %v after SIGTERM:\n%s", timeout, p.LogTail())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("process exited with %d after SIGTERM:\n%s", code, p.LogTail())
	}
	return time.Since(began)
}

// Alive reports whether the process is running.
func (p *Process) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return p.cmd != nil
	}
}

// Pid is the running process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Launched is when the last Start began.
func (p *Process) Launched() time.Time { return p.launched }

// stop kills a process still running at the end of the test.
func (p *Process) stop() {
	if p.Alive() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
	if p.cmd != nil && p.t.Failed() {
		p.t.Logf("process log tail:\n%s", p.LogTail())
	}
}

// Log is the whole log.
func (p *Process) Log() string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no process log: %v)", err)
	}
	return string(data)
}

// LogTail is the end of the log, for failure messages.
func (p *Process) LogTail() string {
	data := p.Log()
	const keep = 6000
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return data
}
