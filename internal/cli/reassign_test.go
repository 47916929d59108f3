package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// writePlan writes a plan file into a temporary directory.
func writePlan(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// On one broker every plan keeps replicas on broker 1, which is enough to
// drive every mode against a real Sluice: generate a plan, execute it
// (a no-op move completes at once), verify it, find nothing to cancel or
// list, and get Kafka's errors for brokers that do not exist.
func TestTopicReassignOneBroker(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "orders", "--partitions", "3", bs)

	table := mustRun(t, "", "topic", "reassign", "--generate", "--topics", "orders", "--brokers", "1", bs).stdout
	want := `{"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[1],"log_dirs":["any"]},` +
		`{"topic":"orders","partition":1,"replicas":[1],"log_dirs":["any"]},{"topic":"orders","partition":2,"replicas":[1],"log_dirs":["any"]}]}`
	if table != "Current partition replica assignment\n"+want+"\n\nProposed partition reassignment configuration\n"+want+"\n" {
		t.Fatalf("generate printed:\n%s", table)
	}
	var proposed reassignmentPlan
	generated := mustRun(t, "", "topic", "reassign", "--generate", "--topics", "orders", "--brokers", "1", "-o", "json", bs)
	decodeJSON(t, generated, &proposed)
	if len(proposed.Partitions) != 3 || proposed.Version != 1 || !slices.Equal(proposed.Partitions[2].Replicas, []int32{1}) {
		t.Fatalf("generate -o json = %+v", proposed)
	}

	plan := writePlan(t, generated.stdout)
	executed := mustRun(t, "", "topic", "reassign", "--execute", "--plan", plan, bs).stdout
	for _, want := range []string{"Current partition replica assignment", "Save this to use as the --plan during rollback",
		"Successfully started partition reassignment(s) for orders-0,orders-1,orders-2"} {
		if !strings.Contains(executed, want) {
			t.Errorf("execute printed %q, want %q in it", executed, want)
		}
	}
	var execJSON executeResult
	decodeJSON(t, mustRun(t, generated.stdout, "topic", "reassign", "--execute", "--plan", "-", "-o", "json", bs), &execJSON)
	if len(execJSON.Started) != 3 || len(execJSON.Current.Partitions) != 3 {
		t.Fatalf("execute -o json = %+v", execJSON)
	}

	verified := mustRun(t, "", "topic", "reassign", "--verify", "--plan", plan, bs).stdout
	if !strings.Contains(verified, "Status of partition reassignment:\nReassignment of partition orders-0 is completed.\n") ||
		strings.Count(verified, "is completed.") != 3 {
		t.Fatalf("verify printed:\n%s", verified)
	}
	mismatch := writePlan(t, `{"version":1,"partitions":[{"topic":"orders","partition":1,"replicas":[1,2]}]}`)
	var statuses []verifyResult
	decodeJSON(t, mustRun(t, "", "topic", "reassign", "--verify", "--plan", mismatch, "-o", "json", bs), &statuses)
	if len(statuses) != 1 || statuses[0].Status != reassignMismatch || !slices.Equal(statuses[0].Replicas, []int32{1}) {
		t.Fatalf("verify of a plan not carried out = %+v", statuses)
	}
	if out := mustRun(t, "", "topic", "reassign", "--verify", "--plan", mismatch, bs).stdout; !strings.Contains(out,
		"There is no active reassignment of partition orders-1, but replica set is 1 rather than 1,2.") {
		t.Fatalf("verify mismatch printed:\n%s", out)
	}

	if out := mustRun(t, "", "topic", "reassign", "--cancel", "--plan", plan, bs).stdout; out != "None of the specified partition reassignments are active.\n" {
		t.Fatalf("cancel printed %q", out)
	}
	var cancelled cancelResult
	decodeJSON(t, mustRun(t, "", "topic", "reassign", "--cancel", "--all", "-o", "json", bs), &cancelled)
	if len(cancelled.Cancelled) != 0 {
		t.Fatalf("cancel --all = %+v", cancelled)
	}
	if out := mustRun(t, "", "topic", "reassign", "--list", bs).stdout; out != "No partition reassignments in progress.\n" {
		t.Fatalf("list printed %q", out)
	}
	var listed []ongoingReassignment
	decodeJSON(t, mustRun(t, "", "topic", "reassign", "--list", "--topics", "orders", "-o", "json", bs), &listed)
	if len(listed) != 0 {
		t.Fatalf("list -o json = %+v", listed)
	}

	unknownBroker := writePlan(t, `{"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[1,9]}]}`)
	mustFail(t, "partition orders-0: Replica assignment is invalid. (INVALID_REPLICA_ASSIGNMENT): The manual partition assignment includes broker 9, but no such broker is registered.",
		"topic", "reassign", "--execute", "--plan", unknownBroker, bs)
	missing := writePlan(t, `{"version":1,"partitions":[{"topic":"orders","partition":7,"replicas":[1]}]}`)
	mustFail(t, "partition orders-7 does not exist", "topic", "reassign", "--execute", "--plan", missing, bs)
	mustFail(t, `topic "nope" does not exist`, "topic", "reassign", "--execute", "--plan",
		writePlan(t, `{"version":1,"partitions":[{"topic":"nope","partition":0,"replicas":[1]}]}`), bs)
	mustFail(t, "broker(s) 9 are not in the cluster", "topic", "reassign", "--generate", "--topics", "orders", "--brokers", "1,9", bs)
	mustFail(t, "--generate needs --topics", "topic", "reassign", "--generate", "--brokers", "1", bs)
	mustFail(t, "--generate needs --brokers", "topic", "reassign", "--generate", "--topics", "orders", bs)
	mustFail(t, "names broker 1 more than once", "topic", "reassign", "--generate", "--topics", "orders", "--brokers", "1,1", bs)
	mustFail(t, `topic "nope" does not exist`, "topic", "reassign", "--generate", "--topics", "nope", "--brokers", "1", bs)
	mustFail(t, "give exactly one of --generate, --execute, --verify, --cancel and --list", "topic", "reassign", bs)
	mustFail(t, "give exactly one of", "topic", "reassign", "--verify", "--list", bs)
	mustFail(t, "--plan FILE", "topic", "reassign", "--execute", bs)
	mustFail(t, "--plan FILE or --all, not both", "topic", "reassign", "--cancel", "--all", "--plan", plan, bs)
}

func TestParsePlan(t *testing.T) {
	plan, err := parsePlan([]byte(`{"version":1,"partitions":[{"topic":"a","partition":1,"replicas":[3,1],"log_dirs":["any","any"]},{"topic":"a","partition":0,"replicas":[2]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Partitions) != 2 || !slices.Equal(plan.Partitions[0].Replicas, []int32{3, 1}) || plan.Partitions[1].Partition != 0 {
		t.Fatalf("plan %+v", plan)
	}
	tests := map[string]string{
		`not json`: "plan is not reassignment JSON",
		`{"version":2,"partitions":[{"topic":"a","partition":0,"replicas":[1]}]}`:                                            "plan version 2: want 1",
		`{"version":1,"partitions":[]}`:                                                                                      "plan has no partitions",
		`{"version":1,"partitions":[{"partition":0,"replicas":[1]}]}`:                                                        "without a topic",
		`{"version":1,"partitions":[{"topic":"a","partition":-1,"replicas":[1]}]}`:                                           "negative partition",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}`: "names partition a-0 more than once",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[]}]}`:                                             "the replica list is empty",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,1]}]}`:                                          "replica 1 is listed more than once",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}`:                       "1 log_dirs for 2 replicas",
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["/data"]}]}`:                       `log dir "/data"`,
		`{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1]}]} {}`:                                         "more than one JSON value",
	}
	for text, want := range tests {
		if _, err := parsePlan([]byte(text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parsePlan(%s) = %v, want an error about %q", text, err, want)
		}
	}
}

// Kafka's striped placement: every partition's replicas are distinct, and
// leaders and replicas spread evenly; the same input gives the same plan.
func TestStripedAssignment(t *testing.T) {
	brokers := []int32{1, 2, 3}
	got := stripedAssignment("orders", 6, 2, brokers)
	leaders, replicas := map[int32]int{}, map[int32]int{}
	for p, rs := range got {
		if len(rs) != 2 || rs[0] == rs[1] {
			t.Fatalf("partition %d: replicas %v", p, rs)
		}
		leaders[rs[0]]++
		for _, r := range rs {
			replicas[r]++
		}
	}
	for _, b := range brokers {
		if leaders[b] != 2 || replicas[b] != 4 {
			t.Fatalf("broker %d leads %d and holds %d of %v, want 2 and 4", b, leaders[b], replicas[b], got)
		}
	}
	if again := stripedAssignment("orders", 6, 2, brokers); !reflect.DeepEqual(again, got) {
		t.Fatalf("not deterministic: %v then %v", got, again)
	}
	if all := stripedAssignment("t", 4, 3, brokers); !slices.Equal(sorted32(all[0]), brokers) {
		t.Fatalf("replication factor 3 on 3 brokers: %v", all)
	}
}

func sorted32(ids []int32) []int32 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

// reassigningCluster is a kfake broker whose topic "orders" (2 partitions)
// has partition 0 being moved from [0] to [1] (kfake cannot move replicas;
// the listing is staged), and which records the reassignment requests and
// accepts them.
type reassigningCluster struct {
	addr string
	mu   sync.Mutex
	sent []*kmsg.AlterPartitionAssignmentsRequest
}

func newReassigningCluster(t *testing.T) *reassigningCluster {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders"))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	rc := &reassigningCluster{addr: cluster.ListenAddrs()[0]}
	cluster.ControlKey(kmsg.ListPartitionReassignments.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		for _, rt := range req.(*kmsg.ListPartitionReassignmentsRequest).Topics {
			if rt.Topic != "orders" || !slices.Contains(rt.Partitions, 0) {
				continue
			}
			topic := kmsg.NewListPartitionReassignmentsResponseTopic()
			topic.Topic = "orders"
			p := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			p.Replicas, p.AddingReplicas, p.RemovingReplicas = []int32{1, 0}, []int32{1}, []int32{0}
			topic.Partitions = append(topic.Partitions, p)
			resp.Topics = append(resp.Topics, topic)
		}
		return resp, nil, true
	})
	cluster.ControlKey(kmsg.AlterPartitionAssignments.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		r := req.(*kmsg.AlterPartitionAssignmentsRequest)
		rc.mu.Lock()
		rc.sent = append(rc.sent, r)
		rc.mu.Unlock()
		resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		for _, rt := range r.Topics {
			topic := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			topic.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
				p.Partition = rp.Partition
				topic.Partitions = append(topic.Partitions, p)
			}
			resp.Topics = append(resp.Topics, topic)
		}
		return resp, nil, true
	})
	return rc
}

func (rc *reassigningCluster) requests() []*kmsg.AlterPartitionAssignmentsRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.sent)
}

// A reassignment in progress: listed with its adding and removing
// replicas, reported in progress by --verify, protected from a second
// --execute unless --additional, and cancelled by --cancel.
func TestTopicReassignInProgress(t *testing.T) {
	isolateEnvironment(t)
	rc := newReassigningCluster(t)
	bs := "--bootstrap=" + rc.addr
	plan := writePlan(t, `{"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[1]},{"topic":"orders","partition":1,"replicas":[0]}]}`)

	list := mustRun(t, "", "topic", "reassign", "--list", bs).stdout
	if !strings.Contains(list, "TOPIC   PARTITION  REPLICAS  ADDING  REMOVING\norders  0          1,0       1       0") {
		t.Fatalf("list printed:\n%s", list)
	}
	var listed []ongoingReassignment
	decodeJSON(t, mustRun(t, "", "topic", "reassign", "--list", "-o", "json", bs), &listed)
	if want := []ongoingReassignment{{Topic: "orders", Replicas: []int32{1, 0}, Adding: []int32{1}, Removing: []int32{0}}}; !reflect.DeepEqual(listed, want) {
		t.Fatalf("list -o json = %+v, want %+v", listed, want)
	}

	verified := mustRun(t, "", "topic", "reassign", "--verify", "--plan", plan, bs).stdout
	if !strings.Contains(verified, "Reassignment of partition orders-0 is still in progress (replicas 1,0, adding 1, removing 0).") ||
		!strings.Contains(verified, "Reassignment of partition orders-1 is completed.") {
		t.Fatalf("verify printed:\n%s", verified)
	}

	mustFail(t, "partition(s) orders-0 are being reassigned already", "topic", "reassign", "--execute", "--plan", plan, bs)
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("a refused execute sent %d requests", n)
	}
	mustRun(t, "", "topic", "reassign", "--execute", "--additional", "--plan", plan, bs)
	sent := rc.requests()
	if len(sent) != 1 || len(sent[0].Topics) != 1 || len(sent[0].Topics[0].Partitions) != 2 {
		t.Fatalf("execute --additional sent %+v", sent)
	}

	var cancelled cancelResult
	decodeJSON(t, mustRun(t, "", "topic", "reassign", "--cancel", "--plan", plan, "-o", "json", bs), &cancelled)
	if !reflect.DeepEqual(cancelled, cancelResult{Cancelled: []string{"orders-0"}, NotActive: []string{"orders-1"}}) {
		t.Fatalf("cancel = %+v", cancelled)
	}
	sent = rc.requests()
	if last := sent[len(sent)-1]; len(last.Topics) != 1 || len(last.Topics[0].Partitions) != 1 || last.Topics[0].Partitions[0].Replicas != nil {
		t.Fatalf("cancel sent %+v, want orders-0 with null replicas", last)
	}
	if out := mustRun(t, "", "topic", "reassign", "--cancel", "--all", bs).stdout; out != "Successfully cancelled partition reassignment(s) for: orders-0\n" {
		t.Fatalf("cancel --all printed %q", out)
	}
}

// A cancel the controller refuses (an unclean revert) is an error naming
// the partition and the broker's reason.
func TestTopicReassignCancelRefused(t *testing.T) {
	isolateEnvironment(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cluster.ControlKey(kmsg.ListPartitionReassignments.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		topic := kmsg.NewListPartitionReassignmentsResponseTopic()
		topic.Topic = "orders"
		topic.Partitions = append(topic.Partitions, kmsg.NewListPartitionReassignmentsResponseTopicPartition())
		resp.Topics = append(resp.Topics, topic)
		return resp, nil, true
	})
	cluster.ControlKey(kmsg.AlterPartitionAssignments.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		topic := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		topic.Topic = "orders"
		p := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		p.ErrorCode = kerr.InvalidReplicaAssignment.Code
		p.ErrorMessage = kmsg.StringPtr("Unable to revert partition assignment for orders:0 because it would require an unclean leader election.")
		topic.Partitions = append(topic.Partitions, p)
		resp.Topics = append(resp.Topics, topic)
		return resp, nil, true
	})
	mustFail(t, "partition orders-0: Replica assignment is invalid. (INVALID_REPLICA_ASSIGNMENT): Unable to revert partition assignment",
		"topic", "reassign", "--cancel", "--all", "--bootstrap="+cluster.ListenAddrs()[0])
}
