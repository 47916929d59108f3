package groups

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// balancers are the client-side assignors of the classic protocol, by the
// protocol name the group reports.
var balancers = []struct {
	name     string
	balancer func() kgo.GroupBalancer
}{
	{"range", kgo.RangeBalancer},
	{"roundrobin", kgo.RoundRobinBalancer},
	{"sticky", kgo.StickyBalancer},
	{"cooperative-sticky", kgo.CooperativeStickyBalancer},
}

// A group of three members over twelve partitions, with each balancer:
// once Stable every partition is assigned to exactly one member (the
// members' own views and DescribeGroups agree). A member whose connections
// are cut, with no LeaveGroup, is expired by its session timeout (not
// before) and its partitions go to the survivors; a replacement member
// joins and the group rebalances over three again. Across the crash no
// record is lost: everything produced is consumed by a live member, or by
// the dead one and committed before it died.
func TestBalancersReassignADeadMembersPartitions(t *testing.T) {
	t.Parallel()
	for _, bal := range balancers {
		t.Run(bal.name, func(t *testing.T) {
			b := startBroker(t)
			adm := b.Admin()
			topic, group := topicName(t, "topic"), topicName(t, "group")
			createTopic(t, b, topic, groupPartitions)
			produced := produceRecords(t, b, topic, groupPartitions, "before", 240)

			opts := []kgo.Opt{kgo.Balancers(bal.balancer())}
			members := []*member{
				startMember(t, b, "member-0", group, topic, opts...),
				startMember(t, b, "member-1", group, topic, opts...),
				startMember(t, b, "member-2", group, topic, opts...),
			}
			waitBalanced(t, adm, group, topic, groupPartitions, members, testTimeout)
			wantProtocol(t, adm, group, bal.name)

			produced = append(produced, produceRecords(t, b, topic, groupPartitions, "during", 240)...)
			dead := members[0]
			deadOwned := dead.partitions()
			dead.kill()
			killed := time.Now()
			commitsAtDeath := committedOffsets(t, adm, group, topic)
			waitBalanced(t, adm, group, topic, groupPartitions, live(members), sessionTimeout+testTimeout)
			took := time.Since(killed)
			t.Logf("%s: partitions %v of the dead member reassigned %v after its network was cut (session timeout %v)", bal.name, deadOwned, took, sessionTimeout)
			if earliest := sessionTimeout - heartbeatInterval - 100*time.Millisecond; took < earliest {
				t.Errorf("dead member's partitions reassigned %v after it vanished: before its session timeout %v could expire", took, sessionTimeout)
			}
			// Expiry comes at most sessionTimeout after the cut, then one
			// rebalance, which survivors notice at their next heartbeat.
			if latest := sessionTimeout + 1500*time.Millisecond; took > latest {
				t.Errorf("dead member's partitions reassigned %v after it vanished, want within %v (session timeout %v)", took, latest, sessionTimeout)
			}

			members = append(members, startMember(t, b, "member-3", group, topic, opts...))
			waitBalanced(t, adm, group, topic, groupPartitions, live(members), testTimeout)
			produced = append(produced, produceRecords(t, b, topic, groupPartitions, "after", 240)...)
			waitAllConsumed(t, members, produced, map[*member]map[int32]int64{dead: commitsAtDeath})
		})
	}
}

// waitAllConsumed polls until every produced position was consumed by a
// live member, or by a dead one below the commit it left at death (a
// crashed consumer's uncommitted work is lost, so someone else must have
// redone it).
func waitAllConsumed(t testing.TB, members []*member, produced []position, commitsAtDeath map[*member]map[int32]int64) {
	t.Helper()
	var missing []position
	var all *ledger
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		all = newLedger()
		for _, m := range members {
			committed, dead := commitsAtDeath[m]
			if !dead {
				all.merge(m.book, nil)
				continue
			}
			all.merge(m.book, func(p position) bool { return p.offset < committed[p.partition] })
		}
		if missing = all.missing(produced); len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d produced records never consumed (first: %s)", len(missing), len(produced), describePositions(missing[:min(len(missing), 5)]))
		}
		<-tick.C
	}
	t.Logf("all %d records consumed; %d consumed again after a rebalance", len(produced), all.duplicates())
}

func describePositions(ps []position) string {
	out := ""
	for _, p := range ps {
		out += fmt.Sprintf("partition %d offset %d; ", p.partition, p.offset)
	}
	return out
}

// wantProtocol checks the group reports the consumer protocol type and
// the named balancer as its protocol.
func wantProtocol(t testing.TB, adm *kadm.Client, group, protocol string) {
	t.Helper()
	described, err := adm.DescribeGroups(testContext(t), group)
	if err != nil {
		t.Fatalf("describe group %s: %v", group, err)
	}
	g := described[group]
	if g.ProtocolType != "consumer" || g.Protocol != protocol {
		t.Errorf("group %s: protocol type %q, protocol %q; want consumer, %s", group, g.ProtocolType, g.Protocol, protocol)
	}
}
