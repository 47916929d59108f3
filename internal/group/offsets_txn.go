package group

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// Transactional offset commits, after Kafka's OffsetMetadataManager
// (commitTransactionalOffset, replayEndTransactionMarker): TxnOffsetCommit
// writes its offset records in a transactional batch of the producer, and
// they stay pending until the transaction's marker on this partition is
// replayed. A commit marker moves them to the committed offsets unless a
// plain commit written after them in the log superseded them; an abort
// drops them. While a partition has pending offsets, OffsetFetch with
// require_stable answers UNSTABLE_OFFSET_COMMIT for it.

// pendingOffset is a transactional commit awaiting its marker. A plain
// commit of the partition replayed after it (later in the log) supersedes
// it: the transaction's commit then leaves the plain one in place.
type pendingOffset struct {
	committedOffset
	superseded bool
}

// txnOffsetState holds the shard's pending transactional offsets:
// producer → group → topic → partition.
type txnOffsetState struct {
	pending map[int64]map[string]map[string]map[int32]pendingOffset
}

func (t *txnOffsetState) init() {
	t.pending = map[int64]map[string]map[string]map[int32]pendingOffset{}
}

func (t *txnOffsetState) put(producerID int64, group, topic string, partition int32, p pendingOffset) {
	groups := t.pending[producerID]
	if groups == nil {
		groups = map[string]map[string]map[int32]pendingOffset{}
		t.pending[producerID] = groups
	}
	topics := groups[group]
	if topics == nil {
		topics = map[string]map[int32]pendingOffset{}
		groups[group] = topics
	}
	partitions := topics[topic]
	if partitions == nil {
		partitions = map[int32]pendingOffset{}
		topics[topic] = partitions
	}
	partitions[partition] = p
}

// isPending reports whether any open transaction holds an offset of the
// group's partition.
func (t *txnOffsetState) isPending(group, topic string, partition int32) bool {
	for _, groups := range t.pending {
		if _, ok := groups[group][topic][partition]; ok {
			return true
		}
	}
	return false
}

// hasPending reports whether any open transaction holds an offset of the
// group.
func (t *txnOffsetState) hasPending(group string) bool {
	for _, groups := range t.pending {
		if len(groups[group]) > 0 {
			return true
		}
	}
	return false
}

// offsetPartition names one partition of a group's offsets.
type offsetPartition struct {
	topic     string
	partition int32
}

// partitionsOf lists, sorted and once each, the partitions open
// transactions hold offsets of for the group.
func (t *txnOffsetState) partitionsOf(group string) []offsetPartition {
	var out []offsetPartition
	for _, groups := range t.pending {
		for topic, partitions := range groups[group] {
			for partition := range partitions {
				out = append(out, offsetPartition{topic, partition})
			}
		}
	}
	slices.SortFunc(out, func(a, b offsetPartition) int {
		if c := cmp.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return cmp.Compare(a.partition, b.partition)
	})
	return slices.Compact(out)
}

// dropPartition forgets every pending offset of a partition, as a
// tombstone of its committed offset does in Kafka.
func (t *txnOffsetState) dropPartition(group, topic string, partition int32) {
	for _, groups := range t.pending {
		if partitions := groups[group][topic]; partitions != nil {
			delete(partitions, partition)
		}
	}
}

// supersede marks every pending offset of a partition as older than the
// plain commit just replayed for it.
func (t *txnOffsetState) supersede(group, topic string, partition int32) {
	for _, groups := range t.pending {
		partitions := groups[group][topic]
		if p, ok := partitions[partition]; ok {
			p.superseded = true
			partitions[partition] = p
		}
	}
}

// replayTxnOffsetCommit applies a transactional offset commit record: the
// offset waits for producerID's marker.
func (s *Shard) replayTxnOffsetCommit(producerID int64, key *kmsg.OffsetCommitKey, value *kmsg.OffsetCommitValue) {
	if value == nil {
		return
	}
	if _, exists := s.groupState(key.Group); !exists {
		s.ensureSimpleGroup(key.Group)
	}
	s.txnOffsets.put(producerID, key.Group, key.Topic, key.Partition, pendingOffset{committedOffset: committedFromValue(value)})
}

// ReplayMarker implements coord.MarkerReplayer: a commit makes
// producerID's pending offsets committed, except where a plain commit
// replayed after them already moved the partition on; an abort drops
// them. A second delivery of the same marker finds nothing pending.
func (s *Shard) ReplayMarker(producerID int64, commit bool) {
	groups := s.txnOffsets.pending[producerID]
	delete(s.txnOffsets.pending, producerID)
	if !commit {
		return
	}
	for group, topics := range groups {
		if _, exists := s.groupState(group); !exists {
			s.ensureSimpleGroup(group)
		}
		for topic, partitions := range topics {
			for partition, p := range partitions {
				if !p.superseded {
					s.offsets.put(group, topic, partition, p.committedOffset)
				}
			}
		}
	}
}

// CommitTxnOffsets handles TxnOffsetCommit v0-v4 for one group: the
// offsets are written as records of the producer's transaction and become
// committed when it commits. respond is called once, after the records
// are durable. The committer is validated as for OffsetCommit, with
// Kafka's transactional rules (v3+ send generation, member and instance;
// earlier versions commit as a simple consumer).
func (s *Shard) CommitTxnOffsets(fx *coord.Effects, req *kmsg.TxnOffsetCommitRequest, respond func(*kmsg.TxnOffsetCommitResponse)) {
	if err := s.checkTxnOffsetCommit(req); err != nil {
		resp := txnOffsetCommitErrorResponse(req, err.Code)
		fx.Then(func(error) { respond(resp) })
		return
	}
	now := fx.Now.UnixMilli()
	resp := txnOffsetCommitResponseFor(req)
	for i := range req.Topics {
		topic := &req.Topics[i]
		for j := range topic.Partitions {
			partition := &topic.Partitions[j]
			if s.metadataTooLarge(partition.Metadata) {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			c := committedOffset{offset: partition.Offset, leaderEpoch: noLeaderEpoch, commitTime: now, expireTime: noTimestamp}
			if req.Version >= 2 {
				c.leaderEpoch = partition.LeaderEpoch
			}
			if partition.Metadata != nil {
				c.metadata = *partition.Metadata
			}
			fx.AppendTransactional(req.ProducerID, req.ProducerEpoch, offsetCommitRecord(req.Group, topic.Topic, partition.Partition, c))
		}
	}
	fx.Then(func(err error) {
		if err != nil {
			s.log.Warn("transactional offset commit not written", "group", req.Group, "transactionalID", req.TransactionalID, "err", err)
			respond(txnOffsetCommitErrorResponse(req, writeFailure(err).Code))
			return
		}
		respond(resp)
	})
}

// checkTxnOffsetCommit is Kafka's validateTransactionalOffsetCommit: an
// unknown group is created as a simple group for a committer without a
// generation, otherwise the generation is illegal; then the member checks
// of OffsetCommit apply.
func (s *Shard) checkTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) *kerr.Error {
	generation, memberID := int32(-1), ""
	var instanceID *string
	if req.Version >= 3 {
		generation, memberID, instanceID = req.Generation, req.MemberID, req.InstanceID
	}
	if _, exists := s.groupState(req.Group); !exists {
		if generation >= 0 {
			return kerr.IllegalGeneration
		}
		s.ensureSimpleGroup(req.Group)
	}
	return s.validateOffsetCommit(req.Group, memberID, instanceID, generation, true)
}

// txnOffsetCommitResponseFor is the all-success response to req.
func txnOffsetCommitResponseFor(req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	resp.Topics = make([]kmsg.TxnOffsetCommitResponseTopic, len(req.Topics))
	for i := range req.Topics {
		topic := &resp.Topics[i]
		topic.Default()
		topic.Topic = req.Topics[i].Topic
		topic.Partitions = make([]kmsg.TxnOffsetCommitResponseTopicPartition, len(req.Topics[i].Partitions))
		for j := range req.Topics[i].Partitions {
			topic.Partitions[j].Default()
			topic.Partitions[j].Partition = req.Topics[i].Partitions[j].Partition
		}
	}
	return resp
}

// txnOffsetCommitErrorResponse answers every partition of req with code.
func txnOffsetCommitErrorResponse(req *kmsg.TxnOffsetCommitRequest, code int16) *kmsg.TxnOffsetCommitResponse {
	resp := txnOffsetCommitResponseFor(req)
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			resp.Topics[i].Partitions[j].ErrorCode = code
		}
	}
	return resp
}
