package groups

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The group admin APIs through kadm, over one group's life: an offset
// committed by an admin (no member) for a topic nobody consumes, three
// members on another topic, then the members leave and the group is
// deleted (and stays deleted across a restart).
//
//   - DescribeGroups: Stable, protocol type "consumer", the balancer's
//     name, every member with its client ID, host, subscription and
//     assignment.
//   - ListGroups: the state filter (KIP-518) and the type filter (KIP-848:
//     a classic group is "classic", never "consumer").
//   - DeleteGroups: NON_EMPTY_GROUP while members are in it; once empty it
//     is deleted with its offsets; an unknown group is GROUP_ID_NOT_FOUND.
//   - OffsetDelete (KIP-496): GROUP_SUBSCRIBED_TO_TOPIC for a topic the
//     members subscribe to; allowed for other topics, and for every topic
//     once the group is empty.
func TestGroupAdminAPIs(t *testing.T) {
	b := startBroker(t)
	adm := b.Admin()
	ctx := testContext(t)
	topic, other, group := topicName(t, "topic"), topicName(t, "other"), topicName(t, "group")
	idle := topicName(t, "idle-group")
	createTopic(t, b, topic, 6)
	createTopic(t, b, other, 2)
	produced := produceRecords(t, b, topic, 6, "admin", 60)

	adminCommit(t, adm, group, other, map[int32]int64{0: 5, 1: 7})
	adminCommit(t, adm, idle, other, map[int32]int64{0: 1})
	wantListed(t, adm, nil, []string{"Empty"}, map[string]bool{group: true, idle: true})

	members := []*member{
		startMember(t, b, "member-0", group, topic, kgo.Balancers(kgo.RangeBalancer())),
		startMember(t, b, "member-1", group, topic, kgo.Balancers(kgo.RangeBalancer())),
		startMember(t, b, "member-2", group, topic, kgo.Balancers(kgo.RangeBalancer())),
	}
	waitBalanced(t, adm, group, topic, 6, members, testTimeout)
	checkDescribed(t, adm, group, topic, members)

	wantListed(t, adm, nil, nil, map[string]bool{group: true, idle: true})
	wantListed(t, adm, nil, []string{"Stable"}, map[string]bool{group: true, idle: false})
	wantListed(t, adm, nil, []string{"Empty"}, map[string]bool{group: false, idle: true})
	wantListed(t, adm, []string{"classic"}, nil, map[string]bool{group: true, idle: true})
	wantListed(t, adm, []string{"consumer"}, nil, map[string]bool{group: false, idle: false})

	deleted, err := adm.DeleteGroup(ctx, group)
	wantKafkaErr(t, "DeleteGroups of a group with members", firstErr(err, deleted.Err), kerr.NonEmptyGroup)

	deletes, err := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}, 3: {}}, other: {0: {}}})
	if err != nil {
		t.Fatalf("OffsetDelete while members are subscribed: %v", err)
	}
	for _, p := range []int32{0, 3} {
		partitionErr, _ := deletes.Lookup(topic, p)
		wantKafkaErr(t, fmt.Sprintf("OffsetDelete of subscribed %s[%d]", topic, p), partitionErr, kerr.GroupSubscribedToTopic)
	}
	partitionErr, _ := deletes.Lookup(other, 0)
	wantKafkaErr(t, "OffsetDelete of an unsubscribed topic while members are active", partitionErr, nil)
	if got := committedOffsets(t, adm, group, other); !maps.Equal(got, map[int32]int64{1: 7}) {
		t.Errorf("offsets of %s after deleting partition 0: %v, want only partition 1 at 7", other, got)
	}

	waitAllConsumed(t, members, produced, nil)
	waitFor(t, testTimeout, "the members' commits reach the log end", func() string {
		if got, want := committedOffsets(t, adm, group, topic), endOffsets(t, b, topic); !maps.Equal(got, want) {
			return fmt.Sprintf("committed %v, log end %v", got, want)
		}
		return ""
	})
	for _, m := range members {
		m.stop()
	}
	wantListed(t, adm, nil, []string{"Empty"}, map[string]bool{group: true})

	deletes, err = adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}})
	if err == nil {
		err = deletes.Error()
	}
	wantKafkaErr(t, "OffsetDelete once the group is empty", err, nil)
	if got := committedOffsets(t, adm, group, topic); len(got) != 5 || slices.Contains(slices.Collect(maps.Keys(got)), 0) {
		t.Errorf("offsets of %s after deleting partition 0 of the empty group: %v, want partitions 1-5 only", topic, got)
	}

	deleted, err = adm.DeleteGroup(ctx, group)
	wantKafkaErr(t, "DeleteGroups of an empty group", firstErr(err, deleted.Err), nil)
	checkGone(t, adm, group, idle)
	b.Restart()
	checkGone(t, adm, group, idle)

	deleted, err = adm.DeleteGroup(ctx, topicName(t, "never-existed"))
	wantKafkaErr(t, "DeleteGroups of an unknown group", firstErr(err, deleted.Err), kerr.GroupIDNotFound)
}

// checkDescribed checks DescribeGroups beyond the assignment (which
// balanced already compared with the members' own views).
func checkDescribed(t *testing.T, adm *kadm.Client, group, topic string, members []*member) {
	t.Helper()
	described, err := adm.DescribeGroups(testContext(t), group)
	if err != nil {
		t.Fatalf("describe group: %v", err)
	}
	g := described[group]
	if g.Err != nil || g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol != "range" {
		t.Errorf("described group: state %q, protocol type %q, protocol %q, error %v; want Stable, consumer, range, none",
			g.State, g.ProtocolType, g.Protocol, g.Err)
	}
	clientIDs := map[string]string{}
	for _, m := range members {
		clientIDs[m.memberID()] = m.name
	}
	for _, dm := range g.Members {
		if dm.ClientID != clientIDs[dm.MemberID] {
			t.Errorf("member %s: client ID %q, want %q", dm.MemberID, dm.ClientID, clientIDs[dm.MemberID])
		}
		if dm.ClientHost == "" {
			t.Errorf("member %s: empty client host (Kafka reports the member's address)", dm.MemberID)
		}
		if dm.InstanceID != nil {
			t.Errorf("member %s: instance ID %q for a dynamic member", dm.MemberID, *dm.InstanceID)
		}
		join, ok := dm.Join.AsConsumer()
		if !ok || !slices.Equal(join.Topics, []string{topic}) {
			t.Errorf("member %s: subscription %+v, want the consumer protocol subscribing to %s", dm.MemberID, join, topic)
		}
	}
}

// checkGone checks a deleted group is not described, listed or holding
// offsets, while another group is untouched.
func checkGone(t *testing.T, adm *kadm.Client, group, untouched string) {
	t.Helper()
	described, err := adm.DescribeGroups(testContext(t), group)
	if err != nil {
		t.Fatalf("describe deleted group: %v", err)
	}
	// DescribeGroups v6 (KIP-1043) reports GROUP_ID_NOT_FOUND; earlier
	// versions the Dead state with no error.
	if g := described[group]; g.State != "Dead" && !errors.Is(g.Err, kerr.GroupIDNotFound) {
		t.Errorf("deleted group described as %q (error %v), want Dead or GROUP_ID_NOT_FOUND", g.State, g.Err)
	}
	fetched, err := adm.FetchOffsets(testContext(t), group)
	if err == nil {
		err = fetched.Error()
	}
	if err != nil || len(fetched) != 0 {
		t.Errorf("offsets of the deleted group: %v (error %v), want none", fetched, err)
	}
	wantListed(t, adm, nil, nil, map[string]bool{group: false, untouched: true})
	if got := committedOffsets(t, adm, untouched, topicName(t, "other")); !maps.Equal(got, map[int32]int64{0: 1}) {
		t.Errorf("offsets of the untouched group %s: %v, want partition 0 at 1", untouched, got)
	}
}

// adminCommit commits offsets as an admin tool does: no member, no
// generation (allowed while the group has no members).
func adminCommit(t testing.TB, adm *kadm.Client, group, topic string, offsets map[int32]int64) {
	t.Helper()
	var os kadm.Offsets
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	resp, err := adm.CommitOffsets(testContext(t), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("admin commit to group %s: %v", group, err)
	}
}

// wantListed lists groups with the type and state filters and checks, for
// each group in want, whether it is listed.
func wantListed(t testing.TB, adm *kadm.Client, types, states []string, want map[string]bool) {
	t.Helper()
	listed, err := adm.ListGroupsByType(testContext(t), types, states...)
	if err != nil {
		t.Fatalf("list groups (types %v, states %v): %v", types, states, err)
	}
	for group, present := range want {
		g, ok := listed[group]
		if ok != present {
			t.Errorf("list groups (types %v, states %v): %s listed %v, want %v", types, states, group, ok, present)
			continue
		}
		if ok && len(states) == 1 && g.State != states[0] {
			t.Errorf("listed group %s in state %q under the state filter %v", group, g.State, states)
		}
	}
}

// wantKafkaErr fails unless err is the Kafka error want (nil: no error).
func wantKafkaErr(t testing.TB, what string, err error, want *kerr.Error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: error %v, want %s", what, err, want.Message)
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
