package integration

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
	"github.com/sluice-io/sluice/internal/vfs"
)

// idempotentBatch is rawBatch stamped with a producer ID, epoch and base
// sequence (KIP-98), CRC recomputed: what an idempotent producer sends.
func idempotentBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	records := make([]batchRecord, len(values))
	for i, v := range values {
		records[i] = batchRecord{value: []byte(v)}
	}
	b := rawBatch(time.Now().UnixMilli(), records...)
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func initProducerID(version int16, transactionalID *string, pid int64, epoch int16) *kmsg.InitProducerIDRequest {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.TransactionalID = transactionalID
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	return req
}

// Every version hands out a fresh ID at epoch 0, never the same one twice;
// a v3+ request carrying its current ID and epoch still gets a new ID, as
// Kafka's coordinator does for producers without a transactional ID (they
// bump their epoch themselves, KIP-360).
func TestInitProducerIDHandsOutFreshIDs(t *testing.T) {
	b := startBroker(t)
	seen := map[int64]bool{}
	for version := int16(0); version <= 5; version++ {
		resp := requestAt[*kmsg.InitProducerIDResponse](t, b, initProducerID(version, nil, -1, -1))
		wantCode(t, fmt.Sprintf("InitProducerId v%d", version), resp.ErrorCode, nil)
		if resp.ProducerID < 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("v%d: producer ID %d epoch %d (seen before: %v)", version, resp.ProducerID, resp.ProducerEpoch, seen[resp.ProducerID])
		}
		seen[resp.ProducerID] = true
	}
	resp := requestAt[*kmsg.InitProducerIDResponse](t, b, initProducerID(3, nil, 0, 4))
	wantCode(t, "InitProducerId with the current ID", resp.ErrorCode, nil)
	if seen[resp.ProducerID] || resp.ProducerEpoch != 0 {
		t.Fatalf("with the current ID and epoch: got ID %d epoch %d, want a new ID at epoch 0", resp.ProducerID, resp.ProducerEpoch)
	}
}

// Malformed requests get Kafka's INVALID_REQUEST.
func TestInitProducerIDRefusals(t *testing.T) {
	b := startBroker(t)
	empty := ""
	tests := []struct {
		name string
		req  *kmsg.InitProducerIDRequest
		want *kerr.Error
	}{
		{"empty transactional ID", initProducerID(4, &empty, -1, -1), kerr.InvalidRequest},
		{"producer ID without epoch", initProducerID(3, nil, 7, -1), kerr.InvalidRequest},
		{"epoch without producer ID", initProducerID(3, nil, -1, 2), kerr.InvalidRequest},
	}
	for _, tt := range tests {
		resp := requestAt[*kmsg.InitProducerIDResponse](t, b, tt.req)
		wantCode(t, tt.name, resp.ErrorCode, tt.want)
		if resp.ProducerID != -1 {
			t.Errorf("%s: producer ID %d handed out with an error", tt.name, resp.ProducerID)
		}
	}
}

// Producer IDs come from blocks committed through the metadata log: after
// a restart the broker starts a new block, so no ID is ever reused.
func TestProducerIDsNeverRepeatAcrossRestarts(t *testing.T) {
	b := startBroker(t)
	var highest int64 = -1
	for restart := range 3 {
		for range 3 {
			resp := requestAt[*kmsg.InitProducerIDResponse](t, b, initProducerID(4, nil, -1, -1))
			wantCode(t, "InitProducerId", resp.ErrorCode, nil)
			if resp.ProducerID <= highest {
				t.Fatalf("after %d restarts: producer ID %d, not above %d handed out before", restart, resp.ProducerID, highest)
			}
			highest = resp.ProducerID
		}
		b.Restart()
	}
}

// produceIdempotent sends one idempotent batch at v12 with acks=all and
// returns the partition's answer.
func produceIdempotent(t *testing.T, b *testcluster.Broker, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return singleProducePartition(t, requestAt[*kmsg.ProduceResponse](t, b, produceRequest(topic, 0, -1, batch)))
}

// The broker's sequence checks, end to end: a retry is answered NONE with
// the original base offset and stored once (Kafka's duplicate handling); a
// gap is OUT_OF_ORDER_SEQUENCE_NUMBER and a fenced epoch
// INVALID_PRODUCER_EPOCH, both storing nothing. The state survives a clean
// restart (snapshot) and a power cut (rebuilt from the log).
func TestIdempotentProduceChecks(t *testing.T) {
	mem := vfs.NewMem()
	b := startBroker(t, testcluster.WithFS(mem))
	topic := uniqueName(t, "")
	createTopic(t, b, topic, 1, nil)
	init := requestAt[*kmsg.InitProducerIDResponse](t, b, initProducerID(4, nil, -1, -1))
	pid := init.ProducerID

	first := produceIdempotent(t, b, topic, idempotentBatch(pid, 0, 0, "a", "b"))
	wantCode(t, "first batch", first.ErrorCode, nil)
	second := produceIdempotent(t, b, topic, idempotentBatch(pid, 0, 2, "c"))
	wantCode(t, "second batch", second.ErrorCode, nil)
	if first.BaseOffset != 0 || second.BaseOffset != 2 {
		t.Fatalf("base offsets %d, %d; want 0, 2", first.BaseOffset, second.BaseOffset)
	}
	checkRetry := func(when string) {
		t.Helper()
		retry := produceIdempotent(t, b, topic, idempotentBatch(pid, 0, 0, "a", "b"))
		wantCode(t, "retry "+when, retry.ErrorCode, nil)
		if retry.BaseOffset != first.BaseOffset {
			t.Fatalf("retry %s: base offset %d, want the original %d", when, retry.BaseOffset, first.BaseOffset)
		}
	}
	checkRetry("at once")

	gap := produceIdempotent(t, b, topic, idempotentBatch(pid, 0, 5, "x"))
	wantCode(t, "sequence gap", gap.ErrorCode, kerr.OutOfOrderSequenceNumber)
	if gap.ErrorMessage == nil || *gap.ErrorMessage == "" {
		t.Errorf("sequence gap: no error message")
	}
	bumped := produceIdempotent(t, b, topic, idempotentBatch(pid, 1, 0, "d"))
	wantCode(t, "epoch bump at sequence 0", bumped.ErrorCode, nil)
	fenced := produceIdempotent(t, b, topic, idempotentBatch(pid, 0, 3, "zombie"))
	wantCode(t, "old epoch", fenced.ErrorCode, kerr.InvalidProducerEpoch)

	b.Restart()
	retry := produceIdempotent(t, b, topic, idempotentBatch(pid, 1, 0, "d"))
	wantCode(t, "retry after a clean restart", retry.ErrorCode, nil)
	if retry.BaseOffset != bumped.BaseOffset {
		t.Fatalf("retry after a clean restart: base offset %d, want %d", retry.BaseOffset, bumped.BaseOffset)
	}
	mem.Crash()
	b.Kill()
	b.StartAgain()
	retry = produceIdempotent(t, b, topic, idempotentBatch(pid, 1, 0, "d"))
	wantCode(t, "retry after a power cut", retry.ErrorCode, nil)
	if retry.BaseOffset != bumped.BaseOffset {
		t.Fatalf("retry after a power cut: base offset %d, want %d", retry.BaseOffset, bumped.BaseOffset)
	}
	wantValues(t, "stored once each", consume(t, b, topic, 4), "a", "b", "c", "d")
}

// With message.timestamp.type=LogAppendTime a retry reports the time the
// original was stamped with, not the time of the retry.
func TestIdempotentRetryKeepsLogAppendTime(t *testing.T) {
	b := startBroker(t)
	topic := uniqueName(t, "")
	logAppend := "LogAppendTime"
	createTopic(t, b, topic, 1, map[string]*string{"message.timestamp.type": &logAppend})
	pid := requestAt[*kmsg.InitProducerIDResponse](t, b, initProducerID(4, nil, -1, -1)).ProducerID
	first := produceIdempotent(t, b, topic, idempotentBatch(pid, 0, 0, "a"))
	wantCode(t, "first", first.ErrorCode, nil)
	eventually(t, "the clock to move", func() bool { return time.Now().UnixMilli() > first.LogAppendTime })
	retry := produceIdempotent(t, b, topic, idempotentBatch(pid, 0, 0, "a"))
	wantCode(t, "retry", retry.ErrorCode, nil)
	if retry.LogAppendTime != first.LogAppendTime || first.LogAppendTime <= 0 {
		t.Fatalf("retry log append time %d, original %d", retry.LogAppendTime, first.LogAppendTime)
	}
}

// franz-go turns idempotence on by default once the broker advertises
// InitProducerId: many goroutines producing through one client to several
// partitions, with a topic that recompresses, store every record once, in
// order, stamped with the client's producer ID.
func TestKgoIdempotentProducer(t *testing.T) {
	b := startBroker(t)
	topic := uniqueName(t, "")
	gzip := "gzip"
	createTopic(t, b, topic, 3, map[string]*string{"compression.type": &gzip})
	cl := newProducer(b, topic, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.SnappyCompression()),
		kgo.ProducerLinger(2*time.Millisecond))
	const perPartition = 300
	var wg sync.WaitGroup
	for p := range int32(3) {
		wg.Go(func() {
			for i := range perPartition {
				cl.Produce(testContext(t), &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("p%d-%d", p, i))}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
		})
	}
	wg.Wait()
	if err := cl.Flush(testContext(t)); err != nil {
		t.Fatal(err)
	}
	records := consume(t, b, topic, 3*perPartition)
	next := map[int32]int{}
	var pid int64 = -1
	for _, r := range records {
		if want := fmt.Sprintf("p%d-%d", r.Partition, next[r.Partition]); string(r.Value) != want {
			t.Fatalf("partition %d offset %d: %q, want %q", r.Partition, r.Offset, r.Value, want)
		}
		next[r.Partition]++
		if r.ProducerID < 0 || (pid >= 0 && r.ProducerID != pid) {
			t.Fatalf("record stored with producer ID %d (first seen %d): idempotence off or lost in recompression", r.ProducerID, pid)
		}
		pid = r.ProducerID
	}
}

func listLatest(topic string) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
	req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	return req
}
