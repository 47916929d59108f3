package api

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// Metadata v0-v13. Old versions stay supported (kafka-python 2.0 sends v0
// and v1). A null topic list (v1+) or an empty one (v0) asks for every
// topic. Topics may be named by ID (v10+, KIP-516). Authorized operations
// (v8+, KIP-430) are reported only when asked for.
//
// Auto-creation follows Kafka's KafkaApis.getTopicMetadata and
// AutoTopicCreationManager. A named topic the image lacks is created only
// when the client allows it (allow_auto_topic_creation, v4+; always
// before v4) and auto.create.topics.enable is on; internal topics are
// never auto-created here, and an invalid name is INVALID_TOPIC_EXCEPTION
// whatever the flags. The request that creates a topic answers it, in
// every version, with LEADER_NOT_AVAILABLE and no partitions (ZooKeeper-era
// Kafka's answer after a successful creation; KRaft Kafka, which only sends
// the creation off, answers UNKNOWN_TOPIC_OR_PARTITION): the client learns
// the topic is new and takes its partitions from its next Metadata, which
// finds them, since the creation is committed and applied here before
// the answer. A creation that fails, whatever the reason, answers
// UNKNOWN_TOPIC_OR_PARTITION and logs the controller's error, as KRaft
// Kafka does: the cause may pass (INVALID_REPLICATION_FACTOR while the
// brokers are still fenced at start-up, NOT_CONTROLLER during an
// election), and clients retry that code, where librdkafka fails its
// queued messages at once on any other.
//
// Deleted topics. One image answers the whole request, so a topic it holds
// is described from it even if its deletion commits meanwhile, and only a
// topic it lacks may be created. A deletion leaves the image at once
// (RemoveTopicRecord); the topic is still being deleted on this broker
// while the applier has not yet removed the partitions it hosted here.
// Such a name is answered UNKNOWN_TOPIC_OR_PARTITION and not recreated,
// as ZooKeeper-era Kafka refused to recreate a topic marked for deletion:
// a later Metadata, once the old logs are gone, may create it anew.

// authorizedOperationsOmitted is Kafka's "not requested" value.
const authorizedOperationsOmitted = -2147483648

func handleMetadata(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	img := b.cfg.Metadata.Image()
	b.fillBrokers(img, resp)
	switch {
	case r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0):
		for _, t := range img.Topics() {
			resp.Topics = append(resp.Topics, topicMetadata(img, t, r.IncludeTopicAuthorizedOperations))
		}
	default:
		autoCreate := b.cfg.Broker.AutoCreateTopicsEnable && (r.Version < 4 || r.AllowAutoTopicCreation)
		resp.Topics = b.requestedTopicsMetadata(ctx, img, r.Topics, autoCreate, r.IncludeTopicAuthorizedOperations)
	}
	if r.Version < 8 || !r.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = authorizedOperationsOmitted
	}
	return reply(resp)
}

// fillBrokers lists the registered brokers and the cluster identity.
func (b *Broker) fillBrokers(img *metadata.Image, resp *kmsg.MetadataResponse) {
	for _, br := range img.Brokers() {
		// Fenced brokers are left out, as Kafka's KRaftMetadataCache
		// lists alive brokers only: clients must not route to them.
		if len(br.Endpoints) == 0 || br.Fenced {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID = br.NodeID
		mb.Host, mb.Port = br.Endpoints[0].Host, br.Endpoints[0].Port
		mb.Rack = br.Rack
		resp.Brokers = append(resp.Brokers, mb)
	}
	clusterID := img.ClusterID()
	resp.ClusterID = &clusterID
	resp.ControllerID = b.controllerID()
}

// requestedTopicsMetadata answers the named (or ID'd) topics from img,
// each name or ID once (Kafka answers the set of topics asked for).
func (b *Broker) requestedTopicsMetadata(ctx context.Context, img *metadata.Image, topics []kmsg.MetadataRequestTopic, autoCreate, includeOps bool) []kmsg.MetadataResponseTopic {
	out := make([]kmsg.MetadataResponseTopic, 0, len(topics))
	names, ids := make(map[string]bool, len(topics)), make(map[[16]byte]bool)
	for _, rt := range topics {
		if rt.Topic != nil && names[*rt.Topic] || rt.Topic == nil && ids[rt.TopicID] {
			continue
		}
		if rt.Topic != nil {
			names[*rt.Topic] = true
		} else {
			ids[rt.TopicID] = true
		}
		out = append(out, b.requestedTopicMetadata(ctx, img, rt, autoCreate, includeOps))
	}
	return out
}

// requestedTopicMetadata answers one named (or ID'd) topic from img,
// creating it when autoCreate allows.
func (b *Broker) requestedTopicMetadata(ctx context.Context, img *metadata.Image, rt kmsg.MetadataRequestTopic, autoCreate, includeOps bool) kmsg.MetadataResponseTopic {
	if rt.Topic == nil {
		if t := img.TopicByID(rt.TopicID); t != nil {
			return topicMetadata(img, t, includeOps)
		}
		return topicError(nil, rt.TopicID, kerr.UnknownTopicID)
	}
	name := *rt.Topic
	if t := img.TopicByName(name); t != nil {
		return topicMetadata(img, t, includeOps)
	}
	if err := metadata.ValidateTopicName(name); err != nil {
		return topicError(rt.Topic, rt.TopicID, kerr.InvalidTopicException)
	}
	if !autoCreate || isInternalTopic(name) || b.deletionPending(name) {
		return topicError(rt.Topic, rt.TopicID, kerr.UnknownTopicOrPartition)
	}
	return topicError(rt.Topic, rt.TopicID, b.autoCreateTopic(ctx, name))
}

// deletionPending reports whether this broker still hosts partitions of a
// topic the image no longer has: its deletion is being applied here.
func (b *Broker) deletionPending(name string) bool {
	return b.cfg.Partitions != nil && b.cfg.Partitions.HostsTopic(name)
}

// autoCreateTopic creates name through the controller and returns the
// error code that answers it (see the file comment).
func (b *Broker) autoCreateTopic(ctx context.Context, name string) *kerr.Error {
	err := b.cfg.Controller.AutoCreateTopic(ctx, name)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		b.log.Warn("auto topic creation failed", "topic", name, "err", err)
		return kerr.UnknownTopicOrPartition
	}
	b.log.Info("auto-created topic", "topic", name)
	return kerr.LeaderNotAvailable
}

func topicError(name *string, id [16]byte, err *kerr.Error) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID, mt.ErrorCode = name, id, err.Code
	mt.IsInternal = name != nil && isInternalTopic(*name)
	return mt
}

// topicMetadata describes an existing topic. Replicas on fenced or
// unregistered brokers are reported offline.
func topicMetadata(img *metadata.Image, t *metadata.Topic, includeOps bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID, mt.IsInternal = &name, t.ID, t.Internal()
	mt.AuthorizedOperations = authorizedOperationsOmitted
	if includeOps {
		mt.AuthorizedOperations = allTopicOperations
	}
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR, mp.OfflineReplicas = p.Replicas, p.ISR, offlineReplicas(img, p.Replicas)
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// allTopicOperations is every operation on a topic (Kafka's AclOperation
// codes as a bit field): without an authorizer everything is allowed.
const allTopicOperations = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11

// offlineReplicas lists the replicas whose broker is fenced or unknown.
func offlineReplicas(img *metadata.Image, replicas []int32) []int32 {
	offline := []int32{}
	for _, id := range replicas {
		if br := img.Broker(id); br == nil || br.Fenced {
			offline = append(offline, id)
		}
	}
	return offline
}
