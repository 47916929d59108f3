package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
)

// OffsetCommit v0-v10: commits are records in `__consumer_offsets`,
// acknowledged once durable. Validation of generation and member is the
// group coordinator's (internal/group). v10 names topics by ID.

func handleOffsetCommit(b *Broker, ctx context.Context, req *Request) Reply {
	r, unknownTopics := b.commitByName(req.Body.(*kmsg.OffsetCommitRequest))
	return singleGroupCall(b, ctx, r.Group, r.ResponseKind().(*kmsg.OffsetCommitResponse), offsetCommitFailure(r, unknownTopics),
		func(s *group.Shard, fx *coord.Effects, respond func(*kmsg.OffsetCommitResponse)) {
			s.CommitOffsets(fx, r, func(resp *kmsg.OffsetCommitResponse) {
				resp.Topics = append(resp.Topics, unknownTopics...)
				respond(resp)
			})
		})
}

// offsetCommitFailure answers every requested partition with one error,
// keeping the answers already decided for unknown topic IDs.
func offsetCommitFailure(r *kmsg.OffsetCommitRequest, unknownTopics []kmsg.OffsetCommitResponseTopic) func(*kmsg.OffsetCommitResponse, *kerr.Error) {
	return func(resp *kmsg.OffsetCommitResponse, err *kerr.Error) {
		*resp = *group.OffsetCommitErrorResponse(r, err.Code)
		resp.Topics = append(resp.Topics, unknownTopics...)
	}
}
