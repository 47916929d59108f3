//go:build linux

package testcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNetNSLifecycle: setting up a cluster's namespaces removes those a
// dead test binary left behind, makes the switch and one namespace per
// node with its address, applies and removes the isolation rules, and the
// cleanup deletes every namespace it made. Skipped where namespaces cannot
// be made (setupNetNS says why).
func TestNetNSLifecycle(t *testing.T) {
	if os.Geteuid() != 0 || lookTool("ip") == "" {
		t.Skip("needs root and ip (iproute2)")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatalf("run true: %v", err)
	}
	stale := fmt.Sprintf("%s%d-1-n1", netnsPrefix, dead.Process.Pid)
	if processAlive(dead.Process.Pid) {
		t.Skipf("pid %d of an exited process is in use again", dead.Process.Pid)
	}
	if out, err := exec.Command(lookTool("ip"), "netns", "add", stale).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(lookTool("ip"), "netns", "del", stale).Run() }) // if the test fails first

	var made []string
	t.Run("setup", func(t *testing.T) {
		n := setupNetNS(t, []int32{1, 2})
		if namespaceExists(stale) {
			t.Errorf("stale namespace %s of dead pid %d was not removed", stale, dead.Process.Pid)
		}
		made = append(made, n.created...)
		if len(made) != 3 {
			t.Fatalf("namespaces made: %v, want the switch and 2 nodes", made)
		}
		for _, ns := range made {
			if !namespaceExists(ns) {
				t.Errorf("namespace %s missing", ns)
			}
		}
		out, err := n.command(2, n.ip, "-o", "addr", "show", "dev", nodeIface).CombinedOutput()
		if err != nil || !strings.Contains(string(out), n.nodeHost(2)+"/24") {
			t.Errorf("node 2's %s: %v: %s; want address %s", nodeIface, err, out, n.nodeHost(2))
		}
		routes, err := n.command(1, n.ip, "route", "show", "default").CombinedOutput()
		if err != nil || strings.TrimSpace(string(routes)) != "" {
			t.Errorf("node 1 has a default route (%v): %s", err, routes)
		}
		if err := n.isolate(1); err != nil {
			t.Fatal(err)
		}
		rules := iptablesRules(t, n, 1)
		if !strings.Contains(rules, "-A INPUT -i eth0 -j DROP") || !strings.Contains(rules, "-A OUTPUT -o eth0 -j DROP") {
			t.Errorf("isolated node 1's rules:\n%s", rules)
		}
		if err := n.heal(1); err != nil {
			t.Fatal(err)
		}
		if rules := iptablesRules(t, n, 1); strings.Contains(rules, "DROP") {
			t.Errorf("healed node 1 still drops:\n%s", rules)
		}
	})
	for _, ns := range made {
		if namespaceExists(ns) {
			t.Errorf("namespace %s survived the cleanup", ns)
		}
	}
}

func namespaceExists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsRunDir, name))
	return err == nil
}

func iptablesRules(t *testing.T, n *netnsNetwork, id int32) string {
	t.Helper()
	save := filepath.Join(filepath.Dir(n.iptablesRestore), "iptables-save")
	out, err := n.command(id, save, "-t", "filter").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save in node %d's namespace: %v: %s", id, err, out)
	}
	return string(out)
}
