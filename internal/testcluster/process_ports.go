package testcluster

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/testbin"
)

// lowestPort is the bottom of the range nodes' ports are picked from when
// the kernel's ephemeral range is known.
const lowestPort = 10000

// localPortRange is the kernel's file naming its ephemeral port range.
const localPortRange = "/proc/sys/net/ipv4/ip_local_port_range"

// pickPort returns a free TCP port on 127.0.0.1 not in used. Nodes are
// killed and restarted on the same ports, so their ports must not be
// ephemeral ones: while a node is down, a client connecting anywhere could
// be given its port as a local address, and the restart would fail with
// "address already in use". Below the kernel's ephemeral range that cannot
// happen; where the range is unknown, testbin.FreePort's kernel choice is
// the fallback.
func pickPort(t testing.TB, used map[int]bool) int {
	t.Helper()
	if low, ok := ephemeralLow(); ok && low > lowestPort+1000 {
		for range 1000 {
			p := lowestPort + rand.IntN(low-lowestPort)
			if !used[p] && bindable(p) {
				used[p] = true
				return p
			}
		}
	}
	for {
		p := testbin.FreePort(t)
		if !used[p] {
			used[p] = true
			return p
		}
	}
}

// ephemeralLow reads the bottom of the kernel's ephemeral port range.
func ephemeralLow() (int, bool) {
	data, err := os.ReadFile(localPortRange)
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return 0, false
	}
	low, err := strconv.Atoi(fields[0])
	return low, err == nil
}

// bindable tells whether port is free on 127.0.0.1 now.
func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
