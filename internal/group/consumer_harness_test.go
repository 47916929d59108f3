package group

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/metadata"
)

// consumerTestConfig is the classic test config with short consumer-group
// timeouts.
func consumerTestConfig() Config {
	cfg := classicTestConfig()
	cfg.ConsumerSessionTimeout = 45 * time.Second
	cfg.ConsumerHeartbeatInterval = 5 * time.Second
	return cfg
}

// topicID makes a recognisable topic ID for tests.
func topicID(n byte) [16]byte { return [16]byte{15: n, 0: 0xAB} }

// testImage builds a metadata image with topics name → partition count;
// topic IDs are topicID(1), topicID(2), ... in the order given.
func testImage(t testing.TB, topics ...any) *metadata.Image {
	t.Helper()
	var records []metadata.Record
	for i := 0; i < len(topics); i += 2 {
		name, count := topics[i].(string), topics[i+1].(int)
		id := topicID(byte(i/2 + 1))
		records = append(records, &metadata.TopicRecord{Name: name, ID: id})
		for p := range count {
			records = append(records, &metadata.PartitionRecord{TopicID: id, Partition: metadata.Partition{
				Index: int32(p), Replicas: []int32{1}, ISR: []int32{1}, Leader: 1,
			}})
		}
	}
	img, err := metadata.NewImage().Apply(records)
	if err != nil {
		t.Fatalf("build image: %v", err)
	}
	return img
}

// consumerClient is a KIP-848 test client: it keeps its member ID, epoch
// and owned partitions the way a real consumer does, revoking at once
// whatever the coordinator stops assigning.
type consumerClient struct {
	h          *classicHarness
	group      string
	id         string
	instanceID *string
	epoch      int32
	topics     []string
	assignor   *string
	rebalance  int32
	owned      partitionSet
	image      *metadata.Image
}

func (h *classicHarness) consumerClient(group, id string, image *metadata.Image, topics ...string) *consumerClient {
	return &consumerClient{h: h, group: group, id: id, topics: topics, rebalance: 30_000, owned: partitionSet{}, image: image}
}

// request builds the client's next full heartbeat.
func (c *consumerClient) request() *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group = c.group
	req.MemberID = c.id
	req.MemberEpoch = c.epoch
	req.InstanceID = c.instanceID
	req.RebalanceTimeoutMillis = c.rebalance
	req.SubscribedTopicNames = c.topics
	req.ServerAssignor = c.assignor
	req.Topics = ownedTopics(c.owned)
	if c.epoch == joinEpoch {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	return req
}

func ownedTopics(ps partitionSet) []kmsg.ConsumerGroupHeartbeatRequestTopic {
	topics := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, id := range sortedTopicIDs(ps) {
		t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		t.TopicID, t.Partitions = id, slices.Clone(ps[id])
		topics = append(topics, t)
	}
	return topics
}

// heartbeat sends the client's heartbeat and applies the answer: a new
// epoch, and an assignment it takes as what it owns.
func (c *consumerClient) heartbeat() *kmsg.ConsumerGroupHeartbeatResponse {
	c.h.t.Helper()
	resp := c.h.consumerHeartbeat(c.request(), c.image)
	if resp.ErrorCode != 0 {
		return resp
	}
	if resp.MemberID != nil {
		c.id = *resp.MemberID
	}
	c.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		c.owned = partitionSet{}
		for _, t := range resp.Assignment.Topics {
			for _, p := range t.Partitions {
				c.owned.add(t.TopicID, p)
			}
		}
	}
	return resp
}

// mustHeartbeat is heartbeat failing the test on an error.
func (c *consumerClient) mustHeartbeat() *kmsg.ConsumerGroupHeartbeatResponse {
	c.h.t.Helper()
	resp := c.heartbeat()
	if resp.ErrorCode != 0 {
		c.h.t.Fatalf("heartbeat of %s: error %d (%v)", c.id, resp.ErrorCode, derefString(resp.ErrorMessage))
	}
	return resp
}

func derefString(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// consumerHeartbeat runs one ConsumerGroupHeartbeat and returns its answer.
func (h *classicHarness) consumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, image *metadata.Image) *kmsg.ConsumerGroupHeartbeatResponse {
	h.t.Helper()
	var got *kmsg.ConsumerGroupHeartbeatResponse
	calls := 0
	h.run(func(fx *coord.Effects) {
		h.shard.ConsumerGroupHeartbeat(fx, req, ClientInfo{ClientID: "client", ClientHost: "/10.0.0.2"}, image, func(r *kmsg.ConsumerGroupHeartbeatResponse) {
			got, calls = r, calls+1
		})
	})
	if calls != 1 {
		h.t.Fatalf("ConsumerGroupHeartbeat answered %d times, want 1", calls)
	}
	return got
}

func (h *classicHarness) consumerGroup(id string) *consumerGroup { return h.shard.consumer.groups[id] }

// settle heartbeats every client until no answer changes anything, at
// most rounds times, and fails if the group does not reach Stable.
func settle(t testing.TB, rounds int, clients ...*consumerClient) {
	t.Helper()
	for range rounds {
		for _, c := range clients {
			c.mustHeartbeat()
		}
		checkExclusive(t, clients...)
		g := clients[0].h.consumerGroup(clients[0].group)
		if g.state() == consumerStable {
			return
		}
	}
	g := clients[0].h.consumerGroup(clients[0].group)
	t.Fatalf("group %s not Stable after %d rounds: %s", g.id, rounds, g.state())
}

// checkExclusive fails if two clients own the same partition.
func checkExclusive(t testing.TB, clients ...*consumerClient) {
	t.Helper()
	owner := map[topicPartition]string{}
	for _, c := range clients {
		c.owned.each(func(topic [16]byte, p int32) {
			tp := topicPartition{topic, p}
			if other, ok := owner[tp]; ok {
				t.Fatalf("partition %x-%d owned by %s and %s", topic[15], p, other, c.id)
			}
			owner[tp] = c.id
		})
	}
}

// ownedCount counts what the clients own together.
func ownedCount(clients ...*consumerClient) int {
	n := 0
	for _, c := range clients {
		n += c.owned.size()
	}
	return n
}

func describePartitions(ps partitionSet) string {
	out := ""
	ps.each(func(topic [16]byte, p int32) { out += fmt.Sprintf(" %d-%d", topic[15], p) })
	return out
}
