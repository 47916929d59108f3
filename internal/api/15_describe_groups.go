package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// DescribeGroups v0-v6: state, protocol and members (with their
// assignments) of each classic group; v6 adds per-group error messages.

func handleDescribeGroups(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.Groups = make([]kmsg.DescribeGroupsResponseGroup, len(r.Groups))
	for i, id := range r.Groups {
		resp.Groups[i] = kmsg.NewDescribeGroupsResponseGroup()
		resp.Groups[i].Group = id
	}
	waitAll := eachGroup(b, ctx, r.Groups,
		func(i int, s *group.Shard, _ *coord.Effects, deliver func(kmsg.DescribeGroupsResponseGroup)) {
			deliver(s.DescribeGroup(r.Groups[i]))
		},
		func(i int, g kmsg.DescribeGroupsResponseGroup) { resp.Groups[i] = g },
		func(i int, err *kerr.Error) {
			resp.Groups[i] = kmsg.NewDescribeGroupsResponseGroup()
			resp.Groups[i].Group, resp.Groups[i].ErrorCode = r.Groups[i], err.Code
		})
	return Reply{Response: resp, Wait: func() {
		waitAll()
		if !r.IncludeAuthorizedOperations {
			for i := range resp.Groups {
				resp.Groups[i].AuthorizedOperations = authorizedOperationsOmitted
			}
		}
	}}
}
