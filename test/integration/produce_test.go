package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// latestOffset is the partition's high watermark, from ListOffsets.
func latestOffset(t *testing.T, b *testcluster.Broker, topic string, partition int32) int64 {
	t.Helper()
	offsets, err := b.Admin().ListEndOffsets(testContext(t), topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	o, ok := offsets.Lookup(topic, partition)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s[%d]: present %v, %v", topic, partition, ok, o.Err)
	}
	return o.Offset
}

// storedBatches fetches a partition's raw batches from offset and splits
// them, so a test can look at what the log stored (codec, timestamps).
func storedBatches(t *testing.T, b *testcluster.Broker, topic string, partition int32, offset int64) []kmsg.RecordBatch {
	t.Helper()
	resp := requestAt[*kmsg.FetchResponse](t, b, fetchRequest(fetchPartition{topic: topic, partition: partition, offset: offset}))
	rp, ok := responsePartitions(resp)[fmt.Sprintf("%s/%d", topic, partition)]
	if !ok {
		t.Fatalf("fetch %s[%d]: partition missing from response", topic, partition)
	}
	wantCode(t, "fetch stored batches", rp.ErrorCode, nil)
	var out []kmsg.RecordBatch
	data := rp.RecordBatches
	for len(data) >= 12 {
		size := 12 + int(binary.BigEndian.Uint32(data[8:]))
		if size > len(data) {
			break // a trailing partial batch is allowed in a fetch response
		}
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(data[:size]); err != nil {
			t.Fatalf("decode stored batch: %v", err)
		}
		out = append(out, batch)
		data = data[size:]
	}
	return out
}

// acks=0, 1 and all (-1) all store the record; only the client's wait
// differs (Kafka's ReplicaManager.appendRecords).
func TestProduceAcks(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "acks", 1, nil)
	cases := []struct {
		name string
		opts []kgo.Opt
	}{
		{"acks=0", []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}},
		{"acks=1", []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}},
		{"acks=all", []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}},
	}
	for i, c := range cases {
		produce(t, newProducer(b, "acks", c.opts...), &kgo.Record{Value: []byte(c.name)})
		// acks=0 returns before the append: wait for it to be visible
		// so the three land in a known order.
		eventually(t, c.name+" visible", func() bool { return latestOffset(t, b, "acks", 0) == int64(i+1) })
	}
	wantValues(t, "acks", consume(t, b, "acks", 3), "acks=0", "acks=1", "acks=all")
}

// With acks=0 the broker sends no response at all: on a bare connection
// the next response to arrive belongs to the following request.
func TestProduceAcksZeroSendsNoResponse(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "silent", 1, nil)
	wire := dialWire(t, b)
	wire.send(produceRequest("silent", 0, 0, rawBatch(time.Now().UnixMilli(), batchRecord{value: []byte("v")})))
	versions := kmsg.NewPtrApiVersionsRequest()
	resp := wire.roundTrip(versions).(*kmsg.ApiVersionsResponse)
	wantCode(t, "ApiVersions after acks=0 produce", resp.ErrorCode, nil)
	wantValues(t, "acks=0 record", consume(t, b, "silent", 1), "v")
}

// Kafka accepts acks 0, 1 and -1 only; anything else is
// INVALID_REQUIRED_ACKS and nothing is appended.
func TestProduceInvalidAcks(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "bad-acks", 1, nil)
	wire := dialWire(t, b)
	for _, acks := range []int16{2, -2} {
		req := produceRequest("bad-acks", 0, acks, rawBatch(time.Now().UnixMilli(), batchRecord{value: []byte("v")}))
		sp := singleProducePartition(t, wire.roundTrip(req).(*kmsg.ProduceResponse))
		wantCode(t, "acks="+strconv.Itoa(int(acks)), sp.ErrorCode, kerr.InvalidRequiredAcks)
	}
	if end := latestOffset(t, b, "bad-acks", 0); end != 0 {
		t.Errorf("invalid acks appended records: end offset %d", end)
	}
}

// Every codec round-trips through Fetch, and the stored batch keeps the
// producer's codec (compression.type=producer, Kafka's default): the log
// holds the compressed bytes as sent.
func TestProduceCompressionRoundTrip(t *testing.T) {
	b := startBroker(t)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		attr  int16
	}{
		{"none", kgo.NoCompression(), 0},
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, c := range codecs {
		topic := "codec-" + c.name
		createTopic(t, b, topic, 1, nil)
		cl := newProducer(b, topic, kgo.ProducerBatchCompression(c.codec))
		var want []string
		var records []*kgo.Record
		for i := range 20 {
			value := fmt.Sprintf("%s record %d %s", c.name, i, strings.Repeat("compressible ", 20))
			want = append(want, value)
			records = append(records, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(value)})
		}
		produce(t, cl, records...)
		wantValues(t, c.name, consume(t, b, topic, len(want)), want...)
		for _, batch := range storedBatches(t, b, topic, 0, 0) {
			if got := batch.Attributes & 0x7; got != c.attr {
				t.Errorf("%s: stored batch codec %d, want %d", c.name, got, c.attr)
			}
		}
	}
}

// Keys, values, headers and CreateTime timestamps come back exactly as
// produced, including null keys, null values (tombstones), empty values,
// repeated header keys and null header values.
func TestProduceKeysHeadersAndTimestampsPreserved(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "fields", 1, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	sent := []*kgo.Record{
		{Key: []byte("k1"), Value: []byte("v1"), Timestamp: base},
		{Key: nil, Value: []byte("no key"), Timestamp: base.Add(time.Second)},
		{Key: []byte("tombstone"), Value: nil, Timestamp: base.Add(2 * time.Second)},
		{Key: []byte("empty"), Value: []byte{}, Timestamp: base.Add(3 * time.Second)},
		{Key: []byte("h"), Value: []byte("headers"), Timestamp: base.Add(4 * time.Second), Headers: []kgo.RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: "trace", Value: []byte("def")},
			{Key: "null", Value: nil},
			{Key: "binary", Value: []byte{0, 1, 2, 255}},
		}},
	}
	produce(t, newProducer(b, "fields"), sent...)
	got := consume(t, b, "fields", len(sent))
	for i, r := range got {
		want := sent[i]
		switch {
		case r.Offset != int64(i):
			t.Errorf("record %d at offset %d", i, r.Offset)
		case !bytes.Equal(r.Key, want.Key) || (r.Key == nil) != (want.Key == nil):
			t.Errorf("record %d key %q (nil %v), want %q (nil %v)", i, r.Key, r.Key == nil, want.Key, want.Key == nil)
		case !bytes.Equal(r.Value, want.Value) || (r.Value == nil) != (want.Value == nil):
			t.Errorf("record %d value %q (nil %v), want %q (nil %v)", i, r.Value, r.Value == nil, want.Value, want.Value == nil)
		case !r.Timestamp.Equal(want.Timestamp):
			t.Errorf("record %d timestamp %v, want %v", i, r.Timestamp, want.Timestamp)
		case !sameHeaders(r.Headers, want.Headers):
			t.Errorf("record %d headers %+v, want %+v", i, r.Headers, want.Headers)
		}
	}
}

func sameHeaders(a, b []kgo.RecordHeader) bool {
	return slices.EqualFunc(a, b, func(x, y kgo.RecordHeader) bool {
		return x.Key == y.Key && bytes.Equal(x.Value, y.Value) && (x.Value == nil) == (y.Value == nil)
	})
}

// max.message.bytes bounds a whole batch, log overhead included (Kafka's
// LogValidator: batch.sizeInBytes() > maxMessageSize is
// RecordTooLargeException → MESSAGE_TOO_LARGE). A batch of exactly the limit
// is accepted; one byte more is refused.
func TestProduceMessageTooLargeTopicOverride(t *testing.T) {
	b := startBroker(t)
	batch := rawBatch(time.Now().UnixMilli(), batchRecord{value: bytes.Repeat([]byte("x"), 500)})
	exact := strconv.Itoa(len(batch))
	below := strconv.Itoa(len(batch) - 1)
	createTopic(t, b, "limit-exact", 1, map[string]*string{"max.message.bytes": &exact})
	createTopic(t, b, "limit-below", 1, map[string]*string{"max.message.bytes": &below})
	wire := dialWire(t, b)

	ok := singleProducePartition(t, wire.roundTrip(produceRequest("limit-exact", 0, -1, batch)).(*kmsg.ProduceResponse))
	wantCode(t, "batch of exactly max.message.bytes", ok.ErrorCode, nil)

	tooBig := singleProducePartition(t, wire.roundTrip(produceRequest("limit-below", 0, -1, batch)).(*kmsg.ProduceResponse))
	wantCode(t, "batch one byte over max.message.bytes", tooBig.ErrorCode, kerr.MessageTooLarge)
	if end := latestOffset(t, b, "limit-below", 0); end != 0 {
		t.Errorf("refused batch was appended: end offset %d", end)
	}

	// The same through kgo: a 2 KB record on a topic limited to 1000 bytes
	// (uncompressed: the limit applies to the batch as sent).
	limit := "1000"
	createTopic(t, b, "limit-kgo", 1, map[string]*string{"max.message.bytes": &limit})
	err := newProducer(b, "limit-kgo", kgo.ProducerBatchCompression(kgo.NoCompression())).ProduceSync(testContext(t), &kgo.Record{Value: bytes.Repeat([]byte("y"), 2000)}).FirstErr()
	wantErr(t, "kgo produce over the topic limit", err, kerr.MessageTooLarge)
}

// The broker-wide default, message.max.bytes = 1048588, applies to topics
// without an override.
func TestProduceMessageTooLargeBrokerDefault(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "big", 1, nil)
	cl := newProducer(b, "big", kgo.ProducerBatchMaxBytes(4<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	err := cl.ProduceSync(testContext(t), &kgo.Record{Value: bytes.Repeat([]byte("z"), 1100000)}).FirstErr()
	wantErr(t, "1.1 MB record", err, kerr.MessageTooLarge)
	produce(t, cl, &kgo.Record{Value: bytes.Repeat([]byte("z"), 1000000)})
	if got := consume(t, b, "big", 1); len(got[0].Value) != 1000000 {
		t.Errorf("1 MB record came back with %d bytes", len(got[0].Value))
	}
}

// A batch whose CRC-32C does not match its bytes is CORRUPT_MESSAGE
// (Kafka's UnifiedLog.analyzeAndValidateRecords: !batch.isValid()), and
// nothing of it is stored.
func TestProduceCorruptBatch(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "corrupt", 1, nil)
	wire := dialWire(t, b)
	good := rawBatch(time.Now().UnixMilli(), batchRecord{key: []byte("k"), value: []byte("some value")})

	flippedCRC := slices.Clone(good)
	flippedCRC[18] ^= 0xff // inside the crc field (bytes 17-20)
	flippedRecord := slices.Clone(good)
	flippedRecord[len(flippedRecord)-3] ^= 0x01 // inside the record value, covered by the CRC

	for name, batch := range map[string][]byte{"flipped CRC byte": flippedCRC, "flipped record byte": flippedRecord} {
		sp := singleProducePartition(t, wire.roundTrip(produceRequest("corrupt", 0, -1, batch)).(*kmsg.ProduceResponse))
		wantCode(t, name, sp.ErrorCode, kerr.CorruptMessage)
	}
	if end := latestOffset(t, b, "corrupt", 0); end != 0 {
		t.Fatalf("corrupt batches appended: end offset %d", end)
	}
	sp := singleProducePartition(t, wire.roundTrip(produceRequest("corrupt", 0, -1, good)).(*kmsg.ProduceResponse))
	wantCode(t, "intact batch", sp.ErrorCode, nil)
	if sp.BaseOffset != 0 {
		t.Errorf("intact batch at base offset %d, want 0", sp.BaseOffset)
	}
}

// Produce v3+ carries exactly one whole magic-v2 batch per partition
// (Kafka's ProduceRequest.validateRecords): no batch, a truncated one or
// two batches are INVALID_RECORD, and nothing is stored.
func TestProduceNotExactlyOneBatch(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "one-batch", 1, nil)
	wire := dialWire(t, b)
	good := rawBatch(time.Now().UnixMilli(), batchRecord{value: []byte("v")})
	cases := map[string][]byte{
		"no records":          nil,
		"truncated batch":     good[:len(good)-4],
		"shorter than header": good[:20],
		"two batches":         append(slices.Clone(good), good...),
	}
	for name, records := range cases {
		sp := singleProducePartition(t, wire.roundTrip(produceRequest("one-batch", 0, -1, records)).(*kmsg.ProduceResponse))
		wantCode(t, name, sp.ErrorCode, kerr.InvalidRecord)
	}
	if end := latestOffset(t, b, "one-batch", 0); end != 0 {
		t.Errorf("invalid produce appended records: end offset %d", end)
	}
}

// Produce never auto-creates: an unknown topic or partition is
// UNKNOWN_TOPIC_OR_PARTITION, and from v13 an unknown topic ID is
// UNKNOWN_TOPIC_ID (KIP-516).
func TestProduceUnknownTopicOrPartition(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "one-partition", 1, nil)
	wire := dialWire(t, b)
	batch := rawBatch(time.Now().UnixMilli(), batchRecord{value: []byte("v")})

	for _, c := range []struct {
		topic     string
		partition int32
	}{{"no-such-topic", 0}, {"one-partition", 1}, {"one-partition", -1}} {
		req := produceRequest(c.topic, c.partition, -1, batch)
		req.Version = 12
		sp := singleProducePartition(t, wire.roundTrip(req).(*kmsg.ProduceResponse))
		wantCode(t, fmt.Sprintf("%s[%d]", c.topic, c.partition), sp.ErrorCode, kerr.UnknownTopicOrPartition)
	}
	if slices.Contains(allTopicNames(t, b), "no-such-topic") {
		t.Errorf("produce auto-created a topic")
	}

	req := produceRequest("", 0, -1, batch)
	req.Version = 13
	req.Topics[0].TopicID = [16]byte{9, 9, 9}
	sp := singleProducePartition(t, wire.roundTrip(req).(*kmsg.ProduceResponse))
	wantCode(t, "v13 unknown topic ID", sp.ErrorCode, kerr.UnknownTopicID)
}

// Produce v13 names the topic by ID only (KIP-516); older versions by
// name. v3 is the oldest we serve (the first with magic-v2 batches) and
// what older clients such as kafka-python send.
func TestProduceVersions(t *testing.T) {
	b := startBroker(t)
	created := createTopic(t, b, "versions", 1, nil)
	wire := dialWire(t, b)
	versions := []int16{3, 7, 9, 12, 13}
	for i, version := range versions {
		req := produceRequest("versions", 0, -1, rawBatch(time.Now().UnixMilli(), batchRecord{value: []byte("v" + strconv.Itoa(int(version)))}))
		req.Version = version
		if version >= 13 {
			req.Topics[0].Topic = ""
			req.Topics[0].TopicID = created.ID
		}
		resp := wire.roundTrip(req).(*kmsg.ProduceResponse)
		sp := singleProducePartition(t, resp)
		wantCode(t, "produce v"+strconv.Itoa(int(version)), sp.ErrorCode, nil)
		if sp.BaseOffset != int64(i) {
			t.Errorf("produce v%d: base offset %d, want %d", version, sp.BaseOffset, i)
		}
		if version >= 13 && resp.Topics[0].TopicID != created.ID {
			t.Errorf("produce v13 response topic ID %x, want %x", resp.Topics[0].TopicID, created.ID)
		}
	}
	wantValues(t, "versions", consume(t, b, "versions", len(versions)), "v3", "v7", "v9", "v12", "v13")
}

// message.timestamp.type=LogAppendTime: the broker stamps every record with
// its own clock, reports it as log_append_time_ms, and marks the batch's
// timestamp type; a CreateTime topic keeps the producer's timestamp and
// reports -1.
func TestProduceLogAppendTime(t *testing.T) {
	b := startBroker(t)
	logAppend := "LogAppendTime"
	createTopic(t, b, "append-time", 1, map[string]*string{"message.timestamp.type": &logAppend})
	createTopic(t, b, "create-time", 1, nil)
	wire := dialWire(t, b)
	producerTime := time.Now().Add(-48 * time.Hour).UnixMilli()

	before := time.Now().UnixMilli()
	sp := singleProducePartition(t, wire.roundTrip(produceRequest("append-time", 0, -1,
		rawBatch(producerTime, batchRecord{value: []byte("a")}, batchRecord{value: []byte("b"), timestampDelta: 5}))).(*kmsg.ProduceResponse))
	after := time.Now().UnixMilli()
	wantCode(t, "LogAppendTime produce", sp.ErrorCode, nil)
	if sp.LogAppendTime < before || sp.LogAppendTime > after {
		t.Errorf("log_append_time_ms %d outside [%d, %d]", sp.LogAppendTime, before, after)
	}
	for _, r := range consume(t, b, "append-time", 2) {
		if r.Timestamp.UnixMilli() != sp.LogAppendTime || r.Attrs.TimestampType() != 1 {
			t.Errorf("record %d: timestamp %d type %d, want %d type 1 (LogAppendTime)", r.Offset, r.Timestamp.UnixMilli(), r.Attrs.TimestampType(), sp.LogAppendTime)
		}
	}

	sp = singleProducePartition(t, wire.roundTrip(produceRequest("create-time", 0, -1,
		rawBatch(producerTime, batchRecord{value: []byte("c")}))).(*kmsg.ProduceResponse))
	wantCode(t, "CreateTime produce", sp.ErrorCode, nil)
	if sp.LogAppendTime != -1 {
		t.Errorf("CreateTime topic: log_append_time_ms %d, want -1", sp.LogAppendTime)
	}
	got := consume(t, b, "create-time", 1)[0]
	if got.Timestamp.UnixMilli() != producerTime || got.Attrs.TimestampType() != 0 {
		t.Errorf("CreateTime record: timestamp %d type %d, want %d type 0", got.Timestamp.UnixMilli(), got.Attrs.TimestampType(), producerTime)
	}
}

// Clients cannot write into internal topics: a stray record in
// __consumer_offsets could keep the group coordinator from loading.
func TestProduceToInternalTopicRefused(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t)
	// Looking up a group coordinator creates __consumer_offsets.
	for _, c := range b.Admin().FindGroupCoordinators(ctx, "make-offsets-topic") {
		if c.Err != nil {
			t.Fatal(c.Err)
		}
	}
	wire := dialWire(t, b)
	batch := rawBatch(time.Now().UnixMilli(), batchRecord{key: []byte("k"), value: []byte("v")})
	resp := wire.roundTrip(produceRequest("__consumer_offsets", 0, 1, batch)).(*kmsg.ProduceResponse)
	wantCode(t, "produce to __consumer_offsets", resp.Topics[0].Partitions[0].ErrorCode, kerr.InvalidTopicException)
}
