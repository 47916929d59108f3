// Package testbin builds the sluice binary for tests that run it as a real
// process (test/crash, test/groups, test/scale, internal/cli), finds it a
// port to listen on, and runs it again and again (Process).
//
// It is test-only: import it from _test.go files alone (internal/lint
// enforces this). Functions report failures through the testing.TB they are
// given and are safe to call from one test goroutine at a time.
package testbin

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Build compiles ./cmd/sluice of this module into dir and returns the
// binary's path. The go build cache makes repeated builds cheap.
func Build(t testing.TB, dir string) string {
	t.Helper()
	binary := filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", binary, "./cmd/sluice")
	build.Dir = ModuleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return binary
}

// ModuleRoot returns the directory holding this module's go.mod, found by
// walking up from this source file (so it works from any test's directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller: no source file")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if dir == filepath.Dir(dir) {
			t.Fatalf("no go.mod above %s", file)
		}
	}
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// released before returning, so a broker started next can bind it (and bind
// it again on a restart: listeners set SO_REUSEADDR).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitListening polls address until it accepts a TCP connection. It gives
// up with an error when exited is closed first (the process died) or after
// timeout.
func WaitListening(address string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", address, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before listening on %s", address)
		case <-time.After(20 * time.Millisecond): // poll the port again
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s", address, timeout)
		}
	}
}
