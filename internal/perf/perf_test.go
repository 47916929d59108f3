package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newPeer starts an in-process kfake broker and returns its bootstrap list.
func newPeer(t *testing.T) []string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func produceConfig(bootstrap []string, topic string) ProduceConfig {
	cfg := DefaultProduceConfig()
	cfg.Bootstrap = bootstrap
	cfg.Topic = topic
	cfg.Records = 3000
	cfg.RecordSize = 64
	cfg.Partitions = 3
	cfg.Producers = 2
	cfg.Linger = time.Millisecond
	cfg.ProgressInterval = 0
	return cfg
}

func consumeConfig(bootstrap []string, topic string) ConsumeConfig {
	cfg := DefaultConsumeConfig()
	cfg.Bootstrap = bootstrap
	cfg.Topic = topic
	cfg.Consumers = 2
	cfg.ProgressInterval = 0
	return cfg
}

// storedRecords sums the topic's end offsets and returns them with the
// partition count, independently of perf's own counting.
func storedRecords(t *testing.T, ctx context.Context, bootstrap []string, topic string) (int64, int) {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	ends, err := endOffsets(ctx, kadm.NewClient(client), topic)
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	var total int64
	for _, end := range ends {
		total += end
	}
	return total, len(ends)
}

func TestProduceThenConsumeReadsExactlyWhatWasWritten(t *testing.T) {
	ctx := testContext(t)
	bootstrap := newPeer(t)
	cfg := produceConfig(bootstrap, "exact")
	produced, err := Produce(ctx, cfg)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	wantBytes := cfg.Records * int64(cfg.RecordSize)
	if produced.Records != cfg.Records || produced.Bytes != wantBytes || produced.Failed != 0 {
		t.Fatalf("produce result %+v: want %d records, %d bytes, 0 failed", produced, cfg.Records, wantBytes)
	}
	if produced.Partitions != 3 || produced.Clients != 2 {
		t.Fatalf("produce result: %d partitions, %d clients; want 3 and 2", produced.Partitions, produced.Clients)
	}
	if l := produced.Latency; l == nil || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
		t.Fatalf("latency summary %+v: want 0 < p50 <= p99 <= p99.9 <= max", produced.Latency)
	}
	stored, partitions := storedRecords(t, ctx, bootstrap, cfg.Topic)
	if stored != cfg.Records || partitions != 3 {
		t.Fatalf("broker holds %d records in %d partitions, want %d in 3", stored, partitions, cfg.Records)
	}

	toEnd, err := Consume(ctx, consumeConfig(bootstrap, cfg.Topic))
	if err != nil {
		t.Fatalf("consume to end: %v", err)
	}
	if toEnd.Records != cfg.Records || toEnd.Bytes != wantBytes || toEnd.Clients != 2 {
		t.Fatalf("consume to end %+v: want %d records, %d bytes, 2 clients", toEnd, cfg.Records, wantBytes)
	}

	counted := consumeConfig(bootstrap, cfg.Topic)
	counted.Records = cfg.Records
	counted.Consumers = 5 // more than partitions: the extra two sit out
	byCount, err := Consume(ctx, counted)
	if err != nil {
		t.Fatalf("consume by count: %v", err)
	}
	if byCount.Records != cfg.Records || byCount.Bytes != wantBytes || byCount.Clients != 3 {
		t.Fatalf("consume by count %+v: want %d records, %d bytes, 3 clients", byCount, cfg.Records, wantBytes)
	}
}

func TestEveryAcksAndCodecRoundTrips(t *testing.T) {
	ctx := testContext(t)
	bootstrap := newPeer(t)
	for _, acks := range []Acks{AcksNone, AcksLeader, AcksAll} {
		for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			topic := "acks" + acks.String() + "-" + codec
			cfg := produceConfig(bootstrap, topic)
			cfg.Records, cfg.Acks, cfg.Compression, cfg.Partitions = 500, acks, codec, 2
			produced, err := Produce(ctx, cfg)
			if err != nil || produced.Records != cfg.Records {
				t.Fatalf("%s: produce %d records, err %v; want %d", topic, produced.Records, err, cfg.Records)
			}
			// acks=0 is acknowledged on write: wait until the broker
			// has everything before reading to the end.
			waitStored(t, ctx, bootstrap, topic, cfg.Records)
			consumed, err := Consume(ctx, consumeConfig(bootstrap, topic))
			if err != nil || consumed.Records != cfg.Records || consumed.Bytes != produced.Bytes {
				t.Fatalf("%s: consumed %d records %d bytes, err %v; want %d and %d",
					topic, consumed.Records, consumed.Bytes, err, cfg.Records, produced.Bytes)
			}
		}
	}
}

func TestThroughputCapPacesTheRun(t *testing.T) {
	ctx := testContext(t)
	cfg := produceConfig(newPeer(t), "paced")
	cfg.Records, cfg.Throughput = 400, 1000 // 400 records at 1000/s: at least 0.4 s
	result, err := Produce(ctx, cfg)
	if err != nil || result.Records != 400 {
		t.Fatalf("produce: %d records, %v", result.Records, err)
	}
	if result.Seconds < 0.35 {
		t.Fatalf("400 records at 1000/s took %.3f s, want about 0.4 s", result.Seconds)
	}
}

func waitStored(t *testing.T, ctx context.Context, bootstrap []string, topic string, want int64) {
	t.Helper()
	for {
		stored, _ := storedRecords(t, ctx, bootstrap, topic)
		if stored == want {
			return
		}
		if stored > want || waitOrDone(ctx, 20*time.Millisecond) != nil {
			t.Fatalf("%s: broker holds %d records, want %d", topic, stored, want)
		}
	}
}

func TestFailedRecordsAreCountedAndReported(t *testing.T) {
	ctx := testContext(t)
	cfg := produceConfig(newPeer(t), "too-large")
	cfg.Records = 3
	cfg.RecordSize = 2 << 20 // above the 1 MB batch limit: kgo fails it before sending
	result, err := Produce(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "3 records failed") {
		t.Fatalf("produce error %v, want one saying 3 records failed", err)
	}
	if result.Failed != 3 || result.Records != 0 {
		t.Fatalf("result %+v: want 3 failed, 0 acknowledged", result)
	}
}

func TestConsumeTimesOutWhenRecordsNeverArrive(t *testing.T) {
	ctx := testContext(t)
	bootstrap := newPeer(t)
	cfg := produceConfig(bootstrap, "short")
	cfg.Records = 10
	if _, err := Produce(ctx, cfg); err != nil {
		t.Fatalf("produce: %v", err)
	}
	wanting := consumeConfig(bootstrap, cfg.Topic)
	wanting.Records = 11
	wanting.Timeout = 500 * time.Millisecond
	result, err := Consume(ctx, wanting)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("consume error %v, want a deadline exceeded", err)
	}
	if result.Records != 10 {
		t.Fatalf("consumed %d records before the timeout, want 10", result.Records)
	}
}

func TestConsumeMissingTopicFails(t *testing.T) {
	ctx := testContext(t)
	_, err := Consume(ctx, consumeConfig(newPeer(t), "absent"))
	if err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("consume of a missing topic: %v, want an error naming it", err)
	}
}

func TestProgressAndOutput(t *testing.T) {
	ctx := testContext(t)
	var progress bytes.Buffer
	cfg := produceConfig(newPeer(t), "progress")
	cfg.Progress = &progress // read only after Produce, which stops the reporter first
	cfg.ProgressInterval = time.Millisecond
	cfg.Records = 20_000
	result, err := Produce(ctx, cfg)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if !strings.HasPrefix(progress.String(), "produce: ") {
		t.Errorf("progress output %q, want lines starting with \"produce: \"", progress.String())
	}
	var text, line bytes.Buffer
	if err := result.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"20000 records", "records/s", "MB/s", "p99.9"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output %q lacks %q", text.String(), want)
		}
	}
	if err := result.WriteJSON(&line); err != nil {
		t.Fatal(err)
	}
	var decoded Result
	if err := json.Unmarshal(line.Bytes(), &decoded); err != nil || decoded.Records != 20_000 || decoded.Latency == nil {
		t.Fatalf("JSON line %q decodes to %+v, %v", line.String(), decoded, err)
	}
	if bytes.Count(line.Bytes(), []byte("\n")) != 1 {
		t.Errorf("JSON output %q is not one line", line.String())
	}
}

func BenchmarkProduceToKfake(b *testing.B) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	cfg := produceConfig(cluster.ListenAddrs(), "bench")
	cfg.Records = int64(b.N)
	cfg.Producers = 1
	b.ReportAllocs()
	b.SetBytes(int64(cfg.RecordSize))
	b.ResetTimer()
	if _, err := Produce(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
}
