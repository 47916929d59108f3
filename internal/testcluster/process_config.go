package testcluster

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// nodeSpec is what one node's server.properties is written from: its id,
// ports and data directory, fixed for the life of the cluster so that a
// restarted node comes back on the same addresses and data.
type nodeSpec struct {
	id int32
	// controller is set for voters (process.roles=broker,controller);
	// the other nodes are broker-only.
	controller     bool
	clientPort     int
	controllerPort int // 0 for broker-only nodes
	dataDir        string
	// host is the address the node listens on and advertises: "" for
	// 127.0.0.1, else its address inside its own network namespace
	// (ProcessOptions.NetNS).
	host string
}

func (s nodeSpec) hostAddr() string {
	if s.host == "" {
		return "127.0.0.1"
	}
	return s.host
}

func (s nodeSpec) clientAddr() string {
	return net.JoinHostPort(s.hostAddr(), strconv.Itoa(s.clientPort))
}

func (s nodeSpec) controllerAddr() string {
	return net.JoinHostPort(s.hostAddr(), strconv.Itoa(s.controllerPort))
}

// quorumVoters renders controller.quorum.voters (1@HOST1:C1,...) from
// the controllers among specs, in node order.
func quorumVoters(specs []nodeSpec) string {
	var voters []string
	for _, s := range specs {
		if s.controller {
			voters = append(voters, fmt.Sprintf("%d@%s", s.id, s.controllerAddr()))
		}
	}
	return strings.Join(voters, ",")
}

// nodeProperties is the configuration of one node in Kafka's KRaft key
// names (cluster-contracts.md, B). voters is controller.quorum.voters, ""
// to leave it unset (a plain single node). extra is applied last, so a
// test can override any key; an empty value is written as is (for
// sluice.metrics.listener, empty means disabled).
func nodeProperties(s nodeSpec, voters string, extra ...map[string]string) map[string]string {
	props := map[string]string{
		"node.id":                        strconv.Itoa(int(s.id)),
		"log.dirs":                       s.dataDir,
		"advertised.listeners":           "PLAINTEXT://" + s.clientAddr(),
		"controller.listener.names":      "CONTROLLER",
		"inter.broker.listener.name":     "PLAINTEXT",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"sluice.metrics.listener":        "",
	}
	if s.controller {
		props["process.roles"] = "broker,controller"
		props["listeners"] = "PLAINTEXT://" + s.clientAddr() + ",CONTROLLER://" + s.controllerAddr()
	} else {
		props["process.roles"] = "broker"
		props["listeners"] = "PLAINTEXT://" + s.clientAddr()
	}
	if voters != "" {
		props["controller.quorum.voters"] = voters
	}
	for _, e := range extra {
		maps.Copy(props, e)
	}
	return props
}

// renderProperties writes props as a server.properties file, keys sorted
// so that a node's file reads the same on every run. Values the harness
// writes hold no characters that Java properties would escape.
func renderProperties(props map[string]string) string {
	var b strings.Builder
	b.WriteString("# written by internal/testcluster (process harness)\n")
	for _, key := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", key, props[key])
	}
	return b.String()
}
