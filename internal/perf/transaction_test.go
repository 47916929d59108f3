package perf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionalProduceCommitsEveryRecord runs two transactional
// producers against kfake (which implements the transaction coordinator)
// and checks, independently of perf's own counts, that a read_committed
// consumer sees every record and that the log holds one commit marker per
// partition per transaction besides them.
func TestTransactionalProduceCommitsEveryRecord(t *testing.T) {
	ctx := testContext(t)
	bootstrap := newPeer(t)
	cfg := produceConfig(bootstrap, "transactional")
	cfg.Records, cfg.TransactionalID, cfg.TransactionRecords = 2500, "perf-test", 1000
	produced, err := Produce(ctx, cfg)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	// 1250 records per producer in transactions of 1000: two each.
	if produced.Records != cfg.Records || produced.Failed != 0 || produced.Transactions != 4 {
		t.Fatalf("produce result %+v: want %d records, 0 failed, 4 transactions", produced, cfg.Records)
	}
	if produced.TransactionsPerSecond <= 0 {
		t.Fatalf("transactions/s %v: want a rate", produced.TransactionsPerSecond)
	}

	stored, partitions := storedRecords(t, ctx, bootstrap, cfg.Topic)
	markers := stored - cfg.Records
	if markers < produced.Transactions || markers > produced.Transactions*int64(partitions) {
		t.Fatalf("log holds %d offsets for %d records: want one marker per partition touched by each of %d transactions",
			stored, cfg.Records, produced.Transactions)
	}
	if committed := readCommitted(t, bootstrap, cfg.Topic, cfg.Records); committed != cfg.Records {
		t.Fatalf("read_committed consumer saw %d records, want %d", committed, cfg.Records)
	}

	var text bytes.Buffer
	if err := produced.WriteText(&text); err != nil {
		t.Fatalf("write text: %v", err)
	}
	if !strings.Contains(text.String(), "4 transactions committed") {
		t.Fatalf("text result lacks the transaction line:\n%s", text.String())
	}
}

// readCommitted counts the committed records of topic with a
// read_committed consumer until want have arrived or the test context
// ends.
func readCommitted(t *testing.T, bootstrap []string, topic string, want int64) int64 {
	t.Helper()
	client, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer client.Close()
	ctx := testContext(t)
	var seen int64
	for seen < want && ctx.Err() == nil {
		fetches := client.PollFetches(ctx)
		fetches.EachRecord(func(*kgo.Record) { seen++ })
	}
	return seen
}
