package testcluster

import (
	"os/exec"
	"syscall"
)

// configureChild asks the kernel to SIGKILL a node if the test binary dies
// without running its cleanups (a panic in another goroutine, go test's
// -timeout), so no broker outlives its test holding ports.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
