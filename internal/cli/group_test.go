package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// joinGroup starts a kgo group member on topic and polls until it has been
// assigned partitions; it leaves the group when the test ends or when the
// returned stop is called.
func joinGroup(t *testing.T, b *testcluster.Broker, group, topic string) (stop func()) {
	t.Helper()
	assigned := make(chan struct{}, 1)
	member, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ClientID("test-member"), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			select {
			case assigned <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			member.PollFetches(ctx)
		}
	}()
	select {
	case <-assigned:
	case <-time.After(15 * time.Second):
		t.Fatal("the group member was never assigned partitions")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-polled
		member.Close()
	}
	t.Cleanup(stop)
	return stop
}

func TestGroupDescribeShowsMembersAssignmentsAndLag(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "orders", "-p", "2", bs)
	mustRun(t, "a\nb\nc\nd\n", "produce", "orders", "-p", "0", bs)
	mustRun(t, "", "consume", "orders", "-g", "billing", "--from", "beginning", "-n", "1", "-q", bs)
	joinGroup(t, b, "billing", "orders")

	var groups []groupDescription
	decodeJSON(t, mustRun(t, "", "group", "describe", "billing", "-o", "json", bs), &groups)
	g := groups[0]
	if g.State != "Stable" || len(g.Members) != 1 || g.ProtocolType != "consumer" || g.Coordinator != 1 {
		t.Fatalf("describe = %+v: want one member of a Stable consumer group", g)
	}
	m := g.Members[0]
	if m.ClientID != "test-member" || len(m.Assignment) != 1 || m.Assignment[0].Topic != "orders" || len(m.Assignment[0].Partitions) != 2 {
		t.Errorf("member %+v: want test-member assigned orders 0 and 1", m)
	}
	if len(g.Offsets) != 2 || g.TotalLag != 3 {
		t.Fatalf("offsets %+v total lag %d: want two partitions, lag 3 (4 records, 1 committed)", g.Offsets, g.TotalLag)
	}
	p0 := g.Offsets[0]
	if *p0.CommittedOffset != 1 || p0.EndOffset != 4 || *p0.Lag != 3 || p0.MemberID != m.MemberID {
		t.Errorf("partition 0 = %+v: want committed 1, end 4, lag 3, owned by the member", p0)
	}
	if p1 := g.Offsets[1]; p1.CommittedOffset != nil || *p1.Lag != 0 {
		t.Errorf("partition 1 = %+v: want no commit and lag 0 (empty partition)", p1)
	}

	table := mustRun(t, "", "group", "describe", "billing", bs).stdout
	for _, want := range []string{"Group: billing  State: Stable", "Members: 1  Total lag: 3",
		"TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG", "orders  0          1               4               3",
		"MEMBER-ID", "orders:0,1"} {
		if !strings.Contains(table, want) {
			t.Errorf("describe table lacks %q:\n%s", want, table)
		}
	}
	list := mustRun(t, "", "group", "list", bs).stdout
	if !strings.Contains(list, "GROUP    STATE   PROTOCOL-TYPE  COORDINATOR\nbilling  Stable  consumer       1") {
		t.Errorf("group list:\n%s", list)
	}
	var listed []groupSummary
	decodeJSON(t, mustRun(t, "", "group", "list", "--state", "Empty", "-o", "json", bs), &listed)
	if len(listed) != 0 {
		t.Errorf("--state Empty listed %+v, want none", listed)
	}

	// An active group can be neither reset nor deleted.
	mustFail(t, `group "billing" is Stable with 1 member(s)`, "group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", bs)
	mustFail(t, `group "billing" still has active members`, "group", "delete", "billing", bs)
	mustFail(t, `group "nobody" does not exist`, "group", "describe", "nobody", bs)
}

func TestGroupResetOffsetsPlansThenExecutes(t *testing.T) {
	b := startBroker(t)
	bs := "--bootstrap=" + b.Addr()
	mustRun(t, "", "topic", "create", "orders", "-p", "2", bs)
	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf(`{"value":"v","partition":%d,"timestamp":%d}`, i%2, 1700000000000+int64(i)*1000))
	}
	mustRun(t, strings.Join(lines, "\n"), "produce", "orders", "--input", "json", bs)
	mustRun(t, "", "consume", "orders", "-g", "billing", "--from", "beginning", "-q", bs)

	var plan resetPlan
	decodeJSON(t, mustRun(t, "", "group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", "-o", "json", bs), &plan)
	if plan.Executed || len(plan.Partitions) != 2 || *plan.Partitions[0].CurrentOffset != 5 || plan.Partitions[0].NewOffset != 0 {
		t.Fatalf("dry run plan %+v: want both partitions from 5 to 0, not executed", plan)
	}
	if lag := groupLag(t, bs, "billing"); lag != 0 {
		t.Fatalf("a dry run changed the group: lag %d", lag)
	}
	dry := mustRun(t, "", "group", "reset-offsets", "billing", "--topic", "orders:1", "--shift-by", "-2", bs).stdout
	if !strings.Contains(dry, "orders  1          5               3") || !strings.Contains(dry, "Dry run: nothing changed. Add --execute") {
		t.Errorf("dry run table:\n%s", dry)
	}

	mustRun(t, "", "group", "reset-offsets", "billing", "--topic", "orders:1", "--shift-by", "-2", "--execute", bs)
	if lag := groupLag(t, bs, "billing"); lag != 2 {
		t.Fatalf("after --shift-by -2 on one partition: lag %d, want 2", lag)
	}
	// Records at 1700000000000 + i s, even i on partition 0, odd on 1: from
	// 1700000006000 on, partition 0 holds i=6,8 (offsets 3,4), partition 1
	// i=7,9 (offsets 3,4).
	decodeJSON(t, mustRun(t, "", "group", "reset-offsets", "billing", "--all-topics", "--to-datetime", "@1700000006000", "--execute", "-o", "json", bs), &plan)
	if !plan.Executed || plan.Partitions[0].NewOffset != 3 || plan.Partitions[1].NewOffset != 3 {
		t.Fatalf("--to-datetime plan %+v: want offset 3 in both partitions", plan)
	}
	if lag := groupLag(t, bs, "billing"); lag != 4 {
		t.Fatalf("after --to-datetime: lag %d, want 4", lag)
	}
	decodeJSON(t, mustRun(t, "", "group", "reset-offsets", "billing", "--all-topics", "--to-offset", "99", "--execute", "-o", "json", bs), &plan)
	if plan.Partitions[0].NewOffset != 5 {
		t.Errorf("--to-offset 99 gave %d, want it clamped to the end, 5", plan.Partitions[0].NewOffset)
	}
	decodeJSON(t, mustRun(t, "", "group", "reset-offsets", "fresh", "--topic", "orders", "--to-latest", "--execute", "-o", "json", bs), &plan)
	if len(plan.Partitions) != 2 || plan.Partitions[0].CurrentOffset != nil || plan.Partitions[0].NewOffset != 5 {
		t.Errorf("reset of a new group %+v: want offsets created at the end", plan)
	}

	mustFail(t, "give exactly one of --to-earliest", "group", "reset-offsets", "billing", "--topic", "orders", bs)
	mustFail(t, "give exactly one of --to-earliest", "group", "reset-offsets", "billing", "--topic", "orders", "--to-earliest", "--to-latest", bs)
	mustFail(t, "give --topic (repeatable) or --all-topics", "group", "reset-offsets", "billing", "--to-earliest", bs)
	mustFail(t, "partition 7 of topic \"orders\" does not exist", "group", "reset-offsets", "billing", "--topic", "orders:7", "--to-earliest", bs)
	mustFail(t, `topic "ghost" does not exist`, "group", "reset-offsets", "billing", "--topic", "ghost", "--to-earliest", bs)
	mustFail(t, "has no committed offset to shift from", "group", "reset-offsets", "other", "--topic", "orders", "--shift-by", "1", bs)
	mustFail(t, "--to-datetime: time \"noon\"", "group", "reset-offsets", "billing", "--all-topics", "--to-datetime", "noon", bs)

	deleted := mustRun(t, "", "group", "delete", "billing", bs)
	if strings.TrimSpace(deleted.stdout) != `Deleted group "billing".` {
		t.Errorf("delete printed %q", deleted.stdout)
	}
	mustFail(t, `group "billing" does not exist`, "group", "delete", "billing", bs)
}

// groupLag reads a group's total lag through the CLI.
func groupLag(t *testing.T, bs, group string) int64 {
	t.Helper()
	var groups []groupDescription
	decodeJSON(t, mustRun(t, "", "group", "describe", group, "-o", "json", bs), &groups)
	return groups[0].TotalLag
}
