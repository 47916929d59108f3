package api

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// Fetching from the closest replica (KIP-392): brokers 1, 2 and 3 in racks
// a, b and c; t-0 replicated on all three.

// setRackMetadata replaces the fixture's image with one of three brokers
// in racks a, b and c (those in fenced fenced) and t-0 in state.
func (f *clusterFixture) setRackMetadata(t *testing.T, state replica.LeaderAndISR, fenced ...int32) {
	t.Helper()
	var recs []metadata.Record
	for i, rack := range []string{"a", "b", "c"} {
		id := int32(i + 1)
		br := metadata.Broker{NodeID: id, Rack: &rack,
			Endpoints: []metadata.Endpoint{{Listener: "PLAINTEXT", Host: "b" + rack, Port: 9092}}}
		for _, fid := range fenced {
			br.Fenced = br.Fenced || fid == id
		}
		recs = append(recs, &metadata.RegisterBrokerRecord{Broker: br})
	}
	recs = append(recs, &metadata.TopicRecord{Name: "t", ID: testTopicID},
		&metadata.PartitionRecord{TopicID: testTopicID, Partition: metadata.Partition{Index: 0, Replicas: state.Replicas,
			ISR: state.ISR, Leader: state.Leader, LeaderEpoch: state.LeaderEpoch, PartitionEpoch: state.PartitionEpoch}})
	img, err := metadata.NewImage().Apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	f.md.img.Store(img)
}

// rackFetch is a consumer's fetch of t-0 at offset from rack.
func rackFetch(version int16, offset int64, rack string, maxWaitMs int32) *kmsg.FetchRequest {
	r := fetchRequest(version, -1, offset, 5, maxWaitMs)
	r.Rack = rack
	return r
}

// newRackLeaderFixture leads t-0 here (broker 1, rack a) with followers 2
// and 3 in the ISR, one record at offset 0 that both followers have
// fetched, and the rack-aware selector on.
func newRackLeaderFixture(t *testing.T) *clusterFixture {
	t.Helper()
	state := ledHere([]int32{1, 2, 3}, []int32{1, 2, 3})
	f := newClusterFixture(t, state, nil)
	f.setRackMetadata(t, state)
	f.b.cfg.Broker.ReplicaSelectorClass = config.RackAwareReplicaSelector
	if sp := producePartition(t, handle(t, f.b, produceRequest(t, 9, 1, 1000, 0), kmsg.NewPtrProduceResponse())); sp.ErrorCode != 0 {
		t.Fatalf("produce: %d", sp.ErrorCode)
	}
	for _, follower := range []int32{2, 3} {
		if fp := fetchPartition(t, handle(t, f.b, fetchRequest(12, follower, 1, 5, 0), kmsg.NewPtrFetchResponse())); fp.ErrorCode != 0 {
			t.Fatalf("fetch from follower %d: error %d", follower, fp.ErrorCode)
		}
	}
	if hw := f.p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d after both followers fetched, want 1", hw)
	}
	return f
}

// The leader sends a consumer in a follower's rack to that follower, with
// its offsets and no records, and serves everyone else itself.
func TestFetchPreferredReadReplica(t *testing.T) {
	f := newRackLeaderFixture(t)
	cases := []struct {
		name      string
		version   int16
		rack      string
		offset    int64
		preferred int32
	}{
		{"consumer in follower 2's rack", 18, "b", 0, 2},
		{"consumer in follower 3's rack, v11", 11, "c", 0, 3},
		{"consumer in the leader's rack", 18, "a", 0, -1},
		{"consumer without a rack", 18, "", 0, -1},
		{"consumer in a rack without a replica", 18, "z", 0, -1},
		{"before v11 there is no rack", 10, "b", 0, -1},
		{"an offset no follower has fetched", 18, "b", 2, -1},
	}
	for _, tc := range cases {
		fp := fetchPartition(t, handle(t, f.b, rackFetch(tc.version, tc.offset, tc.rack, 0), kmsg.NewPtrFetchResponse()))
		preferred := fp.PreferredReadReplica
		if tc.version < 11 {
			preferred = -1 // not in the v10 response
		}
		if preferred != tc.preferred {
			t.Errorf("%s: preferred read replica %d, want %d", tc.name, preferred, tc.preferred)
			continue
		}
		switch {
		case tc.preferred >= 0 && (fp.ErrorCode != 0 || len(fp.RecordBatches) != 0 || fp.HighWatermark != 1 || fp.LogStartOffset != 0 || fp.LastStableOffset != 1):
			t.Errorf("%s: error %d, %d bytes, hw %d, log start %d, last stable %d; want the leader's offsets and no records",
				tc.name, fp.ErrorCode, len(fp.RecordBatches), fp.HighWatermark, fp.LogStartOffset, fp.LastStableOffset)
		case tc.preferred < 0 && tc.offset == 0 && (fp.ErrorCode != 0 || len(fp.RecordBatches) == 0):
			t.Errorf("%s: error %d, %d bytes; want the record from the leader", tc.name, fp.ErrorCode, len(fp.RecordBatches))
		}
	}

	// The reader's leader epoch is checked before a replica is named.
	fenced := rackFetch(18, 0, "b", 0)
	fenced.Topics[0].Partitions[0].CurrentLeaderEpoch = 4
	if fp := fetchPartition(t, handle(t, f.b, fenced, kmsg.NewPtrFetchResponse())); fp.ErrorCode != kerr.FencedLeaderEpoch.Code || fp.PreferredReadReplica != -1 {
		t.Errorf("older leader epoch: error %d, preferred %d; want FENCED_LEADER_EPOCH and none", fp.ErrorCode, fp.PreferredReadReplica)
	}
	// A named replica answers at once, without waiting for data.
	req := rackFetch(18, 1, "b", 30000)
	select {
	case <-waitAsync(f.b.Handle(context.Background(), &Request{Key: req.Key(), Version: req.Version, Body: req})):
	case <-time.After(10 * time.Second):
		t.Fatal("a fetch answered with a preferred replica waited for data")
	}
}

// Only alive ISR members are named; with no selector configured the
// leader serves everyone (Kafka's default).
func TestFetchPreferredReadReplicaCandidates(t *testing.T) {
	f := newRackLeaderFixture(t)
	state := ledHere([]int32{1, 2, 3}, []int32{1, 2, 3})
	f.setRackMetadata(t, state, 2)
	if fp := fetchPartition(t, handle(t, f.b, rackFetch(18, 0, "b", 0), kmsg.NewPtrFetchResponse())); fp.PreferredReadReplica != -1 || len(fp.RecordBatches) == 0 {
		t.Errorf("follower 2 fenced: preferred %d, %d bytes; want the leader to serve", fp.PreferredReadReplica, len(fp.RecordBatches))
	}
	f.setRackMetadata(t, state)
	shrunk := ledHere([]int32{1, 2, 3}, []int32{1, 3})
	shrunk.PartitionEpoch++
	f.apply(t, shrunk)
	if fp := fetchPartition(t, handle(t, f.b, rackFetch(18, 0, "b", 0), kmsg.NewPtrFetchResponse())); fp.PreferredReadReplica != -1 {
		t.Errorf("follower 2 out of the ISR: preferred %d, want none", fp.PreferredReadReplica)
	}
	if fp := fetchPartition(t, handle(t, f.b, rackFetch(18, 0, "c", 0), kmsg.NewPtrFetchResponse())); fp.PreferredReadReplica != 3 {
		t.Errorf("follower 3 still in the ISR: preferred %d, want 3", fp.PreferredReadReplica)
	}
	f.b.cfg.Broker.ReplicaSelectorClass = ""
	if fp := fetchPartition(t, handle(t, f.b, rackFetch(18, 0, "c", 0), kmsg.NewPtrFetchResponse())); fp.PreferredReadReplica != -1 || len(fp.RecordBatches) == 0 {
		t.Errorf("no replica selector: preferred %d, %d bytes; want the leader to serve", fp.PreferredReadReplica, len(fp.RecordBatches))
	}
}

// A follower serves consumers' fetches from v11 (Kafka's fetchOnlyLeader
// is false once the request carries client metadata), up to its own high
// watermark, with the leader's errors: OFFSET_OUT_OF_RANGE past its log
// end, epoch checks, and NOT_LEADER_OR_FOLLOWER before v11.
func TestFetchFromFollower(t *testing.T) {
	state := followerOf2()
	f := newClusterFixture(t, state, nil)
	f.b.cfg.Broker.ReplicaSelectorClass = config.RackAwareReplicaSelector
	for _, n := range []int{2, 1} { // offsets 0..1, then 2
		spec := record.NewBatchSpec()
		spec.BaseOffset, spec.PartitionLeaderEpoch = f.p.LogEndOffset(), state.LeaderEpoch
		specs := make([]record.RecordSpec, n)
		for i := range specs {
			specs[i] = record.RecordSpec{Timestamp: time.Now().UnixMilli(), Value: []byte("v")}
		}
		b, err := record.AppendBatch(nil, spec, specs)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.p.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.p.SyncFollower(); err != nil {
		t.Fatal(err)
	}
	f.p.SetFollowerHighWatermark(2) // the leader has committed 0..1 only
	cases := []struct {
		name    string
		version int16
		offset  int64
		epoch   int32
		code    int16
		batches int
	}{
		{"below the high watermark", 18, 0, 5, 0, 1},
		{"without an epoch, v11", 11, 0, -1, 0, 1},
		{"at the high watermark", 18, 2, 5, 0, 0},
		{"at the log end", 18, 3, 5, 0, 0},
		{"past the log end", 18, 4, 5, kerr.OffsetOutOfRange.Code, 0},
		{"older epoch", 18, 0, 4, kerr.FencedLeaderEpoch.Code, 0},
		{"newer epoch", 18, 0, 6, kerr.UnknownLeaderEpoch.Code, 0},
		{"v10: leader only", 10, 0, 5, kerr.NotLeaderForPartition.Code, 0},
	}
	for _, tc := range cases {
		req := rackFetch(tc.version, tc.offset, "b", 0)
		req.Topics[0].Partitions[0].CurrentLeaderEpoch = tc.epoch
		fp := fetchPartition(t, handle(t, f.b, req, kmsg.NewPtrFetchResponse()))
		if fp.ErrorCode != tc.code || countBatches(t, fp.RecordBatches) != tc.batches || fp.PreferredReadReplica != -1 {
			t.Errorf("%s: error %d, %d batches, preferred %d; want error %d, %d batches, none",
				tc.name, fp.ErrorCode, countBatches(t, fp.RecordBatches), fp.PreferredReadReplica, tc.code, tc.batches)
		}
		if tc.code == 0 && fp.HighWatermark != 2 {
			t.Errorf("%s: high watermark %d, want the follower's 2", tc.name, fp.HighWatermark)
		}
	}

	// A long-poll on the follower wakes when the leader's high watermark
	// reaches it.
	req := rackFetch(18, 2, "b", 30000)
	rep := f.b.Handle(context.Background(), &Request{Key: req.Key(), Version: req.Version, Body: req})
	done := waitAsync(rep)
	f.p.SetFollowerHighWatermark(3)
	select {
	case <-done:
		fp := fetchPartition(t, decode(t, req, rep, kmsg.NewPtrFetchResponse()))
		if fp.ErrorCode != 0 || countBatches(t, fp.RecordBatches) != 1 || fp.HighWatermark != 3 {
			t.Fatalf("long-poll: error %d, %d batches, hw %d", fp.ErrorCode, countBatches(t, fp.RecordBatches), fp.HighWatermark)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follower long-poll not woken by the high watermark")
	}
}

// countBatches counts the record batches in b.
func countBatches(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		b = b[h.Size():]
		n++
	}
	return n
}
