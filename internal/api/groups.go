package api

import (
	"context"
	"errors"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/metadata"
)

// GroupCoordinator is the runtime of the group coordinator's shards, one
// per partition of `__consumer_offsets`.
type GroupCoordinator interface {
	Do(partition int32, op coord.Op[*group.Shard]) (stopped <-chan struct{}, err error)
}

// groupPartition is the `__consumer_offsets` partition coordinating a group.
func (b *Broker) groupPartition(groupID string) int32 {
	return coord.PartitionFor(groupID, b.cfg.Broker.OffsetsTopicNumPartitions)
}

// onGroupShard runs op on the shard coordinating groupID. op hands its
// answer to deliver (once; later calls are ignored) on the shard's loop;
// the returned wait, called on the connection's writer goroutine, receives
// it. Only the writer goroutine ever touches the response it builds from
// the answer, so an answer arriving after the request gave up cannot race
// with encoding. wait reports false if the shard stopped or the connection
// closed first.
func onGroupShard[T any](b *Broker, ctx context.Context, groupID string, op func(s *group.Shard, fx *coord.Effects, deliver func(T))) (wait func() (T, bool), err *kerr.Error) {
	answer := make(chan T, 1)
	stopped, doErr := b.cfg.Groups.Do(b.groupPartition(groupID), func(s *group.Shard, fx *coord.Effects) {
		op(s, fx, func(v T) {
			select {
			case answer <- v:
			default:
			}
		})
	})
	if doErr != nil {
		return nil, coordinatorError(doErr)
	}
	return func() (T, bool) { return receive(ctx, answer, stopped) }, nil
}

// receive waits for an operation's answer; false means its shard stopped
// or the connection closed first. An answer that is already there wins.
func receive[T any](ctx context.Context, answer <-chan T, stopped <-chan struct{}) (T, bool) {
	select {
	case v := <-answer:
		return v, true
	case <-stopped:
	case <-ctx.Done():
	}
	select {
	case v := <-answer:
		return v, true
	default:
	}
	var zero T
	return zero, false
}

// eachGroup runs op for every group of a multi-group request on the shards
// that coordinate them, and returns a function (for the writer goroutine)
// that waits for every answer and hands it to apply. fail records a
// group's coordinator-level error, including a shard that stopped before
// answering.
func eachGroup[T any](b *Broker, ctx context.Context, ids []string, op func(i int, s *group.Shard, fx *coord.Effects, deliver func(T)), apply func(i int, v T), fail func(i int, err *kerr.Error)) (waitAll func()) {
	waits := make([]func() (T, bool), len(ids))
	for i, id := range ids {
		wait, err := onGroupShard(b, ctx, id, func(s *group.Shard, fx *coord.Effects, deliver func(T)) { op(i, s, fx, deliver) })
		if err != nil {
			fail(i, err)
			continue
		}
		waits[i] = wait
	}
	return func() {
		for i, wait := range waits {
			if wait == nil {
				continue
			}
			if v, ok := wait(); ok {
				apply(i, v)
			} else {
				fail(i, kerr.NotCoordinator)
			}
		}
	}
}

// coordinatorError maps a runtime refusal to the error clients retry on.
func coordinatorError(err error) *kerr.Error {
	if errors.Is(err, coord.ErrLoading) {
		return kerr.CoordinatorLoadInProgress
	}
	return kerr.NotCoordinator
}

// validGroupID reports whether a group ID may be used (Kafka refuses the
// empty ID for membership and commits with INVALID_GROUP_ID).
func validGroupID(id string) bool { return id != "" }

// offsetsTopicConfigs are the configs `__consumer_offsets` is created with,
// as Kafka's GroupCoordinator.groupMetadataTopicConfigs.
func (b *Broker) offsetsTopicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":   "compact",
		"compression.type": "producer",
		"segment.bytes":    strconv.FormatInt(int64(b.cfg.Broker.OffsetsTopicSegmentBytes), 10),
	}
}

// ensureOffsetsTopic creates `__consumer_offsets` on first use, as Kafka
// does when the first FindCoordinator for a group arrives.
func (b *Broker) ensureOffsetsTopic(ctx context.Context) *kerr.Error {
	if b.cfg.Metadata.Image().TopicByName(metadata.GroupMetadataTopic) != nil {
		return nil
	}
	err := b.cfg.Controller.CreateInternalTopic(ctx, metadata.GroupMetadataTopic,
		b.cfg.Broker.OffsetsTopicNumPartitions, b.cfg.Broker.OffsetsTopicReplicationFactor, b.offsetsTopicConfigs())
	if err != nil {
		b.log.Error("create offsets topic failed", "err", err)
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// singleGroupCall answers a request about one group on the shard that
// coordinates it. call runs the shard operation and hands respond the
// answer; fail writes a coordinator-level error into resp (also used when
// the group ID is invalid or the shard stops before answering).
func singleGroupCall[T any, P interface {
	*T
	kmsg.Response
}](b *Broker, ctx context.Context, groupID string, resp P, fail func(P, *kerr.Error), call func(s *group.Shard, fx *coord.Effects, respond func(P))) Reply {
	if !validGroupID(groupID) {
		fail(resp, kerr.InvalidGroupID)
		return reply(resp)
	}
	wait, err := onGroupShard(b, ctx, groupID, call)
	if err != nil {
		fail(resp, err)
		return reply(resp)
	}
	return Reply{Response: resp, Wait: func() {
		answer, ok := wait()
		if !ok {
			fail(resp, kerr.NotCoordinator)
			return
		}
		*resp = *answer
	}}
}

// waitOp waits for an operation that signals completion by closing
// finished; false means its shard's loop exited first. It does not give up
// when the connection closes: such operations fill the response in place
// on the shard's loop, so the caller must not touch the response until the
// operation is over (it is short: a coordinator write at most).
func waitOp(finished, stopped <-chan struct{}) bool {
	select {
	case <-finished:
		return true
	case <-stopped:
	}
	select {
	case <-finished:
		return true
	default:
		return false
	}
}
