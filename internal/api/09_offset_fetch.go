package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// OffsetFetch v0-v10 (v2+ fetches all of a group's offsets for a null topic
// list; v8+ asks for several groups at once, KIP-709; v7+ require_stable;
// v10 names topics by ID; v9+ carries the member ID and epoch of a
// consumer-group member, KIP-848, checked as Kafka does). Each group is
// answered by the shard that coordinates it.

func handleOffsetFetch(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	groups := r.Groups
	if r.Version < 8 {
		groups = []kmsg.OffsetFetchRequestGroup{singleOffsetFetchGroup(r)}
	}
	b.fetchByName(r.Version, groups)
	results := make([]kmsg.OffsetFetchResponseGroup, len(groups))
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.Group
		results[i] = kmsg.NewOffsetFetchResponseGroup()
		results[i].Group = g.Group
	}
	waitAll := eachGroup(b, ctx, ids,
		func(i int, s *group.Shard, _ *coord.Effects, deliver func(kmsg.OffsetFetchResponseGroup)) {
			if r.Version >= 9 {
				// KIP-848: a consumer-group member fetches at its epoch.
				if code := s.ValidateOffsetFetch(groups[i].Group, groups[i].MemberID, groups[i].MemberEpoch); code != 0 {
					failed := kmsg.NewOffsetFetchResponseGroup()
					failed.Group, failed.ErrorCode = groups[i].Group, code
					deliver(failed)
					return
				}
			}
			deliver(s.FetchOffsets(groups[i].Group, groups[i].Topics, r.RequireStable))
		},
		func(i int, g kmsg.OffsetFetchResponseGroup) { results[i] = g },
		func(i int, err *kerr.Error) {
			results[i] = kmsg.NewOffsetFetchResponseGroup()
			results[i].Group, results[i].ErrorCode = ids[i], err.Code
		})
	return Reply{Response: resp, Wait: func() {
		waitAll()
		b.fetchWithIDs(r.Version, results)
		if r.Version >= 8 {
			resp.Groups = results
			return
		}
		fillSingleOffsetFetch(resp, results[0])
	}}
}

// singleOffsetFetchGroup turns a pre-v8 request into its one group.
func singleOffsetFetchGroup(r *kmsg.OffsetFetchRequest) kmsg.OffsetFetchRequestGroup {
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = r.Group
	if r.Topics == nil {
		return g
	}
	g.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
	for _, t := range r.Topics {
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = t.Topic, t.Partitions
		g.Topics = append(g.Topics, gt)
	}
	return g
}

// fillSingleOffsetFetch writes one group's answer in the pre-v8 layout:
// the group error is top-level from v2, per partition before.
func fillSingleOffsetFetch(resp *kmsg.OffsetFetchResponse, g kmsg.OffsetFetchResponseGroup) {
	resp.ErrorCode = g.ErrorCode
	for _, t := range g.Topics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = t.Topic
		for _, p := range t.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			if resp.Version < 2 && sp.ErrorCode == 0 {
				sp.ErrorCode = g.ErrorCode
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}
