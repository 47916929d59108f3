package api

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// ListGroups v0-v5 (v4 filters by state, KIP-518; v5 by type, KIP-848):
// every group of every shard this broker coordinates. While a shard is
// still loading the answer is COORDINATOR_LOAD_IN_PROGRESS, as in Kafka.

func handleListGroups(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.ListGroupsRequest)
	resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
	partitions := b.cfg.Broker.OffsetsTopicNumPartitions
	var waits []func() ([]kmsg.ListGroupsResponseGroup, bool)
	for p := range partitions {
		answer := newCommittedAnswer[[]kmsg.ListGroupsResponseGroup]()
		stopped, err := b.cfg.Groups.Do(p, func(s *group.Shard, fx *coord.Effects) {
			answer.run(fx, func(deliver func([]kmsg.ListGroupsResponseGroup)) {
				deliver(s.ListGroups(r.StatesFilter, r.TypesFilter))
			})
		})
		switch {
		case errors.Is(err, coord.ErrLoading):
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		case err != nil:
			continue
		}
		waits = append(waits, func() ([]kmsg.ListGroupsResponseGroup, bool) { return answer.receive(ctx, stopped) })
	}
	return Reply{Response: resp, Wait: func() {
		for _, wait := range waits {
			if groups, ok := wait(); ok {
				resp.Groups = append(resp.Groups, groups...)
			}
		}
	}}
}
