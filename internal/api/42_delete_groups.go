package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// DeleteGroups v0-v2: removes empty groups with their committed offsets
// (NON_EMPTY_GROUP while members remain, GROUP_ID_NOT_FOUND if unknown).

func handleDeleteGroups(b *Broker, ctx context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(r.Groups))
	var valid []string
	index := map[string]int{}
	for i, id := range r.Groups {
		resp.Groups[i] = kmsg.NewDeleteGroupsResponseGroup()
		resp.Groups[i].Group = id
		if !validGroupID(id) {
			resp.Groups[i].ErrorCode = kerr.InvalidGroupID.Code
			continue
		}
		index[id] = i
		valid = append(valid, id)
	}
	waitAll := eachGroup(b, ctx, valid,
		func(i int, s *group.Shard, fx *coord.Effects, deliver func(int16)) {
			s.DeleteGroup(fx, valid[i], deliver)
		},
		func(i int, code int16) { resp.Groups[index[valid[i]]].ErrorCode = code },
		func(i int, err *kerr.Error) { resp.Groups[index[valid[i]]].ErrorCode = err.Code })
	return Reply{Response: resp, Wait: waitAll}
}
