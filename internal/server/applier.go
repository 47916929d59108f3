package server

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
)

// applier makes the partitions this broker hosts follow the metadata
// image: it opens the logs of partitions assigned here, makes each the
// leader or a follower as the image says (starting or stopping its
// replica fetcher and its coordinator), and stops and deletes partitions
// that left this broker or whose topic was deleted.
//
// It runs on its own goroutine, never on Raft's apply path: opening a log
// may recover it (disk reads, fsyncs), which must not hold up the metadata
// quorum. The quorum's change callback only records that a newer image
// exists; the applier then diffs the image it applied last against the
// newest one, so intermediate images may be skipped without losing a
// change (a topic recreated under the same name has a new ID).
//
// At start it applies nothing until the image is caught up (catchup.go).
//
// Threading: the applier goroutine owns applied and caughtUp; mu guards
// the published offset and its condition variable, which WaitApplied
// waits on.
type applier struct {
	b       *Broker
	log     *slog.Logger
	notify  chan struct{} // cap 1: a newer image was committed
	applied *metadata.Image
	// caughtUp: an image holding this incarnation's registration has been
	// seen; until then nothing is applied (holdUntilCaughtUp).
	caughtUp bool
	started  time.Time // for the catch-up's log line

	mu            sync.Mutex
	cond          *sync.Cond
	appliedOffset int64
	appliedImage  *metadata.Image // the image appliedOffset is of (mu)
}

func newApplier(b *Broker) *applier {
	a := &applier{b: b, log: b.log.With("component", "applier"), notify: make(chan struct{}, 1), applied: metadata.NewImage(), appliedOffset: -1,
		started: time.Now()}
	a.cond = sync.NewCond(&a.mu)
	return a
}

// changed is the quorum's OnChange callback: it returns at once.
func (a *applier) changed(_, _ *metadata.Image) {
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// run applies images until stop closes.
func (a *applier) run(stop <-chan struct{}) {
	for {
		a.applyLatest()
		select {
		case <-stop:
			return
		case <-a.notify:
		}
	}
}

// applyLatest brings the hosted partitions to the newest image, once the
// broker has caught up.
func (a *applier) applyLatest() {
	next := a.b.quorum.Image()
	if next == a.applied || a.holdUntilCaughtUp(next) {
		return
	}
	a.apply(a.applied, next)
	a.applied = next
	a.mu.Lock()
	a.appliedOffset, a.appliedImage = next.Offset(), next
	a.cond.Broadcast()
	a.mu.Unlock()
	a.published()
}

// waitAppliedImage returns once an applied image satisfies ok, or when ctx
// ends.
func (a *applier) waitAppliedImage(ctx context.Context, ok func(*metadata.Image) bool) error {
	stop := context.AfterFunc(ctx, func() {
		a.mu.Lock()
		a.cond.Broadcast()
		a.mu.Unlock()
	})
	defer stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.appliedImage == nil || !ok(a.appliedImage) {
		if err := ctx.Err(); err != nil {
			return err
		}
		a.cond.Wait()
	}
	return nil
}

// WaitApplied returns once an image at or past offset has been applied to
// the partitions, or when ctx ends.
func (a *applier) WaitApplied(ctx context.Context, offset int64) error {
	stop := context.AfterFunc(ctx, func() {
		a.mu.Lock()
		a.cond.Broadcast()
		a.mu.Unlock()
	})
	defer stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.appliedOffset < offset {
		if err := ctx.Err(); err != nil {
			return err
		}
		a.cond.Wait()
	}
	return nil
}

// apply diffs two images for this broker's partitions. Deleted topics go
// first: partitions are hosted by name, so a topic deleted and created
// again under the same name between the two images must lose its old
// partitions before the new ones open, or the new topic would take over
// the old log and then be deleted with it.
func (a *applier) apply(prev, next *metadata.Image) {
	self := a.b.cfg.NodeID
	for _, t := range prev.Topics() {
		if nt := next.TopicByID(t.ID); nt != nil {
			continue
		}
		for _, p := range t.Partitions {
			if slices.Contains(p.Replicas, self) {
				a.stopReplica(t.Name, p.Index, true)
			}
		}
	}
	a.openHosted(next)
	var roles []roleChange
	for _, t := range next.Topics() {
		old := prev.TopicByID(t.ID)
		tc := a.topicConfig(t)
		for i := range t.Partitions {
			p := &t.Partitions[i]
			var was *metadata.Partition
			if old != nil {
				was = old.Partition(p.Index)
			}
			hosted := slices.Contains(p.Replicas, self)
			if !hosted {
				if was != nil && slices.Contains(was.Replicas, self) {
					a.stopReplica(t.Name, p.Index, true)
				}
				continue
			}
			if was != nil && samePartition(was, p) {
				if _, open := a.b.partitions.Get(t.Name, p.Index); open {
					continue
				}
			}
			roles = append(roles, roleChange{t, p, &tc})
		}
		if old != nil && configsChanged(old, t) {
			a.applyConfig(t, tc)
		}
	}
	a.applyRoles(roles)
}

// samePartition reports whether nothing this broker acts on changed.
func samePartition(a, b *metadata.Partition) bool {
	return a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch &&
		slices.Equal(a.ISR, b.ISR) && slices.Equal(a.Replicas, b.Replicas)
}

func configsChanged(a, b *metadata.Topic) bool {
	if len(a.Configs) != len(b.Configs) {
		return true
	}
	for k, v := range a.Configs {
		if w, ok := b.Configs[k]; !ok || w != v {
			return true
		}
	}
	return false
}

func (a *applier) topicConfig(t *metadata.Topic) config.Topic {
	tc, err := config.ResolveTopic(a.b.cfg.TopicDefaults, t.Configs)
	if err != nil {
		a.log.Error("topic config invalid, using defaults", "topic", t.Name, "err", err)
		return a.b.cfg.TopicDefaults
	}
	return tc
}

func (a *applier) applyConfig(t *metadata.Topic, tc config.Topic) {
	for _, p := range t.Partitions {
		if part, ok := a.b.partitions.Get(t.Name, p.Index); ok {
			a.b.partitions.SetConfig(part, storageConfig(tc))
			part.SetMinInsyncReplicas(tc.MinInsyncReplicas)
		}
	}
}

// becomeReplica opens the partition if needed and gives it the role the
// image names.
func (a *applier) becomeReplica(t *metadata.Topic, p *metadata.Partition, tc *config.Topic) {
	part, err := a.b.partitions.Ensure(t.Name, t.ID, p.Index, p.LeaderEpoch, storageConfig(*tc))
	if err != nil {
		if !errors.Is(err, replica.ErrOpenFailed) { // else openHosted logged it
			a.log.Error("open partition failed", "topic", t.Name, "partition", p.Index, "err", err)
		}
		return
	}
	part.SetMinInsyncReplicas(tc.MinInsyncReplicas)
	state := replica.LeaderAndISR{
		Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		Replicas: p.Replicas, ISR: p.ISR,
	}
	if p.Leader == a.b.cfg.NodeID {
		a.b.fetchers.Remove(replica.TopicPartition{Topic: t.Name, Partition: p.Index})
		if err := part.MakeLeader(state, time.Now().UnixMilli()); err != nil {
			a.log.Error("become leader failed", "topic", t.Name, "partition", p.Index, "err", err)
			return
		}
		a.log.Debug("became leader", "topic", t.Name, "partition", p.Index, "leaderEpoch", p.LeaderEpoch)
		a.loadCoordinator(t.Name, part)
		return
	}
	a.unloadCoordinator(t.Name, p.Index)
	if err := part.MakeFollower(state); err != nil {
		a.log.Error("become follower failed", "topic", t.Name, "partition", p.Index, "err", err)
		return
	}
	if p.Leader < 0 {
		a.b.fetchers.Remove(replica.TopicPartition{Topic: t.Name, Partition: p.Index})
		return
	}
	a.b.fetchers.Add(part, p.Leader, p.LeaderEpoch)
}

// stopReplica stops fetching for and serving a partition; with remove it
// also deletes its data.
func (a *applier) stopReplica(topic string, partition int32, remove bool) {
	a.b.fetchers.Remove(replica.TopicPartition{Topic: topic, Partition: partition})
	a.unloadCoordinator(topic, partition)
	if !remove {
		return
	}
	if err := a.b.partitions.Remove(topic, partition); err != nil {
		a.log.Error("delete partition failed", "topic", topic, "partition", partition, "err", err)
	}
}

func (a *applier) loadCoordinator(topic string, part *replica.Partition) {
	switch topic {
	case metadata.GroupMetadataTopic:
		a.b.groups.Load(part)
	case metadata.TransactionStateTopic:
		a.b.txns.Load(part)
	}
}

func (a *applier) unloadCoordinator(topic string, partition int32) {
	switch topic {
	case metadata.GroupMetadataTopic:
		a.b.groups.Unload(partition)
	case metadata.TransactionStateTopic:
		a.b.txns.Unload(partition)
	}
}

// Offset is the metadata offset of the image last applied to the
// partitions: what heartbeats report as CurrentMetadataOffset, so the
// controller unfences this broker only once it serves what it was given.
func (a *applier) Offset() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.appliedOffset
}
