package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// CreateTopics handles CreateTopics v0-v7: -1 partitions or replication
// factor take the broker defaults (KIP-464), v5+ responses describe the
// resulting configs (KIP-525), v7+ carry topic IDs (KIP-516). The response's
// version follows the request's; kmsg encodes only the fields that version
// has. validate_only answers the same as a real creation and writes nothing.
//
// Errors are per topic, as Kafka's ControllerApis.createTopics and
// ReplicationControlManager.createTopics give them (see planCreateTopics).
func (c *Controller) CreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	if req.ValidateOnly {
		_, resp, refused := planCreateTopics(c.quorum.Image(), req, &c.cfg)
		c.cfg.countCapRefusals(refused)
		return resp
	}
	var resp *kmsg.CreateTopicsResponse
	var refused int
	code := c.write(ctx, func(img *metadata.Image) []metadata.Record {
		records, planned, n := planCreateTopics(img, req, &c.cfg)
		resp, refused = planned, n
		return records
	})
	if code != nil {
		return createTopicsErrorResponse(req, defaultAPIError(code))
	}
	c.cfg.countCapRefusals(refused)
	return resp
}

// AutoCreateTopic creates name with num.partitions and
// default.replication.factor, as Metadata and Produce do for an unknown
// topic when auto.create.topics.enable is on. A topic that already exists
// (perhaps created concurrently) is success. Other failures return the
// kerr error with Kafka's message.
func (c *Controller) AutoCreateTopic(ctx context.Context, name string) error {
	return c.createOne(ctx, name, -1, -1, nil)
}

// CreateInternalTopic creates an internal topic such as __consumer_offsets
// with its own layout and configs (offsets.topic.num.partitions,
// cleanup.policy=compact, ...), as Kafka's AutoTopicCreationManager does
// on first use. A topic that already exists is success.
func (c *Controller) CreateInternalTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string) error {
	return c.createOne(ctx, name, partitions, replicationFactor, configs)
}

// createOne creates a single topic, treating TOPIC_ALREADY_EXISTS as success.
func (c *Controller) createOne(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = req.MaxVersion()
	topic := kmsg.NewCreateTopicsRequestTopic()
	topic.Topic = name
	topic.NumPartitions = partitions
	topic.ReplicationFactor = replicationFactor
	for _, key := range slices.Sorted(maps.Keys(configs)) {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = key, kmsg.StringPtr(configs[key])
		topic.Configs = append(topic.Configs, cfg)
	}
	req.Topics = append(req.Topics, topic)
	resp := c.CreateTopics(ctx, req)
	result := resp.Topics[0]
	if result.ErrorCode == 0 || result.ErrorCode == kerr.TopicAlreadyExists.Code {
		return nil
	}
	failure := &apiError{code: kerr.TypedErrorForCode(result.ErrorCode), message: result.ErrorMessage}
	return fmt.Errorf("create topic %q: %w", name, failure.err())
}

// planCreateTopics is the pure core of CreateTopics: the records to commit
// (none when validate_only or nothing succeeded), the response, and how
// many topics sluice.max.partitions refused.
//
// The order of checks is Kafka's: names given twice get INVALID_REQUEST
// "Duplicate topic name." and __cluster_metadata gets
// TOPIC_AUTHORIZATION_FAILED (both listed after the other topics, as
// ControllerApis does); more than 10000 partitions in all fails every topic
// with POLICY_VIOLATION; then per topic the name (INVALID_TOPIC_EXCEPTION,
// including a '.'/'_' collision), existence (TOPIC_ALREADY_EXISTS), configs
// (INVALID_CONFIG), and the partition layout (INVALID_REQUEST,
// INVALID_REPLICA_ASSIGNMENT, INVALID_REPLICATION_FACTOR,
// INVALID_PARTITIONS), and last, where Kafka runs its CreateTopicPolicy,
// Sluice's partition cap (Config.MaxPartitions: POLICY_VIOLATION naming
// sluice.max.partitions, the broker and the numbers). The cap is checked
// per topic, as Kafka reports a policy violation per topic, with the
// topics of the request counted cumulatively in request order: a refused
// topic writes no record and the others are created as usual, so a
// request that fits in part creates the topics that fit.
//
// One deliberate difference: Kafka checks name collisions only against
// existing topics, so "a.b" and "a_b" in one request would both be created;
// here the later one is refused, which is what the check is for.
func planCreateTopics(img *metadata.Image, req *kmsg.CreateTopicsRequest, cfg *Config) ([]metadata.Record, *kmsg.CreateTopicsResponse, int) {
	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		names[i] = t.Topic
	}
	dups := duplicates(names)
	var effective []kmsg.CreateTopicsRequestTopic
	for _, t := range req.Topics {
		if !dups[t.Topic] && t.Topic != metadata.ClusterMetadataTopic {
			effective = append(effective, t)
		}
	}
	if requestedPartitions(effective, cfg.NumPartitions) > maxPartitionsPerCreate {
		return nil, createTopicsErrorResponse(req, newAPIError(kerr.PolicyViolation, excessivePartitionsMessage)), 0
	}

	plan := createPlan{img: img, cfg: cfg, takenIDs: make(map[[16]byte]bool), created: make(map[string]bool),
		cap: newPartitionCap(img, cfg.MaxPartitions)}
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, t := range effective {
		resp.Topics = append(resp.Topics, plan.createTopic(t))
	}
	resp.Topics = append(resp.Topics, refusedTopicResults(names, dups)...)
	if len(plan.records) > maxRecordsPerOperation {
		return nil, createTopicsErrorResponse(req, newAPIError(kerr.PolicyViolation, excessiveBatchMessage)), 0
	}
	if req.ValidateOnly {
		return nil, resp, plan.cap.refused
	}
	return plan.records, resp, plan.cap.refused
}

// requestedPartitions is Kafka's validateTotalNumberOfPartitions count: an
// upper bound on the partitions the topics would create.
func requestedPartitions(topics []kmsg.CreateTopicsRequestTopic, defaultPartitions int32) int64 {
	var total int64
	for _, t := range topics {
		switch {
		case len(t.ReplicaAssignment) > 0:
			total += int64(len(t.ReplicaAssignment))
		case t.NumPartitions == -1:
			total += int64(defaultPartitions)
		case t.NumPartitions > 0:
			total += int64(t.NumPartitions)
		}
	}
	return total
}

// refusedTopicResults are the results ControllerApis appends after the
// controller's: duplicated names, then the cluster metadata topic.
func refusedTopicResults(names []string, dups map[string]bool) []kmsg.CreateTopicsResponseTopic {
	var results []kmsg.CreateTopicsResponseTopic
	reported := make(map[string]bool)
	for _, name := range names {
		if dups[name] && !reported[name] {
			reported[name] = true
			results = append(results, createTopicError(name, newAPIError(kerr.InvalidRequest, "Duplicate topic name.")))
		}
	}
	if slices.Contains(names, metadata.ClusterMetadataTopic) && !dups[metadata.ClusterMetadataTopic] {
		results = append(results, createTopicError(metadata.ClusterMetadataTopic,
			newAPIError(kerr.TopicAuthorizationFailed, "Authorization failed.")))
	}
	return results
}

// createTopicsErrorResponse fails every topic of the request with the same
// error, as Kafka's CreateTopicsRequest.getErrorResponse does.
func createTopicsErrorResponse(req *kmsg.CreateTopicsRequest, failure *apiError) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, t := range req.Topics {
		resp.Topics = append(resp.Topics, createTopicError(t.Topic, failure))
	}
	return resp
}

func createTopicError(name string, failure *apiError) kmsg.CreateTopicsResponseTopic {
	result := kmsg.NewCreateTopicsResponseTopic()
	result.Topic = name
	result.ErrorCode = failure.errorCode()
	result.ErrorMessage = failure.errorMessage()
	return result
}

// createPlan accumulates the records of one CreateTopics.
type createPlan struct {
	img      *metadata.Image
	cfg      *Config
	records  []metadata.Record
	takenIDs map[[16]byte]bool
	created  map[string]bool
	// cap counts the replicas the request has placed so far.
	cap *partitionCap
}

func (p *createPlan) createTopic(t kmsg.CreateTopicsRequestTopic) kmsg.CreateTopicsResponseTopic {
	if failure := p.checkName(t.Topic); failure != nil {
		return createTopicError(t.Topic, failure)
	}
	configs, failure := p.checkConfigs(t.Configs)
	if failure != nil {
		return createTopicError(t.Topic, failure)
	}
	partitions, failure := p.layout(t)
	if failure != nil {
		return createTopicError(t.Topic, failure)
	}
	if failure := p.cap.admit(capCreating, replicasPerBroker(partitions)); failure != nil {
		return createTopicError(t.Topic, failure)
	}
	id := newTopicID(p.img, p.takenIDs, p.cfg.NewTopicID)
	p.created[t.Topic] = true
	p.records = append(p.records, &metadata.TopicRecord{Name: t.Topic, ID: id})
	for _, key := range slices.Sorted(maps.Keys(configs)) {
		value := configs[key]
		p.records = append(p.records, &metadata.ConfigRecord{
			ResourceType: metadata.ConfigResourceTopic, ResourceName: t.Topic, Key: key, Value: &value,
		})
	}
	for _, partition := range partitions {
		p.records = append(p.records, &metadata.PartitionRecord{TopicID: id, Partition: partition})
	}
	result := kmsg.NewCreateTopicsResponseTopic()
	result.Topic = t.Topic
	result.TopicID = id
	result.NumPartitions = int32(len(partitions))
	result.ReplicationFactor = int16(len(partitions[0].Replicas))
	result.Configs = p.cfg.TopicConfigs.Describe(configs)
	return result
}

// checkName applies Kafka's name rules, then the collision and existence
// checks, each overriding the previous (Kafka records them in that order).
func (p *createPlan) checkName(name string) *apiError {
	var failure *apiError
	if err := metadata.ValidateTopicName(name); err != nil {
		failure = newAPIError(kerr.InvalidTopicException, "%s", err.Error())
	}
	if colliding := p.collision(name); colliding != "" {
		failure = newAPIError(kerr.InvalidTopicException, "Topic '%s' collides with existing topic: %s", name, colliding)
	}
	if p.img.TopicByName(name) != nil {
		failure = newAPIError(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
	}
	return failure
}

func (p *createPlan) collision(name string) string {
	if colliding := p.img.CollidingTopic(name); colliding != "" {
		return colliding
	}
	for created := range p.created {
		if created != name && metadata.TopicNamesCollide(created, name) {
			return created
		}
	}
	return ""
}

// checkConfigs returns the requested overrides (the last value of a key
// wins, as in Kafka's map) after refusing null values and validating each.
func (p *createPlan) checkConfigs(requested []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, *apiError) {
	var nulls []string
	configs := make(map[string]string, len(requested))
	for _, c := range requested {
		if c.Value == nil {
			nulls = append(nulls, c.Name)
			continue
		}
		configs[c.Name] = *c.Value
	}
	if len(nulls) > 0 {
		return nil, newAPIError(kerr.InvalidConfig, "Null value not supported for topic configs: %s", strings.Join(nulls, ","))
	}
	for _, c := range requested {
		value := configs[c.Name]
		if err := p.cfg.TopicConfigs.Validate(c.Name, &value); err != nil {
			return nil, newAPIError(kerr.InvalidConfig, "%s", err.Error())
		}
	}
	return configs, nil
}

// layout decides the partitions: the explicit assignment if there is one,
// else placement of the requested (or default) count and factor.
func (p *createPlan) layout(t kmsg.CreateTopicsRequestTopic) ([]metadata.Partition, *apiError) {
	if len(t.ReplicaAssignment) > 0 {
		return p.manualLayout(t)
	}
	switch {
	case t.ReplicationFactor < -1 || t.ReplicationFactor == 0:
		return nil, newAPIError(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	case t.NumPartitions < -1 || t.NumPartitions == 0:
		return nil, newAPIError(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	count := t.NumPartitions
	if count == -1 {
		count = p.cfg.NumPartitions
	}
	factor := t.ReplicationFactor
	if factor == -1 {
		factor = p.cfg.DefaultReplicationFactor
	}
	assignments, failure := placeReplicas(p.img, count, factor, p.cfg.Rand)
	if failure != nil {
		return nil, failure
	}
	partitions := make([]metadata.Partition, count)
	for i, replicas := range assignments {
		partitions[i] = newPartition(int32(i), replicas)
	}
	return partitions, nil
}

func (p *createPlan) manualLayout(t kmsg.CreateTopicsRequestTopic) ([]metadata.Partition, *apiError) {
	if t.ReplicationFactor != -1 {
		return nil, newAPIError(kerr.InvalidRequest, "A manual partition assignment was specified, but replication factor was not set to -1.")
	}
	if t.NumPartitions != -1 {
		return nil, newAPIError(kerr.InvalidRequest, "A manual partition assignment was specified, but numPartitions was not set to -1.")
	}
	byIndex := make(map[int32][]int32, len(t.ReplicaAssignment))
	factor := -1
	for _, a := range t.ReplicaAssignment {
		if _, ok := byIndex[a.Partition]; ok {
			return nil, newAPIError(kerr.InvalidReplicaAssignment, "Found multiple manual partition assignments for partition %d", a.Partition)
		}
		if failure := validateManualAssignment(p.img, a.Replicas, factor); failure != nil {
			return nil, failure
		}
		factor = len(a.Replicas)
		byIndex[a.Partition] = slices.Clone(a.Replicas)
	}
	partitions := make([]metadata.Partition, len(byIndex))
	for i := range partitions {
		replicas, ok := byIndex[int32(i)]
		if !ok {
			return nil, newAPIError(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
		}
		partition, failure := newManualPartition(p.img, int32(i), replicas)
		if failure != nil {
			return nil, failure
		}
		partitions[i] = partition
	}
	return partitions, nil
}
