package perf

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// leaderWaitPoll is how often ensureTopic re-reads metadata while a new
// topic's partitions have no leader yet.
const leaderWaitPoll = 50 * time.Millisecond

// leaderWaitLimit bounds the wait for a new topic's leaders.
const leaderWaitLimit = 30 * time.Second

// ensureTopic creates topic with the given partition count unless it exists
// (an existing topic is used as it is), then waits until every partition has
// a leader, and returns the partitions.
func ensureTopic(ctx context.Context, admin *kadm.Client, topic string, partitions int32, replicationFactor int16) ([]int32, error) {
	_, err := admin.CreateTopic(ctx, partitions, replicationFactor, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return nil, fmt.Errorf("create topic %s: %w", topic, err)
	}
	deadline := time.Now().Add(leaderWaitLimit)
	for {
		ids, ready, err := topicPartitions(ctx, admin, topic)
		if err == nil && ready {
			return ids, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("topic %s: partitions still without a leader after %s (last error: %v)", topic, leaderWaitLimit, err)
		}
		if err := waitOrDone(ctx, leaderWaitPoll); err != nil {
			return nil, err
		}
	}
}

// topicPartitions lists topic's partitions in order and tells whether every
// one of them has a leader.
func topicPartitions(ctx context.Context, admin *kadm.Client, topic string) ([]int32, bool, error) {
	details, err := admin.ListTopics(ctx, topic)
	if err != nil {
		return nil, false, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	detail, ok := details[topic]
	if !ok {
		return nil, false, fmt.Errorf("describe topic %s: missing from the metadata response", topic)
	}
	if detail.Err != nil {
		return nil, false, fmt.Errorf("describe topic %s: %w", topic, detail.Err)
	}
	ids := make([]int32, 0, len(detail.Partitions))
	ready := len(detail.Partitions) > 0
	for id, p := range detail.Partitions {
		ids = append(ids, id)
		if p.Leader < 0 || p.Err != nil {
			ready = false
		}
	}
	slices.Sort(ids)
	return ids, ready, nil
}

// startOffsets returns each partition's log start offset now.
func startOffsets(ctx context.Context, admin *kadm.Client, topic string) (map[int32]int64, error) {
	listed, err := admin.ListStartOffsets(ctx, topic)
	return offsetsByPartition("start", topic, listed, err)
}

// endOffsets returns each partition's end offset (high watermark) now.
func endOffsets(ctx context.Context, admin *kadm.Client, topic string) (map[int32]int64, error) {
	listed, err := admin.ListEndOffsets(ctx, topic)
	return offsetsByPartition("end", topic, listed, err)
}

func offsetsByPartition(which, topic string, listed kadm.ListedOffsets, err error) (map[int32]int64, error) {
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list %s offsets of %s: %w", which, topic, err)
	}
	offsets := make(map[int32]int64)
	listed.Each(func(o kadm.ListedOffset) {
		if o.Topic == topic {
			offsets[o.Partition] = o.Offset
		}
	})
	return offsets, nil
}

// waitOrDone waits for d or until ctx ends, whichever is first.
func waitOrDone(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
