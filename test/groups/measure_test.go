package groups

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

// measureRounds is how many groups each measurement times.
const measureRounds = 3

// The timings in docs/performance.md, run only when SLUICE_GROUP_MEASURE
// is set:
//
//	SLUICE_GROUP_MEASURE=1 go test ./test/groups -run TestMeasure -v
//
// Time to Stable: three kgo members (cooperative-sticky, kgo's default)
// start together on twelve partitions; the clock runs from creating the
// clients until every partition is assigned and DescribeGroups says
// Stable. With group.initial.rebalance.delay.ms at its default 3000 the
// first rebalance waits for more members (at least 3 s); at 0 it does not.
//
// Time to reassign: with session.timeout.ms 6000 (Kafka's smallest by
// default), one member's network is cut; the clock runs until the two
// survivors own all twelve partitions. Expected: about the session timeout
// (the dead member's last heartbeat was up to one heartbeat interval
// before the cut) plus one rebalance.
func TestMeasureGroupTimings(t *testing.T) {
	if os.Getenv("SLUICE_GROUP_MEASURE") == "" {
		t.Skip("set SLUICE_GROUP_MEASURE=1 to measure group timings")
	}
	for _, delay := range []int32{3000, 0} {
		t.Run(fmt.Sprintf("stable/initial-delay-%dms", delay), func(t *testing.T) {
			for round := range measureRounds {
				took := timeToStable(t, delay, round)
				t.Logf("group.initial.rebalance.delay.ms=%d: 3 members Stable with all 12 partitions assigned after %v", delay, took.Round(time.Millisecond))
				if delay > 0 && took < time.Duration(delay)*time.Millisecond {
					t.Errorf("Stable after %v, before the initial rebalance delay of %dms", took, delay)
				}
				if delay == 0 && took > 3*time.Second {
					t.Errorf("Stable after %v with no initial delay", took)
				}
			}
		})
	}
	for _, heartbeat := range []time.Duration{3 * time.Second, 500 * time.Millisecond} {
		t.Run(fmt.Sprintf("reassign/session-6s-heartbeat-%v", heartbeat), func(t *testing.T) {
			for round := range measureRounds {
				took := timeToReassign(t, 6*time.Second, heartbeat, round)
				t.Logf("session.timeout.ms=6000, heartbeat.interval.ms=%d: dead member's partitions reassigned after %v", heartbeat.Milliseconds(), took.Round(time.Millisecond))
				if took < 6*time.Second-heartbeat || took > 6*time.Second+heartbeat+5*time.Second {
					t.Errorf("reassigned after %v, want about the session timeout of 6s", took)
				}
			}
		})
	}
}

// timeToStable starts a broker with the given initial rebalance delay and
// times three members from start to a balanced Stable group.
func timeToStable(t *testing.T, delayMs int32, round int) time.Duration {
	b := testcluster.Start(t, testcluster.WithConfig(func(c *config.Broker) { c.GroupInitialRebalanceDelayMs = delayMs }))
	topic, group := topicName(t, fmt.Sprint("topic-", round)), topicName(t, fmt.Sprint("group-", round))
	createTopic(t, b, topic, groupPartitions)
	started := time.Now()
	var members []*member
	for i := range 3 {
		members = append(members, startMember(t, b, fmt.Sprint("member-", i), group, topic,
			kgo.SessionTimeout(10*time.Second), kgo.HeartbeatInterval(100*time.Millisecond)))
	}
	waitBalanced(t, b.Admin(), group, topic, groupPartitions, members, testTimeout)
	took := time.Since(started)
	for _, m := range members {
		m.stop()
	}
	b.Stop()
	return took
}

// timeToReassign times the survivors' takeover of a dead member's
// partitions with the given session timeout and heartbeat interval.
func timeToReassign(t *testing.T, session, heartbeat time.Duration, round int) time.Duration {
	b := testcluster.Start(t, testcluster.WithConfig(func(c *config.Broker) { c.GroupInitialRebalanceDelayMs = 0 }))
	adm := b.Admin()
	topic, group := topicName(t, fmt.Sprint("topic-", round)), topicName(t, fmt.Sprint("group-", round))
	createTopic(t, b, topic, groupPartitions)
	var members []*member
	for i := range 3 {
		members = append(members, startMember(t, b, fmt.Sprint("member-", i), group, topic,
			kgo.SessionTimeout(session), kgo.HeartbeatInterval(heartbeat)))
	}
	waitBalanced(t, adm, group, topic, groupPartitions, members, testTimeout)
	members[0].kill()
	killed := time.Now()
	waitBalanced(t, adm, group, topic, groupPartitions, live(members), session+testTimeout)
	took := time.Since(killed)
	for _, m := range live(members) {
		m.stop()
	}
	b.Stop()
	return took
}
