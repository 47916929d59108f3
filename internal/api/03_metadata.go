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
// topic. Unknown topics are created only when the client allows it
// (allow_auto_topic_creation, v4+; always before v4) and
// auto.create.topics.enable is on; internal topics are never auto-created.
// Topics may be named by ID (v10+, KIP-516). Authorized operations (v8+,
// KIP-430) are reported only when asked for.

// authorizedOperationsOmitted is Kafka's "not requested" value.
const authorizedOperationsOmitted = -2147483648

func handleMetadata(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	img := b.cfg.Metadata.Image()
	b.fillBrokers(img, resp)
	allowAutoCreate := r.Version < 4 || r.AllowAutoTopicCreation
	switch {
	case r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0):
		for _, t := range img.Topics() {
			resp.Topics = append(resp.Topics, topicMetadata(img, t, r.IncludeTopicAuthorizedOperations))
		}
	default:
		for _, rt := range r.Topics {
			resp.Topics = append(resp.Topics, b.requestedTopicMetadata(ctx, rt, allowAutoCreate, r.IncludeTopicAuthorizedOperations))
		}
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

// requestedTopicMetadata answers one named (or ID'd) topic, creating it
// when allowed.
func (b *Broker) requestedTopicMetadata(ctx context.Context, rt kmsg.MetadataRequestTopic, allowAutoCreate, includeOps bool) kmsg.MetadataResponseTopic {
	img := b.cfg.Metadata.Image()
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
	if !allowAutoCreate || !b.cfg.Broker.AutoCreateTopicsEnable || isInternalTopic(name) {
		return topicError(rt.Topic, rt.TopicID, kerr.UnknownTopicOrPartition)
	}
	if err := b.cfg.Controller.AutoCreateTopic(ctx, name); err != nil {
		var kerrErr *kerr.Error
		if errors.As(err, &kerrErr) && kerrErr != kerr.TopicAlreadyExists {
			return topicError(rt.Topic, rt.TopicID, kerrErr)
		}
		if !errors.As(err, &kerrErr) {
			b.log.Warn("auto-create topic failed", "topic", name, "err", err)
			return topicError(rt.Topic, rt.TopicID, kerr.LeaderNotAvailable)
		}
	}
	if t := b.cfg.Metadata.Image().TopicByName(name); t != nil {
		return topicMetadata(b.cfg.Metadata.Image(), t, includeOps)
	}
	return topicError(rt.Topic, rt.TopicID, kerr.LeaderNotAvailable)
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
