//go:build !linux

package testcluster

import "os/exec"

// configureChild does nothing where the kernel has no parent-death signal:
// the test's cleanups kill the nodes.
func configureChild(*exec.Cmd) {}
