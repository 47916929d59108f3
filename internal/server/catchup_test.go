package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/api"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/testbin"
	"github.com/sluice-io/sluice/internal/wire"
)

// catchupNode is one combined broker+controller of a three-node cluster
// run with StartBroker on real TCP; each incarnation logs at debug level
// into its own buffer.
type catchupNode struct {
	id     int32
	cfg    config.Broker
	broker *Broker
	logs   *logBuffer
}

func (n *catchupNode) addr() string { return n.broker.Addrs()[0] }

func (n *catchupNode) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.logs = &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := StartBroker(ctx, BrokerOptions{Config: n.cfg, Logger: logger})
	if err != nil {
		t.Fatalf("start node %d: %v", n.id, err)
	}
	n.broker = b
}

func (n *catchupNode) waitServing(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.broker.WaitServing(ctx); err != nil {
		t.Fatalf("node %d serving: %v", n.id, err)
	}
}

// startCatchupCluster starts three voters and waits until each serves.
func startCatchupCluster(t *testing.T) []*catchupNode {
	t.Helper()
	type ports struct{ client, controller int }
	var ps []ports
	var voters []string
	for i := range 3 {
		p := ports{testbin.FreePort(t), testbin.FreePort(t)}
		ps = append(ps, p)
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, p.controller))
	}
	var nodes []*catchupNode
	for i, p := range ps {
		client := "PLAINTEXT://127.0.0.1:" + strconv.Itoa(p.client)
		cfg, err := config.ParseBroker(map[string]string{
			"node.id":                        strconv.Itoa(i + 1),
			"process.roles":                  "broker,controller",
			"log.dirs":                       t.TempDir(),
			"listeners":                      client + ",CONTROLLER://127.0.0.1:" + strconv.Itoa(p.controller),
			"advertised.listeners":           client,
			"controller.listener.names":      "CONTROLLER",
			"inter.broker.listener.name":     "PLAINTEXT",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"controller.quorum.voters":       strings.Join(voters, ","),
			"sluice.metrics.listener":        "",
		})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &catchupNode{id: int32(i + 1), cfg: cfg})
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.start(t) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, n := range nodes {
			if n.broker != nil {
				n.broker.Halt()
			}
		}
	})
	for _, n := range nodes {
		n.waitServing(t)
	}
	return nodes
}

// latestEpochs is each partition's leader epoch, the highest any node's
// image has, by "topic-partition".
func latestEpochs(nodes []*catchupNode, topics ...string) map[string]int32 {
	out := map[string]int32{}
	for _, n := range nodes {
		img := n.broker.quorum.Image()
		for _, name := range topics {
			if t := img.TopicByName(name); t != nil {
				for _, p := range t.Partitions {
					key := fmt.Sprintf("%s-%d", name, p.Index)
					out[key] = max(out[key], p.LeaderEpoch)
				}
			}
		}
	}
	return out
}

// A broker restarted in a cluster acts on metadata only once it has caught
// up (Kafka's MetadataLoader and BrokerLifecycleManager catch-up): while
// it restores a metadata snapshot in which it leads partitions and
// replays the log after it, it becomes leader of none from those stale
// images; a client's first Metadata, sent the moment its listeners
// accept, already lists a topic created after the snapshot (the request
// is held until the catch-up), and a producer to that topic that knows
// only this broker succeeds at once, with no UNKNOWN_TOPIC_OR_PARTITION.
// Each of the three fails without the gate. Both after a
// controlled shutdown (SIGTERM) and after a crash, when the controller
// refuses the new incarnation until the old session expires.
func TestRestartedBrokerActsOnlyOnceCaughtUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node cluster through restarts")
	}
	nodes := startCatchupCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	seeds := []string{nodes[0].addr(), nodes[1].addr(), nodes[2].addr()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic, partitions = "caught-up", 6
	if _, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	target := restartTarget(t, nodes, topic)
	for _, crash := range []bool{false, true} {
		name := "SIGTERM"
		if crash {
			name = "crash"
		}
		t.Run(name, func(t *testing.T) {
			restartAndCheck(t, ctx, adm, nodes, target, crash, topic, partitions)
		})
	}
}

// partitionsOf is topic's partitions in node n's image, none before n has
// applied its creation.
func partitionsOf(n *catchupNode, topic string) []metadata.Partition {
	if t := n.broker.quorum.Image().TopicByName(topic); t != nil {
		return t.Partitions
	}
	return nil
}

// restartTarget picks a node that leads partitions of topic and is not the
// active controller (so the restart is a broker's, not a failover's).
func restartTarget(t *testing.T, nodes []*catchupNode, topic string) *catchupNode {
	t.Helper()
	var target *catchupNode
	waitFor(t, func() bool {
		for _, n := range nodes {
			if n.broker.quorum.IsLeader() {
				continue
			}
			for _, p := range partitionsOf(n, topic) {
				if p.Leader == n.id {
					target = n
					return true
				}
			}
		}
		return false
	}, "a node other than the controller leading a partition of "+topic)
	return target
}

func restartAndCheck(t *testing.T, ctx context.Context, adm *kadm.Client, nodes []*catchupNode, target *catchupNode, crash bool, topic string, partitions int) {
	leadAgain(t, ctx, adm, nodes, target, topic)
	// A metadata snapshot that shows the node leading: the new incarnation
	// restores it before it hears from the quorum, the stalest image it
	// will see. A topic created after it is in no image the node has
	// before it replays the log.
	if err := target.broker.quorum.Snapshot(); err != nil {
		t.Fatalf("snapshot node %d's metadata: %v", target.id, err)
	}
	fresh := topic + "-after-snapshot"
	if crash {
		fresh += "-crash"
	}
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, fresh); err != nil {
		t.Fatalf("create %s: %v", fresh, err)
	}
	waitFor(t, func() bool { return len(partitionsOf(target, fresh)) == 3 }, fresh+" in node's image")
	// The replayed log holds only leaderships under these epochs or older;
	// one the new incarnation takes legitimately comes from an election
	// after the stop, under a newer epoch.
	before := latestEpochs(nodes, topic, fresh)
	if crash {
		target.broker.Halt()
	} else if err := target.broker.Close(); err != nil {
		t.Fatalf("stop node %d: %v", target.id, err)
	}
	target.start(t)
	checkFirstClients(t, ctx, target, map[string]int{topic: partitions, fresh: 3}, fresh)
	target.waitServing(t)
	checkNoStaleLeadership(t, target, before)
}

// leadAgain makes target the leader of the partitions it is the preferred
// replica of, once it is back in their ISRs (preferred elections,
// retried), and waits until every node's image shows one of them.
func leadAgain(t *testing.T, ctx context.Context, adm *kadm.Client, nodes []*catchupNode, target *catchupNode, topic string) {
	t.Helper()
	leadsEverywhere := func() bool {
		for _, n := range nodes {
			leads := false
			for _, p := range partitionsOf(n, topic) {
				leads = leads || p.Leader == target.id
			}
			if !leads {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(20 * time.Second); !leadsEverywhere(); {
		if time.Now().After(deadline) {
			t.Fatalf("node %d leads no partition of %s again", target.id, topic)
		}
		_, _ = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
		time.Sleep(100 * time.Millisecond)
	}
}

// checkFirstClients sends, at once, a Metadata request and a produce to a
// broker that has just started, through clients that know only it: the
// Metadata must list every topic of want with its partition count, and
// records produced to topic must all be acknowledged.
func checkFirstClients(t *testing.T, ctx context.Context, n *catchupNode, want map[string]int, topic string) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr()))
		if err != nil {
			t.Error(err)
			return
		}
		defer cl.Close()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Errorf("metadata from node %d: %v", n.id, err)
			return
		}
		// Held until the node serves, so it is unfenced in the image that
		// answers (fenced brokers are left out of Metadata): a client
		// answered while it was still fenced would cache its partitions
		// without this leader.
		if !slices.ContainsFunc(resp.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == n.id }) {
			t.Errorf("node %d's first Metadata does not list node %d itself: answered while it was still fenced", n.id, n.id)
		}
		for name, partitions := range want {
			if got := listed(resp, name); got != partitions {
				t.Errorf("node %d's first Metadata lists %d partitions of %s, want %d (topics %d)", n.id, got, name, partitions, len(resp.Topics))
			}
		}
	})
	wg.Go(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr()), kgo.DefaultProduceTopic(topic), kgo.UnknownTopicRetries(0),
			kgo.RecordRetries(20), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
		if err != nil {
			t.Error(err)
			return
		}
		defer cl.Close()
		for i := range 2 * want[topic] {
			r := &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte("after the restart")}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Errorf("produce %d through node %d right after its restart: %v", i, n.id, err)
				return
			}
		}
	})
	wg.Wait()
}

func listed(resp *kmsg.MetadataResponse, topic string) int {
	for _, mt := range resp.Topics {
		if mt.Topic != nil && *mt.Topic == topic && mt.ErrorCode == 0 {
			return len(mt.Partitions)
		}
	}
	return 0
}

// checkNoStaleLeadership reads the new incarnation's log: the applier
// caught up once, and every leadership it took is under an epoch newer
// than the partition had at the restart.
func checkNoStaleLeadership(t *testing.T, n *catchupNode, before map[string]int32) {
	t.Helper()
	if failed := n.logs.records("become leader failed"); len(failed) > 0 {
		t.Errorf("node %d: %d become-leader failures after the restart, first %v", n.id, len(failed), failed[0])
	}
	if first := n.logs.records("metadata caught up: applying the first image"); len(first) != 1 {
		t.Errorf("node %d logged the catch-up %d times, want once", n.id, len(first))
	}
	for _, rec := range n.logs.records("became leader") {
		key := fmt.Sprintf("%v-%v", rec["topic"], rec["partition"])
		epoch, _ := rec["leaderEpoch"].(float64)
		if was, ok := before[key]; ok && int32(epoch) <= was {
			t.Errorf("node %d became leader of %s at epoch %v, not newer than its epoch %d at the restart: a stale image", n.id, key, epoch, was)
		}
	}
}

// The request gate holds a client's request until the broker serves and
// lets through at once ApiVersions and what other
// nodes send (their client ID is wire.ClientID), which the catch-up may
// itself need.
func TestRequestGateHoldsClientRequestsUntilCaughtUp(t *testing.T) {
	ready := make(chan struct{})
	inner := &countingHandler{}
	g := &requestGate{Handler: inner, ready: ready}
	ctx := context.Background()
	g.Handle(ctx, &api.Request{Key: int16(kmsg.ApiVersions), ClientID: "client"})
	g.Handle(ctx, &api.Request{Key: int16(kmsg.Fetch), ClientID: wire.ClientID})
	g.Handle(ctx, &api.Request{Key: int16(kmsg.BrokerRegistration), ClientID: wire.ClientID})
	if got := inner.count(); got != 3 {
		t.Fatalf("%d requests passed before the catch-up, want ApiVersions and the two from a node", got)
	}
	held := make(chan struct{})
	go func() {
		defer close(held)
		g.Handle(ctx, &api.Request{Key: int16(kmsg.Metadata), ClientID: "client"})
	}()
	select {
	case <-held:
		t.Fatal("a client's Metadata was answered before the catch-up")
	case <-time.After(50 * time.Millisecond):
	}
	close(ready)
	<-held
	if got := inner.count(); got != 4 {
		t.Fatalf("%d requests answered after the catch-up, want 4", got)
	}
	closing, stop := context.WithCancel(ctx)
	stop()
	g2 := &requestGate{Handler: inner, ready: make(chan struct{})}
	if r := g2.Handle(closing, &api.Request{Key: int16(kmsg.Produce), ClientID: "client"}); r.Response != nil || inner.count() != 4 {
		t.Fatalf("a held request on a closing connection was answered: %+v", r)
	}
}

// countingHandler counts the requests it answered.
type countingHandler struct {
	mu sync.Mutex
	n  int
}

func (h *countingHandler) Versions(int16) (int16, int16, bool) { return 0, 0, true }

func (h *countingHandler) Handle(context.Context, *api.Request) api.Reply {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	return api.Reply{Response: kmsg.NewPtrApiVersionsResponse()}
}

func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
