package controller

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

func createTopic(name string, partitions int32, factor int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = name
	t.NumPartitions = partitions
	t.ReplicationFactor = factor
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name = configs[i]
		c.Value = strPtr(configs[i+1])
		t.Configs = append(t.Configs, c)
	}
	return t
}

func assigned(name string, replicas ...[]int32) kmsg.CreateTopicsRequestTopic {
	t := createTopic(name, -1, -1)
	for i, r := range replicas {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition = int32(i)
		a.Replicas = r
		t.ReplicaAssignment = append(t.ReplicaAssignment, a)
	}
	return t
}

func createRequest(topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.Topics = topics
	return req
}

func TestPlanCreateTopicsRejections(t *testing.T) {
	long := strings.Repeat("x", 250)
	nullConfig := createTopic("nulls", 1, 1)
	nullConfig.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms"}, {Name: "flush.ms"}}
	gap := assigned("gap", []int32{1}, []int32{2})
	gap.ReplicaAssignment[1].Partition = 2
	twice := assigned("twice", []int32{1}, []int32{2})
	twice.ReplicaAssignment[1].Partition = 0
	withFactor := assigned("rf", []int32{1})
	withFactor.ReplicationFactor = 1
	withCount := assigned("count", []int32{1})
	withCount.NumPartitions = 1

	tests := []struct {
		name    string
		topic   kmsg.CreateTopicsRequestTopic
		code    *kerr.Error
		message string
	}{
		{"empty name", createTopic("", 1, 1), kerr.InvalidTopicException, "Topic name is illegal, it can't be empty"},
		{"dot", createTopic(".", 1, 1), kerr.InvalidTopicException, `Topic name cannot be "." or ".."`},
		{"dot dot", createTopic("..", 1, 1), kerr.InvalidTopicException, `Topic name cannot be "." or ".."`},
		{"too long", createTopic(long, 1, 1), kerr.InvalidTopicException, "Topic name is illegal, it can't be longer than 249 characters, Topic name: " + long},
		{"bad chars", createTopic("a*b", 1, 1), kerr.InvalidTopicException,
			`Topic name "a*b" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
		{"collision", createTopic("a.b", 1, 1), kerr.InvalidTopicException, "Topic 'a.b' collides with existing topic: a_b"},
		{"exists", createTopic("orders", 1, 1), kerr.TopicAlreadyExists, "Topic 'orders' already exists."},
		{"zero partitions", createTopic("t", 0, 1), kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value."},
		{"negative partitions", createTopic("t", -2, 1), kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value."},
		{"zero factor", createTopic("t", 1, 0), kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value."},
		{"negative factor", createTopic("t", 1, -5), kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value."},
		{"factor above brokers", createTopic("t", 1, 4), kerr.InvalidReplicationFactor,
			"Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be reached because only 3 broker(s) are registered."},
		{"null config", nullConfig, kerr.InvalidConfig, "Null value not supported for topic configs: retention.ms,flush.ms"},
		{"unknown config", createTopic("t", 1, 1, "nope", "1"), kerr.InvalidConfig, "Unknown topic config name: nope"},
		{"bad config value", createTopic("t", 1, 1, "retention.ms", "soon"), kerr.InvalidConfig,
			"Invalid value soon for configuration retention.ms: Not a number of type LONG"},
		{"assignment with factor", withFactor, kerr.InvalidRequest,
			"A manual partition assignment was specified, but replication factor was not set to -1."},
		{"assignment with count", withCount, kerr.InvalidRequest,
			"A manual partition assignment was specified, but numPartitions was not set to -1."},
		{"assignment empty replicas", assigned("t", []int32{}), kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes an empty replica list."},
		{"assignment unknown broker", assigned("t", []int32{9, 1, 7}), kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes broker 7, but no such broker is registered."},
		{"assignment repeated broker", assigned("t", []int32{2, 1, 2}), kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes the broker 2 more than once."},
		{"assignment uneven factor", assigned("t", []int32{1, 2}, []int32{3}), kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 2 replica(s)."},
		{"assignment partition twice", twice, kerr.InvalidReplicaAssignment, "Found multiple manual partition assignments for partition 0"},
		{"assignment gap", gap, kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence"},
	}
	img := fixtureImage(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records, resp, _ := planCreateTopics(img, createRequest(tt.topic), testConfig())
			if len(resp.Topics) != 1 {
				t.Fatalf("%d results, want 1", len(resp.Topics))
			}
			got := resp.Topics[0]
			wantError(t, tt.name, got.ErrorCode, got.ErrorMessage, tt.code, tt.message)
			if len(records) != 0 || got.TopicID != ([16]byte{}) || got.NumPartitions != -1 || got.ReplicationFactor != -1 {
				t.Fatalf("rejected topic produced records or details: %d records, %+v", len(records), got)
			}
		})
	}
}

func TestPlanCreateTopicsDefaultsAndRecords(t *testing.T) {
	img := fixtureImage(t)
	cfg := testConfig()
	req := createRequest(createTopic("events", -1, -1, "cleanup.policy", "compact", "retention.ms", "5"), createTopic("wide", 3, 3))
	records, resp, _ := planCreateTopics(img, req, cfg)

	events, wide := resp.Topics[0], resp.Topics[1]
	wantError(t, "events", events.ErrorCode, events.ErrorMessage, nil, "")
	if events.TopicID != ([16]byte{0x10, 0xee}) || events.NumPartitions != 2 || events.ReplicationFactor != 1 {
		t.Fatalf("events result = %+v, want num.partitions=2 default.replication.factor=1", events)
	}
	if len(events.Configs) != 2 || events.Configs[0].Name != "cleanup.policy" || *events.Configs[1].Value != "5" {
		t.Fatalf("events configs = %+v", events.Configs)
	}
	if wide.NumPartitions != 3 || wide.ReplicationFactor != 3 || wide.TopicID == events.TopicID {
		t.Fatalf("wide result = %+v", wide)
	}

	next := mustApply(t, img, records)
	topic := next.TopicByName("events")
	if topic == nil || topic.ID != events.TopicID || len(topic.Partitions) != 2 || topic.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("image after replay: %+v", topic)
	}
	p := next.TopicByName("wide").Partitions
	if !reflect.DeepEqual(p[0].Replicas, []int32{1, 2, 3}) || !reflect.DeepEqual(p[1].Replicas, []int32{2, 3, 1}) ||
		p[1].Leader != 2 || !reflect.DeepEqual(p[2].ISR, []int32{3, 1, 2}) || p[2].LeaderEpoch != 0 {
		t.Fatalf("placement = %+v", p)
	}
	if _, ok := records[0].(*metadata.TopicRecord); !ok {
		t.Fatalf("first record is %T, want the TopicRecord", records[0])
	}
}

func TestPlanCreateTopicsManualAssignment(t *testing.T) {
	img := fixtureImage(t)
	records, resp, _ := planCreateTopics(img, createRequest(assigned("manual", []int32{3, 1}, []int32{2, 3})), testConfig())
	wantError(t, "manual", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, nil, "")
	next := mustApply(t, img, records)
	p := next.TopicByName("manual").Partitions
	if len(p) != 2 || p[0].Leader != 3 || !reflect.DeepEqual(p[1].Replicas, []int32{2, 3}) {
		t.Fatalf("partitions = %+v", p)
	}
}

func TestPlanCreateTopicsRequestLevelRules(t *testing.T) {
	img := fixtureImage(t)
	req := createRequest(createTopic("dup", 1, 1), createTopic("ok", 1, 1), createTopic("dup", 1, 1),
		createTopic(metadata.ClusterMetadataTopic, 1, 1), createTopic(metadata.GroupMetadataTopic, 1, 1))
	records, resp, _ := planCreateTopics(img, req, testConfig())
	got := map[string]kmsg.CreateTopicsResponseTopic{}
	var order []string
	for _, r := range resp.Topics {
		got[r.Topic] = r
		order = append(order, r.Topic)
	}
	want := []string{"ok", metadata.GroupMetadataTopic, "dup", metadata.ClusterMetadataTopic}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("result order %v, want %v (refusals after the controller's results, as Kafka)", order, want)
	}
	wantError(t, "dup", got["dup"].ErrorCode, got["dup"].ErrorMessage, kerr.InvalidRequest, "Duplicate topic name.")
	wantError(t, "metadata", got[metadata.ClusterMetadataTopic].ErrorCode, got[metadata.ClusterMetadataTopic].ErrorMessage,
		kerr.TopicAuthorizationFailed, "Authorization failed.")
	wantError(t, "offsets", got[metadata.GroupMetadataTopic].ErrorCode, got[metadata.GroupMetadataTopic].ErrorMessage, nil, "")
	if next := mustApply(t, img, records); next.TopicByName("dup") != nil || next.TopicByName("ok") == nil {
		t.Fatalf("duplicates must create nothing")
	}
}

// Kafka refuses more than 10000 partitions per CreateTopics before
// allocating anything, failing every topic.
func TestPlanCreateTopicsPartitionLimit(t *testing.T) {
	img := fixtureImage(t)
	records, resp, _ := planCreateTopics(img, createRequest(createTopic("huge", 2_000_000_000, 1), createTopic("small", 1, 1)), testConfig())
	if len(records) != 0 || len(resp.Topics) != 2 {
		t.Fatalf("%d records, %d results", len(records), len(resp.Topics))
	}
	for _, r := range resp.Topics {
		wantError(t, r.Topic, r.ErrorCode, r.ErrorMessage, kerr.PolicyViolation, "Excessively large number of partitions per request.")
	}
	_, resp, _ = planCreateTopics(img, createRequest(createTopic("edge", 10_000, 1)), testConfig())
	wantError(t, "edge", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.PolicyViolation, "Unable to perform excessively large batch operation.")
}

func TestPlanCreateTopicsValidateOnly(t *testing.T) {
	req := createRequest(createTopic("dry", 1, 1))
	req.ValidateOnly = true
	records, resp, _ := planCreateTopics(fixtureImage(t), req, testConfig())
	if len(records) != 0 {
		t.Fatalf("validate_only produced %d records", len(records))
	}
	if r := resp.Topics[0]; r.ErrorCode != 0 || r.NumPartitions != 1 || r.TopicID == ([16]byte{}) {
		t.Fatalf("validate_only result = %+v, want the would-be result", r)
	}
}

// Collisions within one request are refused too (a deliberate tightening of
// Kafka, which only checks existing topics).
func TestPlanCreateTopicsCollisionWithinRequest(t *testing.T) {
	_, resp, _ := planCreateTopics(fixtureImage(t), createRequest(createTopic("x.y", 1, 1), createTopic("x_y", 1, 1)), testConfig())
	wantError(t, "first", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, nil, "")
	wantError(t, "second", resp.Topics[1].ErrorCode, resp.Topics[1].ErrorMessage, kerr.InvalidTopicException, "Topic 'x_y' collides with existing topic: x.y")
}

func TestNewTopicIDSkipsUnusableAndTaken(t *testing.T) {
	img := fixtureImage(t)
	draws := [][16]byte{{}, {15: 1}, {0xf8}, ordersID, {0x42}, {0x42}, {0x43}}
	i := 0
	draw := func() [16]byte { i++; return draws[i-1] }
	taken := map[[16]byte]bool{}
	if got := newTopicID(img, taken, draw); got != ([16]byte{0x42}) {
		t.Fatalf("first ID = %x", got)
	}
	if got := newTopicID(img, taken, draw); got != ([16]byte{0x43}) {
		t.Fatalf("second ID = %x, want the repeat skipped", got)
	}
}
