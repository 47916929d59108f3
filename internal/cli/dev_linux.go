package cli

import (
	"os/exec"
	"syscall"
)

// configureDevChild puts a dev cluster node in its own process group, so
// that a Ctrl-C in the terminal reaches only `sluice dev cluster`, which
// then stops the nodes in order, and asks the kernel to SIGTERM the node
// (a controlled shutdown) if the dev cluster process dies first.
func configureDevChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
