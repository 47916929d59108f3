package groups

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

// Consumer groups of the consumer rebalance protocol (KIP-848), driven by
// kgo's ServerSideBalancer: the broker assigns partitions.

const (
	// consumerSessionTimeout is the broker's group.consumer.session.timeout.ms
	// in these tests: KIP-848 members do not choose their session.
	consumerSessionTimeout = 2 * time.Second
	// consumerHeartbeatInterval is group.consumer.heartbeat.interval.ms.
	consumerHeartbeatInterval = 200 * time.Millisecond
)

// startBroker848 starts a broker whose consumer groups use short sessions
// and heartbeat intervals.
func startBroker848(t *testing.T, opts ...testcluster.Option) *testcluster.Broker {
	t.Helper()
	short := testcluster.WithConfig(func(c *config.Broker) {
		c.GroupConsumerMinSessionTimeoutMs = int32(consumerSessionTimeout / time.Millisecond)
		c.GroupConsumerSessionTimeoutMs = int32(consumerSessionTimeout / time.Millisecond)
		c.GroupConsumerMinHeartbeatIntervalMs = int32(consumerHeartbeatInterval / time.Millisecond)
		c.GroupConsumerHeartbeatIntervalMs = int32(consumerHeartbeatInterval / time.Millisecond)
	})
	return startBroker(t, append([]testcluster.Option{short}, opts...)...)
}

// serverSide are the kgo options of a KIP-848 member whose broker-side
// assignor is the one kgo maps balancer to ("range", or "uniform" for the
// sticky balancer).
func serverSide(balancer kgo.GroupBalancer) []kgo.Opt {
	return []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(balancer)}
}

// Three KIP-848 members over twelve partitions, with each server-side
// assignor: every partition is owned by exactly one member, and
// ConsumerGroupDescribe agrees. A member whose network is cut is fenced
// after group.consumer.session.timeout.ms and its partitions move; a
// member that leaves hands its partitions over at once. Every record
// produced is consumed.
func TestKIP848MembersSharePartitionsAndTakeOverFromDeadOnes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		assignor string
		balancer func() kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer},
		{"uniform", kgo.StickyBalancer},
	} {
		t.Run(tc.assignor, func(t *testing.T) {
			b := startBroker848(t)
			adm := b.Admin()
			topic, group := topicName(t, "topic"), topicName(t, "group")
			createTopic(t, b, topic, groupPartitions)
			produced := produceRecords(t, b, topic, groupPartitions, "before", 240)
			opts := serverSide(tc.balancer())
			members := []*member{
				startMember(t, b, "member-0", group, topic, opts...),
				startMember(t, b, "member-1", group, topic, opts...),
				startMember(t, b, "member-2", group, topic, opts...),
			}
			waitBalanced848(t, adm, group, topic, members, testTimeout)
			described := describeConsumerGroup(t, adm, group)
			if described.AssignorName != tc.assignor || described.State != "Stable" {
				t.Errorf("group %s: assignor %q state %q, want %s and Stable", group, described.AssignorName, described.State, tc.assignor)
			}

			dead := members[0]
			dead.kill()
			killed := time.Now()
			commitsAtDeath := committedOffsets(t, adm, group, topic)
			waitBalanced848(t, adm, group, topic, live(members), consumerSessionTimeout+testTimeout)
			took := time.Since(killed)
			t.Logf("%s: dead member's partitions reassigned %v after its network was cut (session timeout %v)", tc.assignor, took, consumerSessionTimeout)
			if took < consumerSessionTimeout-consumerHeartbeatInterval {
				t.Errorf("partitions moved %v after the cut, before the session timeout %v could expire", took, consumerSessionTimeout)
			}
			if latest := consumerSessionTimeout + 3*time.Second; took > latest {
				t.Errorf("partitions moved %v after the cut, want within %v", took, latest)
			}

			leaving := members[1]
			leaving.stop()
			left := time.Now()
			waitBalanced848(t, adm, group, topic, []*member{members[2]}, testTimeout)
			if took := time.Since(left); took > consumerSessionTimeout {
				t.Errorf("a leaving member's partitions moved after %v: the leave was not seen (session timeout %v)", took, consumerSessionTimeout)
			}
			produced = append(produced, produceRecords(t, b, topic, groupPartitions, "after", 120)...)
			waitAllConsumed(t, members, produced, map[*member]map[int32]int64{dead: commitsAtDeath})
		})
	}
}

// Commits of a KIP-848 member survive a broker restart, and so does the
// group: its members keep their epochs across the reload (their sessions
// restart) and the next member of the group resumes from the commits.
func TestKIP848CommitsAndGroupSurviveRestart(t *testing.T) {
	b := startBroker848(t)
	adm := b.Admin()
	topic, group := topicName(t, "topic"), topicName(t, "group")
	const partitions = 4
	createTopic(t, b, topic, partitions)
	before := produceRecords(t, b, topic, partitions, "before", 40)
	first := startMember(t, b, "first", group, topic, serverSide(kgo.RangeBalancer())...)
	waitAllConsumed(t, []*member{first}, before, nil)
	waitFor(t, testTimeout, "commits of the first member", func() string {
		committed := committedOffsets(t, adm, group, topic)
		if total := sumOffsets(committed); total != 40 {
			return fmt.Sprintf("committed offsets add up to %d, want 40", total)
		}
		return ""
	})
	epochBefore := describeConsumerGroup(t, adm, group).Epoch

	b.Restart()
	adm = b.Admin()
	if committed := committedOffsets(t, adm, group, topic); sumOffsets(committed) != 40 {
		t.Fatalf("after restart committed %v, want 40 records' worth", committed)
	}
	waitFor(t, testTimeout, "group reloaded", func() string {
		d, err := adm.DescribeConsumerGroups(testContext(t), group)
		if err != nil {
			return err.Error()
		}
		g := d[group]
		if g.Err != nil || g.Epoch < epochBefore || len(g.Members) != 1 {
			return fmt.Sprintf("epoch %d (was %d), %d members, error %v", g.Epoch, epochBefore, len(g.Members), g.Err)
		}
		return ""
	})
	first.stop()

	after := produceRecords(t, b, topic, partitions, "after", 40)
	next := startMember(t, b, "next", group, topic, serverSide(kgo.RangeBalancer())...)
	waitAllConsumed(t, []*member{next}, after, nil)
	if n := next.book.count(); n != 40 {
		t.Errorf("the next member consumed %d records, want only the 40 produced after the commits", n)
	}
}

func sumOffsets(offsets map[int32]int64) int64 {
	var total int64
	for _, o := range offsets {
		total += o
	}
	return total
}

// A classic group and a consumer group on one broker at once, consuming
// the same topic: each gets every record, ListGroups reports each with its
// type, DescribeGroups does not describe the consumer group, OffsetFetch
// v9 checks the member of the consumer group, and a classic member cannot
// join the consumer group while it has members.
func TestKIP848ClassicAndConsumerGroupsSideBySide(t *testing.T) {
	b := startBroker848(t)
	adm := b.Admin()
	topic := topicName(t, "topic")
	classicGroup, consumerGroup := topicName(t, "classic"), topicName(t, "consumer")
	createTopic(t, b, topic, groupPartitions)
	produced := produceRecords(t, b, topic, groupPartitions, "both", 120)

	classic := startMember(t, b, "classic", classicGroup, topic, kgo.Balancers(kgo.RangeBalancer()))
	modern := startMember(t, b, "modern", consumerGroup, topic, serverSide(kgo.RangeBalancer())...)
	waitAllConsumed(t, []*member{classic}, produced, nil)
	waitAllConsumed(t, []*member{modern}, produced, nil)

	waitFor(t, testTimeout, "both groups listed by their types", func() string {
		for _, want := range []struct{ group, groupType, other string }{
			{classicGroup, "classic", consumerGroup},
			{consumerGroup, "consumer", classicGroup},
		} {
			listed, err := adm.ListGroupsByType(testContext(t), []string{want.groupType})
			if err != nil {
				return err.Error()
			}
			got, ok := listed[want.group]
			if !ok || got.ProtocolType != "consumer" || got.State != "Stable" {
				return fmt.Sprintf("type %s: %s listed as %+v (present %v)", want.groupType, want.group, got, ok)
			}
			if _, wrong := listed[want.other]; wrong {
				return fmt.Sprintf("type %s lists %s", want.groupType, want.other)
			}
		}
		return ""
	})
	described, err := adm.DescribeGroups(testContext(t), consumerGroup)
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	if d := described[consumerGroup]; d.Err == nil || d.State != "Dead" {
		t.Errorf("DescribeGroups of a consumer group: state %q error %v, want Dead with GROUP_ID_NOT_FOUND", d.State, d.Err)
	}

	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetchGroup := kmsg.NewOffsetFetchRequestGroup()
	fetchGroup.Group, fetchGroup.MemberID, fetchGroup.MemberEpoch = consumerGroup, kmsg.StringPtr("ghost"), 5
	fetch.Groups = append(fetch.Groups, fetchGroup)
	fetched, err := fetch.RequestWith(testContext(t), b.Client())
	if err != nil || len(fetched.Groups) != 1 {
		t.Fatalf("offset fetch: %v", err)
	}
	if err := kerr.ErrorForCode(fetched.Groups[0].ErrorCode); err != kerr.UnknownMemberID {
		t.Errorf("OffsetFetch v9 by an unknown member of a consumer group: %v, want UNKNOWN_MEMBER_ID", err)
	}

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType = consumerGroup, "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10_000, 10_000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: (&kmsg.ConsumerMemberMetadata{Topics: []string{topic}}).AppendTo(nil)}}
	resp, err := join.RequestWith(testContext(t), b.Client(kgo.ConsumerGroup(consumerGroup)))
	if err != nil {
		t.Fatalf("join group: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.InconsistentGroupProtocol {
		t.Errorf("classic JoinGroup into a consumer group with members: %v, want INCONSISTENT_GROUP_PROTOCOL", err)
	}
}

// waitBalanced848 waits until the members' own views and
// ConsumerGroupDescribe agree that the group is Stable with exactly these
// members and every one of the groupPartitions partitions of topic owned
// by exactly one of them.
func waitBalanced848(t testing.TB, adm *kadm.Client, group, topic string, members []*member, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "consumer group balanced", func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return balanced848(ctx, adm, group, topic, members)
	})
}

func balanced848(ctx context.Context, adm *kadm.Client, group, topic string, members []*member) string {
	owner := map[int32]string{}
	byID := map[string][]int32{}
	for _, m := range members {
		mine := m.partitions()
		for _, p := range mine {
			if other, taken := owner[p]; taken {
				return fmt.Sprintf("partition %d owned by both %s and %s", p, other, m.name)
			}
			owner[p] = m.name
		}
		byID[m.memberID()] = mine
	}
	if len(owner) != groupPartitions {
		return fmt.Sprintf("members own %d partitions", len(owner))
	}
	described, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		return fmt.Sprintf("describe consumer group: %v", err)
	}
	g := described[group]
	if g.Err != nil || g.State != "Stable" || len(g.Members) != len(members) {
		return fmt.Sprintf("group state %q with %d members (error %v), want Stable with %d", g.State, len(g.Members), g.Err, len(members))
	}
	for _, dm := range g.Members {
		want, ok := byID[dm.MemberID]
		if !ok {
			return fmt.Sprintf("ConsumerGroupDescribe lists unknown member %s", dm.MemberID)
		}
		var got []int32
		for p := range dm.Assignment[topic] {
			got = append(got, p)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Sprintf("member %s: coordinator says %v, member owns %v", dm.MemberID, got, want)
		}
	}
	return ""
}

// describeConsumerGroup describes one consumer group, failing the test on
// an error.
func describeConsumerGroup(t testing.TB, adm *kadm.Client, group string) kadm.DescribedConsumerGroup {
	t.Helper()
	described, err := adm.DescribeConsumerGroups(testContext(t), group)
	if err == nil {
		err = described.Error()
	}
	if err != nil {
		t.Fatalf("describe consumer group %s: %v", group, err)
	}
	return described[group]
}
