package crash

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A kill catches a batch appended but not yet acknowledged (whose retry
// the broker must recognise) perhaps one time in five, so this test kills
// more often than TestAcknowledgedRecordsSurviveSIGKILL, after shorter
// lives; the log says how many retries were recognised.
const (
	idempotentKills     = 12
	idempotentMaxUptime = 1200 * time.Millisecond
)

// TestIdempotentProducerSurvivesSIGKILL is the crash test with franz-go's
// idempotent producer (its default): the broker is SIGKILLed several times
// while records are in flight and restarted on the same data. Retries that
// cross a crash are deduplicated by the producer state the restarted broker
// rebuilds from its log and snapshots, so every partition must hold every
// record exactly once, in the order sent: no duplicates at all, no gaps
// before the last acknowledged record, and each acknowledged record at the
// offset it was acknowledged at.
func TestIdempotentProducerSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a broker process for about 15 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	broker := newBrokerProcess(t, t.TempDir())
	if os.Getenv("SLUICE_CRASH_BROKER_CMD") == "" {
		broker.Argv = append(broker.Argv, "--log-level", "debug") // to count deduplicated retries
	}
	broker.start()
	createTopic(t, ctx, broker.address)

	var ledger ledger
	client := newIdempotentProducer(t, broker.address)
	logs := produceThroughKills(t, ctx, broker, client, &ledger, idempotentKills, idempotentMaxUptime)
	ledger.verify(t, logs) // offsets, values, acknowledged positions
	ledger.verifyExactlyOnce(t, logs)
	t.Logf("%d retried batches were recognised as duplicates", countInLog(t, broker.LogPath, retryAnswered))
}

// newIdempotentProducer is newProducer with idempotence left on (kgo's
// default, which needs acks=all): retries carry their original sequence
// numbers, so the broker can recognise them.
func newIdempotentProducer(t *testing.T, address string) *kgo.Client {
	t.Helper()
	client, err := kgo.NewClient(
		kgo.SeedBrokers(address),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(5000),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("producer client: %v", err)
	}
	t.Cleanup(client.Close)
	return client
}

// verifyExactlyOnce checks what idempotence adds to verify: in each
// partition the sequence numbers strictly increase (no record twice, none
// out of order), and no record sent before the last acknowledged one is
// missing. (Records whose produce failed come last: the producer stops
// while Produce calls wait for buffer space.)
func (l *ledger) verifyExactlyOnce(t *testing.T, logs [partitions][]stored) {
	t.Helper()
	for p := range int32(partitions) {
		lastAcked := int64(-1)
		for _, a := range l.acked[p] {
			lastAcked = max(lastAcked, int64(a.seq))
		}
		var previous uint64
		for i, r := range logs[p] {
			_, seq, err := testValues.Decode(r.value)
			if err != nil {
				t.Fatalf("partition %d offset %d: %v", p, r.offset, err)
			}
			if i > 0 && seq <= previous {
				t.Fatalf("partition %d offset %d: seq %d after seq %d: a duplicate or reordering despite idempotence", p, r.offset, seq, previous)
			}
			if int64(seq) <= lastAcked && seq != uint64(i) {
				t.Fatalf("partition %d offset %d: seq %d, want %d: a record before the last acknowledged one (seq %d) is missing",
					p, r.offset, seq, i, lastAcked)
			}
			previous = seq
		}
		if int64(len(logs[p])) <= lastAcked {
			t.Fatalf("partition %d: %d records stored, but seq %d was acknowledged", p, len(logs[p]), lastAcked)
		}
	}
}

// retryAnswered is the broker's debug log line for a deduplicated retry.
const retryAnswered = "retried produce batch answered with its original offsets"

// countInLog counts the broker log lines containing text.
func countInLog(t *testing.T, path, text string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read broker log: %v", err)
	}
	return strings.Count(string(data), text)
}
