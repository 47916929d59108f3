package server

import "github.com/sluice-io/sluice/internal/metrics"

// newMetrics builds the broker's metrics: the per-partition and
// replication state read at scrape time (partitionStats), and storage's
// file cache (internal/metrics resources.go). The result is kept in
// b.metrics for the components that count refusals: a partition that
// cannot be opened counts b.metrics.Refused(api.StorageRefusal(err)).
func (b *Broker) newMetrics() *metrics.Broker {
	m := metrics.New(b.partitionStats)
	files := b.partitions.Files()
	m.ObserveFiles(func() metrics.FileStat {
		s := files.Stats()
		return metrics.FileStat{Budget: s.Budget, Open: s.Open, InUse: s.InUse,
			Opens: s.Opens, Reopens: s.Reopens, Evictions: s.Evictions,
			Waits: s.Waits, Refusals: s.Refusals, Overdrafts: s.Overdrafts}
	})
	b.metrics = m
	return m
}
