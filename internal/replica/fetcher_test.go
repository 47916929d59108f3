package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/storage"
)

// leaderPeer answers a fetcher's Fetch and OffsetForLeaderEpoch from the
// partitions of a leader's manager, as the api layer's handlers do (no
// long-poll: an empty answer waits a little, so the fetcher does not spin).
type leaderPeer struct {
	node *clusterNode
	self int32
	// onFetch, if set, sees every Fetch before it is answered.
	onFetch func(*kmsg.FetchRequest)
}

func peerErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	}
	return kerr.NotLeaderForPartition.Code
}

func (l *leaderPeer) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.OffsetForLeaderEpochRequest:
		resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetForLeaderEpochResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				sp.Partition = rp.Partition
				p, _ := l.node.m.Get(rt.Topic, rp.Partition)
				epoch, end, err := p.EndOffsetForEpoch(rp.CurrentLeaderEpoch, rp.LeaderEpoch)
				sp.LeaderEpoch, sp.EndOffset, sp.ErrorCode = epoch, end, peerErrorCode(err)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	case *kmsg.FetchRequest:
		if l.onFetch != nil {
			l.onFetch(r)
		}
		resp := r.ResponseKind().(*kmsg.FetchResponse)
		records := 0
		for _, rt := range r.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = rp.Partition
				p, _ := l.node.m.Get(rt.Topic, rp.Partition)
				res, err := p.Read(nil, followerRead(rp.FetchOffset, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch))
				sp.HighWatermark, sp.LogStartOffset = res.HighWatermark, res.LogStartOffset
				switch {
				case err != nil:
					sp.ErrorCode = peerErrorCode(err)
				case res.DivergingEpoch >= 0:
					sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = res.DivergingEpoch, res.DivergingEndOffset
				default:
					durable, ok := DurableEnd(&rp)
					if !ok {
						durable = rp.FetchOffset
					}
					if _, err := p.FollowerFetchedDurable(r.ReplicaID, rp.FetchOffset, durable, l.node.now()); err != nil {
						sp.ErrorCode = peerErrorCode(err)
						break
					}
					sp.HighWatermark = p.HighWatermark()
					sp.RecordBatches = res.Records
					records += len(res.Records)
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if records == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
		return resp, nil
	}
	return nil, errors.New("unexpected request")
}

// newTestFetchers returns fetchers of node self that reach the given
// leaders.
func newTestFetchers(t *testing.T, self int32, leaders map[int32]*clusterNode) *Fetchers {
	t.Helper()
	return newTestFetchersObserved(t, self, leaders, nil)
}

// newTestFetchersObserved is newTestFetchers whose leaders call onFetch
// with every Fetch they get.
func newTestFetchersObserved(t *testing.T, self int32, leaders map[int32]*clusterNode, onFetch func(*kmsg.FetchRequest)) *Fetchers {
	t.Helper()
	f := NewFetchers(FetcherConfig{NodeID: self, MaxWait: 10 * time.Millisecond, Backoff: 5 * time.Millisecond,
		PartitionMaxBytes: 1 << 20, ResponseMaxBytes: 1 << 20,
		Client: func(id int32) (Requester, bool) {
			n, ok := leaders[id]
			if !ok {
				return nil, false
			}
			return &leaderPeer{node: n, self: id, onFetch: onFetch}, true
		}})
	t.Cleanup(f.Close)
	return f
}

// eventually polls cond for a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func stateLedBy(leader, epoch, partitionEpoch int32, replicas, isr []int32) LeaderAndISR {
	return LeaderAndISR{Leader: leader, LeaderEpoch: epoch, PartitionEpoch: partitionEpoch, Replicas: replicas, ISR: isr}
}

// A broker that became leader and lost the leadership before writing
// anything has its epoch in the cache at its log end. When it follows
// again, that entry must go (Kafka's truncateTo truncates the epoch cache
// even when the log is not cut), or every fetch reports a last fetched
// epoch the leader never had, the leader answers with a diverging epoch
// that ends exactly at the follower's log end, and the follower never
// replicates again.
func TestFollowerDropsEmptyEpochOfAnAbandonedLeadership(t *testing.T) {
	a, b := newClusterNode(t, 1), newClusterNode(t, 2)
	pa, pb := a.open(t), b.open(t)
	replicas := []int32{1, 2}
	fetchers := newTestFetchers(t, 2, map[int32]*clusterNode{1: a})

	// Epoch 1: broker 1 leads, broker 2 replicates three records.
	s1 := stateLedBy(1, 1, 1, replicas, replicas)
	if err := pa.MakeLeader(s1, a.now()); err != nil {
		t.Fatal(err)
	}
	if err := pb.MakeFollower(s1); err != nil {
		t.Fatal(err)
	}
	if _, err := pa.AppendProduced(batch(t, 3)); err != nil {
		t.Fatal(err)
	}
	fetchers.Add(pb, 1, 1)
	eventually(t, "the follower to replicate epoch 1", func() bool { return pb.LogEndOffset() == 3 })

	// Epoch 2: broker 2 leads but writes nothing; epoch 3: broker 1 again.
	fetchers.Remove(TopicPartition{"t", 0})
	s2 := stateLedBy(2, 2, 2, replicas, replicas)
	if err := pb.MakeLeader(s2, b.now()); err != nil {
		t.Fatal(err)
	}
	if err := pa.MakeFollower(s2); err != nil {
		t.Fatal(err)
	}
	s3 := stateLedBy(1, 3, 3, replicas, replicas)
	if err := pa.MakeLeader(s3, a.now()); err != nil {
		t.Fatal(err)
	}
	if err := pb.MakeFollower(s3); err != nil {
		t.Fatal(err)
	}
	fetchers.Add(pb, 1, 3)
	if _, err := pa.AppendProduced(batch(t, 2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the follower to replicate epoch 3", func() bool { return pb.LogEndOffset() == 5 })
	if epoch, _ := pb.LatestEpoch(); epoch != 3 {
		t.Fatalf("follower's latest epoch %d, want 3", epoch)
	}
}

// A follower's durable end is what the leader counts toward the high
// watermark, so it must be durable when a fetch reports it, including
// records the follower did not fetch: a deposed leader's own appends that
// were never fsynced (their producers had not been answered yet) and that
// its new leader has too.
func TestFollowerReportsOnlyDurableOffsets(t *testing.T) {
	a, b := newClusterNode(t, 1), newClusterNode(t, 2)
	pa, pb := a.open(t), b.open(t)
	replicas := []int32{1, 2}
	// Epoch 1: broker 2 leads and appends three records, not yet fsynced;
	// broker 1 replicates them (and fsyncs).
	s1 := stateLedBy(2, 1, 1, replicas, replicas)
	if err := pb.MakeLeader(s1, b.now()); err != nil {
		t.Fatal(err)
	}
	if err := pa.MakeFollower(s1); err != nil {
		t.Fatal(err)
	}
	if _, err := pb.AppendProduced(batch(t, 3)); err != nil {
		t.Fatal(err)
	}
	got, err := pb.Read(nil, followerRead(0, 1, NoEpoch))
	if err != nil {
		t.Fatal(err)
	}
	if err := pa.AppendAsFollower(got.Records); err != nil {
		t.Fatal(err)
	}
	if err := pa.SyncFollower(); err != nil {
		t.Fatal(err)
	}
	if d := pb.Log().FlushedOffset(); d != 0 {
		t.Fatalf("broker 2 flushed to %d, want nothing flushed yet", d)
	}
	// Epoch 2: broker 1 leads, broker 2 follows and keeps its records.
	s2 := stateLedBy(1, 2, 2, replicas, replicas)
	if err := pa.MakeLeader(s2, a.now()); err != nil {
		t.Fatal(err)
	}
	if err := pb.MakeFollower(s2); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bad []string
	fetchers := newTestFetchersObserved(t, 2, map[int32]*clusterNode{1: a}, func(r *kmsg.FetchRequest) {
		durable := pb.Log().FlushedOffset()
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				if end, ok := DurableEnd(&rp); !ok || end > durable {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("durable end %d (sent %v) with %d durable", end, ok, durable))
					mu.Unlock()
				}
			}
		}
	})
	fetchers.Add(pb, 1, 2)
	eventually(t, "broker 2 to report offset 3 durable", func() bool {
		f, _ := pa.leaderFollower(2)
		return f.DurableOffset == 3
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("follower reported offsets it could lose: %v", bad)
	}
}

// leaderFollower is what the leader knows of follower id.
func (p *Partition) leaderFollower(id int32) (FollowerState, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader == nil {
		return FollowerState{}, false
	}
	return p.leader.Follower(id)
}
