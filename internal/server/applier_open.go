package server

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/replica"
)

// openHosted opens, all at once and in parallel (replica.Manager.EnsureAll),
// the logs of every partition next assigns to this broker that is not
// hosted yet, before apply gives each its role: a CreateTopics of
// thousands of partitions, or a start-up with everything this broker
// hosts, then costs one directory fsync and a pool of concurrent opens
// instead of one open after another. The partitions that would not open
// are logged in one summarised line per pass (count, first names, first
// error) and then answered KAFKA_STORAGE_ERROR; apply's Ensure does not
// retry them (replica.ErrOpenFailed).
func (a *applier) openHosted(next *metadata.Image) {
	reqs := a.unopened(next)
	if len(reqs) == 0 {
		return
	}
	failures := a.b.partitions.EnsureAll(reqs)
	if len(failures) == 0 {
		return
	}
	count, first, err := replica.SummarizeOpenFailures(failures)
	a.log.Error("opening partitions failed; they answer KAFKA_STORAGE_ERROR and are retried at a metadata change after the backoff",
		"count", count, "of", len(reqs), "first", first, "err", err)
}

// unopened lists the partitions next assigns to this broker that are not
// hosted.
func (a *applier) unopened(next *metadata.Image) []replica.OpenRequest {
	self := a.b.cfg.NodeID
	var reqs []replica.OpenRequest
	for _, t := range next.Topics() {
		var cfgDone bool
		var req replica.OpenRequest
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if !slices.Contains(p.Replicas, self) {
				continue
			}
			if _, open := a.b.partitions.Get(t.Name, p.Index); open {
				continue
			}
			if !cfgDone {
				req = replica.OpenRequest{Topic: t.Name, TopicID: t.ID, Config: storageConfig(a.topicConfig(t))}
				cfgDone = true
			}
			req.Partition, req.LeaderEpoch = p.Index, p.LeaderEpoch
			reqs = append(reqs, req)
		}
	}
	return reqs
}

// roleChange is one partition apply gives a role (becomeReplica).
type roleChange struct {
	topic     *metadata.Topic
	partition *metadata.Partition
	config    *config.Topic // one per topic: a start-up has 100,000 changes
}

// maxRoleWorkers bounds the goroutines applyRoles runs on. A role change
// is mostly in memory, but becoming leader under a new epoch writes the
// leader-epoch checkpoint durably (two fsyncs): after a restart every
// partition does, so they must not wait for each other's disk.
const maxRoleWorkers = 32

// applyRoles runs becomeReplica for every change, in parallel: each
// touches only its own partition, and what they share (the replica
// fetchers, the coordinator runtimes, the partition map) has its own
// lock. It returns once all are applied.
func (a *applier) applyRoles(roles []roleChange) {
	workers := min(len(roles), maxRoleWorkers, max(8, 8*runtime.GOMAXPROCS(0)))
	if workers <= 1 {
		for _, r := range roles {
			a.becomeReplica(r.topic, r.partition, r.config)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(roles); i = int(next.Add(1) - 1) {
				r := roles[i]
				a.becomeReplica(r.topic, r.partition, r.config)
			}
		})
	}
	wg.Wait()
}
