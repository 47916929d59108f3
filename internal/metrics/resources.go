package metrics

import "github.com/prometheus/client_golang/prometheus"

// Resource limits outside the network (network.go has the connection
// limits and sluice_fd_budget): what storage holds open and every request
// the broker refused because a limit was reached.
//
//	sluice_refusals_total{reason}            requests, or parts of one (a topic of
//	    CreateTopics, a partition of a Produce or Fetch), answered with an
//	    error because of a broker resource: max_partitions
//	    (sluice.max.partitions, POLICY_VIOLATION), too_many_open_files (the
//	    file budget, KAFKA_STORAGE_ERROR), storage_error (a log that could
//	    not be opened, written or read for another reason,
//	    KAFKA_STORAGE_ERROR). Connections refused at accept are counted in
//	    sluice_connections_refused_total, not here.
//	sluice_storage_files_open                descriptors storage's file cache holds open now
//	sluice_storage_files_in_use              of those, pinned by operations in progress
//	sluice_storage_files_limit               the cache's budget (sluice_fd_budget{use="storage"} as applied)
//	sluice_storage_file_opens_total          descriptors opened, reopens included
//	sluice_storage_file_reopens_total        reopens of files closed to make room
//	sluice_storage_file_evictions_total      idle descriptors closed to make room
//	sluice_storage_file_waits_total          opens that waited for a descriptor
//	sluice_storage_file_refusals_total       opens that gave up (storage.ErrTooManyOpenFiles)
//	sluice_storage_file_overdrafts_total     opens past the budget to finish a change already made
//
// The partition count is sluice_partitions (cluster.go); the process
// collector's process_open_fds and process_max_fds are the whole
// process's descriptors and limit.

// Reasons of sluice_refusals_total besides RefusedTooManyOpenFiles
// (network.go), which it shares with the connection refusals.
const (
	RefusedMaxPartitions = "max_partitions"
	RefusedStorageError  = "storage_error"
)

// FileStat is storage's file cache as read at scrape time
// (storage.FileCacheStats, copied so that this package imports nothing).
type FileStat struct {
	Budget, Open, InUse                                    int
	Opens, Reopens, Evictions, Waits, Refusals, Overdrafts int64
}

var (
	filesOpenDesc  = prometheus.NewDesc("sluice_storage_files_open", "Descriptors storage's file cache holds open now.", nil, nil)
	filesInUseDesc = prometheus.NewDesc("sluice_storage_files_in_use",
		"Descriptors of storage's file cache pinned by operations in progress (the rest are idle and closed first when room is needed).", nil, nil)
	filesLimitDesc = prometheus.NewDesc("sluice_storage_files_limit",
		"Descriptors storage's file cache may hold open (its share of the open-file limit).", nil, nil)
	fileOpensDesc     = prometheus.NewDesc("sluice_storage_file_opens_total", "Segment and index descriptors opened, reopens included.", nil, nil)
	fileReopensDesc   = prometheus.NewDesc("sluice_storage_file_reopens_total", "Reopens of segment files whose descriptor was closed to make room.", nil, nil)
	fileEvictionsDesc = prometheus.NewDesc("sluice_storage_file_evictions_total", "Idle descriptors closed to make room for another file.", nil, nil)
	fileWaitsDesc     = prometheus.NewDesc("sluice_storage_file_waits_total", "File opens that waited because every descriptor of the budget was in use.", nil, nil)
	fileRefusalsDesc  = prometheus.NewDesc("sluice_storage_file_refusals_total",
		"File opens that gave up: every descriptor stayed in use, or the operating system refused one (too many open files).", nil, nil)
	fileOverdraftsDesc = prometheus.NewDesc("sluice_storage_file_overdrafts_total",
		"File opens past the budget, made to finish a change already written.", nil, nil)
)

func newRefusals() *prometheus.CounterVec {
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_refusals_total",
		Help: "Requests, or topics and partitions of one, refused because a broker resource limit was reached, by reason.",
	}, []string{"reason"})
	for _, reason := range []string{RefusedMaxPartitions, RefusedTooManyOpenFiles, RefusedStorageError} {
		refusals.WithLabelValues(reason)
	}
	return refusals
}

// Refused counts one refusal (RefusedMaxPartitions,
// RefusedTooManyOpenFiles or RefusedStorageError): call it where the
// error is answered, once per topic or partition answered with it.
func (m *Broker) Refused(reason string) {
	if m == nil {
		return
	}
	m.refusals.WithLabelValues(reason).Inc()
}

// ObserveFiles reports storage's file cache at every scrape; call it once.
func (m *Broker) ObserveFiles(stats func() FileStat) {
	if m == nil {
		return
	}
	m.registry.MustRegister(fileCollector(stats))
}

// fileCollector reads the file cache when Prometheus scrapes.
type fileCollector func() FileStat

func (c fileCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{filesOpenDesc, filesInUseDesc, filesLimitDesc, fileOpensDesc,
		fileReopensDesc, fileEvictionsDesc, fileWaitsDesc, fileRefusalsDesc, fileOverdraftsDesc} {
		ch <- d
	}
}

func (c fileCollector) Collect(ch chan<- prometheus.Metric) {
	s := c()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(filesOpenDesc, s.Open)
	gauge(filesInUseDesc, s.InUse)
	gauge(filesLimitDesc, s.Budget)
	counter(fileOpensDesc, s.Opens)
	counter(fileReopensDesc, s.Reopens)
	counter(fileEvictionsDesc, s.Evictions)
	counter(fileWaitsDesc, s.Waits)
	counter(fileRefusalsDesc, s.Refusals)
	counter(fileOverdraftsDesc, s.Overdrafts)
}
