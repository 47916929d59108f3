package integration

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// transactionalBatch is idempotentBatch with the transactional attribute
// set (KIP-98), CRC recomputed.
func transactionalBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	b := idempotentBatch(pid, epoch, seq, values...)
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|0x10)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// initTransactional finds the transaction coordinator (creating
// `__transaction_state`) and inits a producer for id, retrying while the
// coordinator shard loads.
func initTransactional(t *testing.T, b *testcluster.Broker, id string, timeoutMs int32) *kmsg.InitProducerIDResponse {
	t.Helper()
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.Version, find.CoordinatorType, find.CoordinatorKey = 3, 1, id
	fresp := requestAt[*kmsg.FindCoordinatorResponse](t, b, find)
	wantCode(t, "FindCoordinator for a transactional ID", fresp.ErrorCode, nil)
	if fresp.NodeID != b.Config().NodeID {
		t.Fatalf("transaction coordinator is node %d, want %d", fresp.NodeID, b.Config().NodeID)
	}
	var resp *kmsg.InitProducerIDResponse
	eventually(t, "transaction coordinator loaded", func() bool {
		r := initProducerID(4, &id, -1, -1)
		r.TransactionTimeoutMillis = timeoutMs
		resp = requestAt[*kmsg.InitProducerIDResponse](t, b, r)
		return resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code && resp.ErrorCode != kerr.NotCoordinator.Code
	})
	return resp
}

func addPartitions(id string, pid int64, epoch int16, topic string, partitions ...int32) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: partitions}}
	return req
}

func describeTransaction(t *testing.T, b *testcluster.Broker, id string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	resp := requestAt[*kmsg.DescribeTransactionsResponse](t, b, req)
	if len(resp.TransactionStates) != 1 {
		t.Fatalf("DescribeTransactions answered %d states", len(resp.TransactionStates))
	}
	return resp.TransactionStates[0]
}

// The coordinator's requests at exact versions: InitProducerId bumps the
// epoch and fences the old one, timeouts are bounded, AddPartitionsToTxn
// refuses unknown partitions (Kafka's OPERATION_NOT_ATTEMPTED for the
// rest), transactional Produce needs its partition in the transaction,
// EndTxn commits, and the admin APIs (DescribeTransactions,
// ListTransactions, DescribeProducers) report it.
func TestTransactionCoordinatorRequests(t *testing.T) {
	b := startBroker(t)
	topic := uniqueName(t, "")
	createTopic(t, b, topic, 2, nil)
	id := "coordinator-requests"

	first := initTransactional(t, b, id, 60000)
	wantCode(t, "first InitProducerId", first.ErrorCode, nil)
	if first.ProducerID < 0 || first.ProducerEpoch != 0 {
		t.Fatalf("first InitProducerId: ID %d epoch %d", first.ProducerID, first.ProducerEpoch)
	}
	second := requestAt[*kmsg.InitProducerIDResponse](t, b, initProducerID(4, &id, -1, -1))
	wantCode(t, "second InitProducerId", second.ErrorCode, nil)
	if second.ProducerID != first.ProducerID || second.ProducerEpoch != 1 {
		t.Fatalf("second InitProducerId: ID %d epoch %d, want ID %d epoch 1", second.ProducerID, second.ProducerEpoch, first.ProducerID)
	}
	pid, epoch := second.ProducerID, second.ProducerEpoch
	for _, timeout := range []int32{0, b.Config().TransactionMaxTimeoutMs + 1} {
		r := initProducerID(4, &id, -1, -1)
		r.TransactionTimeoutMillis = timeout
		resp := requestAt[*kmsg.InitProducerIDResponse](t, b, r)
		wantCode(t, "InitProducerId with a timeout out of bounds", resp.ErrorCode, kerr.InvalidTransactionTimeout)
	}

	fenced := requestAt[*kmsg.AddPartitionsToTxnResponse](t, b, addPartitions(id, pid, 0, topic, 0))
	wantCode(t, "AddPartitionsToTxn at the fenced epoch", fenced.Topics[0].Partitions[0].ErrorCode, kerr.ProducerFenced)
	mixed := addPartitions(id, pid, epoch, topic, 0)
	mixed.Topics = append(mixed.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: "no-such-topic", Partitions: []int32{0}})
	mresp := requestAt[*kmsg.AddPartitionsToTxnResponse](t, b, mixed)
	for _, rt := range mresp.Topics {
		want := kerr.OperationNotAttempted
		if rt.Topic == "no-such-topic" {
			want = kerr.UnknownTopicOrPartition
		}
		wantCode(t, "AddPartitionsToTxn with an unknown topic: "+rt.Topic, rt.Partitions[0].ErrorCode, want)
	}
	added := requestAt[*kmsg.AddPartitionsToTxnResponse](t, b, addPartitions(id, pid, epoch, topic, 0))
	wantCode(t, "AddPartitionsToTxn", added.Topics[0].Partitions[0].ErrorCode, nil)

	outside := produceRequest(topic, 1, -1, transactionalBatch(pid, epoch, 0, "outside"))
	outside.TransactionID = &id
	wantCode(t, "transactional produce to a partition not in the transaction",
		singleProducePartition(t, requestAt[*kmsg.ProduceResponse](t, b, outside)).ErrorCode, kerr.InvalidTxnState)
	inside := produceRequest(topic, 0, -1, transactionalBatch(pid, epoch, 0, "inside"))
	inside.TransactionID = &id
	wantCode(t, "transactional produce to a partition in the transaction",
		singleProducePartition(t, requestAt[*kmsg.ProduceResponse](t, b, inside)).ErrorCode, nil)

	st := describeTransaction(t, b, id)
	wantCode(t, "DescribeTransactions", st.ErrorCode, nil)
	if st.State != "Ongoing" || st.ProducerID != pid || st.ProducerEpoch != epoch || st.TimeoutMillis != 60000 ||
		st.StartTimestamp < 0 || len(st.Topics) != 1 || st.Topics[0].Topic != topic || len(st.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeTransactions: %+v", st)
	}
	list := kmsg.NewPtrListTransactionsRequest()
	list.StateFilters = []string{"Ongoing", "Bogus"}
	lresp := requestAt[*kmsg.ListTransactionsResponse](t, b, list)
	if len(lresp.TransactionStates) != 1 || lresp.TransactionStates[0].TransactionalID != id ||
		len(lresp.UnknownStateFilters) != 1 || lresp.UnknownStateFilters[0] != "Bogus" {
		t.Fatalf("ListTransactions: %+v", lresp)
	}
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	dpresp := requestAt[*kmsg.DescribeProducersResponse](t, b, dp)
	producers := dpresp.Topics[0].Partitions[0].ActiveProducers
	if len(producers) != 1 || producers[0].ProducerID != pid || producers[0].ProducerEpoch != int32(epoch) {
		t.Fatalf("DescribeProducers: %+v", dpresp.Topics[0].Partitions[0])
	}

	end := kmsg.NewPtrEndTxnRequest()
	end.Version = 3
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, true
	wantCode(t, "EndTxn commit", requestAt[*kmsg.EndTxnResponse](t, b, end).ErrorCode, nil)
	if st := describeTransaction(t, b, id); st.State != "PrepareCommit" && st.State != "CompleteCommit" {
		t.Fatalf("after EndTxn the transaction is %s, want PrepareCommit or CompleteCommit", st.State)
	}
	unknown := describeTransaction(t, b, "never-used")
	wantCode(t, "DescribeTransactions of an unknown ID", unknown.ErrorCode, kerr.TransactionalIDNotFound)
}

// A kgo transactional producer commits one transaction and aborts another:
// both stay in the log with a marker after each (read_uncommitted), a
// read_committed consumer sees only the committed records, and the
// coordinator records the last end.
func TestTransactionalProducerCommitAndAbort(t *testing.T) {
	b := startBroker(t)
	topic := uniqueName(t, "")
	createTopic(t, b, topic, 1, nil)
	id := "kgo-" + topic
	cl := newProducer(b, topic, kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	ctx := testContext(t)
	run := func(commit kgo.TransactionEndTry, values ...string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for _, v := range values {
			produce(t, cl, &kgo.Record{Value: []byte(v), Partition: 0})
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end: %v", err)
		}
	}
	run(kgo.TryCommit, "c1", "c2", "c3")
	run(kgo.TryAbort, "a1", "a2")
	run(kgo.TryCommit, "c4")

	records := consume(t, b, topic, 6)
	wantValues(t, "read_uncommitted", records, "c1", "c2", "c3", "a1", "a2", "c4")
	wantOffsets := []int64{0, 1, 2, 4, 5, 7} // markers at 3, 6 and 8
	for i, r := range records {
		if r.Offset != wantOffsets[i] {
			t.Fatalf("record %q at offset %d, want %d (a marker after each transaction)", r.Value, r.Offset, wantOffsets[i])
		}
	}
	committed := consume(t, b, topic, 4, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	wantValues(t, "read_committed", committed, "c1", "c2", "c3", "c4")
	eventually(t, "last transaction complete", func() bool {
		return describeTransaction(t, b, id).State == "CompleteCommit"
	})
	resp := request[*kmsg.ListOffsetsResponse](t, b, listLatest(topic))
	if end := resp.Topics[0].Partitions[0].Offset; end != 9 {
		t.Fatalf("log end %d, want 9 (6 records and 3 markers)", end)
	}
}

// The coordinator's state is in `__transaction_state`: after a restart the
// producer's ongoing transaction is still there and commits; a transaction
// left open past its timeout is then aborted by the coordinator with an
// epoch bump, so its producer is fenced, and its records are hidden from
// read_committed consumers.
func TestTransactionSurvivesRestartAndTimesOut(t *testing.T) {
	b := startBroker(t)
	topic := uniqueName(t, "")
	createTopic(t, b, topic, 1, nil)
	id := "restart-" + topic
	init := initTransactional(t, b, id, 60000)
	wantCode(t, "InitProducerId", init.ErrorCode, nil)
	pid, epoch := init.ProducerID, init.ProducerEpoch
	added := requestAt[*kmsg.AddPartitionsToTxnResponse](t, b, addPartitions(id, pid, epoch, topic, 0))
	wantCode(t, "AddPartitionsToTxn", added.Topics[0].Partitions[0].ErrorCode, nil)
	committed := produceRequest(topic, 0, -1, transactionalBatch(pid, epoch, 0, "kept"))
	committed.TransactionID = &id
	wantCode(t, "transactional produce", singleProducePartition(t, requestAt[*kmsg.ProduceResponse](t, b, committed)).ErrorCode, nil)

	b.Restart()
	var st kmsg.DescribeTransactionsResponseTransactionState
	eventually(t, "coordinator reloaded", func() bool {
		st = describeTransaction(t, b, id)
		return st.ErrorCode != kerr.CoordinatorLoadInProgress.Code && st.ErrorCode != kerr.NotCoordinator.Code
	})
	if st.ErrorCode != 0 || st.State != "Ongoing" || st.ProducerID != pid || st.ProducerEpoch != epoch {
		t.Fatalf("after restart: %+v, want the ongoing transaction", st)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version = 3
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, pid, epoch, true
	wantCode(t, "EndTxn after restart", requestAt[*kmsg.EndTxnResponse](t, b, end).ErrorCode, nil)

	short := "short-" + topic
	init = initTransactional(t, b, short, 500)
	wantCode(t, "InitProducerId with a short timeout", init.ErrorCode, nil)
	added = requestAt[*kmsg.AddPartitionsToTxnResponse](t, b, addPartitions(short, init.ProducerID, init.ProducerEpoch, topic, 0))
	wantCode(t, "AddPartitionsToTxn", added.Topics[0].Partitions[0].ErrorCode, nil)
	abandoned := produceRequest(topic, 0, -1, transactionalBatch(init.ProducerID, init.ProducerEpoch, 0, "abandoned"))
	abandoned.TransactionID = &short
	wantCode(t, "transactional produce", singleProducePartition(t, requestAt[*kmsg.ProduceResponse](t, b, abandoned)).ErrorCode, nil)
	eventually(t, "timed-out transaction aborted", func() bool {
		return describeTransaction(t, b, short).State == "CompleteAbort"
	})
	if st := describeTransaction(t, b, short); st.ProducerEpoch != init.ProducerEpoch+1 {
		t.Fatalf("aborted at epoch %d, want the bumped epoch %d", st.ProducerEpoch, init.ProducerEpoch+1)
	}
	end.TransactionalID, end.ProducerID, end.ProducerEpoch = short, init.ProducerID, init.ProducerEpoch
	wantCode(t, "EndTxn by the timed-out producer", requestAt[*kmsg.EndTxnResponse](t, b, end).ErrorCode, kerr.ProducerFenced)
	wantValues(t, "read_committed", consume(t, b, topic, 1, kgo.FetchIsolationLevel(kgo.ReadCommitted())), "kept")
}

// AddOffsetsToTxn puts the group's `__consumer_offsets` partition in the
// transaction; ending it writes a marker there too and completes.
func TestAddOffsetsToTxnCompletes(t *testing.T) {
	b := startBroker(t)
	id := "offsets-" + uniqueName(t, "")
	init := initTransactional(t, b, id, 60000)
	wantCode(t, "InitProducerId", init.ErrorCode, nil)
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = id, init.ProducerID, init.ProducerEpoch, "g"
	var code int16
	eventually(t, "AddOffsetsToTxn answered", func() bool {
		code = requestAt[*kmsg.AddOffsetsToTxnResponse](t, b, add).ErrorCode
		return code != kerr.CoordinatorLoadInProgress.Code && code != kerr.NotCoordinator.Code
	})
	wantCode(t, "AddOffsetsToTxn", code, nil)
	if st := describeTransaction(t, b, id); st.State != "Ongoing" || len(st.Topics) != 1 || st.Topics[0].Topic != "__consumer_offsets" {
		t.Fatalf("after AddOffsetsToTxn: %+v", st)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version = 3
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, init.ProducerID, init.ProducerEpoch, true
	wantCode(t, "EndTxn", requestAt[*kmsg.EndTxnResponse](t, b, end).ErrorCode, nil)
	eventually(t, "transaction complete", func() bool { return describeTransaction(t, b, id).State == "CompleteCommit" })
}

// A producer with an open transaction cannot slip a non-transactional
// batch into the same partition: INVALID_TXN_STATE, as in Kafka.
func TestNonTransactionalBatchInsideOpenTransactionRefused(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "txn-state", 1, nil)
	id := "mixed-producer"
	init := initTransactional(t, b, id, 60000)
	wantCode(t, "InitProducerId", init.ErrorCode, nil)
	pid, epoch := init.ProducerID, init.ProducerEpoch
	add := requestAt[*kmsg.AddPartitionsToTxnResponse](t, b, addPartitions(id, pid, epoch, "txn-state", 0))
	wantCode(t, "AddPartitionsToTxn", add.Topics[0].Partitions[0].ErrorCode, nil)

	inTxn := produceRequest("txn-state", 0, -1, transactionalBatch(pid, epoch, 0, "in the transaction"))
	inTxn.TransactionID = &id
	resp := requestAt[*kmsg.ProduceResponse](t, b, inTxn)
	wantCode(t, "transactional produce", resp.Topics[0].Partitions[0].ErrorCode, nil)

	outside := produceRequest("txn-state", 0, -1, idempotentBatch(pid, epoch, 1, "outside it"))
	resp = requestAt[*kmsg.ProduceResponse](t, b, outside)
	wantCode(t, "non-transactional batch in an open transaction", resp.Topics[0].Partitions[0].ErrorCode, kerr.InvalidTxnState)
}
