package group

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// Committed offsets, after Kafka's OffsetMetadataManager: OffsetCommit
// writes one record per partition, OffsetFetch reads the replayed state,
// OffsetDelete and DeleteGroups write tombstones, and a periodic job
// expires the offsets of groups nobody consumes with (offsets_expiry.go).
// State changes only in replayOffsetCommit, so what a client is told was
// committed is what a reloaded shard rebuilds.

const (
	// noTimestamp is Kafka's "no timestamp" (-1) for expire timestamps.
	noTimestamp = -1
	// noLeaderEpoch is Kafka's unknown leader epoch (-1).
	noLeaderEpoch = -1
	// noOffset is what OffsetFetch answers for a partition without a
	// committed offset (OffsetFetchResponse.INVALID_OFFSET).
	noOffset = -1
)

// committedOffset is one partition's committed position, as stored in its
// OffsetCommitValue. Times are Unix milliseconds, as in the record.
type committedOffset struct {
	offset      int64
	leaderEpoch int32 // noLeaderEpoch when the client did not send one
	metadata    string
	commitTime  int64
	// expireTime is noTimestamp unless the commit came with
	// retention_time_ms (OffsetCommit v2-v4): such an offset expires at
	// this time whatever its group's state.
	expireTime int64
}

// offsetState holds the committed offsets of a shard's groups: group →
// topic → partition. Empty inner maps are removed, so a group is present
// exactly when it has at least one committed offset.
type offsetState struct {
	groups map[string]map[string]map[int32]committedOffset
}

func (o *offsetState) init() {
	o.groups = map[string]map[string]map[int32]committedOffset{}
}

func (o *offsetState) get(group, topic string, partition int32) (committedOffset, bool) {
	c, ok := o.groups[group][topic][partition]
	return c, ok
}

func (o *offsetState) put(group, topic string, partition int32, c committedOffset) {
	topics := o.groups[group]
	if topics == nil {
		topics = map[string]map[int32]committedOffset{}
		o.groups[group] = topics
	}
	partitions := topics[topic]
	if partitions == nil {
		partitions = map[int32]committedOffset{}
		topics[topic] = partitions
	}
	partitions[partition] = c
}

func (o *offsetState) remove(group, topic string, partition int32) {
	topics := o.groups[group]
	partitions := topics[topic]
	if partitions == nil {
		return
	}
	delete(partitions, partition)
	if len(partitions) == 0 {
		delete(topics, topic)
	}
	if len(topics) == 0 {
		delete(o.groups, group)
	}
}

// replayOffsetCommit applies an offset commit record (value nil: a
// tombstone). A commit for a group the shard does not know creates a
// simple group, as Kafka does, so that offsets-only groups are listed,
// described and expired like any other Empty group.
func (s *Shard) replayOffsetCommit(key *kmsg.OffsetCommitKey, value *kmsg.OffsetCommitValue) {
	if value == nil {
		s.offsets.remove(key.Group, key.Topic, key.Partition)
		s.txnOffsets.dropPartition(key.Group, key.Topic, key.Partition)
		return
	}
	if _, exists := s.groupState(key.Group); !exists {
		s.ensureSimpleGroup(key.Group)
	}
	s.offsets.put(key.Group, key.Topic, key.Partition, committedFromValue(value))
	s.txnOffsets.supersede(key.Group, key.Topic, key.Partition)
}

// hasOffsets reports whether the group has any committed offset.
func (s *Shard) hasOffsets(groupID string) bool {
	return len(s.offsets.groups[groupID]) > 0
}

// GroupIDsWithOffsets lists, sorted, the groups of this shard that have
// committed offsets (for ListGroups and tools; every one of them is also a
// group of the shard, offsets-only ones as Empty simple groups).
func (s *Shard) GroupIDsWithOffsets() []string {
	ids := make([]string, 0, len(s.offsets.groups))
	for id := range s.offsets.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CommitOffsets handles OffsetCommit v0-v10 for one group. It writes one
// record per accepted partition and calls respond once, after the records
// are durable (or with the write's error on every partition, as Kafka's
// OffsetCommitRequest.getErrorResponse). Partitions whose metadata is over
// offset.metadata.max.bytes get OFFSET_METADATA_TOO_LARGE and are not
// written. For v10 the caller resolves topic IDs and fills Topic; the
// response echoes each topic's name and ID.
//
// As in Kafka, v2-v4's retention_time_ms (other than -1) gives the offsets
// an explicit expiry, and v1's per-partition commit timestamp (other than
// -1) replaces the broker's time.
func (s *Shard) CommitOffsets(fx *coord.Effects, req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	if err := s.checkOffsetCommit(req); err != nil {
		resp := OffsetCommitErrorResponse(req, err.Code)
		fx.Then(func(error) { respond(resp) })
		return
	}
	now := fx.Now.UnixMilli()
	expireTime := int64(noTimestamp)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
		expireTime = now + req.RetentionTimeMillis
	}
	resp := offsetCommitResponseFor(req)
	for i := range req.Topics {
		topic := &req.Topics[i]
		for j := range topic.Partitions {
			partition := &topic.Partitions[j]
			if s.metadataTooLarge(partition.Metadata) {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			c := committedFromRequest(req.Version, partition, now, expireTime)
			fx.Append(offsetCommitRecord(req.Group, topic.Topic, partition.Partition, c))
		}
	}
	fx.Then(func(err error) {
		if err != nil {
			s.log.Warn("offset commit not written", "group", req.Group, "err", err)
			respond(OffsetCommitErrorResponse(req, writeFailure(err).Code))
			return
		}
		respond(resp)
	})
}

// checkOffsetCommit validates the committer, as Kafka's
// OffsetMetadataManager.validateOffsetCommit: a commit with a negative
// generation for an unknown group creates a simple group (a consumer
// without group management, or an admin client); one with a generation
// names a group that must exist (ILLEGAL_GENERATION before v9,
// GROUP_ID_NOT_FOUND from v9).
func (s *Shard) checkOffsetCommit(req *kmsg.OffsetCommitRequest) *kerr.Error {
	generation, memberID := int32(-1), ""
	if req.Version >= 1 {
		generation, memberID = req.Generation, req.MemberID
	}
	var instanceID *string
	if req.Version >= 7 {
		instanceID = req.InstanceID
	}
	if _, exists := s.groupState(req.Group); !exists {
		switch {
		case generation < 0:
			s.ensureSimpleGroup(req.Group)
		case req.Version >= 9:
			return kerr.GroupIDNotFound
		default:
			return kerr.IllegalGeneration
		}
	}
	return s.validateOffsetCommit(req.Group, memberID, instanceID, generation, false)
}

// committedFromRequest is the offset a request's partition commits, with
// the fields its version lacks at Kafka's defaults.
func committedFromRequest(version int16, p *kmsg.OffsetCommitRequestTopicPartition, now, expireTime int64) committedOffset {
	c := committedOffset{offset: p.Offset, leaderEpoch: noLeaderEpoch, commitTime: now, expireTime: expireTime}
	if version >= 6 {
		c.leaderEpoch = p.LeaderEpoch
	}
	if version == 1 && p.Timestamp != -1 {
		c.commitTime = p.Timestamp
	}
	if p.Metadata != nil {
		c.metadata = *p.Metadata
	}
	return c
}

// metadataTooLarge applies offset.metadata.max.bytes the way Kafka does:
// to the metadata's length as a Java string (UTF-16 code units), not to
// its bytes.
func (s *Shard) metadataTooLarge(metadata *string) bool {
	return metadata != nil && javaLength(*metadata) > int(s.cfg.OffsetMetadataMaxBytes)
}

// javaLength is the length of s in UTF-16 code units (Java's
// String.length); invalid UTF-8 bytes count one each, as Java decodes each
// to U+FFFD.
func javaLength(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// offsetCommitResponseFor is the all-success response to req, shaped like
// the request.
func offsetCommitResponseFor(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	for i := range req.Topics {
		topic := &resp.Topics[i]
		topic.Default()
		topic.Topic = req.Topics[i].Topic
		topic.TopicID = req.Topics[i].TopicID
		topic.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(req.Topics[i].Partitions))
		for j := range req.Topics[i].Partitions {
			topic.Partitions[j].Default()
			topic.Partitions[j].Partition = req.Topics[i].Partitions[j].Partition
		}
	}
	return resp
}

// OffsetCommitErrorResponse answers every partition of req with code; the
// api layer uses it too when the request never reaches a shard.
func OffsetCommitErrorResponse(req *kmsg.OffsetCommitRequest, code int16) *kmsg.OffsetCommitResponse {
	resp := offsetCommitResponseFor(req)
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			resp.Topics[i].Partitions[j].ErrorCode = code
		}
	}
	return resp
}

// FetchOffsets answers OffsetFetch for one group in the v8+ group form:
// topics nil asks for every committed offset (sorted by topic and
// partition), otherwise for exactly the listed partitions, those without a
// commit answering offset -1, leader epoch -1 and metadata "". A group
// without offsets (unknown, or deleted) is not an error, as in Kafka.
// With requireStable, a partition that an open transaction committed an
// offset for answers UNSTABLE_OFFSET_COMMIT and offset -1 (the client
// retries until the transaction ends); without it, the last committed
// offset.
func (s *Shard) FetchOffsets(groupID string, topics []kmsg.OffsetFetchRequestGroupTopic, requireStable bool) kmsg.OffsetFetchResponseGroup {
	resp := s.fetchOffsets(groupID, topics)
	if requireStable && s.txnOffsets.hasPending(groupID) {
		s.markUnstable(groupID, resp.Topics)
	}
	return resp
}

// markUnstable answers UNSTABLE_OFFSET_COMMIT for the fetched partitions
// that have pending transactional offsets.
func (s *Shard) markUnstable(groupID string, topics []kmsg.OffsetFetchResponseGroupTopic) {
	for i := range topics {
		for j := range topics[i].Partitions {
			p := &topics[i].Partitions[j]
			if s.txnOffsets.isPending(groupID, topics[i].Topic, p.Partition) {
				p.ErrorCode = kerr.UnstableOffsetCommit.Code
				p.Offset = noOffset
				p.LeaderEpoch = noLeaderEpoch
			}
		}
	}
}

// fetchOffsets is FetchOffsets without the stability check.
func (s *Shard) fetchOffsets(groupID string, topics []kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroup {
	resp := kmsg.NewOffsetFetchResponseGroup()
	resp.Group = groupID
	if topics == nil {
		resp.Topics = s.allOffsets(groupID)
		return resp
	}
	resp.Topics = make([]kmsg.OffsetFetchResponseGroupTopic, len(topics))
	for i := range topics {
		resp.Topics[i] = s.topicOffsets(groupID, &topics[i])
	}
	return resp
}

// topicOffsets answers one requested topic of an OffsetFetch.
func (s *Shard) topicOffsets(groupID string, topic *kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroupTopic {
	out := kmsg.NewOffsetFetchResponseGroupTopic()
	out.Topic = topic.Topic
	out.TopicID = topic.TopicID
	out.Partitions = make([]kmsg.OffsetFetchResponseGroupTopicPartition, len(topic.Partitions))
	for i, partition := range topic.Partitions {
		c, ok := s.offsets.get(groupID, topic.Topic, partition)
		if !ok {
			c = committedOffset{offset: noOffset, leaderEpoch: noLeaderEpoch}
		}
		out.Partitions[i] = fetchedPartition(partition, c)
	}
	return out
}

// allOffsets answers an OffsetFetch for all of a group's offsets.
func (s *Shard) allOffsets(groupID string) []kmsg.OffsetFetchResponseGroupTopic {
	byTopic := s.offsets.groups[groupID]
	out := make([]kmsg.OffsetFetchResponseGroupTopic, 0, len(byTopic))
	for _, topic := range sortedKeys(byTopic) {
		t := kmsg.NewOffsetFetchResponseGroupTopic()
		t.Topic = topic
		byPartition := byTopic[topic]
		for _, partition := range sortedKeys(byPartition) {
			t.Partitions = append(t.Partitions, fetchedPartition(partition, byPartition[partition]))
		}
		out = append(out, t)
	}
	return out
}

func fetchedPartition(partition int32, c committedOffset) kmsg.OffsetFetchResponseGroupTopicPartition {
	p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	p.Partition = partition
	p.Offset = c.offset
	p.LeaderEpoch = c.leaderEpoch
	metadata := c.metadata
	p.Metadata = &metadata
	return p
}

// DeleteOffsets handles OffsetDelete: it tombstones the group's offsets of
// the listed partitions, except for topics the group is subscribed to
// (GROUP_SUBSCRIBED_TO_TOPIC on each of their partitions). The group must
// exist (GROUP_ID_NOT_FOUND) and must not be an active group of another
// protocol than "consumer" (NON_EMPTY_GROUP). respond is called once, after
// the tombstones are durable.
func (s *Shard) DeleteOffsets(fx *coord.Effects, req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse)) {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	if err := s.checkOffsetDelete(req.Group); err != nil {
		resp.ErrorCode = err.Code
		fx.Then(func(error) { respond(resp) })
		return
	}
	resp.Topics = make([]kmsg.OffsetDeleteResponseTopic, len(req.Topics))
	for i := range req.Topics {
		resp.Topics[i] = s.deleteTopicOffsets(fx, req.Group, &req.Topics[i])
	}
	fx.Then(func(err error) {
		if err != nil {
			s.log.Warn("offset delete not written", "group", req.Group, "err", err)
			failed := kmsg.NewPtrOffsetDeleteResponse()
			failed.Version = req.Version
			failed.ErrorCode = writeFailure(err).Code
			respond(failed)
			return
		}
		respond(resp)
	})
}

// checkOffsetDelete is Kafka's GroupCoordinatorService check for an empty
// group ID followed by Group.validateOffsetDelete.
func (s *Shard) checkOffsetDelete(groupID string) *kerr.Error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	return s.validateOffsetDelete(groupID)
}

// deleteTopicOffsets appends the tombstones for one topic of an
// OffsetDelete and returns its part of the response.
func (s *Shard) deleteTopicOffsets(fx *coord.Effects, groupID string, topic *kmsg.OffsetDeleteRequestTopic) kmsg.OffsetDeleteResponseTopic {
	out := kmsg.NewOffsetDeleteResponseTopic()
	out.Topic = topic.Topic
	out.Partitions = make([]kmsg.OffsetDeleteResponseTopicPartition, len(topic.Partitions))
	subscribed := s.groupSubscribedTo(groupID, topic.Topic)
	for i, p := range topic.Partitions {
		out.Partitions[i].Default()
		out.Partitions[i].Partition = p.Partition
		if subscribed {
			out.Partitions[i].ErrorCode = kerr.GroupSubscribedToTopic.Code
			continue
		}
		if _, ok := s.offsets.get(groupID, topic.Topic, p.Partition); ok {
			fx.Append(offsetTombstone(groupID, topic.Topic, p.Partition))
		}
	}
	return out
}

// deleteGroupOffsets appends a tombstone for every committed offset of the
// group, sorted by topic and partition, then one for each partition only
// an open transaction has an offset for, so its commit cannot bring the
// group's offsets back (DeleteGroups; Kafka's deleteAllOffsets).
func (s *Shard) deleteGroupOffsets(fx *coord.Effects, groupID string) {
	byTopic := s.offsets.groups[groupID]
	for _, topic := range sortedKeys(byTopic) {
		for _, partition := range sortedKeys(byTopic[topic]) {
			fx.Append(offsetTombstone(groupID, topic, partition))
		}
	}
	for _, tp := range s.txnOffsets.partitionsOf(groupID) {
		if _, committed := s.offsets.get(groupID, tp.topic, tp.partition); !committed {
			fx.Append(offsetTombstone(groupID, tp.topic, tp.partition))
		}
	}
}

// OnPartitionsDeleted appends tombstones for every group's offsets of
// partitions that no longer exist (deleted topics), sorted by group, topic
// and partition: Kafka's GroupCoordinatorService.onPartitionsDeleted, run
// on every shard when the metadata log deletes a topic. deleted maps a
// topic name to its deleted partitions.
func (s *Shard) OnPartitionsDeleted(fx *coord.Effects, deleted map[string][]int32) {
	for _, groupID := range sortedKeys(s.offsets.groups) {
		byTopic := s.offsets.groups[groupID]
		for _, topic := range sortedKeys(deleted) {
			partitions := slices.Clone(deleted[topic])
			slices.Sort(partitions)
			for _, partition := range slices.Compact(partitions) {
				if _, ok := byTopic[topic][partition]; ok {
					fx.Append(offsetTombstone(groupID, topic, partition))
				}
			}
		}
	}
}

// writeFailure maps the error of a failed coordinator write to what Kafka
// answers for it (CoordinatorOperationExceptionHelper.handleOperationException):
// clients retry on another or the same coordinator instead of failing. An
// error that is not a Kafka error is a storage failure of the
// `__consumer_offsets` partition, which Kafka reports as NOT_COORDINATOR.
func writeFailure(err error) *kerr.Error {
	switch {
	case errors.Is(err, coord.ErrLoading):
		return kerr.CoordinatorLoadInProgress
	case errors.Is(err, coord.ErrNotCoordinator):
		return kerr.NotCoordinator
	}
	var kafkaErr *kerr.Error
	if !errors.As(err, &kafkaErr) {
		return kerr.NotCoordinator
	}
	switch kafkaErr {
	case kerr.NetworkException:
		return kerr.CoordinatorLoadInProgress
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.RequestTimedOut:
		return kerr.CoordinatorNotAvailable
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		return kerr.UnknownServerError
	}
	return kafkaErr
}

// sortedKeys returns a map's keys in order, so that responses and records
// do not depend on Go's map iteration order.
func sortedKeys[K string | int32, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
