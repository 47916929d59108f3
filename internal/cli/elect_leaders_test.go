package cli

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// On one broker every partition is led by its preferred (only) replica,
// so every election is "not needed": reported, not an error.
func TestClusterElectLeadersOneBroker(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "orders", "--partitions", "2", bs)

	out := mustRun(t, "", "cluster", "elect-leaders", "--topic", "orders", bs).stdout
	if out != "Valid replica already elected for partitions orders-0, orders-1\n" {
		t.Fatalf("elect-leaders --topic printed %q", out)
	}
	var rows []electionResult
	decodeJSON(t, mustRun(t, "", "cluster", "elect-leaders", "--topic", "orders", "--partition", "1", "--election-type", "unclean", "-o", "json", bs), &rows)
	if want := []electionResult{{Topic: "orders", Partition: 1, Result: electionNotNeeded}}; !reflect.DeepEqual(rows, want) {
		t.Fatalf("unclean election of a led partition = %+v, want %+v", rows, want)
	}
	// Over every partition the controller leaves out elections not needed.
	if out := mustRun(t, "", "cluster", "elect-leaders", "--all", bs).stdout; out != "No partition needed a leader election.\n" {
		t.Fatalf("elect-leaders --all printed %q", out)
	}

	mustFail(t, "name the partitions: --topic TOPIC", "cluster", "elect-leaders", bs)
	mustFail(t, "--all elects every partition", "cluster", "elect-leaders", "--all", "--topic", "orders", bs)
	mustFail(t, `--election-type "dirty": want preferred or unclean`, "cluster", "elect-leaders", "--all", "--election-type", "dirty", bs)
	mustFail(t, `topic "nope" does not exist`, "cluster", "elect-leaders", "--topic", "nope", bs)
	mustFail(t, "partition orders-5 does not exist", "cluster", "elect-leaders", "--topic", "orders", "--partition", "5", bs)
}

// Elections that happen, and one that fails, as the controller answers
// them (staged on kfake): the failure is printed with its reason and makes
// the command exit non-zero.
func TestClusterElectLeadersResults(t *testing.T) {
	isolateEnvironment(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	var mu sync.Mutex
	var asked []int32
	var askedType int8
	seen := func() ([]int32, int8) {
		mu.Lock()
		defer mu.Unlock()
		got := slices.Clone(asked)
		slices.Sort(got)
		asked = nil
		return got, askedType
	}
	cluster.ControlKey(kmsg.ElectLeaders.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		r := req.(*kmsg.ElectLeadersRequest)
		askedType = r.ElectionType
		resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
		topic := kmsg.NewElectLeadersResponseTopic()
		topic.Topic = "orders"
		for _, p := range r.Topics[0].Partitions {
			asked = append(asked, p)
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = p
			if p == 2 {
				rp.ErrorCode = kerr.PreferredLeaderNotAvailable.Code
				rp.ErrorMessage = kmsg.StringPtr("The preferred leader was not available.")
			}
			topic.Partitions = append(topic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, topic)
		return resp, nil, true
	})
	bs := "--bootstrap=" + cluster.ListenAddrs()[0]
	r := runCLI(t, "", "cluster", "elect-leaders", "--topic", "orders", bs)
	if r.code == 0 || !strings.Contains(r.stderr, "1 of 3 leader election(s) failed") {
		t.Fatalf("exit %d, stderr %q: want a failure for orders-2", r.code, r.stderr)
	}
	for _, want := range []string{"Successfully completed leader election (PREFERRED) for partitions orders-0, orders-1",
		"Error completing leader election (PREFERRED) for partition orders-2: The preferred leader was not available (PREFERRED_LEADER_NOT_AVAILABLE): The preferred leader was not available."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if got, typ := seen(); !slices.Equal(got, []int32{0, 1, 2}) || typ != 0 {
		t.Fatalf("asked for partitions %v (type %d), want every partition of orders, preferred", got, typ)
	}
	mustRun(t, "", "cluster", "elect-leaders", "--topic", "orders", "--partition", "0,1", "--election-type", "UNCLEAN", bs)
	if got, typ := seen(); !slices.Equal(got, []int32{0, 1}) || typ != 1 {
		t.Fatalf("asked for partitions %v (type %d), want 0 and 1, unclean", got, typ)
	}
}
