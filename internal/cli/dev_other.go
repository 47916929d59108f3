//go:build unix && !linux

package cli

import (
	"os/exec"
	"syscall"
)

// configureDevChild puts a dev cluster node in its own process group, so
// that a Ctrl-C in the terminal reaches only `sluice dev cluster`, which
// then stops the nodes. Without a parent-death signal, nodes outlive a
// killed dev cluster process.
func configureDevChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
