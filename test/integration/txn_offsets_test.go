package integration

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// fetchGroupOffset asks for one partition's committed offset of group
// (OffsetFetch v7, with or without require_stable), retrying while the
// group coordinator loads.
func fetchGroupOffset(t *testing.T, b *testcluster.Broker, group, topic string, partition int32, requireStable bool) kmsg.OffsetFetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group, req.RequireStable = group, requireStable
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{partition}}}
	var resp *kmsg.OffsetFetchResponse
	eventually(t, "OffsetFetch answered", func() bool {
		resp = requestAt[*kmsg.OffsetFetchResponse](t, b, req)
		return resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code && resp.ErrorCode != kerr.NotCoordinator.Code
	})
	wantCode(t, "OffsetFetch", resp.ErrorCode, nil)
	return resp.Topics[0].Partitions[0]
}

// txnOffsetCommit commits one partition's offset in the producer's
// transaction (TxnOffsetCommit v3, no generation).
func txnOffsetCommit(t *testing.T, b *testcluster.Broker, id string, pid int64, epoch int16, group, topic string, offset int64) {
	t.Helper()
	wantCode(t, "TxnOffsetCommit", txnOffsetCommitCode(t, b, id, pid, epoch, group, topic, offset), nil)
}

// txnOffsetCommitCode is txnOffsetCommit returning the partition's error.
func txnOffsetCommitCode(t *testing.T, b *testcluster.Broker, id string, pid int64, epoch int16, group, topic string, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = id, group, pid, epoch, -1
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset = 0, offset
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{p}}}
	resp := requestAt[*kmsg.TxnOffsetCommitResponse](t, b, req)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// addOffsetsToTxn puts group's offsets partition in id's transaction.
func addOffsetsToTxn(t *testing.T, b *testcluster.Broker, id string, pid int64, epoch int16, group string) {
	t.Helper()
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = id, pid, epoch, group
	var code int16
	eventually(t, "AddOffsetsToTxn answered", func() bool {
		code = requestAt[*kmsg.AddOffsetsToTxnResponse](t, b, add).ErrorCode
		return code != kerr.CoordinatorLoadInProgress.Code && code != kerr.NotCoordinator.Code && code != kerr.ConcurrentTransactions.Code
	})
	wantCode(t, "AddOffsetsToTxn", code, nil)
}

// endTransaction ends id's transaction and waits until its markers are written.
func endTransaction(t *testing.T, b *testcluster.Broker, id string, pid int64, epoch int16, commit bool) {
	t.Helper()
	end := kmsg.NewPtrEndTxnRequest()
	end.Version = 3
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, commit
	wantCode(t, "EndTxn", requestAt[*kmsg.EndTxnResponse](t, b, end).ErrorCode, nil)
	want := "CompleteAbort"
	if commit {
		want = "CompleteCommit"
	}
	eventually(t, "transaction "+want, func() bool { return describeTransaction(t, b, id).State == want })
}

// TxnOffsetCommit needs the group's partition in the producer's ongoing
// transaction. Offsets committed in a transaction are pending (UNSTABLE_OFFSET_COMMIT
// for require_stable, the previous commit otherwise) until it ends: an
// abort drops them, a commit makes them the group's offsets. Pending
// offsets survive a restart, and so do committed ones (the markers in
// `__consumer_offsets` are replayed).
func TestTxnOffsetCommitAbortCommitAndRestart(t *testing.T) {
	b := startBroker(t)
	topic := uniqueName(t, "")
	createTopic(t, b, topic, 1, nil)
	group, id := "g-"+topic, "txo-"+topic
	init := initTransactional(t, b, id, 60000)
	wantCode(t, "InitProducerId", init.ErrorCode, nil)
	pid, epoch := init.ProducerID, init.ProducerEpoch

	wantCode(t, "TxnOffsetCommit outside a transaction", txnOffsetCommitCode(t, b, id, pid, epoch, group, topic, 1), kerr.InvalidTxnState)
	added := requestAt[*kmsg.AddPartitionsToTxnResponse](t, b, addPartitions(id, pid, epoch, topic, 0))
	wantCode(t, "AddPartitionsToTxn", added.Topics[0].Partitions[0].ErrorCode, nil)
	wantCode(t, "TxnOffsetCommit before AddOffsetsToTxn", txnOffsetCommitCode(t, b, id, pid, epoch, group, topic, 1), kerr.InvalidTxnState)
	wantCode(t, "TxnOffsetCommit at another epoch", txnOffsetCommitCode(t, b, id, pid, epoch+1, group, topic, 1), kerr.ProducerFenced)
	addOffsetsToTxn(t, b, id, pid, epoch, group)
	unknown := kmsg.NewPtrTxnOffsetCommitRequest()
	unknown.Version = 3
	unknown.TransactionalID, unknown.Group, unknown.ProducerID, unknown.ProducerEpoch, unknown.Generation = id, group, pid, epoch, -1
	missing := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	missing.Partition, missing.Offset = 3, 1
	unknown.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{missing}}}
	uresp := requestAt[*kmsg.TxnOffsetCommitResponse](t, b, unknown)
	wantCode(t, "TxnOffsetCommit of a missing partition", uresp.Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	txnOffsetCommit(t, b, id, pid, epoch, group, topic, 5)
	if p := fetchGroupOffset(t, b, group, topic, 0, true); p.ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require_stable while pending: %+v, want UNSTABLE_OFFSET_COMMIT", p)
	}
	if p := fetchGroupOffset(t, b, group, topic, 0, false); p.ErrorCode != 0 || p.Offset != -1 {
		t.Fatalf("without require_stable while pending: %+v, want offset -1", p)
	}
	endTransaction(t, b, id, pid, epoch, false)
	if p := fetchGroupOffset(t, b, group, topic, 0, true); p.ErrorCode != 0 || p.Offset != -1 {
		t.Fatalf("after abort: %+v, want offset -1", p)
	}

	addOffsetsToTxn(t, b, id, pid, epoch, group)
	txnOffsetCommit(t, b, id, pid, epoch, group, topic, 7)
	b.Restart()
	if p := fetchGroupOffset(t, b, group, topic, 0, true); p.ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require_stable after a restart while pending: %+v, want UNSTABLE_OFFSET_COMMIT", p)
	}
	endTransaction(t, b, id, pid, epoch, true)
	if p := fetchGroupOffset(t, b, group, topic, 0, true); p.ErrorCode != 0 || p.Offset != 7 {
		t.Fatalf("after commit: %+v, want offset 7", p)
	}
	b.Restart()
	if p := fetchGroupOffset(t, b, group, topic, 0, true); p.ErrorCode != 0 || p.Offset != 7 {
		t.Fatalf("after commit and a restart: %+v, want offset 7", p)
	}
}

// Consume-transform-produce with franz-go's GroupTransactSession: records
// read from one topic are written to another in transactions that also
// commit the group's offsets; the output is readable read_committed and
// the offsets survive a restart.
func TestGroupTransactSessionExactlyOnce(t *testing.T) {
	b := startBroker(t)
	in, out := uniqueName(t, "-in"), uniqueName(t, "-out")
	createTopic(t, b, in, 1, nil)
	createTopic(t, b, out, 1, nil)
	const n = 6
	for i := range n {
		produceValues(t, b, in, fmt.Sprintf("v%d", i))
	}
	group := "eos-" + in
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b.Addr()),
		kgo.TransactionalID("eos-"+in),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic(out),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer sess.Close()
	ctx := testContext(t)
	seen := 0
	for seen < n && ctx.Err() == nil {
		fetches := sess.PollFetches(ctx)
		if err := fetches.Err0(); err != nil && ctx.Err() == nil {
			t.Fatalf("poll: %v", err)
		}
		if err := sess.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Value: append([]byte("out-"), r.Value...)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			seen += fetches.NumRecords()
		}
	}
	if seen != n {
		t.Fatalf("transformed %d records, want %d", seen, n)
	}
	sess.Close()

	if p := fetchGroupOffset(t, b, group, in, 0, true); p.ErrorCode != 0 || p.Offset != n {
		t.Fatalf("group offset after the session: %+v, want %d", p, n)
	}
	records := consume(t, b, out, n, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("out-v%d", i)
	}
	wantValues(t, "read_committed output", records, want...)
	b.Restart()
	if p := fetchGroupOffset(t, b, group, in, 0, true); p.ErrorCode != 0 || p.Offset != n {
		t.Fatalf("group offset after a restart: %+v, want %d", p, n)
	}
}
