package groups

import (
	"fmt"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluice-io/sluice/internal/testcluster"
	"github.com/sluice-io/sluice/internal/vfs"
)

// Committed offsets survive a broker restart, whether the broker stops
// cleanly, is killed, or loses power (every byte it did not fsync is
// dropped: an acknowledged commit must have been fsynced). After the
// restart OffsetFetch returns the commits, and the group, whose member
// stayed up across the restart, resumes where it committed: it reads the
// records produced after the restart and none of the committed ones again.
func TestCommitsSurviveBrokerRestart(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"clean", "killed", "power-loss"} {
		t.Run(mode, func(t *testing.T) {
			var opts []testcluster.Option
			mem := vfs.NewMem()
			if mode == "power-loss" {
				opts = append(opts, testcluster.WithFS(mem))
			}
			b := startBroker(t, opts...)
			checkCommitsSurvive(t, b.Addr(), func() {
				switch mode {
				case "clean":
					b.Restart()
				case "killed":
					b.Kill()
					b.StartAgain()
				case "power-loss":
					mem.Crash()
					b.Kill()
					b.StartAgain()
				}
			})
		})
	}
}

// checkCommitsSurvive commits through a group member, restarts the broker
// at addr with restart, and checks the commits and the member's resumption.
func checkCommitsSurvive(t *testing.T, addr string, restart func()) {
	topic, group := topicName(t, "topic"), topicName(t, "group")
	const partitions = 4
	admin := kadm.NewClient(newClient(t, addr))
	if resp, err := admin.CreateTopic(testContext(t), partitions, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
	before := produceTo(t, addr, topic, partitions, "before", 40)
	cl := newClient(t, addr, memberOptions(group, topic)...)
	wantRecords(t, "member before the restart", pollExactly(t, cl, 40), before)
	if err := cl.CommitUncommittedOffsets(testContext(t)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	want := map[int32]int64{0: 10, 1: 10, 2: 10, 3: 10}
	if got := committedOffsets(t, admin, group, topic); !maps.Equal(got, want) {
		t.Fatalf("committed offsets before the restart: %v, want %v", got, want)
	}

	restart()

	if got := committedOffsets(t, admin, group, topic); !maps.Equal(got, want) {
		t.Errorf("committed offsets after the restart: %v, want %v", got, want)
	}
	after := produceTo(t, addr, topic, partitions, "after", 40)
	wantRecords(t, "member after the restart", pollExactly(t, cl, 40), after)
	if err := cl.CommitUncommittedOffsets(testContext(t)); err != nil {
		t.Fatalf("commit after the restart: %v", err)
	}
	want = map[int32]int64{0: 20, 1: 20, 2: 20, 3: 20}
	if got := committedOffsets(t, admin, group, topic); !maps.Equal(got, want) {
		t.Errorf("committed offsets after the restart and a new commit: %v, want %v", got, want)
	}
	wantStableMembers(t, admin, group, 1)
}

// wantStableMembers polls DescribeGroups until the group is Stable with
// the given number of members.
func wantStableMembers(t testing.TB, adm *kadm.Client, group string, members int) {
	t.Helper()
	waitFor(t, testTimeout, "group "+group+" Stable", func() string {
		described, err := adm.DescribeGroups(testContext(t), group)
		if err != nil {
			return err.Error()
		}
		g := described[group]
		if g.Err != nil || g.State != "Stable" || len(g.Members) != members {
			return fmt.Sprintf("state %q with %d members (error %v), want Stable with %d", g.State, len(g.Members), g.Err, members)
		}
		return ""
	})
}
