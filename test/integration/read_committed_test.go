package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/testcluster"
)

// appendTxn appends a transactional batch of producer pid (epoch 0) to p
// and makes it durable. Transactional Produce is refused until the
// transaction coordinator is wired, so the test writes through the
// partition, as the produce path will.
func appendTxn(t *testing.T, p *replica.Partition, pid int64, seq int32, values ...string) int64 {
	t.Helper()
	spec := record.NewBatchSpec()
	spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence, spec.Transactional = pid, 0, seq, true
	records := make([]record.RecordSpec, len(values))
	for i, v := range values {
		records[i] = record.RecordSpec{Timestamp: time.Now().UnixMilli(), Value: []byte(v)}
	}
	batch, err := record.AppendBatch(nil, spec, records)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.AppendProduced(batch)
	if err != nil {
		t.Fatalf("append transactional batch of producer %d: %v", pid, err)
	}
	if err := p.Commit(res.LastOffset); err != nil {
		t.Fatal(err)
	}
	return res.BaseOffset
}

func endTxn(t *testing.T, p *replica.Partition, pid int64, commit bool) {
	t.Helper()
	if _, err := p.AppendTxnMarker(pid, 0, commit, 0); err != nil {
		t.Fatalf("marker of producer %d: %v", pid, err)
	}
}

func listLatestCommitted(t *testing.T, b *testcluster.Broker, topic string) int64 {
	t.Helper()
	req := listLatest(topic)
	req.Version, req.IsolationLevel = 5, 1
	resp := requestAt[*kmsg.ListOffsetsResponse](t, b, req)
	rp := resp.Topics[0].Partitions[0]
	wantCode(t, "list offsets read_committed", rp.ErrorCode, nil)
	return rp.Offset
}

// A read_committed consumer (franz-go's FetchIsolationLevel) never sees an
// aborted transaction's records, sees committed ones, and stops at an open
// transaction, even at records written after it outside any transaction;
// a read_uncommitted consumer sees everything. The commit of the open
// transaction wakes the long-polling consumer. ListOffsets read_committed
// answers the last stable offset.
func TestReadCommitted(t *testing.T) {
	b := startBroker(t)
	topic := uniqueName(t, "rc")
	createTopic(t, b, topic, 1, nil)
	p := b.Partition(topic, 0)

	produceValues(t, b, topic, "before") // 0
	appendTxn(t, p, 100, 0, "aborted-1", "aborted-2")
	appendTxn(t, p, 200, 0, "committed-1")
	endTxn(t, p, 100, false)
	endTxn(t, p, 200, true)
	open := appendTxn(t, p, 300, 0, "open-1")
	produceValues(t, b, topic, "after-open")

	if got := listLatestCommitted(t, b, topic); got != open {
		t.Fatalf("read_committed latest = %d, want the open transaction's first offset %d", got, open)
	}
	// Fetch v12 read_committed: the aborted transaction is listed and the
	// last stable offset reported.
	req := fetchRequest(fetchPartition{topic: topic, offset: 0})
	req.IsolationLevel = 1
	rp := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, req))
	wantCode(t, "fetch read_committed", rp.ErrorCode, nil)
	if rp.LastStableOffset != open {
		t.Fatalf("fetch last stable offset = %d, want %d", rp.LastStableOffset, open)
	}
	if len(rp.AbortedTransactions) != 1 || rp.AbortedTransactions[0].ProducerID != 100 || rp.AbortedTransactions[0].FirstOffset != 1 {
		t.Fatalf("aborted transactions = %+v, want producer 100 from offset 1", rp.AbortedTransactions)
	}

	uncommitted := consume(t, b, topic, 6)
	wantValues(t, "read_uncommitted", uncommitted, "before", "aborted-1", "aborted-2", "committed-1", "open-1", "after-open")

	cl := b.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(15*time.Second))
	defer cl.Close()
	wantValues(t, "read_committed before the commit", pollRecords(t, cl, 2), "before", "committed-1")

	// The consumer is parked at the open transaction; committing it must
	// wake it long before its 15 s max wait.
	done := make(chan []*kgo.Record, 1)
	go func() {
		var got []*kgo.Record
		ctx := testContext(t)
		for len(got) < 2 && ctx.Err() == nil {
			got = append(got, cl.PollFetches(ctx).Records()...)
		}
		done <- got
	}()
	start := time.Now()
	endTxn(t, p, 300, true)
	got := <-done
	wantValues(t, "read_committed after the commit", got, "open-1", "after-open")
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("consumer took %v to see the commit: not woken by the last stable offset moving", waited)
	}
	if got, want := listLatestCommitted(t, b, topic), p.HighWatermark(); got != want {
		t.Fatalf("read_committed latest after the commit = %d, want the high watermark %d", got, want)
	}
}

// The aborted-transaction index and an open transaction survive a restart:
// a read_committed consumer still skips the aborted records and stops at
// the open transaction.
func TestReadCommittedAfterRestart(t *testing.T) {
	b := startBroker(t)
	topic := uniqueName(t, "rc-restart")
	createTopic(t, b, topic, 1, nil)
	p := b.Partition(topic, 0)
	appendTxn(t, p, 100, 0, "aborted")
	endTxn(t, p, 100, false)
	appendTxn(t, p, 200, 0, "committed")
	endTxn(t, p, 200, true)
	open := appendTxn(t, p, 300, 0, "open")
	produceValues(t, b, topic, "after-open")

	b.Restart()
	if got := listLatestCommitted(t, b, topic); got != open {
		t.Fatalf("read_committed latest after restart = %d, want %d", got, open)
	}
	got := consume(t, b, topic, 1, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	wantValues(t, "read_committed after restart", got, "committed")
	endTxn(t, b.Partition(topic, 0), 300, false)
	got = consume(t, b, topic, 2, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	wantValues(t, "read_committed after aborting the open transaction", got, "committed", "after-open")
}
