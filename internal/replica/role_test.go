package replica

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// fakeProposer records the ISR proposals partitions hand it.
type fakeProposer struct {
	mu        sync.Mutex
	proposals []LeaderAndISR
}

func (f *fakeProposer) ProposeISR(_ TopicPartition, proposed LeaderAndISR) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposals = append(f.proposals, proposed)
}

func (f *fakeProposer) all() []LeaderAndISR {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.proposals)
}

// clusterNode is a manager for broker 1 whose roles come from MakeLeader
// and MakeFollower, with a settable clock.
type clusterNode struct {
	m        *Manager
	proposer *fakeProposer
	nowMs    atomic.Int64
}

func newClusterNode(t *testing.T, node int32) *clusterNode {
	t.Helper()
	n := &clusterNode{proposer: &fakeProposer{}}
	n.nowMs.Store(1_000_000)
	m, err := NewManager(ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: node, AwaitRole: true,
		ISRProposer: n.proposer, ReplicaLagTimeMaxMs: testLagMs,
		Now: func() time.Time { return time.UnixMilli(n.nowMs.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	n.m = m
	return n
}

func (n *clusterNode) open(t *testing.T) *Partition {
	t.Helper()
	p, err := n.m.Ensure("t", [16]byte{1}, 0, 0, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (n *clusterNode) now() int64 { return n.nowMs.Load() }

func leaderState(epoch, partitionEpoch int32, replicas, isr []int32) LeaderAndISR {
	return LeaderAndISR{Leader: 1, LeaderEpoch: epoch, PartitionEpoch: partitionEpoch, Replicas: replicas, ISR: isr}
}

// commitAsync runs CommitAcks in the background; the result arrives on the
// returned channel.
func commitAsync(ctx context.Context, p *Partition, lastOffset int64, acks int16) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.CommitAcks(ctx, lastOffset, acks) }()
	return done
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("commit did not return")
		return nil
	}
}

// notYet checks that a commit has not returned; it cannot prove it never
// will, but a commit that returns too early is caught.
func notYet(t *testing.T, done <-chan error, why string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("commit returned (%v) %s", err, why)
	default:
	}
}

// A single node's partition, opened without AwaitRole, leads itself.
func TestEnsureLeadsItselfOnASingleNode(t *testing.T) {
	m, err := NewManager(ManagerConfig{FS: vfs.NewMem(), LogDir: "/data", NodeID: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := m.Ensure("t", [16]byte{1}, 0, 3, storage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.LeaderAndISR(), SingleReplica(7, 3); !got.Equal(want) || p.Role() != RoleLeader || p.Leader() != 7 {
		t.Fatalf("state %+v role %s, want %+v as leader", got, p.Role(), want)
	}
	res, err := p.AppendProduced(batch(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CommitAcks(context.Background(), res.LastOffset, AcksAll); err != nil {
		t.Fatalf("acks=all on a single node: %v", err)
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d, want 2", hw)
	}
	// A later Ensure with a newer epoch moves the provisional leader on.
	if _, err := m.Ensure("t", [16]byte{1}, 0, 4, storage.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if e := p.LeaderEpoch(); e != 4 {
		t.Fatalf("leader epoch %d after Ensure at 4", e)
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d after the epoch bump, want 2", hw)
	}
}

// With AwaitRole a partition serves nothing until the broker gives it a
// role.
func TestAwaitRole(t *testing.T) {
	n := newClusterNode(t, 1)
	p := n.open(t)
	if p.Role() != RoleNone {
		t.Fatalf("role %s before MakeLeader", p.Role())
	}
	if _, err := p.AppendProduced(batch(t, 1)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append without a role: %v", err)
	}
	if _, err := p.Read(nil, ReadOptions{CurrentLeaderEpoch: NoEpoch, LastFetchedEpoch: NoEpoch}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("read without a role: %v", err)
	}
	if err := p.MakeLeader(leaderState(0, 0, []int32{1}, []int32{1}), n.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendProduced(batch(t, 1)); err != nil {
		t.Fatalf("append as leader: %v", err)
	}
	if epoch, ok := p.LatestEpoch(); !ok || epoch != 0 {
		t.Fatalf("leader epoch cache latest %d %v, want 0 recorded by MakeLeader", epoch, ok)
	}
}

// acks=all waits for the ISR; acks=1 only for the leader's own fsync.
func TestCommitWaitsForTheISR(t *testing.T) {
	n := newClusterNode(t, 1)
	p := n.open(t)
	if err := p.MakeLeader(leaderState(1, 1, []int32{1, 2}, []int32{1, 2}), n.now()); err != nil {
		t.Fatal(err)
	}
	res, err := p.AppendProduced(batch(t, 3)) // 0..2
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CommitAcks(context.Background(), res.LastOffset, AcksLeader); err != nil {
		t.Fatalf("acks=1: %v", err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before the follower has the records", hw)
	}
	done := commitAsync(context.Background(), p, res.LastOffset, AcksAll)
	if _, err := p.FollowerFetched(2, 1, n.now()); err != nil {
		t.Fatal(err)
	}
	notYet(t, done, "with the follower at 1 of 3")
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d, want 1", hw)
	}
	if moved, err := p.FollowerFetched(2, 3, n.now()); err != nil || !moved {
		t.Fatalf("follower at 3: moved=%v err=%v", moved, err)
	}
	if err := waitErr(t, done); err != nil {
		t.Fatalf("acks=all after the follower caught up: %v", err)
	}
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d, want 3", hw)
	}
}

// An acks=all wait ends with ErrNotLeader on demotion, with
// ErrNotEnoughReplicasAfterAppend when the ISR shrinks below
// min.insync.replicas, with the context's error on timeout.
func TestCommitEndings(t *testing.T) {
	setup := func(t *testing.T) (*clusterNode, *Partition, int64) {
		n := newClusterNode(t, 1)
		p := n.open(t)
		p.SetMinInsyncReplicas(2)
		if err := p.MakeLeader(leaderState(1, 1, []int32{1, 2, 3}, []int32{1, 2, 3}), n.now()); err != nil {
			t.Fatal(err)
		}
		res, err := p.AppendProduced(batch(t, 1))
		if err != nil {
			t.Fatal(err)
		}
		return n, p, res.LastOffset
	}
	t.Run("demotion", func(t *testing.T) {
		_, p, last := setup(t)
		done := commitAsync(context.Background(), p, last, AcksAll)
		if err := p.MakeFollower(LeaderAndISR{Leader: 2, LeaderEpoch: 2, PartitionEpoch: 2, Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}}); err != nil {
			t.Fatal(err)
		}
		if err := waitErr(t, done); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("commit across a demotion: %v", err)
		}
		if _, err := p.AppendProduced(batch(t, 1)); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("append on a follower: %v", err)
		}
	})
	t.Run("ISR below min.insync.replicas", func(t *testing.T) {
		n, p, last := setup(t)
		done := commitAsync(context.Background(), p, last, AcksAll)
		p.FollowerFetched(2, 0, n.now())
		n.nowMs.Add(testLagMs + 1)
		n.m.CheckISR(n.now())
		props := n.proposer.all()
		if len(props) != 1 || !slices.Equal(props[0].ISR, []int32{1}) || props[0].PartitionEpoch != 1 || props[0].LeaderEpoch != 1 {
			t.Fatalf("proposals %+v, want one shrink to [1] based on partition epoch 1", props)
		}
		notYet(t, done, "while the shrink is only proposed")
		if err := p.MakeLeader(leaderState(1, 2, []int32{1, 2, 3}, []int32{1}), n.now()); err != nil {
			t.Fatal(err)
		}
		if err := waitErr(t, done); !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
			t.Fatalf("commit after the ISR shrank below 2: %v", err)
		}
		if !p.UnderMinISR(2) || p.ISRSize() != 1 {
			t.Fatalf("UnderMinISR(2)=%v ISRSize=%d", p.UnderMinISR(2), p.ISRSize())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		_, p, last := setup(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if err := p.CommitAcks(ctx, last, AcksAll); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("commit past its deadline: %v", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		n, p, last := setup(t)
		done := commitAsync(context.Background(), p, last, AcksAll)
		if err := n.m.Remove("t", 0); err != nil {
			t.Fatal(err)
		}
		if err := waitErr(t, done); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("commit on a removed partition: %v", err)
		}
	})
}

// Follower fetches drive ISR expansion through the proposer, one proposal
// at a time; a refused proposal can be made again; the committed state
// arrives through MakeLeader.
func TestISRExpansionThroughTheProposer(t *testing.T) {
	n := newClusterNode(t, 1)
	p := n.open(t)
	if err := p.MakeLeader(leaderState(1, 4, []int32{1, 2, 3}, []int32{1}), n.now()); err != nil {
		t.Fatal(err)
	}
	res, _ := p.AppendProduced(batch(t, 2))
	if err := p.Commit(res.LastOffset); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FollowerFetched(2, 2, n.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FollowerFetched(3, 2, n.now()); err != nil {
		t.Fatal(err)
	}
	props := n.proposer.all()
	want := leaderState(1, 4, []int32{1, 2, 3}, []int32{1, 2})
	if len(props) != 1 || !props[0].Equal(want) {
		t.Fatalf("proposals %+v, want only %+v", props, want)
	}
	if got := p.MaximalISR(); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("maximal ISR %v", got)
	}
	if !p.AbortISRProposal(props[0]) {
		t.Fatal("abort refused")
	}
	p.FollowerFetched(3, 2, n.now())
	if props = n.proposer.all(); len(props) != 2 || !slices.Equal(props[1].ISR, []int32{1, 3}) {
		t.Fatalf("after the abort: proposals %+v", props)
	}
	if err := p.MakeLeader(leaderState(1, 5, []int32{1, 2, 3}, []int32{1, 3}), n.now()); err != nil {
		t.Fatal(err)
	}
	if _, pending := p.PendingISRProposal(); pending {
		t.Fatal("proposal still pending after the committed state arrived")
	}
	if got := p.LeaderAndISR(); !slices.Equal(got.ISR, []int32{1, 3}) || got.PartitionEpoch != 5 {
		t.Fatalf("state %+v", got)
	}
	if _, err := p.FollowerFetched(9, 2, n.now()); !errors.Is(err, ErrUnknownReplica) {
		t.Fatalf("fetch from a non-replica: %v", err)
	}
}

// Role changes: stale epochs are refused, the same epoch with a newer
// partition epoch is an update, and a new leader's high watermark stays
// until the ISR has fetched.
func TestRoleTransitions(t *testing.T) {
	n := newClusterNode(t, 1)
	p := n.open(t)
	if err := p.MakeFollower(LeaderAndISR{Leader: 2, LeaderEpoch: 3, PartitionEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if p.Role() != RoleFollower || p.Leader() != 2 || p.LeaderEpoch() != 3 {
		t.Fatalf("follower: role %s leader %d epoch %d", p.Role(), p.Leader(), p.LeaderEpoch())
	}
	if err := p.MakeLeader(leaderState(2, 2, []int32{1, 2}, []int32{1, 2}), n.now()); !errors.Is(err, ErrStaleState) {
		t.Fatalf("MakeLeader at an older epoch: %v", err)
	}
	if err := p.MakeFollower(LeaderAndISR{Leader: 2, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{2}}); !errors.Is(err, ErrStaleState) {
		t.Fatalf("MakeFollower at an older epoch: %v", err)
	}
	if err := p.MakeFollower(LeaderAndISR{Leader: 1, LeaderEpoch: 4}); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("MakeFollower naming this broker leader: %v", err)
	}
	if err := p.MakeLeader(LeaderAndISR{Leader: 1, LeaderEpoch: 4, Replicas: []int32{1, 2}, ISR: []int32{2}}, n.now()); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("MakeLeader outside the ISR: %v", err)
	}
	// The follower learnt a high watermark of 0; as leader it keeps it
	// until follower 2 fetches.
	if err := p.MakeLeader(leaderState(4, 4, []int32{1, 2}, []int32{1, 2}), n.now()); err != nil {
		t.Fatal(err)
	}
	res, _ := p.AppendProduced(batch(t, 2))
	if err := p.CommitAcks(context.Background(), res.LastOffset, AcksLeader); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("new leader's high watermark %d before the ISR fetched", hw)
	}
	o, err := p.Offsets(NoEpoch, true)
	if err != nil || o.EpochStartOffset != 0 || o.LeaderEpoch != 4 {
		t.Fatalf("offsets %+v, %v", o, err)
	}
	p.FollowerFetched(2, 2, n.now())
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d after the follower fetched, want 2", hw)
	}
	// Same epoch, same partition epoch: nothing changes.
	if err := p.MakeLeader(leaderState(4, 4, []int32{1, 2}, []int32{1}), n.now()); err != nil {
		t.Fatal(err)
	}
	if got := p.LeaderAndISR(); !slices.Equal(got.ISR, []int32{1, 2}) {
		t.Fatalf("stale partition epoch applied: %+v", got)
	}
}

// A cluster node that restarts knows of its log only what its
// high-watermark checkpoint says was committed (here 0, all its leader had
// told it), and learns the rest from the leader's fetches, or, if it leads,
// from the ISR. Taking the recovered log end instead would let a restarted
// follower, once elected, show consumers and acknowledge (an idempotent
// retry is a duplicate at once) records that the rest of the ISR does not
// have.
func TestRestartedReplicaDoesNotTakeItsLogAsCommitted(t *testing.T) {
	fsys := vfs.NewMem()
	clock := time.UnixMilli(1_000_000)
	open := func(node int32) (*Manager, *Partition) {
		t.Helper()
		m, err := NewManager(ManagerConfig{FS: fsys, LogDir: "/data", NodeID: node, AwaitRole: true,
			ISRProposer: &fakeProposer{}, ReplicaLagTimeMaxMs: testLagMs, Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Ensure("t", [16]byte{1}, 0, 0, storage.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		return m, p
	}
	leaderNode := newClusterNode(t, 1)
	leader := leaderNode.open(t)
	replicas := []int32{1, 2, 3}
	s1 := stateLedBy(1, 1, 1, replicas, replicas)
	if err := leader.MakeLeader(s1, leaderNode.now()); err != nil {
		t.Fatal(err)
	}
	m, follower := open(2)
	if err := follower.MakeFollower(s1); err != nil {
		t.Fatal(err)
	}
	produced := producerBatch(t, 7, 0, clock.UnixMilli())
	if _, err := leader.AppendProduced(produced); err != nil {
		t.Fatal(err)
	}
	got, err := leader.Read(nil, followerRead(0, 1, NoEpoch))
	if err != nil {
		t.Fatal(err)
	}
	if err := follower.AppendAsFollower(got.Records); err != nil {
		t.Fatal(err)
	}
	if err := follower.SyncFollower(); err != nil {
		t.Fatal(err)
	}
	leader.FollowerFetched(2, follower.DurableLogEnd(), leaderNode.now())
	follower.SetFollowerHighWatermark(leader.HighWatermark())
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("leader's high watermark %d while replica 3 has nothing", hw)
	}
	// Broker 2 restarts.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, follower = open(2)
	defer m.Close()
	if hw := follower.HighWatermark(); hw != 0 {
		t.Fatalf("restarted replica's high watermark %d, want 0: the record is not committed", hw)
	}
	// Broker 2 is elected (the ISR is [2, 3]); the producer retries.
	s2 := stateLedBy(2, 2, 2, replicas, []int32{2, 3})
	if err := follower.MakeLeader(s2, clock.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	res, err := follower.AppendProduced(produced)
	if err != nil || !res.Duplicate {
		t.Fatalf("retry on the new leader: %+v, %v", res, err)
	}
	done := commitAsync(context.Background(), follower, res.LastOffset, AcksAll)
	time.Sleep(10 * time.Millisecond)
	notYet(t, done, "before replica 3 has the record")
	if hw := follower.HighWatermark(); hw != 0 {
		t.Fatalf("new leader's high watermark %d before replica 3 fetched", hw)
	}
	if _, err := follower.FollowerFetched(3, 1, clock.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, done); err != nil {
		t.Fatalf("acks=all once replica 3 has the record: %v", err)
	}
}

// An acks=all wait belongs to the leader epoch of its append. A produce's
// wait may start long after the append (queued behind earlier replies);
// if the partition was demoted, truncated the records away, took other
// records at the same offsets from the new leader and was elected again,
// the new epoch's high watermark passing the offset says nothing of the
// appended records: the wait ends with ErrNotLeader, never success.
func TestCommitAppendedHoldsOnlyUnderTheAppendsEpoch(t *testing.T) {
	n := newClusterNode(t, 1)
	p := n.open(t)
	replicas := []int32{1, 2}
	if err := p.MakeLeader(leaderState(1, 1, replicas, replicas), n.now()); err != nil {
		t.Fatal(err)
	}
	res, err := p.AppendProduced(batch(t, 1)) // offset 0, never replicated
	if err != nil {
		t.Fatal(err)
	}
	if res.LeaderEpoch != 1 {
		t.Fatalf("append result's leader epoch %d, want 1", res.LeaderEpoch)
	}
	// Broker 2 leads epoch 2 without the record and writes its own at 0.
	if err := p.MakeFollower(stateLedBy(2, 2, 2, replicas, replicas)); err != nil {
		t.Fatal(err)
	}
	if err := p.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	other := batch(t, 1)
	record.SetPartitionLeaderEpoch(other, 2)
	if err := p.AppendAsFollower(other); err != nil {
		t.Fatal(err)
	}
	if err := p.SyncFollower(); err != nil {
		t.Fatal(err)
	}
	// Broker 1 leads again; the ISR has offset 0 (broker 2's record).
	if err := p.MakeLeader(leaderState(3, 3, replicas, replicas), n.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FollowerFetched(2, 1, n.now()); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d, want 1", hw)
	}
	if err := p.CommitAppended(context.Background(), res, AcksAll); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("acks=all for a record truncated under another epoch: %v, want ErrNotLeader", err)
	}
	// A record appended under the current epoch commits as usual.
	res, err = p.AppendProduced(batch(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	p.FollowerFetched(2, 2, n.now())
	if err := p.CommitAppended(context.Background(), res, AcksAll); err != nil {
		t.Fatalf("acks=all under the append's epoch: %v", err)
	}
}

// Retention deletes only below the high watermark, as Kafka's
// deletableSegments does: records no follower has fetched yet are not
// deleted from the leader (a lagging follower would skip them and restart
// its log past them, and acks=all would acknowledge records no replica
// keeps), and a follower does not delete what it has not seen committed.
func TestRetentionStopsAtTheHighWatermark(t *testing.T) {
	n := newClusterNode(t, 1)
	cfg := storage.DefaultConfig()
	cfg.RetentionMs = 1000 // the records' timestamp (1) is long past
	p, err := n.m.Ensure("t", [16]byte{1}, 0, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	replicas := []int32{1, 2}
	if err := p.MakeLeader(leaderState(1, 1, replicas, replicas), n.now()); err != nil {
		t.Fatal(err)
	}
	res, err := p.AppendProduced(batch(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CommitAppended(context.Background(), res, AcksLeader); err != nil {
		t.Fatal(err)
	}
	n.m.EnforceRetention()
	if start := p.LogStartOffset(); start != 0 {
		t.Fatalf("retention moved the log start to %d above the high watermark %d", start, p.HighWatermark())
	}
	if _, err := p.FollowerFetched(2, 3, n.now()); err != nil {
		t.Fatal(err)
	}
	n.m.EnforceRetention()
	if start := p.LogStartOffset(); start != 3 {
		t.Fatalf("log start %d once the follower has the records, want 3", start)
	}
}
