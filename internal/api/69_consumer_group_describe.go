package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// ConsumerGroupDescribe v0-v1 (KIP-848; v1 adds each member's type,
// KIP-1099): epochs, state, assignor and each member's subscription,
// current and target assignment, topics named from the current metadata.
// A group that is not a consumer group is GROUP_ID_NOT_FOUND.

func handleConsumerGroupDescribe(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	resp := r.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	resp.Groups = make([]kmsg.ConsumerGroupDescribeResponseGroup, len(r.Groups))
	var valid []string
	index := map[string][]int{}
	for i, id := range r.Groups {
		resp.Groups[i] = kmsg.NewConsumerGroupDescribeResponseGroup()
		resp.Groups[i].Group = id
		if !validGroupID(id) {
			resp.Groups[i].ErrorCode = kerr.InvalidGroupID.Code
			continue
		}
		if len(index[id]) == 0 {
			valid = append(valid, id)
		}
		index[id] = append(index[id], i)
	}
	image := b.cfg.Metadata.Image()
	results := make([]kmsg.ConsumerGroupDescribeResponseGroup, len(valid))
	waitAll := eachGroup(b, ctx, valid,
		func(i int, s *group.Shard, _ *coord.Effects, deliver func(kmsg.ConsumerGroupDescribeResponseGroup)) {
			deliver(s.DescribeConsumerGroup(valid[i], image))
		},
		func(i int, g kmsg.ConsumerGroupDescribeResponseGroup) { results[i] = g },
		func(i int, err *kerr.Error) {
			results[i] = kmsg.NewConsumerGroupDescribeResponseGroup()
			results[i].Group, results[i].ErrorCode = valid[i], err.Code
		})
	return Reply{Response: resp, Wait: func() {
		waitAll()
		for i, id := range valid {
			for _, at := range index[id] {
				resp.Groups[at] = results[i]
				resp.Groups[at].AuthorizedOperations = authorizedOperationsOmitted
			}
		}
	}}
}
