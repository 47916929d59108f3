package controller

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// configOp is one key of a config alteration, in IncrementalAlterConfigs
// terms (a legacy AlterConfigs entry is a SET).
type configOp struct {
	key   string
	op    kmsg.IncrementalAlterConfigOp
	value *string
}

// configResource is one resource of an AlterConfigs or
// IncrementalAlterConfigs request, reduced to what the plan needs.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
	ops  []configOp
	// replace is the legacy AlterConfigs semantics: keys the request does
	// not name lose their override.
	replace bool
}

// AlterConfigs handles the legacy AlterConfigs v0-v2 for topic resources:
// the request's configs replace the topic's overrides entirely. Results come
// in request order, one per resource.
func (c *Controller) AlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) *kmsg.AlterConfigsResponse {
	resources := make([]configResource, len(req.Resources))
	for i, r := range req.Resources {
		resources[i] = configResource{typ: r.ResourceType, name: r.ResourceName, replace: true}
		for _, entry := range r.Configs {
			resources[i].ops = append(resources[i].ops, configOp{key: entry.Name, op: kmsg.IncrementalAlterConfigOpSet, value: entry.Value})
		}
	}
	failures := c.alterConfigs(ctx, resources, req.ValidateOnly)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for i, r := range req.Resources {
		result := kmsg.NewAlterConfigsResponseResource()
		result.ResourceType = r.ResourceType
		result.ResourceName = r.ResourceName
		result.ErrorCode = failures[i].errorCode()
		result.ErrorMessage = failures[i].errorMessage()
		resp.Resources = append(resp.Resources, result)
	}
	return resp
}

// IncrementalAlterConfigs handles IncrementalAlterConfigs v0-v1 (KIP-339)
// for topic resources: SET, DELETE, and APPEND/SUBTRACT on list configs.
// Results come in request order, one per resource.
func (c *Controller) IncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resources := make([]configResource, len(req.Resources))
	for i, r := range req.Resources {
		resources[i] = configResource{typ: r.ResourceType, name: r.ResourceName}
		for _, entry := range r.Configs {
			resources[i].ops = append(resources[i].ops, configOp{key: entry.Name, op: entry.Op, value: entry.Value})
		}
	}
	failures := c.alterConfigs(ctx, resources, req.ValidateOnly)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for i, r := range req.Resources {
		result := kmsg.NewIncrementalAlterConfigsResponseResource()
		result.ResourceType = r.ResourceType
		result.ResourceName = r.ResourceName
		result.ErrorCode = failures[i].errorCode()
		result.ErrorMessage = failures[i].errorMessage()
		resp.Resources = append(resp.Resources, result)
	}
	return resp
}

func (c *Controller) alterConfigs(ctx context.Context, resources []configResource, validateOnly bool) []*apiError {
	if validateOnly {
		_, failures := planAlterConfigs(c.quorum.Image(), resources, &c.cfg)
		return failures
	}
	var failures []*apiError
	code := c.write(ctx, func(img *metadata.Image) []metadata.Record {
		records, planned := planAlterConfigs(img, resources, &c.cfg)
		failures = planned
		return records
	})
	if code != nil {
		failures = make([]*apiError, len(resources))
		for i := range failures {
			failures[i] = defaultAPIError(code)
		}
	}
	return failures
}

// planAlterConfigs is the pure core of both config APIs: records for the
// resources that pass, and each resource's error (nil for success).
//
// It follows Kafka's broker-side ConfigAdminManager.preprocess (a resource
// named twice: INVALID_REQUEST "Each resource must appear at most once." for
// both; a null value other than DELETE: INVALID_REQUEST; an unknown resource
// type: INVALID_REQUEST) and then the controller's
// ConfigurationControlManager with ControllerConfigurationValidator (the
// topic name, APPEND/SUBTRACT only on lists, each value through
// TopicConfigs.Validate, all INVALID_CONFIG; then an absent topic
// UNKNOWN_TOPIC_OR_PARTITION). Only TOPIC resources are stored; BROKER and
// BROKER_LOGGER resources are refused with INVALID_REQUEST until dynamic
// broker configs exist.
func planAlterConfigs(img *metadata.Image, resources []configResource, cfg *Config) ([]metadata.Record, []*apiError) {
	failures := make([]*apiError, len(resources))
	type resourceKey struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	seen := make(map[resourceKey]int)
	for i, r := range resources {
		key := resourceKey{r.typ, r.name}
		if first, ok := seen[key]; ok {
			failures[first] = newAPIError(kerr.InvalidRequest, "Each resource must appear at most once.")
			failures[i] = failures[first]
			continue
		}
		seen[key] = i
	}
	var records []metadata.Record
	for i, r := range resources {
		if failures[i] != nil {
			continue
		}
		resourceRecords, failure := planConfigResource(img, r, cfg)
		failures[i] = failure
		records = append(records, resourceRecords...)
	}
	if len(records) > maxRecordsPerOperation {
		for i := range failures {
			failures[i] = newAPIError(kerr.PolicyViolation, excessiveBatchMessage)
		}
		return nil, failures
	}
	return records, failures
}

func planConfigResource(img *metadata.Image, r configResource, cfg *Config) ([]metadata.Record, *apiError) {
	if failure := preprocessConfigResource(r); failure != nil {
		return nil, failure
	}
	if r.name == "" {
		return nil, newAPIError(kerr.InvalidRequest, "Default topic resources are not allowed.")
	}
	if err := metadata.ValidateTopicName(r.name); err != nil {
		return nil, newAPIError(kerr.InvalidTopicException, "%s", err.Error())
	}
	var current map[string]string
	topic := img.TopicByName(r.name)
	if topic != nil {
		current = topic.Configs
	}
	next, failure := applyConfigOps(current, r, cfg.TopicConfigs)
	if failure != nil {
		return nil, failure
	}
	for _, key := range slices.Sorted(maps.Keys(next)) {
		value := next[key]
		if err := cfg.TopicConfigs.Validate(key, &value); err != nil {
			return nil, newAPIError(kerr.InvalidConfig, "%s", err.Error())
		}
	}
	if topic == nil {
		return nil, newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", r.name)
	}
	return configRecords(r.name, current, next), nil
}

// preprocessConfigResource is the broker-side check of one resource:
// resource type and null values, in the order each API checks them.
func preprocessConfigResource(r configResource) *apiError {
	seen := make(map[string]bool, len(r.ops))
	for _, op := range r.ops {
		if seen[op.key] {
			// Kafka's ConfigAdminManager refuses a resource naming a key twice.
			return newAPIError(kerr.InvalidRequest, "Error due to duplicate config keys")
		}
		seen[op.key] = true
	}
	if !r.replace {
		if failure := nullValues(r, func(op configOp) bool { return op.op != kmsg.IncrementalAlterConfigOpDelete }); failure != nil {
			return failure
		}
	}
	switch r.typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		return newAPIError(kerr.InvalidRequest, "Altering %s configs is not supported.", r.typ)
	default:
		return newAPIError(kerr.InvalidRequest, "Unknown resource type %d", int8(r.typ))
	}
	if r.replace {
		return nullValues(r, func(configOp) bool { return true })
	}
	return nil
}

func nullValues(r configResource, counts func(configOp) bool) *apiError {
	var names []string
	for _, op := range r.ops {
		if op.value == nil && counts(op) {
			names = append(names, op.key)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return newAPIError(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(names, ", "))
}

// applyConfigOps computes the overrides after r (each key appears once:
// preprocessConfigResource refused duplicates).
func applyConfigOps(current map[string]string, r configResource, registry TopicConfigs) (map[string]string, *apiError) {
	last := make(map[string]configOp, len(r.ops))
	for _, op := range r.ops {
		last[op.key] = op
	}
	next := maps.Clone(current)
	if r.replace {
		next = make(map[string]string, len(last))
	}
	if next == nil {
		next = make(map[string]string)
	}
	for _, key := range slices.Sorted(maps.Keys(last)) {
		if failure := applyConfigOp(next, last[key], registry); failure != nil {
			return nil, failure
		}
	}
	return next, nil
}

func applyConfigOp(configs map[string]string, op configOp, registry TopicConfigs) *apiError {
	switch op.op {
	case kmsg.IncrementalAlterConfigOpSet:
		configs[op.key] = *op.value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(configs, op.key)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if !registry.IsList(op.key) {
			return newAPIError(kerr.InvalidConfig, "Can't %s to key %s because its type is not LIST.", op.op, op.key)
		}
		configs[op.key] = strings.Join(editList(configs, op, registry), ",")
	default:
		return newAPIError(kerr.InvalidRequest, "Unknown operation type %d", int8(op.op))
	}
	return nil
}

// editList applies APPEND (add the values not yet present) or SUBTRACT
// (remove the first occurrence of each value, like Java's List.remove) to the key's current list, which starts from the
// default when the topic has no override (Kafka's getParts).
func editList(configs map[string]string, op configOp, registry TopicConfigs) []string {
	value, ok := configs[op.key]
	if !ok {
		value, _ = registry.Default(op.key)
	}
	var parts []string
	for _, part := range strings.Split(value, ",") {
		if part != "" {
			parts = append(parts, part)
		}
	}
	for _, item := range strings.Split(*op.value, ",") {
		if op.op == kmsg.IncrementalAlterConfigOpAppend {
			if !slices.Contains(parts, item) {
				parts = append(parts, item)
			}
			continue
		}
		if at := slices.Index(parts, item); at >= 0 {
			parts = slices.Delete(parts, at, at+1)
		}
	}
	return parts
}

// configRecords are the ConfigRecords that turn current into next: one per
// key whose value changed, sets first then deletes, each in key order.
func configRecords(topic string, current, next map[string]string) []metadata.Record {
	var records []metadata.Record
	for _, key := range slices.Sorted(maps.Keys(next)) {
		if old, ok := current[key]; ok && old == next[key] {
			continue
		}
		value := next[key]
		records = append(records, &metadata.ConfigRecord{
			ResourceType: metadata.ConfigResourceTopic, ResourceName: topic, Key: key, Value: &value,
		})
	}
	for _, key := range slices.Sorted(maps.Keys(current)) {
		if _, ok := next[key]; !ok {
			records = append(records, &metadata.ConfigRecord{
				ResourceType: metadata.ConfigResourceTopic, ResourceName: topic, Key: key,
			})
		}
	}
	return records
}
