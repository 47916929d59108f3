package api

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit and OffsetFetch v10 name topics by ID (KIP-848's follow-up,
// like Produce and Fetch v13). Offsets are stored by topic name, as Kafka
// stores them, so the api layer resolves IDs before the group coordinator
// sees the request and adds IDs to what it answers.

// commitByName resolves a v10 OffsetCommit's topic IDs to names. Topics
// whose ID is unknown are left out of the returned request and answered
// with UNKNOWN_TOPIC_ID in failed.
func (b *Broker) commitByName(r *kmsg.OffsetCommitRequest) (byName *kmsg.OffsetCommitRequest, failed []kmsg.OffsetCommitResponseTopic) {
	if r.Version < 10 {
		return r, nil
	}
	img := b.cfg.Metadata.Image()
	copied := *r
	copied.Topics = nil
	for _, rt := range r.Topics {
		t := img.TopicByID(rt.TopicID)
		if t == nil {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.TopicID = rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicID.Code
				st.Partitions = append(st.Partitions, sp)
			}
			failed = append(failed, st)
			continue
		}
		rt.Topic = t.Name
		copied.Topics = append(copied.Topics, rt)
	}
	return &copied, failed
}

// fetchByName resolves a v10 OffsetFetch group's topic IDs to names; a
// topic whose ID is unknown keeps an empty name, which has no commits, and
// unknownTopicIDs marks its partitions afterwards.
func (b *Broker) fetchByName(version int16, groups []kmsg.OffsetFetchRequestGroup) {
	if version < 10 {
		return
	}
	img := b.cfg.Metadata.Image()
	for i := range groups {
		for j := range groups[i].Topics {
			if t := img.TopicByID(groups[i].Topics[j].TopicID); t != nil {
				groups[i].Topics[j].Topic = t.Name
			}
		}
	}
}

// fetchWithIDs fills topic IDs into a v10 OffsetFetch answer and marks
// topics that have none (unknown or deleted) UNKNOWN_TOPIC_ID.
func (b *Broker) fetchWithIDs(version int16, groups []kmsg.OffsetFetchResponseGroup) {
	if version < 10 {
		return
	}
	img := b.cfg.Metadata.Image()
	for i := range groups {
		for j := range groups[i].Topics {
			t := &groups[i].Topics[j]
			if known := img.TopicByName(t.Topic); known != nil && t.Topic != "" {
				t.TopicID = known.ID
				continue
			}
			for k := range t.Partitions {
				t.Partitions[k].ErrorCode = kerr.UnknownTopicID.Code
			}
		}
	}
}
