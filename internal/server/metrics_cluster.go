package server

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/replica"
)

// clusterMetrics keeps what the replication metrics (internal/metrics,
// cluster.go) cannot read from the partitions at scrape time: counts of ISR
// changes and leader elections, and the leaders' high watermarks as the
// replica fetchers last saw them.
//
// The counts come from the metadata log, not from the code paths that
// make the changes, so they hold whichever component (leader, controller)
// made one: observe compares each committed image with the one before it.
// A change counts on the broker that leads the partition after it, and only
// once this broker is registered under its current incarnation, so the
// history a restarted broker replays is not counted again.
//
// The zero value is ready to use. Threading: observe runs on the quorum's
// apply goroutine and touches only atomics; the fetch observer runs on the
// replica fetchers' goroutines and scrapes on the metrics server's, both
// under mu.
type clusterMetrics struct {
	isrShrinks       atomic.Uint64
	isrExpands       atomic.Uint64
	elections        atomic.Uint64
	uncleanElections atomic.Uint64

	mu sync.Mutex
	// leaderHW is each followed partition's high watermark in the last
	// fetch response from its leader.
	leaderHW map[replica.TopicPartition]int64
}

// metadataChanged is the quorum's OnChange callback: the applier is told
// a newer image exists, and the replication counters see the change.
func (b *Broker) metadataChanged(prev, next *metadata.Image) {
	b.applier.changed(prev, next)
	b.clusterMetrics.observe(b.cfg.NodeID, b.lifecycle.incarnation, prev, next)
}

// observe counts the ISR changes and leader elections between two
// consecutive images of partitions that self leads in next.
func (m *clusterMetrics) observe(self int32, incarnation [16]byte, prev, next *metadata.Image) {
	if prev == nil || next == nil {
		return
	}
	if reg := prev.Broker(self); reg == nil || reg.IncarnationID != incarnation {
		return
	}
	for _, t := range metadata.DiffTopics(prev, next).Changed {
		old := prev.TopicByID(t.ID)
		for i := range t.Partitions {
			now := &t.Partitions[i]
			was := old.Partition(now.Index)
			if was == nil || now.Leader != self || now.PartitionEpoch == was.PartitionEpoch {
				continue
			}
			m.count(was, now)
		}
	}
}

// count records one committed change of a partition now led here.
func (m *clusterMetrics) count(was, now *metadata.Partition) {
	if was.Leader != now.Leader {
		m.elections.Add(1)
		if !slices.Contains(was.ISR, now.Leader) {
			m.uncleanElections.Add(1)
		}
	}
	if slices.ContainsFunc(was.ISR, func(id int32) bool { return !slices.Contains(now.ISR, id) }) {
		m.isrShrinks.Add(1)
	}
	if slices.ContainsFunc(now.ISR, func(id int32) bool { return !slices.Contains(was.ISR, id) }) {
		m.isrExpands.Add(1)
	}
}

// observeFetches wraps the replica fetchers' clients so that every fetch
// response's high watermarks are remembered for the follower lag gauge.
func (m *clusterMetrics) observeFetches(client func(brokerID int32) (replica.Requester, bool)) func(int32) (replica.Requester, bool) {
	return func(brokerID int32) (replica.Requester, bool) {
		r, ok := client(brokerID)
		if !ok {
			return nil, false
		}
		return fetchObserver{next: r, m: m}, true
	}
}

// fetchObserver passes requests on and reads the answers to Fetch.
type fetchObserver struct {
	next replica.Requester
	m    *clusterMetrics
}

func (o fetchObserver) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	resp, err := o.next.Request(ctx, req)
	if fetch, ok := resp.(*kmsg.FetchResponse); ok && err == nil {
		o.m.fetched(fetch)
	}
	return resp, err
}

func (m *clusterMetrics) fetched(resp *kmsg.FetchResponse) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leaderHW == nil {
		m.leaderHW = map[replica.TopicPartition]int64{}
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 && p.HighWatermark >= 0 {
				m.leaderHW[replica.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.HighWatermark
			}
		}
	}
}

// followerLags returns the lag of each partition in followed: the leader's
// high watermark minus the local log end, -1 before the first fetch. It
// forgets the partitions no longer followed.
func (m *clusterMetrics) followerLags(followed map[replica.TopicPartition]int64) map[replica.TopicPartition]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tp := range m.leaderHW {
		if _, ok := followed[tp]; !ok {
			delete(m.leaderHW, tp)
		}
	}
	lags := make(map[replica.TopicPartition]int64, len(followed))
	for tp, logEnd := range followed {
		lags[tp] = -1
		if hw, ok := m.leaderHW[tp]; ok {
			lags[tp] = max(0, hw-logEnd)
		}
	}
	return lags
}

func (m *clusterMetrics) counters(stat *metrics.ClusterStat) {
	stat.ISRShrinks = m.isrShrinks.Load()
	stat.ISRExpands = m.isrExpands.Load()
	stat.LeaderElections = m.elections.Load()
	stat.UncleanLeaderElections = m.uncleanElections.Load()
}

// offlinePartitions counts the partitions of img whose leader is none, or
// a broker that is fenced or not registered.
func offlinePartitions(img *metadata.Image) int {
	n := 0
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				n++
				continue
			}
			if br := img.Broker(p.Leader); br == nil || br.Fenced {
				n++
			}
		}
	}
	return n
}

// minISRs resolves min.insync.replicas per topic of img, for the scrape.
func (b *Broker) minISRs(img *metadata.Image) map[string]int32 {
	out := make(map[string]int32, img.TopicCount())
	for _, t := range img.Topics() {
		minISR := b.cfg.TopicDefaults.MinInsyncReplicas
		if _, set := t.Configs["min.insync.replicas"]; set {
			if tc, err := config.ResolveTopic(b.cfg.TopicDefaults, t.Configs); err == nil {
				minISR = tc.MinInsyncReplicas
			}
		}
		out[t.Name] = minISR
	}
	return out
}
