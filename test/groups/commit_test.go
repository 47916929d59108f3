package groups

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// A member that commits, consumes more without committing and crashes is
// replaced by one that resumes exactly at the last commit: it reads the
// uncommitted records again (at-least-once) and nothing before them. A
// member that commits and leaves cleanly is followed by one that reads
// only what was produced after: no record lost, none duplicated.
func TestRestartedMemberResumesAfterLastCommit(t *testing.T) {
	b := startBroker(t)
	topic, group := topicName(t, "topic"), topicName(t, "group")
	const partitions = 3
	createTopic(t, b, topic, partitions)

	first := groupConsumer(t, b, group, topic)
	committed := produceRecords(t, b, topic, partitions, "committed", 30)
	got := pollExactly(t, first.client, 30)
	wantRecords(t, "first member", got, committed)
	if err := first.client.CommitRecords(testContext(t), got...); err != nil {
		t.Fatalf("commit: %v", err)
	}
	uncommitted := produceRecords(t, b, topic, partitions, "uncommitted", 30)
	wantRecords(t, "first member, uncommitted", pollExactly(t, first.client, 30), uncommitted)
	first.crash()

	second := groupConsumer(t, b, group, topic)
	wantRecords(t, "member after the crash", pollExactly(t, second.client, 30), uncommitted)
	if err := second.client.CommitUncommittedOffsets(testContext(t)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	second.client.Close() // leaves the group

	third := groupConsumer(t, b, group, topic)
	later := produceRecords(t, b, topic, partitions, "later", 30)
	wantRecords(t, "member after a clean leave", pollExactly(t, third.client, 30), later)
	wantNoMoreRecords(t, third.client)
}

// kgo's autocommit commits, in the background, what the previous poll
// returned: once the consumer has polled again, the group's offsets reach
// the log end, and they stay there after the consumer leaves.
func TestAutocommitReachesLogEnd(t *testing.T) {
	b := startBroker(t)
	adm := b.Admin()
	topic, group := topicName(t, "topic"), topicName(t, "group")
	createTopic(t, b, topic, 4)
	produced := produceRecords(t, b, topic, 4, "auto", 80)
	cl := b.Client(append(groupOptions(group, topic), kgo.AutoCommitInterval(100*time.Millisecond))...)
	wantRecords(t, "autocommit consumer", pollExactly(t, cl, len(produced)), produced)
	wantNoMoreRecords(t, cl) // the poll after which the first one is committed
	logEnd := endOffsets(t, b, topic)
	waitFor(t, testTimeout, "autocommit reaching the log end", func() string {
		if got := committedOffsets(t, adm, group, topic); !maps.Equal(got, logEnd) {
			return fmt.Sprintf("committed %v, log end %v", got, logEnd)
		}
		return ""
	})
	cl.Close()
	if got := committedOffsets(t, adm, group, topic); !maps.Equal(got, logEnd) {
		t.Errorf("committed offsets after the consumer left: %v, want the log end %v", got, logEnd)
	}
}

// Members crash one after the other while records keep arriving, and
// replacements join; every record produced is consumed by a live member,
// or by a crashed one that committed it before dying.
func TestMemberCrashesLoseNoRecord(t *testing.T) {
	b := startBroker(t)
	adm := b.Admin()
	topic, group := topicName(t, "topic"), topicName(t, "group")
	createTopic(t, b, topic, groupPartitions)
	producer := startProducing(t, b, topic, groupPartitions)

	members := []*member{
		startMember(t, b, "member-0", group, topic),
		startMember(t, b, "member-1", group, topic),
		startMember(t, b, "member-2", group, topic),
	}
	waitBalanced(t, adm, group, topic, groupPartitions, members, testTimeout)
	commitsAtDeath := map[*member]map[int32]int64{}
	for round := range 3 {
		dead := live(members)[0]
		dead.kill()
		commitsAtDeath[dead] = committedOffsets(t, adm, group, topic)
		members = append(members, startMember(t, b, fmt.Sprintf("member-%d", 3+round), group, topic))
		waitBalanced(t, adm, group, topic, groupPartitions, live(members), sessionTimeout+testTimeout)
	}
	produced := producer.stop()
	if len(produced) == 0 {
		t.Fatal("the producer acknowledged nothing")
	}
	waitAllConsumed(t, members, produced, commitsAtDeath)
}

// consumer is a kgo group consumer driven by the test goroutine, with
// manual commits, whose network can be cut.
type consumer struct {
	client *kgo.Client
	net    *network
}

func groupConsumer(t testing.TB, b *testcluster.Broker, group, topic string) *consumer {
	t.Helper()
	c := &consumer{net: newNetwork()}
	c.client = b.Client(append(memberOptions(group, topic), kgo.Dialer(c.net.dial))...)
	return c
}

// crash cuts the consumer off and closes it without a LeaveGroup reaching
// the broker.
func (c *consumer) crash() {
	c.net.sever()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	c.client.LeaveGroupContext(canceled)
	c.client.Close()
}

// pollExactly polls until want records arrived and fails if more did.
func pollExactly(t testing.TB, cl *kgo.Client, want int) []*kgo.Record {
	t.Helper()
	ctx := testContext(t)
	var got []*kgo.Record
	for len(got) < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(got), want)
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, partition, err)
		})
		got = append(got, fetches.Records()...)
	}
	if len(got) != want {
		t.Fatalf("consumed %d records, want exactly %d: %s", len(got), want, recordPositions(got))
	}
	return got
}

// wantNoMoreRecords polls briefly and fails if anything arrives.
func wantNoMoreRecords(t testing.TB, cl *kgo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if fetches := cl.PollFetches(ctx); fetches.NumRecords() > 0 {
		t.Errorf("%d more records than produced: %s", fetches.NumRecords(), recordPositions(fetches.Records()))
	}
}

// wantRecords fails unless got holds exactly the records at want's
// positions (in any order across partitions).
func wantRecords(t testing.TB, what string, got []*kgo.Record, want []position) {
	t.Helper()
	gotPositions := make([]position, len(got))
	for i, r := range got {
		gotPositions[i] = position{r.Partition, r.Offset}
	}
	less := func(a, b position) int {
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		return int(a.offset - b.offset)
	}
	slices.SortFunc(gotPositions, less)
	sorted := slices.SortedFunc(slices.Values(want), less)
	if !slices.Equal(gotPositions, sorted) {
		t.Errorf("%s consumed %s\nwant %s", what, describePositions(gotPositions), describePositions(sorted))
	}
}

func recordPositions(records []*kgo.Record) string {
	ps := make([]position, len(records))
	for i, r := range records {
		ps[i] = position{r.Partition, r.Offset}
	}
	return describePositions(ps)
}

// producing is a background producer writing small batches until stopped.
type producing struct {
	t        testing.TB
	stopOnce sync.Once
	stopped  chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	acked    []position
	err      error
}

// startProducing produces a batch of one record per partition every few
// milliseconds until stop.
func startProducing(t testing.TB, b *testcluster.Broker, topic string, partitions int32) *producing {
	t.Helper()
	cl := b.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	p := &producing{t: t, stopped: make(chan struct{}), done: make(chan struct{})}
	go p.run(t.Context(), cl, partitions)
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *producing) run(ctx context.Context, cl *kgo.Client, partitions int32) {
	defer close(p.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for batch := 0; ; batch++ {
		select {
		case <-p.stopped:
			return
		case <-tick.C:
		}
		records := make([]*kgo.Record, partitions)
		for i := range records {
			records[i] = &kgo.Record{Partition: int32(i), Value: fmt.Appendf(nil, "batch-%d", batch)}
		}
		if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		for _, r := range records {
			p.acked = append(p.acked, position{r.Partition, r.Offset})
		}
		p.mu.Unlock()
	}
}

// stop ends production and returns every acknowledged position. A failed
// produce (the broker is always up in these tests) fails the test.
func (p *producing) stop() []position {
	p.stopOnce.Do(func() {
		close(p.stopped)
		<-p.done
		if p.err != nil {
			p.t.Errorf("background produce failed after %d records: %v", len(p.acked), p.err)
		}
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}
