package groups

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

const (
	// testTimeout bounds every wait for the broker: long enough for a
	// -race run on two shared cores, short enough to fail fast.
	testTimeout = 30 * time.Second
	// minSessionTimeout is the group.min.session.timeout.ms the test
	// brokers run with, so members may ask for short sessions.
	minSessionTimeout = time.Second
	// sessionTimeout is what members ask for: a dead member is expired,
	// and its partitions move, within about this long.
	sessionTimeout = 2 * time.Second
	// heartbeatInterval is well below sessionTimeout, so a live member
	// is never expired on a loaded machine.
	heartbeatInterval = 200 * time.Millisecond
	// rebalanceTimeout bounds how long the coordinator waits for
	// members to rejoin a rebalance.
	rebalanceTimeout = 10 * time.Second
	// groupPartitions is the partition count of the consumed topics.
	groupPartitions = 12
)

// startBroker starts a broker for one parallel test with short group
// timeouts: members may ask for sessionTimeout, and the first rebalance of
// a new group is not delayed (group.initial.rebalance.delay.ms=0).
func startBroker(t *testing.T, opts ...testcluster.Option) *testcluster.Broker {
	t.Helper()
	t.Parallel()
	short := testcluster.WithConfig(func(c *config.Broker) {
		c.GroupMinSessionTimeoutMs = int32(minSessionTimeout / time.Millisecond)
		c.GroupInitialRebalanceDelayMs = 0
	})
	return testcluster.Start(t, append([]testcluster.Option{short}, opts...)...)
}

// testContext is the test's context bounded by testTimeout.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls check until it returns "" (the condition holds), failing
// the test after timeout with the last reason check gave.
func waitFor(t testing.TB, timeout time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v: %s", what, timeout, why)
		}
		<-tick.C
	}
}

// createTopic creates a topic with kadm and fails the test on any error.
func createTopic(t testing.TB, b *testcluster.Broker, name string, partitions int32) {
	t.Helper()
	resp, err := b.Admin().CreateTopic(testContext(t), partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// topicName turns the test's name into a topic or group name.
func topicName(t testing.TB, suffix string) string {
	name := strings.NewReplacer("/", "-", "#", "-").Replace(t.Name())
	if suffix != "" {
		name += "-" + suffix
	}
	return name
}

// position is one record's place in a topic.
type position struct {
	partition int32
	offset    int64
}

// produceRecords writes count records spread round-robin over the topic's
// partitions, value "<prefix>-<i>", and returns where each landed.
func produceRecords(t testing.TB, b *testcluster.Broker, topic string, partitions int32, prefix string, count int) []position {
	t.Helper()
	return produceTo(t, b.Addr(), topic, partitions, prefix, count)
}

// produceTo is produceRecords for the broker at addr (a real process too).
func produceTo(t testing.TB, addr, topic string, partitions int32, prefix string, count int) []position {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	defer cl.Close()
	records := make([]*kgo.Record, count)
	for i := range records {
		records[i] = &kgo.Record{Partition: int32(i) % partitions, Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	if err := cl.ProduceSync(testContext(t), records...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", count, topic, err)
	}
	out := make([]position, count)
	for i, r := range records {
		out[i] = position{r.Partition, r.Offset}
	}
	return out
}

// newClient is a kgo client for the broker at addr, closed with the test.
func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// endOffsets lists the topic's end offsets by partition.
func endOffsets(t testing.TB, b *testcluster.Broker, topic string) map[int32]int64 {
	t.Helper()
	listed, err := b.Admin().ListEndOffsets(testContext(t), topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// committedOffsets fetches the group's committed offsets for topic.
func committedOffsets(t testing.TB, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	fetched, err := adm.FetchOffsets(testContext(t), group)
	if err == nil {
		err = fetched.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", group, err)
	}
	out := map[int32]int64{}
	for partition, o := range fetched[topic] {
		out[partition] = o.At
	}
	return out
}

// network is a severable path from one client to the broker: cut closes
// every connection and refuses new ones, so the broker sees the client
// vanish exactly as a crashed process or a dead link leaves it, with no
// LeaveGroup and no more heartbeats.
type network struct {
	mu    sync.Mutex
	cut   bool
	conns map[*severableConn]struct{}
}

func newNetwork() *network { return &network{conns: map[*severableConn]struct{}{}} }

// dial is a kgo.Dialer.
func (n *network) dial(ctx context.Context, network, host string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut {
		conn.Close()
		return nil, errors.New("network cut by the test")
	}
	c := &severableConn{Conn: conn, network: n}
	n.conns[c] = struct{}{}
	return c, nil
}

// sever cuts the network for good.
func (n *network) sever() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = true
	for c := range n.conns {
		c.Conn.Close()
	}
	clear(n.conns)
}

// severableConn is a connection that network.sever can close.
type severableConn struct {
	net.Conn
	network *network
}

func (c *severableConn) Close() error {
	c.network.mu.Lock()
	delete(c.network.conns, c)
	c.network.mu.Unlock()
	return c.Conn.Close()
}

// ledger counts what the members of a group consumed, by position.
type ledger struct {
	mu       sync.Mutex
	consumed map[position]int
}

func newLedger() *ledger { return &ledger{consumed: map[position]int{}} }

func (l *ledger) add(records []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range records {
		l.consumed[position{r.Partition, r.Offset}]++
	}
}

// merge adds what other consumed; keep, if not nil, says which of its
// positions count (a crashed member's processing counts only where it
// was committed).
func (l *ledger) merge(other *ledger, keep func(position) bool) {
	other.mu.Lock()
	defer other.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, count := range other.consumed {
		if keep == nil || keep(p) {
			l.consumed[p] += count
		}
	}
}

// count is how many distinct positions were consumed.
func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.consumed)
}

// missing lists the positions in want that nobody consumed.
func (l *ledger) missing(want []position) []position {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []position
	for _, p := range want {
		if l.consumed[p] == 0 {
			out = append(out, p)
		}
	}
	return out
}

// duplicates counts records consumed more than once.
func (l *ledger) duplicates() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, count := range l.consumed {
		n += count - 1
	}
	return n
}

// member is one kgo group consumer with a poll loop that records what it
// consumed in its ledger and then commits it synchronously (at-least-once
// processing). It tracks, from the client's own rebalance callbacks, which
// partitions it owns; kill cuts its network so the broker must expire it.
type member struct {
	t      testing.TB
	name   string
	client *kgo.Client
	net    *network
	cancel context.CancelFunc
	polled chan struct{} // closed when the poll loop has returned

	dead      atomic.Bool
	callbacks atomic.Int32 // assigned, revoked and lost callbacks run
	book      *ledger      // what this member consumed while alive

	mu    sync.Mutex
	owned map[int32]bool // partitions of the consumed topic
}

// groupOptions are what every group consumer runs with: the test's short
// session and frequent heartbeats, reading from the start of a partition
// that has no commit. Commits are the caller's choice.
func groupOptions(group, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(heartbeatInterval),
		kgo.RebalanceTimeout(rebalanceTimeout),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
}

// memberOptions are groupOptions with kgo's autocommit off: members commit
// synchronously in their poll loop, so no commit is in flight once the
// loop has stopped.
func memberOptions(group, topic string) []kgo.Opt {
	return append(groupOptions(group, topic), kgo.DisableAutoCommit())
}

// startMember starts a group member consuming topic into its own ledger.
// opts come after the defaults and may override them (a balancer, an
// instance ID, a longer session).
func startMember(t testing.TB, b *testcluster.Broker, name, group, topic string, opts ...kgo.Opt) *member {
	t.Helper()
	m := &member{t: t, name: name, net: newNetwork(), polled: make(chan struct{}), owned: map[int32]bool{}, book: newLedger()}
	all := append(memberOptions(group, topic),
		kgo.SeedBrokers(b.Addr()),
		kgo.ClientID(name),
		kgo.Dialer(m.net.dial),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
	)
	cl, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		t.Fatalf("new client for member %s: %v", name, err)
	}
	m.client = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.poll(ctx)
	t.Cleanup(m.close)
	return m
}

// poll consumes until ctx ends: records go to the ledger first, then are
// committed, and the commit is waited for (on its own deadline, not ctx)
// so that no commit is in flight once poll has returned.
func (m *member) poll(ctx context.Context) {
	defer close(m.polled)
	for ctx.Err() == nil {
		fetches := m.client.PollFetches(ctx)
		if m.dead.Load() || fetches.NumRecords() == 0 {
			continue
		}
		m.book.add(fetches.Records())
		commitCtx, cancel := context.WithTimeout(context.Background(), testTimeout)
		m.client.CommitUncommittedOffsets(commitCtx)
		cancel()
	}
}

func (m *member) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	m.callbacks.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, partitions := range assigned {
		for _, p := range partitions {
			m.owned[p] = true
		}
	}
}

// onRevoked commits what was consumed before giving partitions up, as
// kgo's default revoke does (a custom callback replaces it), unless the
// member is dead: a crashed process commits nothing.
func (m *member) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if !m.dead.Load() {
		cl.CommitUncommittedOffsets(ctx)
	}
	m.onLost(ctx, cl, revoked)
}

func (m *member) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.callbacks.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, partitions := range lost {
		for _, p := range partitions {
			delete(m.owned, p)
		}
	}
}

// partitions is what the member owns now, sorted.
func (m *member) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.owned))
}

// memberID is the ID the coordinator gave this member ("" before joining).
func (m *member) memberID() string {
	id, _ := m.client.GroupMetadata()
	return id
}

// generation is the group generation this member last joined.
func (m *member) generation() int32 {
	_, generation := m.client.GroupMetadata()
	return generation
}

// kill makes the member vanish as a crash would. Its poll loop stops first
// (so no commit of its own is in flight), then its connections are cut, so
// nothing it does afterwards (a revoke commit, a LeaveGroup) reaches the
// broker, which has to expire it by its session timeout.
func (m *member) kill() {
	m.dead.Store(true)
	m.cancel()
	<-m.polled
	m.net.sever()
	// Start the leave with a dead context so that Close does not retry a
	// LeaveGroup over the cut network.
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	m.client.LeaveGroupContext(canceled)
	m.client.Close()
}

// stop ends the poll loop and closes the client: a dynamic member leaves
// the group, a static one (InstanceID) just disconnects.
func (m *member) stop() {
	m.cancel()
	<-m.polled
	m.client.Close()
}

// close is the test cleanup: stop, unless the member already stopped.
func (m *member) close() {
	if m.dead.Load() {
		return
	}
	select {
	case <-m.polled:
	default:
		m.stop()
	}
}

// live returns the members not killed.
func live(members []*member) []*member {
	var out []*member
	for _, m := range members {
		if !m.dead.Load() {
			out = append(out, m)
		}
	}
	return out
}

// balanced reports whether the members' own views and the coordinator's
// DescribeGroups agree that the group is Stable with exactly these members
// and every one of partitions partitions assigned to exactly one of them.
// The reason is empty when balanced.
func balanced(ctx context.Context, adm *kadm.Client, group, topic string, partitions int32, members []*member) string {
	owner := map[int32]string{}
	byID := map[string][]int32{}
	for _, m := range members {
		mine := m.partitions()
		for _, p := range mine {
			if other, taken := owner[p]; taken {
				return fmt.Sprintf("partition %d owned by both %s and %s", p, other, m.name)
			}
			owner[p] = m.name
		}
		byID[m.memberID()] = mine
	}
	if len(owner) != int(partitions) {
		return fmt.Sprintf("members own %d of %d partitions", len(owner), partitions)
	}
	return describedMatches(ctx, adm, group, topic, byID)
}

// describedMatches checks DescribeGroups against the members' own views
// of their assignments, by member ID.
func describedMatches(ctx context.Context, adm *kadm.Client, group, topic string, byID map[string][]int32) string {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Sprintf("describe groups: %v", err)
	}
	g := described[group]
	if g.Err != nil || g.State != "Stable" {
		return fmt.Sprintf("group state %q (error %v)", g.State, g.Err)
	}
	if len(g.Members) != len(byID) {
		return fmt.Sprintf("DescribeGroups lists %d members, want %d", len(g.Members), len(byID))
	}
	for _, dm := range g.Members {
		want, ok := byID[dm.MemberID]
		if !ok {
			return fmt.Sprintf("DescribeGroups lists unknown member %s", dm.MemberID)
		}
		if got := assignedPartitions(dm, topic); !slices.Equal(got, want) {
			return fmt.Sprintf("member %s (%s): DescribeGroups assigns %v, the client owns %v", dm.MemberID, dm.ClientID, got, want)
		}
	}
	return ""
}

// assignedPartitions decodes a described member's assignment for topic.
func assignedPartitions(dm kadm.DescribedGroupMember, topic string) []int32 {
	assignment, ok := dm.Assigned.AsConsumer()
	if !ok {
		return nil
	}
	var out []int32
	for _, at := range assignment.Topics {
		if at.Topic == topic {
			out = append(out, at.Partitions...)
		}
	}
	slices.Sort(out)
	return out
}

// waitBalanced polls until balanced holds, failing after timeout.
func waitBalanced(t testing.TB, adm *kadm.Client, group, topic string, partitions int32, members []*member, timeout time.Duration) {
	t.Helper()
	ctx := testContext(t)
	what := fmt.Sprintf("group %s balanced over %d members", group, len(members))
	waitFor(t, timeout, what, func() string { return balanced(ctx, adm, group, topic, partitions, members) })
}
