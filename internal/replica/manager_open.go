package replica

import (
	"errors"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/storage"
)

// Opening many partitions at once (a CreateTopics of thousands, a broker
// starting with everything it hosts): EnsureAll makes the new partition
// directories with one fsync of the log directory (storage.CreateLogDirs)
// and opens the logs on a bounded pool of goroutines, each partition
// hosted, and so served, as soon as its own log is open. A log that will
// not open is remembered (failed), answered KAFKA_STORAGE_ERROR, and not
// retried before openRetryBackoff: a full disk or a refused descriptor
// must not turn into a retry storm or a log line per partition per
// metadata change.

// ErrOpenFailed wraps the error of a partition whose log could not be
// opened recently; Ensure returns it without trying again.
var ErrOpenFailed = errors.New("replica: partition log could not be opened")

// openRetryBackoff is how long a failed open is not retried: the next
// metadata change after it (or a restart) tries again.
const openRetryBackoff = 30 * time.Second

// maxOpenWorkers bounds the goroutines EnsureAll opens logs on. Opening is
// mostly waiting for the disk (directory fsyncs, reads of indexes and
// checkpoints, a recovery scan's fsync), so more goroutines than cores
// keep the disk's queue full; past a few dozen they only add contention.
const maxOpenWorkers = 32

// openWorkers is how many goroutines EnsureAll uses for n partitions.
func openWorkers(n int) int {
	return min(n, maxOpenWorkers, max(8, 8*runtime.GOMAXPROCS(0)))
}

// openFailure is a failed open: why and when.
type openFailure struct {
	err error
	at  time.Time
}

// OpenRequest names a partition for EnsureAll, with what Ensure takes.
type OpenRequest struct {
	Topic       string
	TopicID     [16]byte
	Partition   int32
	LeaderEpoch int32
	Config      storage.Config
}

// OpenFailure is a partition EnsureAll could not open, and why.
type OpenFailure struct {
	TopicPartition
	Err error
}

// EnsureAll is Ensure for many partitions: those not hosted yet, and not
// failed within openRetryBackoff, are opened in parallel (on at most
// maxOpenWorkers goroutines). It returns once every open has finished,
// with the ones that failed in request order. Partitions already hosted
// are left as they are (the caller applies configs and roles after).
func (m *Manager) EnsureAll(reqs []OpenRequest) []OpenFailure {
	todo := m.toOpen(reqs)
	if len(todo) == 0 {
		return nil
	}
	dirs := make([]string, len(todo))
	for i, r := range todo {
		dirs[i] = m.logDir(TopicPartition{r.Topic, r.Partition})
	}
	if _, err := storage.CreateLogDirs(m.cfg.FS, m.cfg.Files, m.cfg.LogDir, dirs); err != nil {
		return m.failAll(todo, err)
	}
	errs := make([]error, len(todo))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range openWorkers(len(todo)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(todo); i = int(next.Add(1) - 1) {
				r := todo[i]
				_, errs[i] = m.Ensure(r.Topic, r.TopicID, r.Partition, r.LeaderEpoch, r.Config)
			}
		})
	}
	wg.Wait()
	var failures []OpenFailure
	for i, err := range errs {
		if err != nil {
			failures = append(failures, OpenFailure{TopicPartition{todo[i].Topic, todo[i].Partition}, err})
		}
	}
	return failures
}

// toOpen is the requests for partitions neither hosted nor failed
// recently, each once.
func (m *Manager) toOpen(reqs []OpenRequest) []OpenRequest {
	now := m.cfg.Now()
	seen := make(map[TopicPartition]bool, len(reqs))
	m.mu.RLock()
	defer m.mu.RUnlock()
	var todo []OpenRequest
	for _, r := range reqs {
		tp := TopicPartition{r.Topic, r.Partition}
		if _, hosted := m.partitions[tp]; hosted || seen[tp] {
			continue
		}
		if f, ok := m.failed[tp]; ok && now.Sub(f.at) < openRetryBackoff {
			continue
		}
		seen[tp] = true
		todo = append(todo, r)
	}
	return todo
}

// failAll records err as the failure of every request.
func (m *Manager) failAll(reqs []OpenRequest, err error) []OpenFailure {
	failures := make([]OpenFailure, len(reqs))
	for i, r := range reqs {
		tp := TopicPartition{r.Topic, r.Partition}
		m.recordOpen(tp, err)
		failures[i] = OpenFailure{tp, err}
	}
	return failures
}

// logDir is tp's log directory.
func (m *Manager) logDir(tp TopicPartition) string {
	return path.Join(m.cfg.LogDir, tp.dirName())
}

// dirName is the name of tp's log directory, <topic>-<partition>.
func (tp TopicPartition) dirName() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// recentFailure is ErrOpenFailed with tp's error if its open failed less
// than openRetryBackoff ago, else nil.
func (m *Manager) recentFailure(tp TopicPartition) error {
	m.mu.RLock()
	f, ok := m.failed[tp]
	m.mu.RUnlock()
	if !ok || m.cfg.Now().Sub(f.at) >= openRetryBackoff {
		return nil
	}
	return fmt.Errorf("%w (%v ago, retried after %v): %w", ErrOpenFailed, m.cfg.Now().Sub(f.at).Round(time.Second), openRetryBackoff, f.err)
}

// recordOpen remembers a failed open of tp, or forgets an earlier one.
func (m *Manager) recordOpen(tp TopicPartition, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.failed, tp)
		return
	}
	m.failed[tp] = openFailure{err: err, at: m.cfg.Now()}
}

// OpenFailed reports whether this broker failed to open the partition's
// log (and has not opened it since): requests for it are answered
// KAFKA_STORAGE_ERROR, as Kafka answers for a partition on an offline log
// directory.
func (m *Manager) OpenFailed(topic string, partition int32) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, failed := m.failed[TopicPartition{topic, partition}]
	return failed
}

// FailedOpens is how many partitions this broker failed to open, for
// metrics.
func (m *Manager) FailedOpens() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.failed)
}

// SummarizeOpenFailures describes failures in a bounded form for one log
// line: how many, the first few partition names, and the first error.
func SummarizeOpenFailures(failures []OpenFailure) (count int, first []string, firstErr error) {
	const shown = 5
	for _, f := range failures[:min(len(failures), shown)] {
		first = append(first, f.Topic+"-"+strconv.Itoa(int(f.Partition)))
	}
	if len(failures) > 0 {
		firstErr = failures[0].Err
	}
	return len(failures), slices.Clip(first), firstErr
}

// closeAll closes every partition and its log, in parallel as EnsureAll
// opens them (each Close fsyncs what was written since the last seal),
// and returns the errors.
func closeAll(parts map[TopicPartition]*Partition) (storage.ShutdownStates, []error) {
	list := make([]*Partition, 0, len(parts))
	for _, p := range parts {
		list = append(list, p)
	}
	errs := make([]error, len(list))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range openWorkers(len(list)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(list); i = int(next.Add(1) - 1) {
				p := list[i]
				p.close()
				if err := p.log.Close(); err != nil {
					errs[i] = fmt.Errorf("close %s-%d: %w", p.Topic, p.Partition, err)
				}
			}
		})
	}
	wg.Wait()
	states := make(storage.ShutdownStates, len(list))
	for _, p := range list {
		if state, ok := p.log.ShutdownState(); ok {
			states[TopicPartition{p.Topic, p.Partition}.dirName()] = state
		}
	}
	return states, slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}
