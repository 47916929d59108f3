package controller

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// maxRecordsPerOperation bounds the records one request may produce, and
// maxPartitionsPerCreate the partitions one CreateTopics may ask for: Kafka's
// QuorumController.MAX_RECORDS_PER_USER_OP and
// ReplicationControlManager.MAX_PARTITIONS_PER_BATCH. Both keep a single
// request from allocating without bound.
const (
	maxRecordsPerOperation = 10_000
	maxPartitionsPerCreate = 10_000
)

// Kafka's messages for requests that exceed those bounds, sent with
// POLICY_VIOLATION for every item of the request.
const (
	excessivePartitionsMessage = "Excessively large number of partitions per request."
	excessiveBatchMessage      = "Unable to perform excessively large batch operation."
)

// apiError is a Kafka error code with the message sent beside it. A nil
// *apiError is success.
type apiError struct {
	code    *kerr.Error
	message *string
}

// newAPIError pairs code with a formatted message.
func newAPIError(code *kerr.Error, format string, args ...any) *apiError {
	message := fmt.Sprintf(format, args...)
	return &apiError{code: code, message: &message}
}

// defaultAPIError is code with Kafka's default message for it (what Kafka's
// ApiError(Errors) constructor sends).
func defaultAPIError(code *kerr.Error) *apiError {
	message := code.Description
	return &apiError{code: code, message: &message}
}

// bareAPIError is code with a null message (Kafka exceptions thrown without
// a message).
func bareAPIError(code *kerr.Error) *apiError { return &apiError{code: code} }

func (e *apiError) errorCode() int16 {
	if e == nil {
		return 0
	}
	return e.code.Code
}

func (e *apiError) errorMessage() *string {
	if e == nil {
		return nil
	}
	return e.message
}

// err returns the error for Go callers: the kerr code, with the message.
func (e *apiError) err() error {
	if e == nil {
		return nil
	}
	if e.message == nil {
		return e.code
	}
	return fmt.Errorf("%w: %s", e.code, *e.message)
}

// newTopicID draws IDs until one is usable: not zero, not Kafka's reserved
// metadata topic ID (0, 1), not starting with '-' in base64 (which command
// line tools would take for a flag; Kafka's Uuid.randomUuid has the same
// rule), and not used by an existing topic or one created earlier in the
// same request.
func newTopicID(img *metadata.Image, taken map[[16]byte]bool, draw func() [16]byte) [16]byte {
	for {
		id := draw()
		if usableTopicID(id) && img.TopicByID(id) == nil && !taken[id] {
			taken[id] = true
			return id
		}
	}
}

func usableTopicID(id [16]byte) bool {
	reserved := [16]byte{15: 1}
	if id == ([16]byte{}) || id == reserved {
		return false
	}
	return id[0]>>2 != 62 // base64 index 62 is '-' in the URL-safe alphabet
}

// validateManualAssignment checks one partition's explicit replica list as
// Kafka's ReplicationControlManager.validateManualPartitionAssignment does,
// in its order and with its messages. replicationFactor < 0 means "any".
func validateManualAssignment(img *metadata.Image, replicas []int32, replicationFactor int) *apiError {
	if len(replicas) == 0 {
		return newAPIError(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	sorted := slices.Sorted(slices.Values(replicas))
	for i, broker := range sorted {
		if img.Broker(broker) == nil {
			return newAPIError(kerr.InvalidReplicaAssignment,
				"The manual partition assignment includes broker %d, but no such broker is registered.", broker)
		}
		if i > 0 && sorted[i-1] == broker {
			return newAPIError(kerr.InvalidReplicaAssignment,
				"The manual partition assignment includes the broker %d more than once.", broker)
		}
	}
	if replicationFactor >= 0 && len(replicas) != replicationFactor {
		return newAPIError(kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).",
			len(replicas), replicationFactor)
	}
	return nil
}

// newPartition is a freshly placed partition: placement uses active brokers
// only, so every replica is in sync and the first one leads; epochs zero.
func newPartition(index int32, replicas []int32) metadata.Partition {
	return metadata.Partition{
		Index:    index,
		Replicas: replicas,
		ISR:      slices.Clone(replicas),
		Leader:   replicas[0],
	}
}

// newManualPartition is a partition with an explicit assignment, which may
// name fenced brokers or brokers in controlled shutdown: the ISR is the
// active replicas and the first of them leads (Kafka's
// buildPartitionRegistration). None active is INVALID_REPLICA_ASSIGNMENT
// with Kafka's message.
func newManualPartition(img *metadata.Image, index int32, replicas []int32) (metadata.Partition, *apiError) {
	var isr []int32
	for _, r := range replicas {
		if b := img.Broker(r); b != nil && b.Active() {
			isr = append(isr, r)
		}
	}
	if len(isr) == 0 {
		return metadata.Partition{}, newAPIError(kerr.InvalidReplicaAssignment,
			"All brokers specified in the manual partition assignment for partition %d are fenced or in controlled shutdown.", index)
	}
	return metadata.Partition{Index: index, Replicas: replicas, ISR: isr, Leader: isr[0]}, nil
}

// describeOverrides describes only the given overrides, as dynamic topic
// configs ordered by name; the fallback when no registry is wired.
func describeOverrides(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	configs := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(overrides))
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		config := kmsg.NewCreateTopicsResponseTopicConfig()
		config.Name = name
		value := overrides[name]
		config.Value = &value
		config.Source = int8(kmsg.ConfigSourceDynamicTopicConfig)
		configs = append(configs, config)
	}
	return configs
}

// duplicates returns the set of names that occur more than once.
func duplicates(names []string) map[string]bool {
	seen := make(map[string]bool, len(names))
	dups := make(map[string]bool)
	for _, name := range names {
		if seen[name] {
			dups[name] = true
		}
		seen[name] = true
	}
	return dups
}
