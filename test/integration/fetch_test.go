package integration

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
	"github.com/sluice-io/sluice/internal/vfs"
)

// onlyPartition returns the single partition of a fetch response.
func onlyPartition(t *testing.T, resp *kmsg.FetchResponse) *kmsg.FetchResponseTopicPartition {
	t.Helper()
	wantCode(t, "fetch", resp.ErrorCode, nil)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response: %d topics, want one topic with one partition", len(resp.Topics))
	}
	return &resp.Topics[0].Partitions[0]
}

// timedFetch sends a fetch on its own connection and returns the response
// and how long it took to arrive.
func timedFetch(t *testing.T, b *testcluster.Broker, req *kmsg.FetchRequest) (*kmsg.FetchResponse, time.Duration) {
	t.Helper()
	start := time.Now()
	resp := dialWire(t, b).roundTrip(req).(*kmsg.FetchResponse)
	return resp, time.Since(start)
}

// produceBatches writes each value as its own batch (one ProduceSync per
// value) to one partition.
func produceBatches(t *testing.T, b *testcluster.Broker, topic string, partition int32, values ...[]byte) {
	t.Helper()
	cl := newProducer(b, topic, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for _, v := range values {
		produce(t, cl, &kgo.Record{Value: v, Partition: partition})
	}
}

// A fetch with nothing to read parks until a record arrives (woken by the
// high watermark moving, not by polling), and answers well before
// max_wait_ms (Kafka's DelayedFetch).
func TestFetchLongPollWakesOnProduce(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "long-poll", 1, nil)
	req := fetchRequest(fetchPartition{topic: "long-poll", offset: 0})
	req.MaxWaitMillis = 2000
	wire := dialWire(t, b)
	correlation := wire.send(req)

	// The fetch must still be parked: no answer within 200 ms.
	wire.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := wire.reader.Peek(1); !isTimeout(err) {
		t.Fatalf("empty fetch answered before any record was produced (err %v)", err)
	}

	produced := time.Now()
	produceValues(t, b, "long-poll", "wake up")
	wire.conn.SetReadDeadline(time.Now().Add(testTimeout))
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.Version = req.Version
	if err := wire.receive(correlation, resp); err != nil {
		t.Fatalf("fetch response: %v", err)
	}
	elapsed := time.Since(produced)
	if elapsed > 1500*time.Millisecond {
		t.Errorf("parked fetch answered %v after the produce, want well before max_wait_ms=2000", elapsed)
	}
	rp := onlyPartition(t, resp)
	wantValues(t, "woken fetch", fetchedRecords(t, "long-poll", rp, 0), "wake up")
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// A fetch that stays empty waits max_wait_ms and then answers with no
// records and no error.
func TestFetchEmptyWaitsMaxWait(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "empty", 1, nil)
	req := fetchRequest(fetchPartition{topic: "empty", offset: 0})
	req.MaxWaitMillis = 500
	resp, elapsed := timedFetch(t, b, req)
	if elapsed < 450*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("empty fetch took %v, want about max_wait_ms=500ms", elapsed)
	}
	rp := onlyPartition(t, resp)
	wantCode(t, "empty fetch", rp.ErrorCode, nil)
	if len(rp.RecordBatches) != 0 || rp.HighWatermark != 0 {
		t.Errorf("empty fetch: %d bytes, high watermark %d", len(rp.RecordBatches), rp.HighWatermark)
	}
}

// min_bytes: a fetch answers at once when at least min_bytes are
// available, and otherwise waits max_wait_ms and returns what there is.
func TestFetchMinBytes(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "min-bytes", 1, nil)
	produceValues(t, b, "min-bytes", "small")

	satisfied := fetchRequest(fetchPartition{topic: "min-bytes", offset: 0})
	satisfied.MaxWaitMillis, satisfied.MinBytes = 2000, 1
	resp, elapsed := timedFetch(t, b, satisfied)
	if elapsed > time.Second {
		t.Errorf("fetch with min_bytes already available took %v", elapsed)
	}
	wantValues(t, "min_bytes=1", fetchedRecords(t, "min-bytes", onlyPartition(t, resp), 0), "small")

	unsatisfied := fetchRequest(fetchPartition{topic: "min-bytes", offset: 0})
	unsatisfied.MaxWaitMillis, unsatisfied.MinBytes = 500, 1<<20
	resp, elapsed = timedFetch(t, b, unsatisfied)
	if elapsed < 450*time.Millisecond {
		t.Errorf("fetch with min_bytes=1MiB answered after %v, want it to wait max_wait_ms=500ms", elapsed)
	}
	wantValues(t, "min_bytes unmet", fetchedRecords(t, "min-bytes", onlyPartition(t, resp), 0), "small")
}

// wholeBatches counts the complete batches at the start of data.
func wholeBatches(data []byte) int {
	n := 0
	for len(data) >= 12 {
		size := 12 + int(binary.BigEndian.Uint32(data[8:]))
		if size > len(data) {
			break
		}
		n++
		data = data[size:]
	}
	return n
}

// partition_max_bytes and max_bytes bound the data returned; a response
// never exceeds them except by the first batch (KIP-74).
func TestFetchMaxBytes(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "max-bytes", 2, nil)
	value := bytes.Repeat([]byte("m"), 1000)
	for p := range int32(2) {
		produceBatches(t, b, "max-bytes", p, value, value, value, value, value)
	}

	perPartition := fetchRequest(fetchPartition{topic: "max-bytes", partition: 0, maxBytes: 2500})
	rp := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, perPartition))
	if n := len(rp.RecordBatches); n > 2500 || wholeBatches(rp.RecordBatches) < 1 || wholeBatches(rp.RecordBatches) > 2 {
		t.Errorf("partition_max_bytes=2500: %d bytes, %d whole batches; want at most 2500 bytes, 1-2 batches", n, wholeBatches(rp.RecordBatches))
	}

	total := fetchRequest(fetchPartition{topic: "max-bytes", partition: 0}, fetchPartition{topic: "max-bytes", partition: 1})
	total.MaxBytes = 3000
	resp := requestAt[*kmsg.FetchResponse](t, b, total)
	sum := 0
	for _, p := range responsePartitions(resp) {
		sum += len(p.RecordBatches)
	}
	if sum > 3000 || sum == 0 {
		t.Errorf("max_bytes=3000: response carries %d record bytes", sum)
	}
}

// KIP-74: when the first batch is larger than max_bytes or
// partition_max_bytes it is returned whole anyway, so a consumer can always
// make progress; later partitions get nothing once the budget is spent.
func TestFetchOversizeFirstBatchReturnedWhole(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "oversize", 2, nil)
	big := bytes.Repeat([]byte("B"), 5000)
	produceBatches(t, b, "oversize", 0, big)
	produceBatches(t, b, "oversize", 1, big)

	req := fetchRequest(fetchPartition{topic: "oversize", partition: 0, maxBytes: 1000}, fetchPartition{topic: "oversize", partition: 1, maxBytes: 1000})
	req.MaxBytes = 1000
	parts := responsePartitions(requestAt[*kmsg.FetchResponse](t, b, req))
	first, second := parts["oversize/0"], parts["oversize/1"]
	records := fetchedRecords(t, "oversize", &first, 0)
	if len(records) != 1 || len(records[0].Value) != 5000 {
		t.Errorf("first partition: %d records, want the whole 5000-byte record", len(records))
	}
	if len(second.RecordBatches) != 0 {
		t.Errorf("second partition got %d bytes after max_bytes was spent", len(second.RecordBatches))
	}
	wantCode(t, "second partition", second.ErrorCode, nil)
	if second.HighWatermark != 1 {
		t.Errorf("second partition high watermark %d, want 1 even without data", second.HighWatermark)
	}
}

// A fetch offset beyond the log end, or below its start, is
// OFFSET_OUT_OF_RANGE; the log end itself is a valid (empty) position.
func TestFetchOffsetOutOfRange(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "range", 1, nil)
	produceValues(t, b, "range", "a", "b", "c")
	for _, offset := range []int64{4, 100, -1} {
		rp := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, fetchRequest(fetchPartition{topic: "range", offset: offset})))
		wantCode(t, "fetch offset "+strconv.FormatInt(offset, 10), rp.ErrorCode, kerr.OffsetOutOfRange)
	}
	atEnd := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, fetchRequest(fetchPartition{topic: "range", offset: 3})))
	wantCode(t, "fetch at the log end", atEnd.ErrorCode, nil)
	if len(atEnd.RecordBatches) != 0 || atEnd.HighWatermark != 3 {
		t.Errorf("fetch at the log end: %d bytes, high watermark %d", len(atEnd.RecordBatches), atEnd.HighWatermark)
	}

	deleteRecordsBefore(t, b, "range", 0, 2)
	below := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, fetchRequest(fetchPartition{topic: "range", offset: 1})))
	wantCode(t, "fetch below the log start", below.ErrorCode, kerr.OffsetOutOfRange)
	from := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, fetchRequest(fetchPartition{topic: "range", offset: 2})))
	wantValues(t, "fetch from the log start", fetchedRecords(t, "range", from, 2), "c")
	if from.LogStartOffset != 2 {
		t.Errorf("log start offset %d, want 2", from.LogStartOffset)
	}
}

// Consumers see only records below the high watermark, and the response
// reports high watermark, last stable offset (equal without transactions)
// and log start offset.
func TestFetchReportsWatermarks(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "marks", 1, nil)
	produceValues(t, b, "marks", "a", "b", "c", "d")
	rp := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, fetchRequest(fetchPartition{topic: "marks", offset: 1})))
	if rp.HighWatermark != 4 || rp.LastStableOffset != 4 || rp.LogStartOffset != 0 {
		t.Errorf("watermarks: high %d, last stable %d, log start %d; want 4, 4, 0", rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset)
	}
	records := fetchedRecords(t, "marks", rp, 1)
	wantValues(t, "from offset 1", records, "b", "c", "d")
	for _, r := range records {
		if r.Offset >= rp.HighWatermark {
			t.Errorf("record at offset %d at or above the high watermark %d", r.Offset, rp.HighWatermark)
		}
	}
}

// A record whose fsync failed was never acknowledged, so it must stay
// above the high watermark: no fetch returns it and ListOffsets latest does
// not count it. (The fault goes through the vfs seam; the broker may also
// take the partition offline with KAFKA_STORAGE_ERROR, as Kafka takes a
// failed log dir offline, but it must never serve the record.)
func TestFetchNeverReturnsUnacknowledgedRecords(t *testing.T) {
	t.Parallel()
	fs := vfs.NewFaultFS(vfs.NewMem(), nil)
	b := testcluster.Start(closeFailureExpected{t}, testcluster.WithFS(fs))
	createTopic(t, b, "unsynced", 1, nil)
	produceValues(t, b, "unsynced", "synced")

	fs.SetInjector(vfs.FailOn(vfs.OpSync, "", nil))
	wire := dialWire(t, b)
	sp := singleProducePartition(t, wire.roundTrip(produceRequest("unsynced", 0, -1, rawBatch(time.Now().UnixMilli(), batchRecord{value: []byte("never acknowledged")}))).(*kmsg.ProduceResponse))
	wantCode(t, "produce whose fsync fails", sp.ErrorCode, kerr.KafkaStorageError)

	rp := onlyPartition(t, requestAt[*kmsg.FetchResponse](t, b, fetchRequest(fetchPartition{topic: "unsynced", offset: 0})))
	if rp.ErrorCode == kerr.KafkaStorageError.Code {
		t.Logf("the failed partition is offline (KAFKA_STORAGE_ERROR)")
		return
	}
	wantCode(t, "fetch after a failed fsync", rp.ErrorCode, nil)
	wantValues(t, "fetch after a failed fsync", fetchedRecords(t, "unsynced", rp, 0), "synced")
	if rp.HighWatermark != 1 {
		t.Errorf("high watermark %d after a failed fsync, want 1", rp.HighWatermark)
	}
	latest := listOffset(t, b, 9, "unsynced", 0, -1)
	if latest.ErrorCode == 0 && latest.Offset != 1 {
		t.Errorf("ListOffsets latest %d after a failed fsync, want 1", latest.Offset)
	}
}

// closeFailureExpected lets the broker's final close report the injected
// fault it already failed on (a failed log stays failed) without failing
// the test; every other error still does.
type closeFailureExpected struct{ testing.TB }

func (c closeFailureExpected) Errorf(format string, args ...any) {
	if strings.HasPrefix(format, "close broker") {
		c.Logf("expected after the injected fault: "+format, args...)
		return
	}
	c.TB.Errorf(format, args...)
}

// Fetch v4 is what kafka-python 2.0 sends (no sessions, names); v12 is the
// last by name, v13+ by topic ID (KIP-516) where an unknown ID is
// UNKNOWN_TOPIC_ID.
func TestFetchVersions(t *testing.T) {
	b := startBroker(t)
	created := createTopic(t, b, "fetch-versions", 1, nil)
	produceValues(t, b, "fetch-versions", "x", "y")
	wire := dialWire(t, b)
	for _, version := range []int16{4, 7, 11, 12, 13, 16, 18} {
		req := fetchRequest(fetchPartition{topic: "fetch-versions", topicID: created.ID, offset: 0})
		req.Version = version
		if version >= 13 {
			req.Topics[0].Topic = ""
		}
		resp := wire.roundTrip(req).(*kmsg.FetchResponse)
		rp := onlyPartition(t, resp)
		wantCode(t, "fetch v"+strconv.Itoa(int(version)), rp.ErrorCode, nil)
		wantValues(t, "fetch v"+strconv.Itoa(int(version)), fetchedRecords(t, "fetch-versions", rp, 0), "x", "y")
		if version >= 13 && resp.Topics[0].TopicID != created.ID {
			t.Errorf("fetch v%d: response topic ID %x, want %x", version, resp.Topics[0].TopicID, created.ID)
		}
	}

	unknownName := fetchRequest(fetchPartition{topic: "missing", offset: 0})
	unknownName.Version = 12
	wantCode(t, "fetch v12 unknown topic", onlyPartition(t, wire.roundTrip(unknownName).(*kmsg.FetchResponse)).ErrorCode, kerr.UnknownTopicOrPartition)
	unknownPartition := fetchRequest(fetchPartition{topic: "fetch-versions", partition: 3, offset: 0})
	unknownPartition.Version = 4
	wantCode(t, "fetch v4 unknown partition", onlyPartition(t, wire.roundTrip(unknownPartition).(*kmsg.FetchResponse)).ErrorCode, kerr.UnknownTopicOrPartition)
	unknownID := fetchRequest(fetchPartition{topicID: [16]byte{7}, offset: 0})
	unknownID.Version = 13
	wantCode(t, "fetch v13 unknown topic ID", onlyPartition(t, wire.roundTrip(unknownID).(*kmsg.FetchResponse)).ErrorCode, kerr.UnknownTopicID)
}

// A kgo consumer (fetch sessions, KIP-227, on by default) and one with
// sessions off read the same records, and keep reading new ones.
func TestFetchConsumerWithAndWithoutSessions(t *testing.T) {
	b := startBroker(t)
	for name, opts := range map[string][]kgo.Opt{"sessions": nil, "sessionless": {kgo.DisableFetchSessions()}} {
		topic := "consumer-" + name
		createTopic(t, b, topic, 3, nil)
		cl := newProducer(b, topic, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		write := func(round int) {
			for p := range int32(3) {
				produce(t, cl, &kgo.Record{Partition: p, Value: []byte(strconv.Itoa(round) + "/" + strconv.Itoa(int(p)))})
			}
		}
		base := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond)}
		consumer := b.Client(append(base, opts...)...)
		for round := range 3 {
			write(round)
			for _, r := range pollRecords(t, consumer, 3) {
				want := strconv.Itoa(round) + "/" + strconv.Itoa(int(r.Partition))
				if string(r.Value) != want || r.Offset != int64(round) {
					t.Errorf("%s round %d: partition %d offset %d value %q, want offset %d value %q", name, round, r.Partition, r.Offset, r.Value, round, want)
				}
			}
		}
		consumer.Close()
	}
}

// fetch.max.bytes caps a response whatever max_bytes the client asks for;
// the first batch still comes whole (KIP-74).
func TestFetchMaxBytesBrokerCap(t *testing.T) {
	b := startBroker(t, testcluster.WithConfig(func(c *config.Broker) { c.FetchMaxBytes = 3000 }))
	createTopic(t, b, "capped", 1, nil)
	for i := range 20 {
		// Incompressible values, one batch per record.
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		value := make([]byte, 500)
		for j := range value {
			value[j] = byte(rng.Uint32())
		}
		produceValues(t, b, "capped", hex.EncodeToString(value))
	}
	r := kmsg.NewPtrFetchRequest()
	r.Version = 12
	r.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "capped"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	resp := dialWire(t, b).roundTrip(r).(*kmsg.FetchResponse)
	got := len(resp.Topics[0].Partitions[0].RecordBatches)
	if got == 0 || got > 3000 {
		t.Fatalf("fetch returned %d bytes with fetch.max.bytes=3000 and max_bytes=1 MiB, want 1..3000", got)
	}
}
