// Package integration proves Sluice's Kafka API with real clients: each test
// starts an in-process broker (internal/testcluster) and drives it with
// franz-go as a user would (kgo producers and consumers, kadm admin calls),
// or with kmsg requests pinned to exact versions where a test needs a
// particular version, error code or malformed input. Requests that a client
// library would rewrite or refuse (acks=2, a corrupted CRC, an unsupported
// version) go over a plain TCP connection (wireConn).
//
// Tests cite what they check (KIP numbers, Kafka behaviour) and never sleep
// to synchronise: they poll a condition with a deadline.
package integration

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// testTimeout bounds any single client call in these tests: long enough for
// a slow -race run on two shared cores, short enough to fail fast.
const testTimeout = 20 * time.Second

// startBroker starts a single-node broker for one test. Every test runs in
// parallel with the others: each has its own broker, port and data dir.
func startBroker(t *testing.T, opts ...testcluster.Option) *testcluster.Broker {
	t.Helper()
	t.Parallel()
	return testcluster.Start(t, opts...)
}

// testContext is the test's context bounded by testTimeout.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newProducer is a kgo client that produces to topic with the given extra
// options; it keeps kgo's defaults otherwise (idempotence included: kgo
// falls back to plain produce when the broker lacks InitProducerID).
func newProducer(b *testcluster.Broker, topic string, opts ...kgo.Opt) *kgo.Client {
	base := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0)}
	return b.Client(append(base, opts...)...)
}

// produce sends records synchronously and fails the test on any error.
func produce(t testing.TB, cl *kgo.Client, records ...*kgo.Record) []*kgo.Record {
	t.Helper()
	results := cl.ProduceSync(testContext(t), records...)
	if err := results.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return records
}

// produceValues produces one record per value to partition 0 of topic.
func produceValues(t testing.TB, b *testcluster.Broker, topic string, values ...string) {
	t.Helper()
	cl := newProducer(b, topic, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	records := make([]*kgo.Record, len(values))
	for i, v := range values {
		records[i] = &kgo.Record{Value: []byte(v), Partition: 0}
	}
	produce(t, cl, records...)
}

// consume reads exactly want records from the start of the given topic's
// partitions, polling until they arrive or the test times out.
func consume(t testing.TB, b *testcluster.Broker, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	base := []kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	cl := b.Client(append(base, opts...)...)
	defer cl.Close()
	return pollRecords(t, cl, want)
}

// pollRecords polls cl until want records have arrived. More than want is
// an error: the log holds something it should not.
func pollRecords(t testing.TB, cl *kgo.Client, want int) []*kgo.Record {
	t.Helper()
	ctx := testContext(t)
	var got []*kgo.Record
	for len(got) < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(got), want)
		}
		for _, fe := range fetches.Errors() {
			t.Fatalf("fetch %s[%d]: %v", fe.Topic, fe.Partition, fe.Err)
		}
		got = append(got, fetches.Records()...)
	}
	if len(got) != want {
		t.Fatalf("consumed %d records, want exactly %d", len(got), want)
	}
	return got
}

// createTopic creates a topic with kadm and fails the test on any error.
func createTopic(t testing.TB, b *testcluster.Broker, name string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	t.Helper()
	resp, err := b.Admin().CreateTopic(testContext(t), partitions, 1, configs, name)
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s: %v (%s)", name, resp.Err, resp.ErrMessage)
	}
	return resp
}

// seedClients holds one kgo client per broker for raw requests.
var seedClients sync.Map // *testcluster.Broker → *kgo.Client

// seed is a direct handle on the broker's connection, bypassing kgo's
// request sharding so a kmsg request goes to this broker as built.
func seed(b *testcluster.Broker) *kgo.Broker {
	cl, ok := seedClients.Load(b)
	if !ok {
		cl, _ = seedClients.LoadOrStore(b, b.Client())
	}
	return cl.(*kgo.Client).SeedBrokers()[0]
}

// request sends req through kgo and returns the typed response. kgo sends
// the highest version both sides support and ignores req.Version (it also
// rewrites a Produce request's acks): use requestAt for an exact version.
func request[R kmsg.Response](t testing.TB, b *testcluster.Broker, req kmsg.Request) R {
	t.Helper()
	ctx := testContext(t)
	resp, err := seed(b).Request(ctx, req)
	// A connection the broker closed (a restart) fails the first request
	// on it with EOF after the write: the broker never saw the request, so
	// sending it again on kgo's fresh connection is safe.
	for attempt := 0; err != nil && attempt < 2 && ctx.Err() == nil; attempt++ {
		resp, err = seed(b).Request(ctx, req)
	}
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	typed, ok := resp.(R)
	if !ok {
		t.Fatalf("%s: response is %T", kmsg.NameForKey(req.Key()), resp)
	}
	return typed
}

// requestAt sends req at exactly req.Version on a bare connection.
func requestAt[R kmsg.Response](t testing.TB, b *testcluster.Broker, req kmsg.Request) R {
	t.Helper()
	return dialWire(t, b).roundTrip(req).(R)
}

// wantCode fails the test unless code is want (nil: no error), naming both.
func wantCode(t testing.TB, what string, code int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if code != wantCode {
		t.Errorf("%s: error %s, want %s", what, codeName(code), codeName(wantCode))
	}
}

// wantErr fails the test unless err is the Kafka error want.
func wantErr(t testing.TB, what string, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: unexpected error %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %s", what, err, want.Message)
	}
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return ke.Message
		}
		return err.Error()
	}
	return fmt.Sprintf("code %d", code)
}

// topicMetadata fetches metadata for one topic without creating it.
func topicMetadata(t testing.TB, b *testcluster.Broker, topic string) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	resp := request[*kmsg.MetadataResponse](t, b, req)
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata for %s: %d topics in response", topic, len(resp.Topics))
	}
	return resp.Topics[0]
}

// fetchPartition is one partition of a raw fetch request.
type fetchPartition struct {
	topic     string
	topicID   [16]byte
	partition int32
	offset    int64
	maxBytes  int32
}

// fetchRequest builds a sessionless, non-waiting fetch of the given
// partitions at v12, the last version naming topics (v13+ use IDs).
func fetchRequest(parts ...fetchPartition) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	for _, p := range parts {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != p.topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = p.topic, p.topicID
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset = p.partition, p.offset
		rp.PartitionMaxBytes = p.maxBytes
		if rp.PartitionMaxBytes == 0 {
			rp.PartitionMaxBytes = 1 << 20
		}
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, rp)
	}
	return req
}

// responsePartitions flattens a fetch response to topic/partition → data.
func responsePartitions(resp *kmsg.FetchResponse) map[string]kmsg.FetchResponseTopicPartition {
	out := map[string]kmsg.FetchResponseTopicPartition{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = rp
		}
	}
	return out
}

// fetchedRecords decodes a raw fetch partition's batches with kgo's own
// parser (which validates CRCs), from offset on.
func fetchedRecords(t testing.TB, topic string, rp *kmsg.FetchResponseTopicPartition, offset int64) []*kgo.Record {
	t.Helper()
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: rp.Partition, Offset: offset}, rp, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		t.Fatalf("fetched %s[%d]: %v", topic, rp.Partition, fp.Err)
	}
	return fp.Records
}

// batchRecord is one record of a hand-built batch.
type batchRecord struct {
	key, value     []byte
	timestampDelta int64
	headers        []kmsg.Header
}

// rawBatch builds an uncompressed magic-v2 record batch with a correct
// CRC-32C, as a producer would send it (base offset 0, no producer ID).
func rawBatch(firstTimestamp int64, records ...batchRecord) []byte {
	var body []byte
	maxTimestamp := firstTimestamp
	for i, r := range records {
		rec := kmsg.Record{TimestampDelta64: r.timestampDelta, OffsetDelta: int32(i), Key: r.key, Value: r.value, Headers: r.headers}
		withoutLength := rec.AppendTo(nil)
		rec.Length = int32(len(withoutLength) - 1) // the zero length varint is one byte
		body = rec.AppendTo(body)
		maxTimestamp = max(maxTimestamp, firstTimestamp+r.timestampDelta)
	}
	batch := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(records) - 1),
		FirstTimestamp:       firstTimestamp,
		MaxTimestamp:         maxTimestamp,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(records)),
		Records:              body,
	}
	out := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	crc := crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(out[17:], crc)
	return out
}

// produceRequest builds a Produce request carrying batch for one partition
// at v12, the last version naming topics (v13 uses IDs).
func produceRequest(topic string, partition int32, acks int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 12
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	return req
}

// singleProducePartition returns the only partition of a produce response.
func singleProducePartition(t testing.TB, resp *kmsg.ProduceResponse) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response has %d topics, want one topic with one partition", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// wireConn is a bare Kafka connection: requests go out exactly as built,
// at exactly their version, which kgo does not always allow (it rewrites
// Produce acks and refuses versions the broker does not advertise).
type wireConn struct {
	t           testing.TB
	conn        net.Conn
	reader      *bufio.Reader
	formatter   *kmsg.RequestFormatter
	correlation int32
}

// dialWire opens a bare connection to the broker, closed with the test.
func dialWire(t testing.TB, b *testcluster.Broker) *wireConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", b.Addr(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wireConn{t: t, conn: conn, reader: bufio.NewReader(conn), formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID("sluice-integration"))}
}

// send writes req and returns its correlation ID.
func (w *wireConn) send(req kmsg.Request) int32 {
	w.t.Helper()
	w.correlation++
	w.conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := w.conn.Write(w.formatter.AppendRequest(nil, req, w.correlation)); err != nil {
		w.t.Fatalf("write %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return w.correlation
}

// readFrame reads one response frame and checks its correlation ID.
func (w *wireConn) readFrame(correlation int32) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(w.reader, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(w.reader, frame); err != nil {
		return nil, err
	}
	if len(frame) < 4 {
		return nil, fmt.Errorf("response frame of %d bytes", len(frame))
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != correlation {
		return nil, fmt.Errorf("correlation ID %d, want %d", got, correlation)
	}
	return frame[4:], nil
}

// receive reads the response to the request with the given correlation ID
// into resp (whose version must be set), skipping the flexible header's
// tags (ApiVersions responses never have them, KIP-511).
func (w *wireConn) receive(correlation int32, resp kmsg.Response) error {
	body, err := w.readFrame(correlation)
	if err != nil {
		return err
	}
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		if body, err = skipTaggedFields(body); err != nil {
			return err
		}
	}
	return resp.ReadFrom(body)
}

// roundTrip sends req and decodes its response at the same version.
func (w *wireConn) roundTrip(req kmsg.Request) kmsg.Response {
	w.t.Helper()
	correlation := w.send(req)
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := w.receive(correlation, resp); err != nil {
		w.t.Fatalf("%s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// expectClosed asserts the broker closed the connection rather than answer.
func (w *wireConn) expectClosed(what string) {
	w.t.Helper()
	w.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := w.readFrame(w.correlation)
	var netErr net.Error
	switch {
	case err == nil:
		w.t.Errorf("%s: broker answered, want the connection closed", what)
	case errors.As(err, &netErr) && netErr.Timeout():
		w.t.Errorf("%s: broker neither answered nor closed the connection", what)
	}
}

func skipTaggedFields(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("truncated tagged fields")
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("truncated tag")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return nil, errors.New("truncated tag value")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// eventually polls cond every few milliseconds until it holds or the
// deadline passes; it never sleeps longer than needed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, testTimeout)
		}
		<-tick.C
	}
}

// uniqueName returns a topic name unique within the test.
func uniqueName(t testing.TB, suffix string) string {
	name := strings.NewReplacer("/", "-", "#", "-").Replace(t.Name())
	if suffix != "" {
		name += "-" + suffix
	}
	return name
}

// recordValues lists records' values as strings.
func recordValues(records []*kgo.Record) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = string(r.Value)
	}
	return out
}

// wantValues fails unless records carry exactly the given values in order.
func wantValues(t testing.TB, what string, records []*kgo.Record, want ...string) {
	t.Helper()
	if got := recordValues(records); !slices.Equal(got, want) {
		t.Errorf("%s: values %q, want %q", what, got, want)
	}
}
