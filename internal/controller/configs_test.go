package controller

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func incremental(name string, ops ...configOp) configResource {
	return configResource{typ: kmsg.ConfigResourceTypeTopic, name: name, ops: ops}
}

func set(key, value string) configOp {
	return configOp{key: key, op: kmsg.IncrementalAlterConfigOpSet, value: strPtr(value)}
}

func op(kind kmsg.IncrementalAlterConfigOp, key string, value *string) configOp {
	return configOp{key: key, op: kind, value: value}
}

func TestPlanAlterConfigsRejections(t *testing.T) {
	tests := []struct {
		name     string
		resource configResource
		code     *kerr.Error
		message  string
	}{
		{"unknown topic", incremental("missing", set("retention.ms", "1")), kerr.UnknownTopicOrPartition, "The topic 'missing' does not exist."},
		{"invalid config before existence", incremental("missing", set("retention.ms", "x")), kerr.InvalidConfig,
			"Invalid value x for configuration retention.ms: Not a number of type LONG"},
		{"unknown key", incremental("orders", set("nope", "1")), kerr.InvalidConfig, "Unknown topic config name: nope"},
		{"default topic resource", incremental("", set("retention.ms", "1")), kerr.InvalidRequest, "Default topic resources are not allowed."},
		{"invalid topic name", incremental("a b", set("retention.ms", "1")), kerr.InvalidTopicException,
			`Topic name "a b" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`},
		{"null set", incremental("orders", op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", nil), op(kmsg.IncrementalAlterConfigOpAppend, "cleanup.policy", nil)),
			kerr.InvalidRequest, "Null value not supported for : retention.ms, cleanup.policy"},
		{"append to non-list", incremental("orders", op(kmsg.IncrementalAlterConfigOpAppend, "retention.ms", strPtr("1"))), kerr.InvalidConfig,
			"Can't APPEND to key retention.ms because its type is not LIST."},
		{"subtract from non-list", incremental("orders", op(kmsg.IncrementalAlterConfigOpSubtract, "flush.ms", strPtr("1"))), kerr.InvalidConfig,
			"Can't SUBTRACT to key flush.ms because its type is not LIST."},
		{"unknown op", incremental("orders", op(7, "retention.ms", strPtr("1"))), kerr.InvalidRequest, "Unknown operation type 7"},
		{"broker resource", configResource{typ: kmsg.ConfigResourceTypeBroker, name: "1", ops: []configOp{set("x", "1")}}, kerr.InvalidRequest,
			"Altering BROKER configs is not supported."},
		{"unknown resource type", configResource{typ: 99, name: "x"}, kerr.InvalidRequest, "Unknown resource type 99"},
		{"legacy null value", configResource{typ: kmsg.ConfigResourceTypeTopic, name: "orders", replace: true,
			ops: []configOp{op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", nil)}}, kerr.InvalidRequest, "Null value not supported for : retention.ms"},
	}
	img := fixtureImage(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records, failures := planAlterConfigs(img, []configResource{tt.resource}, testConfig())
			wantError(t, tt.name, failures[0].errorCode(), failures[0].errorMessage(), tt.code, tt.message)
			if len(records) != 0 {
				t.Fatalf("rejected resource produced %d records", len(records))
			}
		})
	}
}

func TestPlanIncrementalAlterConfigs(t *testing.T) {
	img := fixtureImage(t)
	resources := []configResource{
		incremental("orders",
			op(kmsg.IncrementalAlterConfigOpDelete, "retention.ms", nil),
			op(kmsg.IncrementalAlterConfigOpAppend, "cleanup.policy", strPtr("compact")),
			set("flush.ms", "10")),
		incremental("a_b", op(kmsg.IncrementalAlterConfigOpDelete, "flush.ms", nil)),
	}
	records, failures := planAlterConfigs(img, resources, testConfig())
	for i, f := range failures {
		wantError(t, resources[i].name, f.errorCode(), f.errorMessage(), nil, "")
	}
	if len(records) != 3 {
		t.Fatalf("%d records, want 3 (the no-op delete on a_b writes nothing)", len(records))
	}
	next := mustApply(t, img, records)
	configs := next.TopicByName("orders").Configs
	if _, ok := configs["retention.ms"]; ok || configs["cleanup.policy"] != "delete,compact" || configs["flush.ms"] != "10" {
		t.Fatalf("orders configs = %v", configs)
	}

	subtract := incremental("orders", op(kmsg.IncrementalAlterConfigOpSubtract, "cleanup.policy", strPtr("delete")))
	records, failures = planAlterConfigs(next, []configResource{subtract}, testConfig())
	if failures[0] != nil {
		t.Fatalf("subtract: %v", failures[0].err())
	}
	if got := mustApply(t, next, records).TopicByName("orders").Configs["cleanup.policy"]; got != "compact" {
		t.Fatalf("after SUBTRACT cleanup.policy = %q", got)
	}
}

// Legacy AlterConfigs replaces the whole set: keys not named lose their
// override.
func TestPlanLegacyAlterConfigsReplaces(t *testing.T) {
	img := fixtureImage(t)
	resource := configResource{typ: kmsg.ConfigResourceTypeTopic, name: "orders", replace: true, ops: []configOp{set("flush.ms", "7")}}
	records, failures := planAlterConfigs(img, []configResource{resource}, testConfig())
	if failures[0] != nil {
		t.Fatalf("legacy alter: %v", failures[0].err())
	}
	configs := mustApply(t, img, records).TopicByName("orders").Configs
	if len(configs) != 1 || configs["flush.ms"] != "7" {
		t.Fatalf("configs after replace = %v, want only flush.ms", configs)
	}
}

func TestPlanAlterConfigsDuplicateResources(t *testing.T) {
	img := fixtureImage(t)
	resources := []configResource{
		incremental("orders", set("flush.ms", "1")),
		incremental("a_b", set("flush.ms", "2")),
		incremental("orders", set("flush.ms", "3")),
	}
	records, failures := planAlterConfigs(img, resources, testConfig())
	for _, i := range []int{0, 2} {
		wantError(t, "dup", failures[i].errorCode(), failures[i].errorMessage(), kerr.InvalidRequest, "Each resource must appear at most once.")
	}
	if failures[1] != nil || len(records) != 1 {
		t.Fatalf("a_b: %v, %d records", failures[1].err(), len(records))
	}
}

func TestAlterConfigsResponses(t *testing.T) {
	c, q := newTestController(t, fixtureImage(t))
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	resource := kmsg.NewIncrementalAlterConfigsRequestResource()
	resource.ResourceType = kmsg.ConfigResourceTypeTopic
	resource.ResourceName = "orders"
	entry := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	entry.Name, entry.Op, entry.Value = "flush.ms", kmsg.IncrementalAlterConfigOpSet, strPtr("9")
	resource.Configs = append(resource.Configs, entry)
	req.Resources = append(req.Resources, resource)

	req.ValidateOnly = true
	resp := c.IncrementalAlterConfigs(t.Context(), req)
	if resp.Resources[0].ErrorCode != 0 || q.proposals != 0 || q.Image().TopicByName("orders").Configs["flush.ms"] != "" {
		t.Fatalf("validate_only wrote or failed: %+v, %d proposals", resp.Resources[0], q.proposals)
	}
	req.ValidateOnly = false
	resp = c.IncrementalAlterConfigs(t.Context(), req)
	if r := resp.Resources[0]; r.ErrorCode != 0 || r.ResourceName != "orders" || r.ResourceType != kmsg.ConfigResourceTypeTopic {
		t.Fatalf("result = %+v", r)
	}
	if q.Image().TopicByName("orders").Configs["flush.ms"] != "9" {
		t.Fatalf("config not applied")
	}

	legacy := kmsg.NewPtrAlterConfigsRequest()
	lr := kmsg.NewAlterConfigsRequestResource()
	lr.ResourceType = kmsg.ConfigResourceTypeTopic
	lr.ResourceName = "orders"
	legacy.Resources = append(legacy.Resources, lr)
	if r := c.AlterConfigs(t.Context(), legacy).Resources[0]; r.ErrorCode != 0 {
		t.Fatalf("legacy result = %+v", r)
	}
	if configs := q.Image().TopicByName("orders").Configs; len(configs) != 0 {
		t.Fatalf("legacy AlterConfigs with no entries left %v", configs)
	}
}
