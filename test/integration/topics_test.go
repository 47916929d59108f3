package integration

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

// newTopic describes one topic of a CreateTopics request.
func newTopic(name string, partitions int32, replicationFactor int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, replicationFactor
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

// withAssignment gives a topic explicit replica assignments, one replica
// list per partition index.
func withAssignment(rt kmsg.CreateTopicsRequestTopic, assignments map[int32][]int32) kmsg.CreateTopicsRequestTopic {
	rt.NumPartitions, rt.ReplicationFactor = -1, -1
	for _, partition := range slices.Sorted(maps.Keys(assignments)) {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = partition, assignments[partition]
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	return rt
}

// createTopics sends one CreateTopics request (latest version) and returns
// the results by topic name: Kafka does not promise their order.
func createTopics(t *testing.T, b *testcluster.Broker, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) map[string]kmsg.CreateTopicsResponseTopic {
	t.Helper()
	resp := createTopicsResponse(t, b, validateOnly, topics...)
	out := map[string]kmsg.CreateTopicsResponseTopic{}
	for _, r := range resp.Topics {
		out[r.Topic] = r
	}
	for _, rt := range topics {
		if _, ok := out[rt.Topic]; !ok {
			t.Fatalf("CreateTopics: no result for %q", rt.Topic)
		}
	}
	return out
}

func createTopicsResponse(t *testing.T, b *testcluster.Broker, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsResponse {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	req.ValidateOnly = validateOnly
	req.Topics = topics
	return request[*kmsg.CreateTopicsResponse](t, b, req)
}

// topicExists reports whether the broker's metadata lists the topic.
func topicExists(t *testing.T, b *testcluster.Broker, name string) bool {
	t.Helper()
	return slices.Contains(allTopicNames(t, b), name)
}

// validate_only (v1+) checks the request and reports what would be created,
// but creates nothing.
func TestCreateTopicsValidateOnly(t *testing.T) {
	b := startBroker(t)
	result := createTopics(t, b, true, newTopic("dry-run", 4, 1, "retention.ms", "60000"))["dry-run"]
	wantCode(t, "validate_only", result.ErrorCode, nil)
	if result.NumPartitions != 4 || result.ReplicationFactor != 1 {
		t.Errorf("validate_only result: %d partitions, RF %d; want 4, 1", result.NumPartitions, result.ReplicationFactor)
	}
	if topicExists(t, b, "dry-run") {
		t.Fatalf("validate_only created the topic")
	}
	bad := createTopics(t, b, true, newTopic("dry-run", 0, 1))["dry-run"]
	wantCode(t, "validate_only with 0 partitions", bad.ErrorCode, kerr.InvalidPartitions)
	wantCode(t, "real create after validate_only", createTopics(t, b, false, newTopic("dry-run", 4, 1))["dry-run"].ErrorCode, nil)
}

// Configs given at creation are stored as topic overrides: the v5+
// response lists them, DescribeConfigs reports them as
// DYNAMIC_TOPIC_CONFIG, and -1 partitions / replication factor take the
// broker defaults (num.partitions, default.replication.factor).
func TestCreateTopicsConfigsApplied(t *testing.T) {
	b := startBroker(t, testcluster.WithConfig(func(c *config.Broker) { c.NumPartitions = 2 }))
	result := createTopics(t, b, false, newTopic("configured", -1, -1, "retention.ms", "123456", "cleanup.policy", "compact", "max.message.bytes", "2000"))["configured"]
	wantCode(t, "create with configs", result.ErrorCode, nil)
	if result.NumPartitions != 2 || result.ReplicationFactor != 1 {
		t.Errorf("defaults: %d partitions, RF %d; want num.partitions=2, RF 1", result.NumPartitions, result.ReplicationFactor)
	}
	if result.TopicID == [16]byte{} {
		t.Errorf("no topic ID in the v7 response")
	}
	inResponse := map[string]kmsg.CreateTopicsResponseTopicConfig{}
	for _, c := range result.Configs {
		inResponse[c.Name] = c
	}
	if c := inResponse["retention.ms"]; c.Value == nil || *c.Value != "123456" || kmsg.ConfigSource(c.Source) != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("response config retention.ms: %+v", c)
	}

	described := describeTopicConfigs(t, b, "configured")
	for name, want := range map[string]string{"retention.ms": "123456", "cleanup.policy": "compact", "max.message.bytes": "2000"} {
		c, ok := described[name]
		if !ok || c.Value == nil || *c.Value != want || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("DescribeConfigs %s: %+v, want %s from DYNAMIC_TOPIC_CONFIG", name, c, want)
		}
	}
	if c := described["segment.bytes"]; c.Source == kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("segment.bytes was not set but reports DYNAMIC_TOPIC_CONFIG")
	}
}

// Explicit replica assignments (num_partitions and replication_factor -1)
// create exactly the listed partitions; Kafka's ReplicationControlManager
// refuses assignments to unknown brokers, duplicate replicas, gaps in the
// partition indexes, and assignments combined with a partition count.
func TestCreateTopicsExplicitAssignment(t *testing.T) {
	b := startBroker(t)
	node := b.Config().NodeID
	ok := createTopics(t, b, false, withAssignment(newTopic("assigned", 0, 0), map[int32][]int32{0: {node}, 1: {node}, 2: {node}}))["assigned"]
	wantCode(t, "explicit assignment", ok.ErrorCode, nil)
	md := topicMetadata(t, b, "assigned")
	if len(md.Partitions) != 3 {
		t.Fatalf("assigned topic has %d partitions, want 3", len(md.Partitions))
	}
	for _, p := range md.Partitions {
		if p.Leader != node || !slices.Equal(p.Replicas, []int32{node}) {
			t.Errorf("partition %d: leader %d replicas %v", p.Partition, p.Leader, p.Replicas)
		}
	}

	withCount := withAssignment(newTopic("assigned-with-count", 0, 0), map[int32][]int32{0: {node}})
	withCount.NumPartitions = 1
	cases := []struct {
		name  string
		topic kmsg.CreateTopicsRequestTopic
		want  *kerr.Error
	}{
		{"unknown broker", withAssignment(newTopic("bad-broker", 0, 0), map[int32][]int32{0: {node + 100}}), kerr.InvalidReplicaAssignment},
		{"duplicate replica", withAssignment(newTopic("dup-replica", 0, 0), map[int32][]int32{0: {node, node}}), kerr.InvalidReplicaAssignment},
		{"gap in partitions", withAssignment(newTopic("gap", 0, 0), map[int32][]int32{0: {node}, 2: {node}}), kerr.InvalidReplicaAssignment},
		{"assignment with a partition count", withCount, kerr.InvalidRequest},
	}
	for _, c := range cases {
		wantCode(t, c.name, createTopics(t, b, false, c.topic)[c.topic.Topic].ErrorCode, c.want)
		if topicExists(t, b, c.topic.Topic) {
			t.Errorf("%s: topic %s was created", c.name, c.topic.Topic)
		}
	}
}

// The CreateTopics refusals a user meets, with Kafka's error codes; a
// refused topic is never created and does not stop the others in the
// same request.
func TestCreateTopicsErrors(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "exists", 1, nil)
	createTopic(t, b, "dotted.name", 1, nil)
	cases := []struct {
		name  string
		topic kmsg.CreateTopicsRequestTopic
		want  *kerr.Error
	}{
		{"already exists", newTopic("exists", 1, 1), kerr.TopicAlreadyExists},
		{"zero partitions", newTopic("zero-partitions", 0, 1), kerr.InvalidPartitions},
		{"negative partitions", newTopic("negative-partitions", -2, 1), kerr.InvalidPartitions},
		{"zero replication factor", newTopic("zero-rf", 1, 0), kerr.InvalidReplicationFactor},
		{"negative replication factor", newTopic("negative-rf", 1, -2), kerr.InvalidReplicationFactor},
		{"RF 3 on one broker", newTopic("rf-three", 1, 3), kerr.InvalidReplicationFactor},
		{"bad config value", newTopic("bad-value", 1, 1, "retention.ms", "soon"), kerr.InvalidConfig},
		{"out-of-range config value", newTopic("bad-range", 1, 1, "min.insync.replicas", "0"), kerr.InvalidConfig},
		{"unknown config", newTopic("bad-key", 1, 1, "retention.mss", "1000"), kerr.InvalidConfig},
		{"empty name", newTopic("", 1, 1), kerr.InvalidTopicException},
		{"space in name", newTopic("bad name", 1, 1), kerr.InvalidTopicException},
		{"dot-dot name", newTopic("..", 1, 1), kerr.InvalidTopicException},
		{"250-character name", newTopic(strings.Repeat("n", 250), 1, 1), kerr.InvalidTopicException},
		{"collides with dotted.name", newTopic("dotted_name", 1, 1), kerr.InvalidTopicException},
	}
	topics := []kmsg.CreateTopicsRequestTopic{newTopic("fine", 1, 1)}
	for _, c := range cases {
		topics = append(topics, c.topic)
	}
	results := createTopics(t, b, false, topics...)
	wantCode(t, "valid topic beside refused ones", results["fine"].ErrorCode, nil)
	for _, c := range cases {
		r := results[c.topic.Topic]
		wantCode(t, c.name, r.ErrorCode, c.want)
		if c.want != kerr.TopicAlreadyExists && c.topic.Topic != "" && topicExists(t, b, c.topic.Topic) {
			t.Errorf("%s: topic was created", c.name)
		}
		if c.want != nil && (r.ErrorMessage == nil || *r.ErrorMessage == "") && c.want != kerr.TopicAlreadyExists {
			t.Errorf("%s: no error message explains the refusal", c.name)
		}
	}
	if !topicExists(t, b, "fine") {
		t.Errorf("valid topic beside refused ones was not created")
	}
}

// The same name twice in one request is refused with INVALID_REQUEST
// (Kafka's ControllerApis answers it once: "Duplicate topic name."), and
// the topic is not created.
func TestCreateTopicsDuplicateInRequest(t *testing.T) {
	b := startBroker(t)
	resp := createTopicsResponse(t, b, false, newTopic("twice", 1, 1), newTopic("twice", 2, 1))
	if len(resp.Topics) == 0 {
		t.Fatalf("no result for the duplicated topic")
	}
	for _, r := range resp.Topics {
		if r.Topic != "twice" {
			t.Errorf("result for unexpected topic %q", r.Topic)
		}
		wantCode(t, "duplicate name", r.ErrorCode, kerr.InvalidRequest)
	}
	if topicExists(t, b, "twice") {
		t.Errorf("duplicated topic was created")
	}
}

// Older CreateTopics versions (v0 has no validate_only, v4 no IDs) work.
func TestCreateTopicsOldVersions(t *testing.T) {
	b := startBroker(t)
	wire := dialWire(t, b)
	for _, version := range []int16{0, 1, 4, 5} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = version
		req.TimeoutMillis = 10000
		name := "old-create-v" + strconv.Itoa(int(version))
		req.Topics = []kmsg.CreateTopicsRequestTopic{newTopic(name, 2, 1)}
		resp := wire.roundTrip(req).(*kmsg.CreateTopicsResponse)
		wantCode(t, name, resp.Topics[0].ErrorCode, nil)
		if md := topicMetadata(t, b, name); len(md.Partitions) != 2 {
			t.Errorf("%s: %d partitions, want 2", name, len(md.Partitions))
		}
	}
}

// deleteTopicsByName sends DeleteTopics naming topics (v5: by name) and
// returns each name's error code (Kafka shuffles the results' order).
func deleteTopicsByName(t *testing.T, b *testcluster.Broker, names ...string) map[string]int16 {
	t.Helper()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 5
	req.TimeoutMillis = 10000
	req.TopicNames = names
	out := map[string]int16{}
	for _, r := range requestAt[*kmsg.DeleteTopicsResponse](t, b, req).Topics {
		if r.Topic != nil {
			out[*r.Topic] = r.ErrorCode
		}
	}
	for _, name := range names {
		if _, ok := out[name]; !ok {
			t.Fatalf("DeleteTopics: no result for %q", name)
		}
	}
	return out
}

// DeleteTopics by name removes the topic and its data: metadata forgets
// it, DescribeLogDirs no longer lists its partitions, produce is refused;
// re-creating the name gives a new topic ID and an empty log (KIP-516).
func TestDeleteTopicsByName(t *testing.T) {
	b := startBroker(t)
	first := createTopic(t, b, "doomed", 2, nil)
	produceValues(t, b, "doomed", "old-1", "old-2")

	results := deleteTopicsByName(t, b, "doomed", "never-existed")
	wantCode(t, "delete doomed", results["doomed"], nil)
	wantCode(t, "delete never-existed", results["never-existed"], kerr.UnknownTopicOrPartition)
	if topicExists(t, b, "doomed") {
		t.Fatalf("deleted topic still in metadata")
	}
	eventually(t, "deleted partitions leave the log dir", func() bool { return len(logDirPartitions(t, b, "doomed")) == 0 })
	wire := dialWire(t, b)
	sp := singleProducePartition(t, wire.roundTrip(produceRequest("doomed", 0, -1, rawBatch(0, batchRecord{value: []byte("late")}))).(*kmsg.ProduceResponse))
	wantCode(t, "produce to deleted topic", sp.ErrorCode, kerr.UnknownTopicOrPartition)

	second := createTopic(t, b, "doomed", 1, nil)
	if second.ID == first.ID || second.ID == [16]byte{} {
		t.Errorf("re-created topic ID %x, first was %x: want a new ID", second.ID, first.ID)
	}
	if end := latestOffset(t, b, "doomed", 0); end != 0 {
		t.Errorf("re-created topic starts at end offset %d, want an empty log", end)
	}
	produceValues(t, b, "doomed", "new")
	wantValues(t, "re-created topic", consume(t, b, "doomed", 1), "new")
}

// DeleteTopics v6 names topics by ID (KIP-516); an unknown ID is
// UNKNOWN_TOPIC_ID.
func TestDeleteTopicsByID(t *testing.T) {
	b := startBroker(t)
	created := createTopic(t, b, "by-id", 1, nil)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 10000
	for _, id := range [][16]byte{created.ID, {4, 5, 6}} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	resp := request[*kmsg.DeleteTopicsResponse](t, b, req)
	if len(resp.Topics) != 2 {
		t.Fatalf("%d results, want 2", len(resp.Topics))
	}
	byID := map[[16]byte]kmsg.DeleteTopicsResponseTopic{}
	for _, r := range resp.Topics {
		byID[r.TopicID] = r
	}
	deleted, unknown := byID[created.ID], byID[[16]byte{4, 5, 6}]
	wantCode(t, "delete by ID", deleted.ErrorCode, nil)
	if deleted.Topic == nil || *deleted.Topic != "by-id" {
		t.Errorf("delete by ID answered name %v, want by-id", deleted.Topic)
	}
	wantCode(t, "delete unknown ID", unknown.ErrorCode, kerr.UnknownTopicID)
	if topicExists(t, b, "by-id") {
		t.Errorf("topic deleted by ID still exists")
	}
}

// delete.topic.enable=false refuses every deletion with
// TOPIC_DELETION_DISABLED and keeps the data.
func TestDeleteTopicsDisabled(t *testing.T) {
	b := startBroker(t, testcluster.WithConfig(func(c *config.Broker) { c.DeleteTopicEnable = false }))
	createTopic(t, b, "kept", 1, nil)
	wantCode(t, "delete with delete.topic.enable=false", deleteTopicsByName(t, b, "kept")["kept"], kerr.TopicDeletionDisabled)
	if !topicExists(t, b, "kept") {
		t.Errorf("topic deleted although delete.topic.enable=false")
	}
}

// CreatePartitions grows a topic (new partitions are usable at once);
// shrinking or keeping the count is INVALID_PARTITIONS, an unknown topic
// UNKNOWN_TOPIC_OR_PARTITION, and validate_only changes nothing.
func TestCreatePartitions(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "growing", 1, nil)
	grow := func(topic string, count int32, validateOnly bool) kmsg.CreatePartitionsResponseTopic {
		t.Helper()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis, req.ValidateOnly = 10000, validateOnly
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		resp := request[*kmsg.CreatePartitionsResponse](t, b, req)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreatePartitions: %d topics in response, want 1", len(resp.Topics))
		}
		return resp.Topics[0]
	}
	partitions := func() int { return len(topicMetadata(t, b, "growing").Partitions) }

	wantCode(t, "validate_only grow", grow("growing", 5, true).ErrorCode, nil)
	if n := partitions(); n != 1 {
		t.Fatalf("validate_only grew the topic to %d partitions", n)
	}
	wantCode(t, "grow to 3", grow("growing", 3, false).ErrorCode, nil)
	if n := partitions(); n != 3 {
		t.Fatalf("after growing: %d partitions, want 3", n)
	}
	cl := newProducer(b, "growing", kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, cl, &kgo.Record{Partition: 2, Value: []byte("in new partition")})
	if end := latestOffset(t, b, "growing", 2); end != 1 {
		t.Errorf("new partition end offset %d, want 1", end)
	}

	wantCode(t, "shrink to 2", grow("growing", 2, false).ErrorCode, kerr.InvalidPartitions)
	wantCode(t, "same count", grow("growing", 3, false).ErrorCode, kerr.InvalidPartitions)
	wantCode(t, "unknown topic", grow("missing", 3, false).ErrorCode, kerr.UnknownTopicOrPartition)
	if n := partitions(); n != 3 {
		t.Errorf("refused changes altered the topic: %d partitions", n)
	}

	// kadm's helper, as a user would call it.
	if _, err := b.Admin().CreatePartitions(testContext(t), 2, "growing"); err != nil {
		t.Fatalf("kadm CreatePartitions: %v", err)
	}
	if n := partitions(); n != 5 {
		t.Errorf("after kadm adding 2: %d partitions, want 5", n)
	}
}

// CreatePartitions with explicit assignments for the new partitions:
// assignments to unknown brokers are INVALID_REPLICA_ASSIGNMENT.
func TestCreatePartitionsAssignment(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "assign-more", 1, nil)
	node := b.Config().NodeID
	send := func(replicas ...[]int32) int16 {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "assign-more", int32(1+len(replicas))
		for _, r := range replicas {
			a := kmsg.NewCreatePartitionsRequestTopicAssignment()
			a.Replicas = r
			rt.Assignment = append(rt.Assignment, a)
		}
		req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		resp := request[*kmsg.CreatePartitionsResponse](t, b, req)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreatePartitions: %d topics in response, want 1", len(resp.Topics))
		}
		return resp.Topics[0].ErrorCode
	}
	wantCode(t, "assignment to an unknown broker", send([]int32{node + 7}), kerr.InvalidReplicaAssignment)
	wantCode(t, "assignment to this broker", send([]int32{node}, []int32{node}), nil)
	if n := len(topicMetadata(t, b, "assign-more").Partitions); n != 3 {
		t.Errorf("%d partitions, want 3", n)
	}
}
