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
// it (see committedAnswer: an answer given while op runs waits for the
// loop iteration's commit). Only the writer goroutine ever touches the
// response it builds from the answer, so an answer arriving after the
// request gave up cannot race with encoding. wait reports false if the
// shard stopped, the commit failed or the connection closed first.
func onGroupShard[T any](b *Broker, ctx context.Context, groupID string, op func(s *group.Shard, fx *coord.Effects, deliver func(T))) (wait func() (T, bool), err *kerr.Error) {
	answer := newCommittedAnswer[T]()
	stopped, doErr := b.cfg.Groups.Do(b.groupPartition(groupID), func(s *group.Shard, fx *coord.Effects) {
		answer.run(fx, func(deliver func(T)) { op(s, fx, deliver) })
	})
	if doErr != nil {
		return nil, coordinatorError(doErr)
	}
	return func() (T, bool) { return answer.receive(ctx, stopped) }, nil
}

// committedAnswer carries one coordinator operation's answer to the
// connection's writer. The runtime applies each operation's records to the
// shard as soon as it runs and writes a loop iteration's records in one
// append and commit (internal/coord), so an answer computed while an
// operation runs (a read: OffsetFetch, DescribeGroups, a transaction's
// state) may show records of earlier operations of the same iteration that
// are not committed yet. Such an answer is held until the iteration's
// records are committed (acks=all) and dropped if their append or commit
// fails: the shard is then reloaded from its partition, which may still
// hold (and later commit) those records. An iteration that writes nothing
// answers at once, so a read can still show records not yet committed
// that a load replayed: the load reads to the log end (past the high
// watermark of a new leader, and including what a failed commit left in
// the local log), whereas Kafka's coordinators read only committed state.
// An answer given later, from a completion (coord.Effects.Then), comes
// after its iteration's records (if any) were committed and goes at once.
// Everything but receive runs on the shard's loop.
type committedAnswer[T any] struct {
	answer chan T        // cap 1: the first answer wins
	lost   chan struct{} // closed when a held answer's commit failed
}

func newCommittedAnswer[T any]() *committedAnswer[T] {
	return &committedAnswer[T]{answer: make(chan T, 1), lost: make(chan struct{})}
}

// run calls op with the deliver function for this answer, then holds what
// op delivered while running until the iteration's commit.
func (a *committedAnswer[T]) run(fx *coord.Effects, op func(deliver func(T))) {
	running := true
	var held T
	hasHeld := false
	op(func(v T) {
		switch {
		case !running:
			a.send(v)
		case !hasHeld:
			held, hasHeld = v, true
		}
	})
	running = false
	if !hasHeld {
		return
	}
	fx.Then(func(err error) {
		if err != nil {
			close(a.lost)
			return
		}
		a.send(held)
	})
}

func (a *committedAnswer[T]) send(v T) {
	select {
	case a.answer <- v:
	default:
	}
}

// receive waits for the answer; false means the shard stopped, the commit
// failed or the connection closed first. An answer already there wins.
func (a *committedAnswer[T]) receive(ctx context.Context, stopped <-chan struct{}) (T, bool) {
	select {
	case v := <-a.answer:
		return v, true
	case <-a.lost:
	case <-stopped:
	case <-ctx.Done():
	}
	select {
	case v := <-a.answer:
		return v, true
	default:
	}
	var zero T
	return zero, false
}

// await is receive for operations that fill their response in place on
// the shard's loop: it does not give up when the connection closes, since
// the caller must not touch the response until the operation is over (it
// is short: a coordinator write at most).
func (a *committedAnswer[T]) await(stopped <-chan struct{}) bool {
	_, ok := a.receive(context.Background(), stopped)
	return ok
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
