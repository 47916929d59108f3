package groups

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// staticSessionTimeout leaves a restarted static member (a new client, so
// a new connection and a JoinGroup) ample time to come back.
const staticSessionTimeout = 10 * time.Second

// Static membership (KIP-345): each member of a three-member group in turn
// restarts with the same group.instance.id within the session timeout. The
// coordinator hands the new incarnation the old assignment with no
// rebalance: the other members' generation stays the same and their
// rebalance callbacks do not run, and the group keeps three members, the
// restarted one under a new member ID.
func TestStaticMemberRestartKeepsAssignment(t *testing.T) {
	b := startBroker(t)
	adm := b.Admin()
	topic, group := topicName(t, "topic"), topicName(t, "group")
	createTopic(t, b, topic, groupPartitions)
	static := func(i int) *member {
		return startMember(t, b, fmt.Sprintf("static-%d", i), group, topic,
			kgo.InstanceID(fmt.Sprintf("instance-%d", i)),
			kgo.SessionTimeout(staticSessionTimeout),
			kgo.Balancers(kgo.RangeBalancer()))
	}
	members := []*member{static(0), static(1), static(2)}
	waitBalanced(t, adm, group, topic, groupPartitions, members, testTimeout)

	// Restart the members in turn, so the group's leader is restarted too.
	for i := range members {
		generation := members[(i+1)%3].generation()
		callbacks := map[*member]int32{}
		for _, m := range members {
			callbacks[m] = m.callbacks.Load()
		}
		old := members[i]
		oldPartitions, oldID := old.partitions(), old.memberID()
		old.stop()
		stopped := time.Now()

		members[i] = static(i)
		waitBalanced(t, adm, group, topic, groupPartitions, members, testTimeout)
		took := time.Since(stopped)
		if took >= staticSessionTimeout {
			t.Errorf("restart %d: back after %v, not within the session timeout %v", i, took, staticSessionTimeout)
		}
		if got := members[i].partitions(); !slices.Equal(got, oldPartitions) {
			t.Errorf("restart %d: instance-%d came back with partitions %v, had %v", i, i, got, oldPartitions)
		}
		if members[i].memberID() == oldID {
			t.Errorf("restart %d: the new incarnation kept member ID %s", i, oldID)
		}
		for j, m := range members {
			if j == i {
				continue
			}
			if got := m.generation(); got != generation {
				t.Errorf("restart %d: member %s moved from generation %d to %d: the group rebalanced", i, m.name, generation, got)
			}
			if got := m.callbacks.Load(); got != callbacks[m] {
				t.Errorf("restart %d: member %s ran %d rebalance callbacks", i, m.name, got-callbacks[m])
			}
		}
	}
}
