package scale

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testbin"
)

// partitionsPerTopic is the size of every topic the scale test creates.
const partitionsPerTopic = 1000

// topicsPerRequest is how many such topics one CreateTopics carries: Kafka
// refuses a request that would write more than 10,000 metadata records
// (QuorumController.MAX_RECORDS_PER_USER_OP), and a topic of 1,000
// partitions writes 1,001.
const topicsPerRequest = 9

// The targets (issue 11): a CreateTopics of 10,000 partitions in
// 10 s, and a restart to serving every partition in 10 s after a clean
// shutdown and 30 s after SIGKILL at 100,000 partitions.
const (
	createTimePerPartition = time.Millisecond
	// minCreateLimit is the create target below 10,000 partitions: the
	// issue's 10 s, not less, since a broker's fixed start-up costs
	// dominate a small run.
	minCreateLimit     = 10 * time.Second
	cleanRestartTarget = 10 * time.Second
	killRestartTarget  = 30 * time.Second
)

// sampleSize is how many partitions are read back record by record.
const sampleSize = 100

// envInt is the integer in the environment variable name, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestPartitionsAtScale is issue 11's "must show": the real binary under
// prlimit --nofile=20000 hosts SLUICE_SCALE_PARTITIONS partitions (20,000
// by default, 100,000 with `make scale`) in topics of 1,000, takes one
// acks=all record in each, serves a sample back, and after a clean
// restart and after SIGKILL serves every partition again. It reports what
// docs/performance.md's scaling table holds and fails when a time misses
// the targets or when goroutines grow with the partition count.
func TestPartitionsAtScale(t *testing.T) {
	partitions := envInt(t, "SLUICE_SCALE_PARTITIONS", 20_000)
	nofile := envInt(t, "SLUICE_SCALE_NOFILE", 20_000)
	if partitions%partitionsPerTopic != 0 {
		t.Fatalf("SLUICE_SCALE_PARTITIONS=%d: want a multiple of %d", partitions, partitionsPerTopic)
	}
	topics := make([]string, partitions/partitionsPerTopic)
	for i := range topics {
		topics[i] = fmt.Sprintf("scale-%03d", i)
	}
	b := newBroker(t, testbin.Build(t, t.TempDir()), nofile)
	b.start()
	idle := b.sample()
	t.Logf("empty broker: %s", idle)

	adm := newAdmin(t, b.address)
	began := time.Now()
	createTopics(t, adm, topics)
	created := waitServing(t, b, adm, topics, 0, began)
	loaded := b.sample()
	t.Logf("created %d partitions in %d topics in %v (%v per 1,000): %s", partitions, len(topics),
		created.Round(time.Millisecond), (created * 1000 / time.Duration(partitions)).Round(time.Millisecond), loaded)

	produced := produceOneEach(t, b.address, topics)
	t.Logf("produced one acks=all record to each of %d partitions in %v", partitions, produced.Round(time.Millisecond))
	if refused := b.metric("sluice_storage_file_refusals_total"); refused != 0 {
		t.Errorf("%v file opens refused while producing to every partition: fsyncs pinned the whole budget", refused)
	}
	readSample(t, b.address, topics)
	mbps := produceSpread(t, b.address, topics[0])
	t.Logf("produced %d records of %d B over the %d partitions of %s with acks=all: %.1f MB/s",
		spreadRecords, spreadRecordSize, partitionsPerTopic, topics[0], mbps)
	busy := b.sample()
	idleCPU := b.idleCPU(5 * time.Second)
	t.Logf("after the writes: %s; idle CPU %.1f%% of one core", busy, idleCPU*100)

	stopped := b.stopCleanly()
	b.start()
	clean := waitServing(t, b, adm, topics, 1, b.Launched())
	t.Logf("clean shutdown %v; restart to serving every partition %v: %s", stopped.Round(time.Millisecond), clean.Round(time.Millisecond), b.sample())
	readSample(t, b.address, topics)

	b.kill()
	b.start()
	killed := waitServing(t, b, adm, topics, 1, b.Launched())
	t.Logf("SIGKILL; restart to serving every partition %v: %s", killed.Round(time.Millisecond), b.sample())
	readSample(t, b.address, topics)

	t.Logf("table row: | %d | %d MiB | %d | %v | %v | %v | %.1f MB/s |", partitions, busy.rss>>20, busy.fds,
		created.Round(100*time.Millisecond), clean.Round(100*time.Millisecond), killed.Round(100*time.Millisecond), mbps)
	if limit := max(time.Duration(partitions)*createTimePerPartition, minCreateLimit); created > limit {
		t.Errorf("creating %d partitions took %v, more than %v (10 s per 10,000)", partitions, created, limit)
	}
	if clean > cleanRestartTarget {
		t.Errorf("restart after a clean shutdown took %v to serve every partition, more than %v", clean, cleanRestartTarget)
	}
	if killed > killRestartTarget {
		t.Errorf("restart after SIGKILL took %v to serve every partition, more than %v", killed, killRestartTarget)
	}
	if grown := busy.goroutines - idle.goroutines; grown > 200 {
		t.Errorf("goroutines grew by %d with %d partitions (from %d): something runs per partition", grown, partitions, idle.goroutines)
	}
	if busy.fds >= nofile {
		t.Errorf("%d descriptors open under a limit of %d", busy.fds, nofile)
	}
}

// stats is what the test reports about the broker process.
type stats struct {
	rss        int64
	heap       int64
	fds        int
	goroutines int
}

func (s stats) String() string {
	return fmt.Sprintf("RSS %d MiB, heap in use %d MiB, %d open descriptors, %d goroutines", s.rss>>20, s.heap>>20, s.fds, s.goroutines)
}

// sample reads the broker's stats.
func (b *broker) sample() stats {
	b.t.Helper()
	return stats{rss: b.rss(), heap: int64(b.metric("go_memstats_heap_inuse_bytes")), fds: b.openFiles(),
		goroutines: int(b.metric("go_goroutines"))}
}

// idleCPU measures the broker's CPU use over d while no client works, as
// a share of one core.
func (b *broker) idleCPU(d time.Duration) float64 {
	before := b.cpuTime()
	began := time.Now()
	time.Sleep(d) // measuring an interval, not waiting for a condition
	return float64(b.cpuTime()-before) / float64(time.Since(began))
}

// newAdmin is an admin client of the broker, closed with the test.
func newAdmin(t *testing.T, address string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(address), kgo.RequestTimeoutOverhead(time.Minute), kgo.RetryTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createTopics creates topics of partitionsPerTopic, replication factor
// 1, topicsPerRequest at a time, failing on any error.
func createTopics(t *testing.T, adm *kadm.Client, topics []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for start := 0; start < len(topics); start += topicsPerRequest {
		batch := topics[start:min(start+topicsPerRequest, len(topics))]
		resp, err := adm.CreateTopics(ctx, partitionsPerTopic, 1, nil, batch...)
		if err != nil {
			t.Fatalf("create topics %v: %v", batch, err)
		}
		for _, r := range resp.Sorted() {
			if r.Err != nil {
				t.Fatalf("create topic %s: %v (%s)", r.Topic, r.Err, r.ErrMessage)
			}
		}
	}
}

// waitServing polls ListOffsets until every partition of topics answers
// without error with a log end of at least minEnd, and returns the time
// since began. It fails the test after servingTimeout.
func waitServing(t *testing.T, b *broker, adm *kadm.Client, topics []string, minEnd int64, began time.Time) time.Duration {
	t.Helper()
	const servingTimeout = 5 * time.Minute
	want := len(topics) * partitionsPerTopic
	deadline := time.Now().Add(servingTimeout)
	last := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		offsets, err := adm.ListEndOffsets(ctx, topics...)
		cancel()
		serving := 0
		if err == nil {
			offsets.Each(func(o kadm.ListedOffset) {
				if o.Err == nil && o.Offset >= minEnd {
					serving++
				} else if o.Err != nil {
					last = fmt.Sprintf("%s-%d: %v", o.Topic, o.Partition, o.Err)
				}
			})
		} else {
			last = err.Error()
		}
		if serving == want {
			return time.Since(began)
		}
		if !b.Alive() {
			t.Fatalf("broker exited while %d of %d partitions served:\n%s", serving, want, b.LogTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d partitions serving after %v (last error: %s)", serving, want, servingTimeout, last)
		}
		time.Sleep(100 * time.Millisecond) // poll again
	}
}

// produceOneEach writes one record to every partition with acks=all and
// returns how long it took.
func produceOneEach(t *testing.T, address string, topics []string) time.Duration {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(address), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(len(topics)*partitionsPerTopic),
		kgo.ProduceRequestTimeout(2*time.Minute), kgo.RecordDeliveryTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	records := make([]*kgo.Record, 0, len(topics)*partitionsPerTopic)
	for _, topic := range topics {
		for p := range int32(partitionsPerTopic) {
			records = append(records, &kgo.Record{Topic: topic, Partition: p, Value: recordValue(topic, p)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce one record to each partition: %v", err)
	}
	return time.Since(began)
}

// The spread produce: records of spreadRecordSize bytes over every
// partition of one topic, the "produce throughput spread over 1,000
// partitions" column of docs/performance.md's table.
const (
	spreadRecords    = 200_000
	spreadRecordSize = 100
)

// produceSpread writes spreadRecords records round-robin over topic's
// partitions with acks=all and returns the throughput in MB/s (2^20
// bytes of values per second, as Kafka's perf tools count).
func produceSpread(t *testing.T, address, topic string) float64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(address), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProduceRequestTimeout(2*time.Minute), kgo.RecordDeliveryTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, spreadRecordSize)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range spreadRecords {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("spread produce: %v", *err)
	}
	return float64(spreadRecords*spreadRecordSize) / (1 << 20) / time.Since(began).Seconds()
}

// recordValue is the record written to a partition.
func recordValue(topic string, partition int32) []byte {
	return fmt.Appendf(nil, "%s/%d", topic, partition)
}

// readSample consumes sampleSize partitions spread over every topic from
// the start and checks each holds its own record at offset 0.
func readSample(t *testing.T, address string, topics []string) {
	t.Helper()
	want := map[string]map[int32]kgo.Offset{}
	for i := range sampleSize {
		topic := topics[i%len(topics)]
		partition := int32((i * 7919) % partitionsPerTopic)
		if want[topic] == nil {
			want[topic] = map[int32]kgo.Offset{}
		}
		want[topic][partition] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(address), kgo.ConsumePartitions(want))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	missing := map[string]bool{}
	for topic, parts := range want {
		for p := range parts {
			missing[string(recordValue(topic, p))] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for len(missing) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%d sampled partitions did not return their record", len(missing))
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset > 0 {
				return // produceSpread's, after the partition's own record
			}
			if string(r.Value) != string(recordValue(r.Topic, r.Partition)) {
				t.Fatalf("%s-%d offset %d holds %q", r.Topic, r.Partition, r.Offset, r.Value)
			}
			delete(missing, string(r.Value))
		})
	}
}
