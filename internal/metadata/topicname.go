package metadata

import (
	"errors"
	"fmt"
	"strings"
)

// Names of the topics Kafka treats specially.
const (
	// GroupMetadataTopic holds committed offsets and group metadata.
	GroupMetadataTopic = "__consumer_offsets"
	// TransactionStateTopic holds the transaction coordinator's state.
	TransactionStateTopic = "__transaction_state"
	// ShareGroupStateTopic holds share-group state (KIP-932).
	ShareGroupStateTopic = "__share_group_state"
	// ClusterMetadataTopic is KRaft's metadata log. It is not a regular topic
	// and users may not create one (Kafka's ControllerApis refuses it).
	ClusterMetadataTopic = "__cluster_metadata"
)

// MaxTopicNameLength is Kafka's limit on topic name length.
const MaxTopicNameLength = 249

// ErrInvalidTopicName is wrapped by ValidateTopicName's errors.
var ErrInvalidTopicName = errors.New("invalid topic name")

// IsInternalTopic reports whether name is one of Kafka's internal topics,
// which Metadata responses flag as internal (Kafka's Topic.isInternal).
func IsInternalTopic(name string) bool {
	switch name {
	case GroupMetadataTopic, TransactionStateTopic, ShareGroupStateTopic:
		return true
	}
	return false
}

// ValidateTopicName checks a topic name as Kafka's Topic.validate does, with
// the same messages: not empty, not "." or "..", at most 249 characters, only
// ASCII letters, digits, '.', '_' and '-'. The error is a *TopicNameError
// whose text is exactly what Kafka returns with INVALID_TOPIC_EXCEPTION.
func ValidateTopicName(name string) error {
	const prefix = "Topic name"
	switch {
	case name == "":
		return topicNameError(prefix + " is illegal, it can't be empty")
	case name == "." || name == "..":
		return topicNameError(prefix + ` cannot be "." or ".."`)
	case len(name) > MaxTopicNameLength:
		return topicNameError(fmt.Sprintf("%s is illegal, it can't be longer than %d characters, %s: %s",
			prefix, MaxTopicNameLength, prefix, name))
	case !legalTopicChars(name):
		return topicNameError(fmt.Sprintf(`%s "%s" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`,
			prefix, name))
	}
	return nil
}

// TopicNameError is the message Kafka sends for an invalid name.
type TopicNameError struct {
	Message string
}

func topicNameError(message string) error { return &TopicNameError{Message: message} }

// Error returns Kafka's message.
func (e *TopicNameError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrInvalidTopicName) hold.
func (e *TopicNameError) Unwrap() error { return ErrInvalidTopicName }

func legalTopicChars(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// TopicNamesCollide reports whether two names differ only by '.' against
// '_'. Kafka refuses such a pair because both map to the same metric name.
func TopicNamesCollide(a, b string) bool {
	return len(a) == len(b) && unifyCollisionChars(a) == unifyCollisionChars(b)
}

func unifyCollisionChars(name string) string { return strings.ReplaceAll(name, ".", "_") }

// CollidingTopic returns the name of an existing topic other than name that
// collides with it (see TopicNamesCollide), or "" if none does.
func (img *Image) CollidingTopic(name string) string {
	if !strings.ContainsAny(name, "._") {
		return ""
	}
	unified := unifyCollisionChars(name)
	best := ""
	for existing := range img.topicsByName {
		if existing == name || len(existing) != len(name) {
			continue
		}
		if unifyCollisionChars(existing) == unified && (best == "" || existing < best) {
			best = existing
		}
	}
	return best
}
