package api

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/storage"
)

// The partition handlers on a broker of a cluster: broker 1 (this one)
// and broker 2, one topic "t" with two partitions; partition 0 is hosted
// here with the role each test gives it, partition 1 is not.

var testTopicID = [16]byte{7}

type testMetadata struct {
	img atomic.Pointer[metadata.Image]
}

func (m *testMetadata) Image() *metadata.Image { return m.img.Load() }

type clusterFixture struct {
	b  *Broker
	m  *replica.Manager
	md *testMetadata
	p  *replica.Partition
}

// newClusterFixture hosts t-0 with state (applied as the metadata names
// it) and topic configs.
func newClusterFixture(t *testing.T, state replica.LeaderAndISR, configs map[string]string) *clusterFixture {
	t.Helper()
	f := &clusterFixture{md: &testMetadata{}}
	f.setMetadata(t, state, configs)
	m, err := replica.NewManager(replica.ManagerConfig{LogDir: t.TempDir(), NodeID: 1, AwaitRole: true,
		ReplicaLagTimeMaxMs: 30000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f.m = m
	if f.p, err = m.Ensure("t", testTopicID, 0, state.LeaderEpoch, storage.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	f.apply(t, state)
	cfg := config.DefaultBroker()
	cfg.NodeID = 1
	f.b = New(Config{Broker: cfg, Metadata: f.md, Partitions: m})
	return f
}

func (f *clusterFixture) setMetadata(t *testing.T, state replica.LeaderAndISR, configs map[string]string) {
	t.Helper()
	recs := []metadata.Record{
		&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 1, Endpoints: []metadata.Endpoint{{Listener: "PLAINTEXT", Host: "b1", Port: 9092}}}},
		&metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 2, Endpoints: []metadata.Endpoint{{Listener: "PLAINTEXT", Host: "b2", Port: 9093}}}},
		&metadata.TopicRecord{Name: "t", ID: testTopicID},
		&metadata.PartitionRecord{TopicID: testTopicID, Partition: metadata.Partition{Index: 0, Replicas: state.Replicas,
			ISR: state.ISR, Leader: state.Leader, LeaderEpoch: state.LeaderEpoch, PartitionEpoch: state.PartitionEpoch}},
		&metadata.PartitionRecord{TopicID: testTopicID, Partition: metadata.Partition{Index: 1, Replicas: []int32{2},
			ISR: []int32{2}, Leader: 2, LeaderEpoch: 4}},
	}
	for k, v := range configs {
		v := v
		recs = append(recs, &metadata.ConfigRecord{ResourceType: metadata.ConfigResourceTopic, ResourceName: "t", Key: k, Value: &v})
	}
	img, err := metadata.NewImage().Apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	f.md.img.Store(img)
}

// apply gives t-0 its role, as the broker's applier does.
func (f *clusterFixture) apply(t *testing.T, state replica.LeaderAndISR) {
	t.Helper()
	var err error
	if state.Leader == 1 {
		err = f.p.MakeLeader(state, time.Now().UnixMilli())
	} else {
		err = f.p.MakeFollower(state)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// handle runs a request to completion and decodes the response as the
// client would at the request's version.
func handle[R kmsg.Response](t *testing.T, b *Broker, req kmsg.Request, resp R) R {
	t.Helper()
	return finish(t, req, b.Handle(context.Background(), &Request{Key: req.Key(), Version: req.GetVersion(), Body: req}), resp)
}

func finish[R kmsg.Response](t *testing.T, req kmsg.Request, rep Reply, resp R) R {
	t.Helper()
	if rep.Wait != nil {
		rep.Wait()
	}
	return decode(t, req, rep, resp)
}

// waitAsync runs the reply's wait in the background; the channel closes
// when it is done and the response may be decoded.
func waitAsync(rep Reply) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rep.Wait != nil {
			rep.Wait()
		}
	}()
	return done
}

func decode[R kmsg.Response](t *testing.T, req kmsg.Request, rep Reply, resp R) R {
	t.Helper()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(rep.Response.AppendTo(nil)); err != nil {
		t.Fatalf("decode v%d response: %v", req.GetVersion(), err)
	}
	return resp
}

func produceRequest(t *testing.T, version, acks int16, timeoutMs int32, partition int32) *kmsg.ProduceRequest {
	t.Helper()
	b, err := record.AppendBatch(nil, record.NewBatchSpec(), []record.RecordSpec{{Timestamp: time.Now().UnixMilli(), Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	r := kmsg.NewPtrProduceRequest()
	r.SetVersion(version)
	r.Acks, r.TimeoutMillis = acks, timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "t", testTopicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, b
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func producePartition(t *testing.T, resp *kmsg.ProduceResponse) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

func fetchRequest(version int16, replicaID int32, offset int64, currentLeaderEpoch int32, maxWaitMs int32) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.SetVersion(version)
	if version >= 15 {
		r.ReplicaState.ID = replicaID
	} else {
		r.ReplicaID = replicaID
	}
	r.MaxWaitMillis, r.MinBytes, r.MaxBytes = maxWaitMs, 1, 1<<20
	r.SessionID, r.SessionEpoch = 0, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "t", testTopicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, offset, currentLeaderEpoch, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func fetchPartition(t *testing.T, resp *kmsg.FetchResponse) kmsg.FetchResponseTopicPartition {
	t.Helper()
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response error %d topics %+v", resp.ErrorCode, resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

func followerOf2() replica.LeaderAndISR {
	return replica.LeaderAndISR{Leader: 2, LeaderEpoch: 5, PartitionEpoch: 5, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
}

func ledHere(replicas, isr []int32) replica.LeaderAndISR {
	return replica.LeaderAndISR{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 5, Replicas: replicas, ISR: isr}
}

// Produce on a follower, or for a partition hosted elsewhere, is
// NOT_LEADER_OR_FOLLOWER; from v10 with the current leader and its
// endpoint (KIP-951).
func TestProduceNotLeader(t *testing.T) {
	f := newClusterFixture(t, followerOf2(), nil)
	cases := []struct {
		name      string
		version   int16
		partition int32
		code      int16
		leader    int32
		epoch     int32
	}{
		{"follower v10", 10, 0, kerr.NotLeaderForPartition.Code, 2, 5},
		{"hosted elsewhere v13", 13, 1, kerr.NotLeaderForPartition.Code, 2, 4},
		{"follower v9: no leader hint", 9, 0, kerr.NotLeaderForPartition.Code, -1, -1},
		{"unknown partition", 10, 7, kerr.UnknownTopicOrPartition.Code, -1, -1},
	}
	for _, tc := range cases {
		resp := handle(t, f.b, produceRequest(t, tc.version, 1, 1000, tc.partition), kmsg.NewPtrProduceResponse())
		sp := producePartition(t, resp)
		if sp.ErrorCode != tc.code || sp.CurrentLeader.LeaderID != tc.leader || sp.CurrentLeader.LeaderEpoch != tc.epoch {
			t.Errorf("%s: error %d leader %+v; want %d, leader %d epoch %d", tc.name, sp.ErrorCode, sp.CurrentLeader, tc.code, tc.leader, tc.epoch)
		}
		wantBrokers := 0
		if tc.leader == 2 {
			wantBrokers = 1
		}
		if len(resp.Brokers) != wantBrokers || (wantBrokers == 1 && (resp.Brokers[0].NodeID != 2 || resp.Brokers[0].Host != "b2" || resp.Brokers[0].Port != 9093)) {
			t.Errorf("%s: node endpoints %+v", tc.name, resp.Brokers)
		}
	}
}

// acks=all is refused before the append while the ISR is below
// min.insync.replicas; acks=1 is not.
func TestProduceNotEnoughReplicas(t *testing.T) {
	f := newClusterFixture(t, ledHere([]int32{1, 2, 3}, []int32{1}), map[string]string{"min.insync.replicas": "2"})
	sp := producePartition(t, handle(t, f.b, produceRequest(t, 9, -1, 1000, 0), kmsg.NewPtrProduceResponse()))
	if sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with ISR [1] and min 2: error %d", sp.ErrorCode)
	}
	if leo := f.p.LogEndOffset(); leo != 0 {
		t.Fatalf("refused produce appended: log end %d", leo)
	}
	sp = producePartition(t, handle(t, f.b, produceRequest(t, 9, 1, 1000, 0), kmsg.NewPtrProduceResponse()))
	if sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("acks=1: error %d base %d", sp.ErrorCode, sp.BaseOffset)
	}
}

// acks=all waits for the followers: a follower's fetches (the replica
// fetch path) move the high watermark and complete it; with no follower
// it times out; if the ISR shrinks below min.insync.replicas it fails
// after the append.
func TestProduceAcksAll(t *testing.T) {
	t.Run("completed by the follower's fetches", func(t *testing.T) {
		f := newClusterFixture(t, ledHere([]int32{1, 2}, []int32{1, 2}), nil)
		req := produceRequest(t, 9, -1, 60000, 0)
		rep := f.b.Handle(context.Background(), &Request{Key: req.Key(), Version: req.Version, Body: req})
		done := waitAsync(rep)
		// Broker 2 fetches the record, then reports it has it.
		fp := fetchPartition(t, handle(t, f.b, fetchRequest(12, 2, 0, 5, 0), kmsg.NewPtrFetchResponse()))
		if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 || fp.HighWatermark != 0 {
			t.Fatalf("replica fetch: error %d, %d bytes, high watermark %d", fp.ErrorCode, len(fp.RecordBatches), fp.HighWatermark)
		}
		select {
		case <-done:
			t.Fatalf("acks=all answered before the follower had the record: %+v",
				producePartition(t, decode(t, req, rep, kmsg.NewPtrProduceResponse())))
		default:
		}
		// The high watermark this fetch answers with is 1 if the leader's
		// own fsync (the produce's wait) came first, else 0.
		fp = fetchPartition(t, handle(t, f.b, fetchRequest(12, 2, 1, 5, 0), kmsg.NewPtrFetchResponse()))
		if fp.ErrorCode != 0 || fp.HighWatermark > 1 {
			t.Fatalf("replica fetch at 1: error %d, high watermark %d", fp.ErrorCode, fp.HighWatermark)
		}
		select {
		case <-done:
			if sp := producePartition(t, decode(t, req, rep, kmsg.NewPtrProduceResponse())); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
				t.Fatalf("acks=all: error %d base %d", sp.ErrorCode, sp.BaseOffset)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("acks=all not answered after the follower caught up")
		}
		if hw := f.p.HighWatermark(); hw != 1 {
			t.Fatalf("high watermark %d after acks=all, want 1", hw)
		}
	})
	t.Run("times out", func(t *testing.T) {
		f := newClusterFixture(t, ledHere([]int32{1, 2}, []int32{1, 2}), nil)
		sp := producePartition(t, handle(t, f.b, produceRequest(t, 9, -1, 5, 0), kmsg.NewPtrProduceResponse()))
		if sp.ErrorCode != kerr.RequestTimedOut.Code {
			t.Fatalf("acks=all without the follower: error %d, want REQUEST_TIMED_OUT", sp.ErrorCode)
		}
	})
	t.Run("ISR shrinks below min.insync.replicas", func(t *testing.T) {
		f := newClusterFixture(t, ledHere([]int32{1, 2}, []int32{1, 2}), nil)
		f.p.SetMinInsyncReplicas(2)
		req := produceRequest(t, 9, -1, 60000, 0)
		rep := f.b.Handle(context.Background(), &Request{Key: req.Key(), Version: req.Version, Body: req})
		done := waitAsync(rep)
		shrunk := ledHere([]int32{1, 2}, []int32{1})
		shrunk.PartitionEpoch++
		f.apply(t, shrunk)
		select {
		case <-done:
			if sp := producePartition(t, decode(t, req, rep, kmsg.NewPtrProduceResponse())); sp.ErrorCode != kerr.NotEnoughReplicasAfterAppend.Code {
				t.Fatalf("error %d, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", sp.ErrorCode)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("acks=all not answered after the ISR shrank")
		}
	})
}

// Replica fetches read to the log end, by ReplicaID before v15 and
// ReplicaState from v15; a consumer sees only what is committed. A
// replica fetch long-polls until the log end moves.
func TestReplicaFetch(t *testing.T) {
	f := newClusterFixture(t, ledHere([]int32{1, 2}, []int32{1, 2}), nil)
	if sp := producePartition(t, handle(t, f.b, produceRequest(t, 9, 1, 1000, 0), kmsg.NewPtrProduceResponse())); sp.ErrorCode != 0 {
		t.Fatalf("produce: %d", sp.ErrorCode)
	}
	consumer := fetchPartition(t, handle(t, f.b, fetchRequest(12, -1, 0, 5, 0), kmsg.NewPtrFetchResponse()))
	if consumer.ErrorCode != 0 || len(consumer.RecordBatches) != 0 {
		t.Fatalf("consumer fetch: error %d, %d bytes before the record is committed", consumer.ErrorCode, len(consumer.RecordBatches))
	}
	for _, version := range []int16{12, 15, 18} {
		fp := fetchPartition(t, handle(t, f.b, fetchRequest(version, 2, 0, 5, 0), kmsg.NewPtrFetchResponse()))
		if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 {
			t.Fatalf("v%d replica fetch: error %d, %d bytes", version, fp.ErrorCode, len(fp.RecordBatches))
		}
	}
	// Broker 3 holds no replica.
	if fp := fetchPartition(t, handle(t, f.b, fetchRequest(12, 3, 0, 5, 0), kmsg.NewPtrFetchResponse())); fp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch from a non-replica: error %d", fp.ErrorCode)
	}
	// A long-poll at the log end returns once a produce appends, before it
	// is committed.
	req := fetchRequest(12, 2, 1, 5, 30000)
	rep := f.b.Handle(context.Background(), &Request{Key: req.Key(), Version: req.Version, Body: req})
	done := waitAsync(rep)
	if sp := producePartition(t, handle(t, f.b, produceRequest(t, 9, 1, 1000, 0), kmsg.NewPtrProduceResponse())); sp.ErrorCode != 0 {
		t.Fatalf("produce: %d", sp.ErrorCode)
	}
	select {
	case <-done:
		if fp := fetchPartition(t, decode(t, req, rep, kmsg.NewPtrFetchResponse())); fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 || fp.HighWatermark != 1 {
			t.Fatalf("long-poll: error %d, %d bytes, high watermark %d", fp.ErrorCode, len(fp.RecordBatches), fp.HighWatermark)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replica long-poll not woken by the append")
	}
}

// A consumer's fetch on a follower before v11 (no client metadata), or of
// a partition not hosted here, is NOT_LEADER_OR_FOLLOWER, with the current
// leader from v16; current_leader_epoch is checked (KIP-320). From v11 a
// follower serves consumers (follower_fetch_test.go).
func TestFetchLeaderChecks(t *testing.T) {
	f := newClusterFixture(t, followerOf2(), nil)
	cases := []struct {
		name      string
		version   int16
		partition int32
		epoch     int32
		code      int16
		leader    int32
	}{
		{"not hosted v16", 16, 1, -1, kerr.NotLeaderForPartition.Code, 2},
		{"follower v10: no client metadata, no hint", 10, 0, -1, kerr.NotLeaderForPartition.Code, -1},
		{"older epoch", 16, 0, 4, kerr.FencedLeaderEpoch.Code, 2},
		{"newer epoch", 16, 0, 6, kerr.UnknownLeaderEpoch.Code, -1},
	}
	for _, tc := range cases {
		req := fetchRequest(tc.version, -1, 0, tc.epoch, 0)
		req.Topics[0].Partitions[0].Partition = tc.partition
		resp := handle(t, f.b, req, kmsg.NewPtrFetchResponse())
		fp := fetchPartition(t, resp)
		if fp.ErrorCode != tc.code || fp.CurrentLeader.LeaderID != tc.leader {
			t.Errorf("%s: error %d current leader %+v; want %d, leader %d", tc.name, fp.ErrorCode, fp.CurrentLeader, tc.code, tc.leader)
		}
		if tc.leader == 2 && (len(resp.Brokers) != 1 || resp.Brokers[0].Host != "b2") {
			t.Errorf("%s: node endpoints %+v", tc.name, resp.Brokers)
		}
	}
}

func listOffsetsRequest(replicaID int32, timestamp int64, currentLeaderEpoch int32) *kmsg.ListOffsetsRequest {
	r := kmsg.NewPtrListOffsetsRequest()
	r.SetVersion(7)
	r.ReplicaID = replicaID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, timestamp, currentLeaderEpoch
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

// ListOffsets: a consumer asks the leader; the debugging replica (-2)
// reads any replica's own log, to its log end.
func TestListOffsetsReplicas(t *testing.T) {
	f := newClusterFixture(t, followerOf2(), nil)
	// The follower has replicated one record.
	leader := newClusterFixture(t, ledHere([]int32{1}, []int32{1}), nil)
	handle(t, leader.b, produceRequest(t, 9, 1, 1000, 0), kmsg.NewPtrProduceResponse())
	data, err := leader.p.Read(nil, replica.ReadOptions{MaxBytes: 1 << 20, MinOneBatch: true, Isolation: replica.IsolationLogEnd,
		CurrentLeaderEpoch: replica.NoEpoch, LastFetchedEpoch: replica.NoEpoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.p.AppendAsFollower(data.Records); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		replicaID int32
		epoch     int32
		code      int16
		offset    int64
	}{
		{"consumer on a follower", -1, -1, kerr.NotLeaderForPartition.Code, -1},
		{"debugging replica", -2, -1, 0, 1},
		{"debugging replica, older epoch", -2, 4, kerr.FencedLeaderEpoch.Code, -1},
	}
	for _, tc := range cases {
		resp := handle(t, f.b, listOffsetsRequest(tc.replicaID, -1, tc.epoch), kmsg.NewPtrListOffsetsResponse())
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != tc.code || sp.Offset != tc.offset {
			t.Errorf("%s: error %d offset %d; want %d, %d", tc.name, sp.ErrorCode, sp.Offset, tc.code, tc.offset)
		}
	}
}

// OffsetForLeaderEpoch and DeleteRecords are the leader's.
func TestLeaderOnlyRequests(t *testing.T) {
	f := newClusterFixture(t, followerOf2(), nil)
	ofe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ofe.SetVersion(4)
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, -1, 5
	rt.Partitions = append(rt.Partitions, rp)
	ofe.Topics = append(ofe.Topics, rt)
	if sp := handle(t, f.b, ofe, kmsg.NewPtrOffsetForLeaderEpochResponse()).Topics[0].Partitions[0]; sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("OffsetForLeaderEpoch on a follower: error %d", sp.ErrorCode)
	}
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.SetVersion(2)
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = "t"
	drp := kmsg.NewDeleteRecordsRequestTopicPartition()
	drp.Partition, drp.Offset = 0, -1
	drt.Partitions = append(drt.Partitions, drp)
	dr.Topics = append(dr.Topics, drt)
	if sp := handle(t, f.b, dr, kmsg.NewPtrDeleteRecordsResponse()).Topics[0].Partitions[0]; sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("DeleteRecords on a follower: error %d", sp.ErrorCode)
	}

	leader := newClusterFixture(t, ledHere([]int32{1}, []int32{1}), nil)
	handle(t, leader.b, produceRequest(t, 9, 1, 1000, 0), kmsg.NewPtrProduceResponse())
	if sp := handle(t, leader.b, ofe, kmsg.NewPtrOffsetForLeaderEpochResponse()).Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.LeaderEpoch != 5 || sp.EndOffset != 1 {
		t.Fatalf("OffsetForLeaderEpoch on the leader: %+v", sp)
	}
	if sp := handle(t, leader.b, dr, kmsg.NewPtrDeleteRecordsResponse()).Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.LowWatermark != 1 {
		t.Fatalf("DeleteRecords on the leader: %+v", sp)
	}
}

// A follower whose last fetched epoch ends here before its fetch offset
// gets the diverging epoch instead of records (Fetch v12+), by topic name
// and by topic ID.
func TestReplicaFetchDivergingEpoch(t *testing.T) {
	f := newClusterFixture(t, ledHere([]int32{1, 2}, []int32{1, 2}), nil)
	handle(t, f.b, produceRequest(t, 9, 1, 1000, 0), kmsg.NewPtrProduceResponse()) // epoch 5 starts at 0
	for _, version := range []int16{12, 15} {
		req := fetchRequest(version, 2, 1, 5, 60000) // a divergence answers without waiting
		req.Topics[0].Partitions[0].LastFetchedEpoch = 3
		fp := fetchPartition(t, handle(t, f.b, req, kmsg.NewPtrFetchResponse()))
		if fp.ErrorCode != 0 || fp.DivergingEpoch.Epoch != 3 || fp.DivergingEpoch.EndOffset != 0 || len(fp.RecordBatches) != 0 {
			t.Fatalf("v%d: error %d diverging %+v, %d bytes; want epoch 3 ending at 0", version, fp.ErrorCode, fp.DivergingEpoch, len(fp.RecordBatches))
		}
		req = fetchRequest(version, 2, 0, 5, 0)
		req.Topics[0].Partitions[0].LastFetchedEpoch = 5
		if fp := fetchPartition(t, handle(t, f.b, req, kmsg.NewPtrFetchResponse())); fp.DivergingEpoch.Epoch != -1 || len(fp.RecordBatches) == 0 {
			t.Fatalf("v%d in step: diverging %+v, %d bytes", version, fp.DivergingEpoch, len(fp.RecordBatches))
		}
	}
}
