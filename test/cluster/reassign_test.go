package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cli"
	"github.com/sluice-io/sluice/internal/testcluster"
)

const reassignTopic = "reassign"

// TestReassignUnderLoad is issue 12's scope item 8: an RF=2 partition with
// min.insync.replicas=2 is moved while an idempotent producer writes to it
// with acks=all, with `sluice topic reassign --execute` and `--verify`
// (the CLI in-process, against the real cluster):
//
//  1. [1 2] -> [2 3], off the leader: broker 3 copies the log outside the
//     ISR, joins it, and the controller completes the move: 1 leaves the
//     replicas and deletes its partition directory, leadership moves to 2;
//  2. [2 3] -> [2 1], the leader stays: 1 comes back with an empty log and
//     catches up, 3 leaves and deletes its directory.
//
// The new replica must hold the log the partition had when the move
// started; no produce fails (leadership changes are retried); every
// acknowledged record is read back exactly once, in order; the final
// replicas' logs are identical. About 20 s.
func TestReassignUnderLoad(t *testing.T) {
	c := startCluster(t, testcluster.ProcessOptions{Nodes: 3,
		ExtraConfig: map[string]string{"auto.leader.rebalance.enable": "false"}})
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SLUICE_CONFIG_FILE", "")
	t.Setenv("SLUICE_PROFILE", "")
	t.Setenv("SLUICE_BOOTSTRAP", "")
	createTopicAssigned(t, c, reassignTopic, [][]int32{{1, 2}}, map[string]string{"min.insync.replicas": "2"})

	l := newLedger(reassignTopic, 1)
	producer := newIdempotentProducer(t, c)
	stop := l.startProducing(producer)
	l.waitForAcks(t, c, phaseTimeout, 0, 1000)

	moveUnderLoad(t, c, l, []int32{2, 3}, 1, 3)
	moveUnderLoad(t, c, l, []int32{2, 1}, 3, 1)

	l.waitForAcks(t, c, phaseTimeout, l.ackedCount(), 500)
	stop()
	l.finish(t, c, producer)
	l.checkNoFailures(t)
	c.WaitReplicasInSync(t, phaseTimeout, reassignTopic)
	l.verifyExactlyOnce(t, readBack(t, c, reassignTopic))
	c.KillAll()
	c.CompareReplicaLogs(t, reassignTopic, 0, 2, 1)
	if _, err := os.Stat(partitionDir(c, 3)); !os.IsNotExist(err) {
		t.Errorf("node 3's replica directory is still there after the move (%v)", err)
	}
}

// moveUnderLoad reassigns the partition to target with the CLI while l
// keeps producing, and waits until the move is complete: the replicas are
// target, all in the ISR, removed's directory is gone, added holds at
// least the high watermark the partition had when the move started, and
// acknowledgements carry on.
func moveUnderLoad(t *testing.T, c *testcluster.ProcessCluster, l *ledger, target []int32, removed, added int32) {
	t.Helper()
	before := c.PartitionDetail(t, reassignTopic, 0)
	hw := endOffsets(t, c, reassignTopic)[0]
	plan := filepath.Join(t.TempDir(), "plan.json")
	text := fmt.Sprintf(`{"version":1,"partitions":[{"topic":%q,"partition":0,"replicas":[%s],"log_dirs":["any","any"]}]}`,
		reassignTopic, joinIDs(target))
	if err := os.WriteFile(plan, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var executed struct {
		Current struct {
			Partitions []struct {
				Replicas []int32 `json:"replicas"`
			} `json:"partitions"`
		} `json:"current"`
		Started []string `json:"started"`
	}
	runCLI(t, c, &executed, "topic", "reassign", "--execute", "--plan", plan, "-o", "json")
	if len(executed.Started) != 1 || !slices.Equal(executed.Current.Partitions[0].Replicas, before.Replicas) {
		t.Fatalf("execute %v: %+v, replicas were %v", target, executed, before.Replicas)
	}

	var states []string
	elapsed := c.WaitForElapsed(t, phaseTimeout, fmt.Sprintf("the move to %v verified complete", target), func() bool {
		var verified []struct {
			Status   string  `json:"status"`
			Replicas []int32 `json:"replicas"`
			Adding   []int32 `json:"adding"`
			Removing []int32 `json:"removing"`
		}
		runCLI(t, c, &verified, "topic", "reassign", "--verify", "--plan", plan, "-o", "json")
		v := verified[0]
		state := fmt.Sprintf("%s replicas %v adding %v removing %v", v.Status, v.Replicas, v.Adding, v.Removing)
		if len(states) == 0 || states[len(states)-1] != state {
			states = append(states, state)
		}
		if v.Status == "mismatch" {
			t.Fatalf("move to %v: the partition is neither moving nor moved: %s", target, state)
		}
		return v.Status == "complete"
	})
	t.Logf("move %v -> %v complete after %s; states seen: %s", before.Replicas, target, elapsed.Round(time.Millisecond), strings.Join(states, "; "))

	c.Eventually(t, phaseTimeout, fmt.Sprintf("%v in sync with a leader on every node, node %d's replica deleted", target, removed), func() error {
		d := c.PartitionDetail(t, reassignTopic, 0)
		if d.Err != nil || !slices.Equal(d.Replicas, target) || !sameIDs(d.ISR, target) || !slices.Contains(target, d.Leader) {
			return fmt.Errorf("replicas %v, ISR %v, leader %d, error %v", d.Replicas, d.ISR, d.Leader, d.Err)
		}
		if _, err := os.Stat(partitionDir(c, removed)); !os.IsNotExist(err) {
			return fmt.Errorf("node %d's replica directory %s: %v", removed, partitionDir(c, removed), err)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	leo, err := c.ReplicaLogEndOffset(ctx, added, reassignTopic, 0)
	if err != nil || leo < hw {
		t.Fatalf("node %d's new replica ends at %d (%v), before the high watermark %d the partition had when the move started", added, leo, err, hw)
	}
	l.waitForAcks(t, c, phaseTimeout, l.ackedCount(), 500)
}

// runCLI runs sluice in-process against the cluster and decodes its JSON
// output into out.
func runCLI(t *testing.T, c *testcluster.ProcessCluster, out any, args ...string) {
	t.Helper()
	args = append(args, "--bootstrap="+strings.Join(c.Bootstrap(), ","))
	var stdout, stderr bytes.Buffer
	if code := cli.Main(args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("sluice %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("sluice %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
}

// joinIDs spells ids as a JSON list's inside: "2,3".
func joinIDs(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ",")
}

// partitionDir is node id's directory for the partition.
func partitionDir(c *testcluster.ProcessCluster, id int32) string {
	return filepath.Join(c.DataDir(id), reassignTopic+"-0")
}

// sameIDs tells whether a and b hold the same node ids in any order.
func sameIDs(a, b []int32) bool { return slices.Equal(sorted(a), sorted(b)) }
