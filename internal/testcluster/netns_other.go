//go:build !linux

package testcluster

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"testing"
)

// netnsNetwork needs Linux network namespaces (netns_linux.go); elsewhere
// a test asking for ProcessOptions.NetNS is skipped.
type netnsNetwork struct{}

var errNoNetNS = errors.New("testcluster: network namespaces need Linux")

func setupNetNS(t testing.TB, _ []int32) *netnsNetwork {
	t.Helper()
	t.Skip("testcluster: ProcessOptions.NetNS needs Linux network namespaces")
	return nil
}

func (*netnsNetwork) nodeHost(int32) string                      { return "" }
func (*netnsNetwork) clientPort() int                            { return 0 }
func (*netnsNetwork) controllerPort() int                        { return 0 }
func (*netnsNetwork) command(int32, string, ...string) *exec.Cmd { return nil }
func (*netnsNetwork) isolate(int32) error                        { return errNoNetNS }
func (*netnsNetwork) heal(int32) error                           { return errNoNetNS }
func (*netnsNetwork) dial(context.Context, string, string) (net.Conn, error) {
	return nil, errNoNetNS
}
