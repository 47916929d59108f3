package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// ManagerConfig is what a Manager needs.
type ManagerConfig struct {
	// FS holds the logs; nil means the operating system's.
	FS     vfs.FS
	LogDir string
	Logger *slog.Logger
	Now    func() time.Time
	// ProducerIDExpirationMs is producer.id.expiration.ms, handed to every
	// log; 0 means storage's default (one day).
	ProducerIDExpirationMs int64
	// NodeID is this broker's node.id: its replica ID.
	NodeID int32
	// ReplicaLagTimeMaxMs is replica.lag.time.max.ms: an ISR member whose
	// fetches have not reached the leader's log end for that long is
	// proposed for removal. 0 means Kafka's default, 30000.
	ReplicaLagTimeMaxMs int64
	// ISRProposer receives the ISR changes partitions led here propose
	// (AlterPartition); nil on a single node, which never proposes any.
	ISRProposer ISRProposer
	// AwaitRole makes a partition opened by Ensure serve nothing until the
	// broker calls MakeLeader or MakeFollower (cluster mode, where roles
	// come from the metadata log). When false, a newly opened partition
	// leads itself with replicas [NodeID] and ISR [NodeID] until told
	// otherwise: a single node's every partition, as before replication.
	AwaitRole bool
	// ReplicaEligible reports whether a replica's broker may join an ISR
	// (registered, unfenced, not in controlled shutdown), from the
	// metadata image; nil means every replica may.
	ReplicaEligible func(id int32) bool
	// HighWatermarkCheckpointIntervalMs is
	// replica.high.watermark.checkpoint.interval.ms: how often the high
	// watermarks are written to the log directory's
	// replication-offset-checkpoint. 0 means Kafka's default, 5000.
	HighWatermarkCheckpointIntervalMs int64
	// Files is the broker-wide cache every partition log opens its files
	// through, sized from the open-file limit, so that the descriptors
	// the logs hold do not grow with the number of partitions; nil means
	// one of storage.DefaultFileBudget descriptors for this Manager.
	Files *storage.FileCache
}

// defaultReplicaLagTimeMaxMs is Kafka's replica.lag.time.max.ms.
const defaultReplicaLagTimeMaxMs = 30000

// defaultHighWatermarkCheckpointIntervalMs is Kafka's
// replica.high.watermark.checkpoint.interval.ms.
const defaultHighWatermarkCheckpointIntervalMs = 5000

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Manager owns every partition log in one log directory, and the
// directory's high-watermark checkpoint (hw_checkpoint.go).
type Manager struct {
	cfg   ManagerConfig
	log   *slog.Logger
	clean bool // the previous run shut down cleanly: logs skip recovery

	mu         sync.RWMutex // guards partitions, scan, checkpointed, shutdownStates and failed
	partitions map[TopicPartition]*Partition
	// scan is partitions as a slice, for the background passes (flush
	// checks every 100 ms, ISR checks, retention, checkpoints): built on
	// the first pass after partitions changed and shared, never modified,
	// by every pass until the next change, so that a pass over 100,000
	// idle partitions neither allocates nor sorts. Nil when stale.
	scan []*Partition
	// writeCached is the partitions of scan in write-caching mode (Kafka's
	// flush settings), the only ones FlushDue checks; valid with scan, and
	// made stale also by SetConfig.
	writeCached []*Partition
	// checkpointed holds the high watermarks read from the checkpoint at
	// start for partitions not opened yet: Ensure takes a partition's out
	// as its initial high watermark, Remove drops it, and every checkpoint
	// written keeps the rest (a partition the metadata has not reached
	// yet must not lose its high watermark).
	checkpointed map[TopicPartition]int64
	// shutdownStates holds the active segments the clean-shutdown marker
	// recorded, for logs not opened yet: the first open of each takes its
	// own out (a log closed and opened again in this run has changed).
	shutdownStates storage.ShutdownStates
	// failed holds the partitions whose log would not open, so that
	// nobody retries them before openRetryBackoff (manager_open.go) and
	// requests for them are answered KAFKA_STORAGE_ERROR.
	failed map[TopicPartition]openFailure

	hw hwCheckpointer
}

// NewManager prepares the log directory and consumes its clean-shutdown
// marker, so a crash from here on is recovered at the next start.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReplicaLagTimeMaxMs <= 0 {
		cfg.ReplicaLagTimeMaxMs = defaultReplicaLagTimeMaxMs
	}
	if cfg.Files == nil {
		cfg.Files = storage.NewFileCache(storage.FileCacheConfig{Logger: cfg.Logger})
	}
	if err := vfs.MkdirAllDurable(cfg.FS, cfg.LogDir); err != nil {
		return nil, fmt.Errorf("create log dir %s: %w", cfg.LogDir, err)
	}
	clean, states, err := storage.TakeCleanShutdown(cfg.FS, cfg.LogDir)
	if err != nil {
		return nil, fmt.Errorf("read clean shutdown marker in %s: %w", cfg.LogDir, err)
	}
	entries, _ := cfg.FS.ReadDir(cfg.LogDir)
	if !clean && slices.ContainsFunc(entries, isPartitionDir) {
		cfg.Logger.Info("log dir was not shut down cleanly, recovering logs", "dir", cfg.LogDir)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, clean: clean, shutdownStates: states, partitions: map[TopicPartition]*Partition{}, failed: map[TopicPartition]openFailure{},
		checkpointed: readHighWatermarks(cfg.FS, cfg.LogDir, entries, cfg.Logger)}
	m.hw.start(m, millis(cfg.HighWatermarkCheckpointIntervalMs, defaultHighWatermarkCheckpointIntervalMs))
	return m, nil
}

// Files is the cache the Manager's logs open their files through, for the
// server's metrics (storage.FileCache.Stats).
func (m *Manager) Files() *storage.FileCache { return m.cfg.Files }

// Get returns the hosted partition, if any.
func (m *Manager) Get(topic string, partition int32) (*Partition, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.partitions[TopicPartition{topic, partition}]
	return p, ok
}

// Ensure opens (recovering if needed) the partition's log unless it is
// already hosted, and applies cfg.
//
// The role: a newly opened partition leads itself (replicas and ISR
// [NodeID]) under leaderEpoch, or with AwaitRole serves nothing; in
// cluster mode the broker calls MakeLeader or MakeFollower right after
// Ensure with the state the metadata names. A partition still in that
// provisional self-leadership takes a newer leaderEpoch from a later
// Ensure (a single node's epoch bumps); one whose role the broker set is
// left alone.
//
// A partition whose open failed less than openRetryBackoff ago is not
// retried: Ensure returns its error wrapped in ErrOpenFailed at once.
func (m *Manager) Ensure(topic string, topicID [16]byte, partition, leaderEpoch int32, cfg storage.Config) (*Partition, error) {
	if p, ok := m.Get(topic, partition); ok {
		m.SetConfig(p, cfg)
		p.provisionalEpoch(leaderEpoch)
		return p, nil
	}
	tp := TopicPartition{topic, partition}
	if err := m.recentFailure(tp); err != nil {
		return nil, err
	}
	p, err := m.open(tp, topicID, leaderEpoch, cfg)
	m.recordOpen(tp, err)
	return p, err
}

// open opens tp's log and hosts it.
func (m *Manager) open(tp TopicPartition, topicID [16]byte, leaderEpoch int32, cfg storage.Config) (*Partition, error) {
	topic, partition := tp.Topic, tp.Partition
	dir := m.logDir(tp)
	l, err := storage.Open(m.cfg.FS, dir, cfg, storage.Options{
		Logger:        m.log.With("topic", topic, "partition", partition),
		Now:           m.cfg.Now,
		CleanShutdown: m.clean,
		ShutdownState: m.takeShutdownState(tp),
		Files:         m.cfg.Files,

		ProducerIDExpirationMs: m.cfg.ProducerIDExpirationMs,
	})
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	p := newPartition(partitionConfig{topic: topic, topicID: topicID, partition: partition, log: l,
		self: m.cfg.NodeID, now: m.cfg.Now, lagTimeMaxMs: m.cfg.ReplicaLagTimeMaxMs, propose: m.proposeISR,
		eligible:   m.cfg.ReplicaEligible,
		selfLeader: !m.cfg.AwaitRole, leaderEpoch: leaderEpoch,
		checkpointedHighWatermark: m.checkpointedHighWatermark(tp)})
	m.mu.Lock()
	defer m.mu.Unlock()
	if existing, ok := m.partitions[tp]; ok {
		// Lost a race with a concurrent Ensure: keep the first.
		l.Close()
		return existing, nil
	}
	m.partitions[tp] = p
	m.addToScanLocked(p)
	delete(m.checkpointed, tp)
	return p, nil
}

// takeShutdownState removes and returns what the clean-shutdown marker
// recorded of the active segment of tp's log, if anything.
func (m *Manager) takeShutdownState(tp TopicPartition) *storage.ShutdownState {
	name := tp.dirName()
	m.mu.Lock()
	defer m.mu.Unlock()
	state, ok := m.shutdownStates[name]
	if !ok {
		return nil
	}
	delete(m.shutdownStates, name)
	return &state
}

// checkpointedHighWatermark is the high watermark the checkpoint read at
// start holds for tp, or noCheckpointedHighWatermark.
func (m *Manager) checkpointedHighWatermark(tp TopicPartition) int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if hw, ok := m.checkpointed[tp]; ok {
		return hw
	}
	return noCheckpointedHighWatermark
}

// HostsTopic reports whether any partition of topic is hosted here. A
// topic the metadata no longer has but that is still hosted is being
// deleted: the broker has not removed its partitions yet.
func (m *Manager) HostsTopic(topic string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for tp := range m.partitions {
		if tp.Topic == topic {
			return true
		}
	}
	return false
}

// Remove stops hosting the partition and deletes its data. The
// high-watermark checkpoint drops it at the next write, which the removal
// brings forward (hwCheckpointer.removed).
func (m *Manager) Remove(topic string, partition int32) error {
	tp := TopicPartition{topic, partition}
	m.mu.Lock()
	p, ok := m.partitions[tp]
	delete(m.partitions, tp)
	m.scan = nil
	delete(m.checkpointed, tp)
	delete(m.failed, tp)
	m.mu.Unlock()
	if !ok {
		return nil
	}
	p.close()
	err := p.log.Delete()
	m.hw.removed()
	if err != nil {
		return fmt.Errorf("delete log of %s-%d: %w", topic, partition, err)
	}
	return nil
}

// all is the hosted partitions in no order, for background passes: the
// same slice until the set changes (see Manager.scan); callers must not
// modify it.
func (m *Manager) all() []*Partition {
	scan, _ := m.scans()
	return scan
}

// addToScanLocked adds a newly hosted p to scan and writeCached, if they
// are built: a start opening 100,000 partitions would otherwise rebuild
// them, under mu, on every pass between two opens. Appending does not
// disturb a pass still using the slices: it sees its own length, and the
// appended element lies past it (or in a new array). Caller holds mu.
func (m *Manager) addToScanLocked(p *Partition) {
	if m.scan == nil {
		return
	}
	m.scan = append(m.scan, p)
	if p.log.WriteCaching() {
		m.writeCached = append(m.writeCached, p)
	}
}

// scans returns scan and writeCached, rebuilding them if stale.
func (m *Manager) scans() (scan, writeCached []*Partition) {
	m.mu.RLock()
	scan, writeCached = m.scan, m.writeCached
	m.mu.RUnlock()
	if scan != nil {
		return scan, writeCached
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.scan == nil {
		m.scan = make([]*Partition, 0, len(m.partitions))
		m.writeCached = nil
		for _, p := range m.partitions {
			m.scan = append(m.scan, p)
			if p.log.WriteCaching() {
				m.writeCached = append(m.writeCached, p)
			}
		}
	}
	return m.scan, m.writeCached
}

// SetConfig gives p's log a new configuration, through the manager so
// that FlushDue learns whether p caches writes.
func (m *Manager) SetConfig(p *Partition, cfg storage.Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.log.WriteCaching() != cfg.WriteCaching() {
		m.scan = nil
	}
	p.log.SetConfig(cfg)
}

// Len is how many partitions are hosted (open).
func (m *Manager) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.partitions)
}

// Partitions lists the hosted partitions sorted by topic and partition.
func (m *Manager) Partitions() []*Partition {
	m.mu.RLock()
	out := make([]*Partition, 0, len(m.partitions))
	for _, p := range m.partitions {
		out = append(out, p)
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// proposeISR hands a partition's ISR proposal to the configured proposer.
func (m *Manager) proposeISR(tp TopicPartition, proposed LeaderAndISR) {
	if m.cfg.ISRProposer == nil {
		m.log.Warn("ISR change proposed but no proposer is configured", "topic", tp.Topic, "partition", tp.Partition, "isr", proposed.ISR)
		return
	}
	m.cfg.ISRProposer.ProposeISR(tp, proposed)
}

// CheckISR runs the ISR shrink rule (replica.lag.time.max.ms) over every
// partition led here at nowMs, handing shrinks to the ISRProposer, and
// re-evaluates their high watermarks, which time alone can release (a
// caught-up follower outside the ISR holds it only for the lag time).
// The broker calls it periodically (Kafka's isr-expiration task runs
// every replica.lag.time.max.ms / 2).
func (m *Manager) CheckISR(nowMs int64) {
	for _, p := range m.all() {
		p.checkISR(nowMs)
	}
}

// EnforceRetention applies time and size retention to every partition,
// below its high watermark only (Kafka's deletableSegments): no record is
// deleted before every ISR member has it, and a follower deletes nothing
// it has not seen committed.
func (m *Manager) EnforceRetention() {
	now := m.cfg.Now()
	for _, p := range m.all() {
		deleted, err := p.log.EnforceRetentionBelow(now, p.HighWatermark())
		if err != nil {
			m.log.Error("retention failed", "topic", p.Topic, "partition", p.Partition, "err", err)
			continue
		}
		if deleted > 0 {
			m.log.Info("retention deleted segments", "topic", p.Topic, "partition", p.Partition, "segments", deleted)
		}
	}
}

// Compact runs a log-cleaner pass on every compacted partition that is
// dirty enough (cleanup.policy=compact), cleaning only below each
// partition's high watermark, as Kafka cleans below the last stable offset.
func (m *Manager) Compact() {
	now := m.cfg.Now()
	for _, p := range m.Partitions() {
		res, err := p.log.CompactBelow(now, p.HighWatermark())
		if err != nil {
			m.log.Error("compaction failed", "topic", p.Topic, "partition", p.Partition, "err", err)
			continue
		}
		if res.SegmentsBefore > 0 {
			m.log.Info("compacted segments", "topic", p.Topic, "partition", p.Partition,
				"segmentsBefore", res.SegmentsBefore, "segmentsAfter", res.SegmentsAfter,
				"bytesBefore", res.BytesBefore, "bytesAfter", res.BytesAfter, "cleanedTo", res.CleanedTo)
		}
	}
}

// ExpireProducers forgets, in every partition, the idempotent producers
// idle longer than producer.id.expiration.ms (Kafka's periodic check,
// every producer.id.expiration.check.interval.ms).
func (m *Manager) ExpireProducers() {
	now := m.cfg.Now()
	for _, p := range m.all() {
		if expired := p.log.ExpireProducers(now); expired > 0 {
			m.log.Info("expired idle producer IDs", "topic", p.Topic, "partition", p.Partition, "producers", expired)
		}
	}
}

// FlushDue fsyncs write-cached logs whose flush.messages or flush.ms is due.
func (m *Manager) FlushDue() {
	now := m.cfg.Now()
	_, writeCached := m.scans()
	for _, p := range writeCached {
		if err := p.log.MaybeFlush(now); err != nil {
			m.log.Error("flush failed", "topic", p.Topic, "partition", p.Partition, "err", err)
		}
	}
}

// Checkpoint persists every log's recovery point and log start offset, so
// the next unclean start scans only what was written since (Kafka's
// log.flush.offset.checkpoint.interval.ms).
func (m *Manager) Checkpoint() {
	for _, p := range m.all() {
		if err := p.log.Checkpoint(); err != nil {
			m.log.Error("checkpoint failed", "topic", p.Topic, "partition", p.Partition, "err", err)
		}
	}
}

// unopenedLogs lists the partition directories in the log dir that are not
// among the logs this run opened (the metadata quorum's directory and other
// files are not partition logs).
func (m *Manager) unopenedLogs(opened map[TopicPartition]*Partition) []string {
	names, err := m.cfg.FS.ReadDir(m.cfg.LogDir)
	if err != nil {
		return []string{m.cfg.LogDir}
	}
	dirs := make(map[string]bool, len(opened))
	for tp := range opened {
		dirs[tp.Topic+"-"+strconv.Itoa(int(tp.Partition))] = true
	}
	var unopened []string
	for _, name := range names {
		if dirs[name] || !isPartitionDir(name) {
			continue
		}
		if info, err := m.cfg.FS.Stat(path.Join(m.cfg.LogDir, name)); err == nil && info.IsDir {
			unopened = append(unopened, name)
		}
	}
	return unopened
}

// isPartitionDir reports whether a log dir entry is named like a partition
// log, <topic>-<partition>.
func isPartitionDir(name string) bool {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return false
	}
	_, err := strconv.ParseUint(name[i+1:], 10, 31)
	return err == nil
}

// DiskSpace reports the total and usable bytes of the log directory's file
// system, -1 when unknown.
func (m *Manager) DiskSpace() (total, usable int64) { return vfs.DiskSpace(m.cfg.FS, m.cfg.LogDir) }

// Close writes the high-watermark checkpoint a last time (Kafka's
// ReplicaManager.shutdown), then flushes and closes every log and, if all
// closed cleanly, leaves the clean-shutdown marker so the next start skips
// recovery. A failed checkpoint write is returned but does not withhold
// the marker: the logs themselves are intact.
func (m *Manager) Close() error {
	first := m.hw.stop()
	m.mu.Lock()
	parts := m.partitions
	m.partitions = map[TopicPartition]*Partition{}
	m.scan = nil
	entries := highWatermarkEntries(parts, m.checkpointed)
	m.mu.Unlock()
	var hwErr error
	if first {
		hwErr = m.hw.write(entries)
	}
	if hwErr != nil {
		m.log.Error("high watermark checkpoint failed at shutdown", "dir", m.cfg.LogDir, "err", hwErr)
	}
	states, errs := closeAll(parts)
	if len(errs) > 0 {
		return errors.Join(append(errs, hwErr)...)
	}
	if unopened := m.unopenedLogs(parts); len(unopened) > 0 {
		// A log this run never opened (start-up failed before it, or its
		// open failed) was not recovered: the next start must recover it.
		m.log.Info("not marking a clean shutdown: logs were never opened", "logs", unopened)
		return hwErr
	}
	if err := storage.WriteCleanShutdown(m.cfg.FS, m.cfg.LogDir, states); err != nil {
		return errors.Join(fmt.Errorf("write clean shutdown marker: %w", err), hwErr)
	}
	return hwErr
}
