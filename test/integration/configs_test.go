package integration

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
)

// describeConfigs describes one resource at the latest version with
// synonyms and documentation.
func describeConfigs(t *testing.T, b *testcluster.Broker, resourceType kmsg.ConfigResourceType, name string, keys ...string) kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = resourceType, name
	if keys != nil {
		rr.ConfigNames = keys
	}
	req.Resources = []kmsg.DescribeConfigsRequestResource{rr}
	resp := request[*kmsg.DescribeConfigsResponse](t, b, req)
	if len(resp.Resources) != 1 {
		t.Fatalf("DescribeConfigs: %d resources, want 1", len(resp.Resources))
	}
	return resp.Resources[0]
}

// describeTopicConfigs maps a topic's described configs by name.
func describeTopicConfigs(t *testing.T, b *testcluster.Broker, topic string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	res := describeConfigs(t, b, kmsg.ConfigResourceTypeTopic, topic)
	wantCode(t, "describe "+topic, res.ErrorCode, nil)
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range res.Configs {
		out[c.Name] = c
	}
	return out
}

// topicConfig is one described topic config's value and source.
func topicConfig(t *testing.T, b *testcluster.Broker, topic, name string) (string, kmsg.ConfigSource) {
	t.Helper()
	c, ok := describeTopicConfigs(t, b, topic)[name]
	if !ok {
		t.Fatalf("%s: config %s not described", topic, name)
	}
	if c.Value == nil {
		return "", c.Source
	}
	return *c.Value, c.Source
}

// DescribeConfigs on a topic lists every topic config with Kafka's names:
// defaults as DEFAULT_CONFIG, overrides as DYNAMIC_TOPIC_CONFIG with their
// broker-level synonyms after them (KIP-226), types and documentation
// (v3+, KIP-569); a list of names filters.
func TestDescribeTopicConfigs(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "described", 1, map[string]*string{"retention.ms": kmsg.StringPtr("3600000")})
	configs := describeTopicConfigs(t, b, "described")
	for _, name := range []string{"cleanup.policy", "compression.type", "max.message.bytes", "min.insync.replicas", "retention.bytes", "segment.bytes", "message.timestamp.type"} {
		if _, ok := configs[name]; !ok {
			t.Errorf("topic config %s not described", name)
		}
	}
	maxMessage := configs["max.message.bytes"]
	if maxMessage.Value == nil || *maxMessage.Value != "1048588" || maxMessage.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("max.message.bytes: %+v, want 1048588 from DEFAULT_CONFIG", maxMessage)
	}
	retention := configs["retention.ms"]
	if retention.Value == nil || *retention.Value != "3600000" || retention.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms: %+v, want 3600000 from DYNAMIC_TOPIC_CONFIG", retention)
	}
	if len(retention.ConfigSynonyms) < 2 || retention.ConfigSynonyms[0].Name != "retention.ms" ||
		retention.ConfigSynonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms synonyms %+v: want the override first, then broker settings", retention.ConfigSynonyms)
	}
	brokerSynonym := false
	for _, s := range retention.ConfigSynonyms[1:] {
		brokerSynonym = brokerSynonym || strings.HasPrefix(s.Name, "log.retention.")
	}
	if !brokerSynonym {
		t.Errorf("retention.ms synonyms %+v lack the broker's log.retention.* setting", retention.ConfigSynonyms)
	}
	if retention.Documentation == nil || *retention.Documentation == "" {
		t.Errorf("retention.ms has no documentation")
	}
	if retention.ConfigType != kmsg.ConfigTypeLong || configs["cleanup.policy"].ConfigType != kmsg.ConfigTypeList {
		t.Errorf("types: retention.ms %v, cleanup.policy %v; want LONG, LIST", retention.ConfigType, configs["cleanup.policy"].ConfigType)
	}

	filtered := describeConfigs(t, b, kmsg.ConfigResourceTypeTopic, "described", "retention.ms", "segment.bytes")
	if len(filtered.Configs) != 2 {
		t.Errorf("filtered describe: %d configs, want 2", len(filtered.Configs))
	}
	missing := describeConfigs(t, b, kmsg.ConfigResourceTypeTopic, "missing")
	wantCode(t, "describe unknown topic", missing.ErrorCode, kerr.UnknownTopicOrPartition)
}

// DescribeConfigs v0 has no source field: is_default marks defaults.
func TestDescribeConfigsV0(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "old-describe", 1, map[string]*string{"retention.ms": kmsg.StringPtr("7200000")})
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 0
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, "old-describe", []string{"retention.ms", "segment.bytes"}
	req.Resources = []kmsg.DescribeConfigsRequestResource{rr}
	resp := dialWire(t, b).roundTrip(req).(*kmsg.DescribeConfigsResponse)
	for _, c := range resp.Resources[0].Configs {
		if wantDefault := c.Name == "segment.bytes"; c.IsDefault != wantDefault {
			t.Errorf("v0 %s: is_default %v, want %v", c.Name, c.IsDefault, wantDefault)
		}
	}
}

// DescribeConfigs on this broker lists broker configs with Kafka's names
// and defaults; another broker's ID is INVALID_REQUEST.
func TestDescribeBrokerConfigs(t *testing.T) {
	b := startBroker(t)
	node := strconv.Itoa(int(b.Config().NodeID))
	res := describeConfigs(t, b, kmsg.ConfigResourceTypeBroker, node)
	wantCode(t, "describe broker", res.ErrorCode, nil)
	got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range res.Configs {
		got[c.Name] = c
	}
	for name, want := range map[string]string{
		"message.max.bytes":         "1048588",
		"num.partitions":            "1",
		"auto.create.topics.enable": "true",
		"log.retention.hours":       "168",
	} {
		c, ok := got[name]
		if !ok || c.Value == nil || *c.Value != want {
			t.Errorf("broker config %s: %+v (present %v), want %s", name, c, ok, want)
			continue
		}
		if c.Documentation == nil || *c.Documentation == "" {
			t.Errorf("broker config %s has no documentation", name)
		}
	}
	wantCode(t, "describe another broker", describeConfigs(t, b, kmsg.ConfigResourceTypeBroker, "99").ErrorCode, kerr.InvalidRequest)

	// kadm's broker view agrees.
	described, err := b.Admin().DescribeBrokerConfigs(testContext(t), b.Config().NodeID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := described.On(node, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("kadm broker configs: %v / %v", err, rc.Err)
	}
}

// incrementalAlter sends one IncrementalAlterConfigs for a topic.
func incrementalAlter(t *testing.T, b *testcluster.Broker, topic string, validateOnly bool, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = kmsg.ConfigResourceTypeTopic, topic, ops
	req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{rr}
	resp := request[*kmsg.IncrementalAlterConfigsResponse](t, b, req)
	if len(resp.Resources) != 1 {
		t.Fatalf("IncrementalAlterConfigs: %d resources", len(resp.Resources))
	}
	return resp.Resources[0]
}

// op builds one IncrementalAlterConfigs operation; value "" with DELETE
// sends null.
func op(operation kmsg.IncrementalAlterConfigOp, name, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op = name, operation
	if operation != kmsg.IncrementalAlterConfigOpDelete {
		c.Value = kmsg.StringPtr(value)
	}
	return c
}

// IncrementalAlterConfigs (KIP-339): SET and DELETE single keys, APPEND and
// SUBTRACT list items (starting from the default when not overridden),
// validate_only changes nothing; APPEND on a non-list, bad values and
// unknown names are INVALID_CONFIG, duplicate keys INVALID_REQUEST.
func TestIncrementalAlterConfigs(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "incremental", 1, nil)
	check := func(name, wantValue string, wantSource kmsg.ConfigSource) {
		t.Helper()
		value, source := topicConfig(t, b, "incremental", name)
		if value != wantValue || source != wantSource {
			t.Errorf("%s = %q from %v, want %q from %v", name, value, source, wantValue, wantSource)
		}
	}
	set := op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", "5000")

	wantCode(t, "validate_only SET", incrementalAlter(t, b, "incremental", true, set).ErrorCode, nil)
	check("retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantCode(t, "SET", incrementalAlter(t, b, "incremental", false, set).ErrorCode, nil)
	check("retention.ms", "5000", kmsg.ConfigSourceDynamicTopicConfig)
	wantCode(t, "DELETE", incrementalAlter(t, b, "incremental", false, op(kmsg.IncrementalAlterConfigOpDelete, "retention.ms", "")).ErrorCode, nil)
	check("retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	appendOp := op(kmsg.IncrementalAlterConfigOpAppend, "cleanup.policy", "compact")
	wantCode(t, "APPEND", incrementalAlter(t, b, "incremental", false, appendOp).ErrorCode, nil)
	check("cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)
	wantCode(t, "APPEND again", incrementalAlter(t, b, "incremental", false, appendOp).ErrorCode, nil)
	check("cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)
	wantCode(t, "SUBTRACT", incrementalAlter(t, b, "incremental", false, op(kmsg.IncrementalAlterConfigOpSubtract, "cleanup.policy", "delete")).ErrorCode, nil)
	check("cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)

	throttled := "follower.replication.throttled.replicas"
	wantCode(t, "APPEND 0:1", incrementalAlter(t, b, "incremental", false, op(kmsg.IncrementalAlterConfigOpAppend, throttled, "0:1")).ErrorCode, nil)
	wantCode(t, "APPEND 1:1", incrementalAlter(t, b, "incremental", false, op(kmsg.IncrementalAlterConfigOpAppend, throttled, "1:1")).ErrorCode, nil)
	check(throttled, "0:1,1:1", kmsg.ConfigSourceDynamicTopicConfig)
	wantCode(t, "SUBTRACT 0:1", incrementalAlter(t, b, "incremental", false, op(kmsg.IncrementalAlterConfigOpSubtract, throttled, "0:1")).ErrorCode, nil)
	check(throttled, "1:1", kmsg.ConfigSourceDynamicTopicConfig)

	refusals := []struct {
		name string
		ops  []kmsg.IncrementalAlterConfigsRequestResourceConfig
		want *kerr.Error
	}{
		{"APPEND to a non-list", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(kmsg.IncrementalAlterConfigOpAppend, "retention.ms", "1")}, kerr.InvalidConfig},
		{"bad value", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", "forever")}, kerr.InvalidConfig},
		{"bad enum value", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(kmsg.IncrementalAlterConfigOpSet, "compression.type", "brotli")}, kerr.InvalidConfig},
		{"unknown name", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(kmsg.IncrementalAlterConfigOpSet, "retention.msec", "1")}, kerr.InvalidConfig},
		{"duplicate key", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", "1"), op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", "2")}, kerr.InvalidRequest},
	}
	for _, r := range refusals {
		wantCode(t, r.name, incrementalAlter(t, b, "incremental", false, r.ops...).ErrorCode, r.want)
	}
	check("retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	check("compression.type", "producer", kmsg.ConfigSourceDefaultConfig)
	wantCode(t, "unknown topic", incrementalAlter(t, b, "missing", false, set).ErrorCode, kerr.UnknownTopicOrPartition)
}

// A config change takes effect on the next request: lowering
// max.message.bytes refuses a record the topic accepted before, and
// deleting the override accepts it again.
func TestAlteredConfigTakesEffect(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "effective", 1, nil)
	cl := newProducer(b, "effective", kgo.ProducerBatchCompression(kgo.NoCompression()))
	record := func() *kgo.Record { return &kgo.Record{Value: bytes.Repeat([]byte("e"), 2000)} }
	produce(t, cl, record())

	wantCode(t, "lower max.message.bytes", incrementalAlter(t, b, "effective", false, op(kmsg.IncrementalAlterConfigOpSet, "max.message.bytes", "1000")).ErrorCode, nil)
	err := cl.ProduceSync(testContext(t), record()).FirstErr()
	wantErr(t, "2 KB record after lowering max.message.bytes to 1000", err, kerr.MessageTooLarge)

	wantCode(t, "delete max.message.bytes", incrementalAlter(t, b, "effective", false, op(kmsg.IncrementalAlterConfigOpDelete, "max.message.bytes", "")).ErrorCode, nil)
	produce(t, cl, record())

	// message.timestamp.type switches to the broker's clock for new records.
	wantCode(t, "LogAppendTime", incrementalAlter(t, b, "effective", false, op(kmsg.IncrementalAlterConfigOpSet, "message.timestamp.type", "LogAppendTime")).ErrorCode, nil)
	producerTime := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	produce(t, cl, &kgo.Record{Value: []byte("stamped"), Timestamp: producerTime})
	records := consume(t, b, "effective", 3)
	if last := records[2]; last.Attrs.TimestampType() != 1 || last.Timestamp.Equal(producerTime) {
		t.Errorf("after switching to LogAppendTime: timestamp %v type %d", last.Timestamp, last.Attrs.TimestampType())
	}
}

// AlterConfigs (the legacy API) replaces the whole set of overrides: keys
// left out return to their defaults; validate_only changes nothing; a bad
// value is INVALID_CONFIG and changes nothing.
func TestAlterConfigsReplacesOverrides(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "legacy", 1, map[string]*string{"retention.ms": kmsg.StringPtr("1000"), "cleanup.policy": kmsg.StringPtr("compact")})
	alter := func(validateOnly bool, pairs ...string) int16 {
		t.Helper()
		req := kmsg.NewPtrAlterConfigsRequest()
		req.ValidateOnly = validateOnly
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "legacy"
		for i := 0; i+1 < len(pairs); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = pairs[i], kmsg.StringPtr(pairs[i+1])
			rr.Configs = append(rr.Configs, c)
		}
		req.Resources = []kmsg.AlterConfigsRequestResource{rr}
		resp := request[*kmsg.AlterConfigsResponse](t, b, req)
		if len(resp.Resources) != 1 {
			t.Fatalf("AlterConfigs: %d resources in response, want 1", len(resp.Resources))
		}
		return resp.Resources[0].ErrorCode
	}

	wantCode(t, "validate_only", alter(true, "max.message.bytes", "5000"), nil)
	if _, source := topicConfig(t, b, "legacy", "max.message.bytes"); source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("validate_only changed max.message.bytes (source %v)", source)
	}
	wantCode(t, "bad value", alter(false, "max.message.bytes", "huge"), kerr.InvalidConfig)
	if value, _ := topicConfig(t, b, "legacy", "retention.ms"); value != "1000" {
		t.Errorf("refused AlterConfigs changed retention.ms to %s", value)
	}

	wantCode(t, "replace", alter(false, "max.message.bytes", "5000"), nil)
	for name, want := range map[string]kmsg.ConfigSource{
		"max.message.bytes": kmsg.ConfigSourceDynamicTopicConfig,
		"retention.ms":      kmsg.ConfigSourceDefaultConfig,
		"cleanup.policy":    kmsg.ConfigSourceDefaultConfig,
	} {
		if _, source := topicConfig(t, b, "legacy", name); source != want {
			t.Errorf("after AlterConfigs: %s source %v, want %v", name, source, want)
		}
	}

	// kadm's state-replacing helper goes through the same API.
	resps, err := b.Admin().AlterTopicConfigsState(testContext(t), []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("2000")}}, "legacy")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("kadm AlterTopicConfigsState: %v / %v", err, resps)
	}
	if value, _ := topicConfig(t, b, "legacy", "retention.ms"); value != "2000" {
		t.Errorf("kadm AlterTopicConfigsState: retention.ms %s, want 2000", value)
	}
}

// Overrides survive a broker restart: they live in the metadata log.
func TestConfigsSurviveRestart(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "persisted", 1, map[string]*string{"retention.ms": kmsg.StringPtr("86400000")})
	wantCode(t, "SET", incrementalAlter(t, b, "persisted", false, op(kmsg.IncrementalAlterConfigOpSet, "max.message.bytes", "4096")).ErrorCode, nil)
	b.Restart()
	for name, want := range map[string]string{"retention.ms": "86400000", "max.message.bytes": "4096"} {
		value, source := topicConfig(t, b, "persisted", name)
		if value != want || source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("after restart: %s = %s from %v, want %s from DYNAMIC_TOPIC_CONFIG", name, value, source, want)
		}
	}
}
