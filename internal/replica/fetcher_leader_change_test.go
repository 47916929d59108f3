package replica

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// leaderChangeMaxWaitMs is replica.fetch.wait.max.ms in these tests: the
// long poll a partition must not wait out after a leader change.
const leaderChangeMaxWaitMs = 500

// newLeaderChangeFollowers opens partitions 0..n-1 of topic "t" on broker
// 2 as followers of broker 1 at leader epoch 1, and fetchers that fetch
// from script.
func newLeaderChangeFollowers(t *testing.T, script *scriptedLeader, n int32) ([]*Partition, *Fetchers) {
	t.Helper()
	m, err := NewManager(ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 2, AwaitRole: true,
		ReplicaLagTimeMaxMs: testLagMs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var parts []*Partition
	for i := range n {
		p, err := m.Ensure("t", [16]byte{1}, i, 0, storage.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.MakeFollower(stateLedBy(1, 1, 1, []int32{1, 2}, []int32{1, 2})); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	fetchers := NewFetchers(FetcherConfig{NodeID: 2, MaxWait: leaderChangeMaxWaitMs * time.Millisecond,
		Backoff: time.Second, PartitionMaxBytes: 1 << 20, ResponseMaxBytes: 1 << 20,
		Client: func(int32) (Requester, bool) { return script, true }})
	t.Cleanup(fetchers.Close)
	return parts, fetchers
}

// nextFetch is the follower's next Fetch: the partitions of topic "t" it
// asks for, sorted, and its max wait.
func nextFetch(t *testing.T, script *scriptedLeader) (partitions []int32, maxWaitMs int32) {
	t.Helper()
	select {
	case r := <-script.fetches:
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				partitions = append(partitions, rp.Partition)
			}
		}
		slices.Sort(partitions)
		return partitions, r.MaxWaitMillis
	case <-time.After(5 * time.Second):
		t.Fatal("no fetch from the follower")
	}
	return nil, 0
}

// answerFetch answers the pending fetch: no records, and errorCodes by
// partition (0 for the others asked).
func answerFetch(t *testing.T, script *scriptedLeader, asked []int32, errorCodes map[int32]int16) {
	t.Helper()
	resp := kmsg.NewPtrFetchResponse()
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	for _, p := range asked {
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition, sp.ErrorCode = p, errorCodes[p]
		rt.Partitions = append(rt.Partitions, sp)
	}
	resp.Topics = append(resp.Topics, rt)
	select {
	case script.answers <- resp:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower is not waiting for an answer")
	}
}

// A partition added to a fetcher that already fetches others (a leader
// change moved it to this leader) is fetched in the round that truncates
// it, as Kafka's maybeTruncate then maybeFetch, not only after another
// long poll on the others: with acks=all its new leader's high watermark
// waits for this follower.
func TestFetcherFetchesAddedPartitionInTheRoundThatTruncatesIt(t *testing.T) {
	script := newScriptedLeader()
	parts, fetchers := newLeaderChangeFollowers(t, script, 2)
	fetchers.Add(parts[0], 1, 1)
	asked, _ := nextFetch(t, script)
	if !slices.Equal(asked, []int32{0}) {
		t.Fatalf("first fetch asks for %v, want [0]", asked)
	}
	fetchers.Add(parts[1], 1, 1) // while the fetch for 0 is out
	answerFetch(t, script, asked, nil)
	if asked, _ = nextFetch(t, script); !slices.Equal(asked, []int32{0, 1}) {
		t.Fatalf("the fetch after partition 1 was added asks for %v, want [0 1]", asked)
	}
	answerFetch(t, script, asked, nil)
}

// A partition held back for a moment because its new leader has not
// applied the epoch yet (UNKNOWN_LEADER_EPOCH: metadataLagRetry) must not
// wait out a long poll on the fetcher's other partitions: the fetch
// meanwhile waits at the leader no longer than until it is due.
func TestFetcherLongPollEndsWhenAHeldBackPartitionIsDue(t *testing.T) {
	script := newScriptedLeader()
	parts, fetchers := newLeaderChangeFollowers(t, script, 2)
	fetchers.Add(parts[0], 1, 1)
	fetchers.Add(parts[1], 1, 1)
	var asked []int32
	for !slices.Equal(asked, []int32{0, 1}) { // the first fetch may come before partition 1 was added
		if asked != nil {
			answerFetch(t, script, asked, nil)
		}
		asked, _ = nextFetch(t, script)
	}
	answerFetch(t, script, asked, map[int32]int16{1: kerr.UnknownLeaderEpoch.Code})

	asked, maxWait := nextFetch(t, script)
	if !slices.Equal(asked, []int32{0}) || maxWait > int32(metadataLagRetry/time.Millisecond)+1 {
		t.Fatalf("fetch while partition 1 is held back: partitions %v, max wait %d ms; want [0] and at most %d ms",
			asked, maxWait, metadataLagRetry/time.Millisecond+1)
	}
	answerFetch(t, script, asked, nil)
	for !slices.Contains(asked, 1) {
		asked, _ = nextFetch(t, script)
		answerFetch(t, script, asked, nil)
	}
}
