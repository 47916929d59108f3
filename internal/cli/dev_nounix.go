//go:build !unix

package cli

import "os/exec"

// configureDevChild leaves the node in the dev cluster's process group:
// without process groups a Ctrl-C reaches the nodes directly as well.
func configureDevChild(*exec.Cmd) {}
