package replica

import (
	"encoding/binary"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// The high-watermark checkpoint (Kafka's replication-offset-checkpoint):
// one file per log directory holding every hosted partition's high
// watermark, written by one goroutine for all partitions every
// replica.high.watermark.checkpoint.interval.ms, soon after a partition is
// removed, and on Close; read when the Manager starts. A partition opened
// later takes its checkpointed high watermark as its initial one, clamped
// to its log (partition.go, initialHighWatermark), so a restarted replica,
// and a leader elected from it, knows what was committed before the
// restart instead of starting at its log start. The file format is
// storage's (WriteHighWatermarkCheckpoint).
//
// A checkpoint only lags the truth: a high watermark never moves back
// while a partition lives, so the value written is at most the one the
// partition has when the file is read, and the clamp to the log end
// covers a log that lost a cached tail.

// noCheckpointedHighWatermark marks a partition the checkpoint does not
// list; its high watermark starts at its log start.
const noCheckpointedHighWatermark = -1

// removalCheckpointDelay is how long after a partition removal the
// checkpoint is written without it: removals close together (a topic's
// partitions, a deleted topic's) share one write.
const removalCheckpointDelay = 100 * time.Millisecond

// hwCheckpointer runs the checkpoint loop. Threading: the loop goroutine
// and Close are the only writers of the file, serialised by writeMu (a
// leaf lock held across the file write, never with a partition lock);
// wake and quit are channels, done is closed when the loop returns.
type hwCheckpointer struct {
	m        *Manager
	interval time.Duration
	writeMu  sync.Mutex // serialises writes; guards lastScan and lastFingerprint
	// lastScan and lastFingerprint describe the last periodic write
	// (Manager.CheckpointHighWatermarks skips one that would repeat it).
	lastScan        []*Partition
	lastFingerprint uint64
	wake            chan struct{} // cap 1: a partition was removed
	quit            chan struct{}
	done            chan struct{}
	stopOnce        sync.Once
}

// start runs the loop for m until stop.
func (c *hwCheckpointer) start(m *Manager, interval time.Duration) {
	c.m, c.interval = m, interval
	c.wake, c.quit, c.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go c.run()
}

// run writes the checkpoint every interval, and removalCheckpointDelay
// after a removal, until stop.
func (c *hwCheckpointer) run() {
	defer close(c.done)
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-ticker.C:
		case <-c.wake:
			if !c.pause(removalCheckpointDelay) {
				return
			}
		}
		if err := c.m.CheckpointHighWatermarks(); err != nil {
			c.m.log.Error("high watermark checkpoint failed", "dir", c.m.cfg.LogDir, "err", err)
		}
	}
}

// pause waits d, or reports false when stop comes first.
func (c *hwCheckpointer) pause(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c.quit:
		return false
	case <-timer.C:
		return true
	}
}

// removed brings the next write forward after a partition removal.
func (c *hwCheckpointer) removed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// stop ends the loop and waits for it (a write in progress finishes). It
// reports whether this call stopped it: only the first Close writes the
// last checkpoint.
func (c *hwCheckpointer) stop() (first bool) {
	c.stopOnce.Do(func() { close(c.quit); first = true })
	<-c.done
	return first
}

// wrote reports whether the last successful write was of scan with
// fingerprint.
func (c *hwCheckpointer) wrote(scan []*Partition, fingerprint uint64) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return len(scan) > 0 && len(c.lastScan) == len(scan) && &c.lastScan[0] == &scan[0] && c.lastFingerprint == fingerprint
}

// remember records a successful write of scan with fingerprint.
func (c *hwCheckpointer) remember(scan []*Partition, fingerprint uint64) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.lastScan, c.lastFingerprint = scan, fingerprint
}

// write replaces the checkpoint file with entries.
func (c *hwCheckpointer) write(entries []storage.PartitionOffset) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return storage.WriteHighWatermarkCheckpoint(c.m.cfg.FS, c.m.cfg.LogDir, entries)
}

// CheckpointHighWatermarks writes the high watermark of every hosted
// partition, and the checkpointed ones of partitions not opened yet, to
// the log directory's replication-offset-checkpoint, durably (Kafka's
// ReplicaManager.checkpointHighWatermarks). The loop calls it every
// replica.high.watermark.checkpoint.interval.ms.
//
// A write that would repeat the last one is skipped: most of 100,000
// partitions sit idle, and rewriting (sorting, encoding, two fsyncs) an
// unchanged file of them every five seconds is waste.
func (m *Manager) CheckpointHighWatermarks() error {
	scan := m.all()
	m.mu.RLock()
	fingerprint := highWatermarkFingerprint(scan, len(m.checkpointed))
	if m.hw.wrote(scan, fingerprint) {
		m.mu.RUnlock()
		return nil
	}
	entries := highWatermarkEntries(m.partitions, m.checkpointed)
	m.mu.RUnlock()
	if err := m.hw.write(entries); err != nil {
		return err
	}
	m.hw.remember(scan, fingerprint)
	return nil
}

// highWatermarkFingerprint hashes the high watermarks of scan, in its
// order, and the count of checkpointed partitions not opened yet. Equal
// fingerprints over the same scan slice mean, but for a 64-bit collision,
// an unchanged checkpoint; a collision only delays a write by an interval,
// and a high watermark checkpointed late is merely lower after a restart
// (followers and consumers wait until it is raised again).
func highWatermarkFingerprint(scan []*Partition, checkpointed int) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	for _, p := range scan {
		binary.LittleEndian.PutUint64(buf[:], uint64(p.HighWatermark()))
		h.Write(buf[:])
	}
	binary.LittleEndian.PutUint64(buf[:], uint64(checkpointed))
	h.Write(buf[:])
	return h.Sum64()
}

// highWatermarkEntries lists the hosted partitions' high watermarks and
// the checkpointed ones not yet opened. Caller holds Manager.mu.
func highWatermarkEntries(parts map[TopicPartition]*Partition, checkpointed map[TopicPartition]int64) []storage.PartitionOffset {
	out := make([]storage.PartitionOffset, 0, len(parts)+len(checkpointed))
	for tp, p := range parts {
		out = append(out, storage.PartitionOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: p.HighWatermark()})
	}
	for tp, hw := range checkpointed {
		out = append(out, storage.PartitionOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: hw})
	}
	return out
}

// readHighWatermarks reads the log directory's checkpoint, keeping the
// partitions whose directory is among dirEntries (a partition deleted
// since was removed with its directory). An unreadable checkpoint is
// logged and ignored: every high watermark then starts at its log start,
// which is safe (a follower learns the high watermark from its leader, a
// leader from its ISR), where Kafka would take the log directory offline.
func readHighWatermarks(fsys vfs.FS, logDir string, dirEntries []string, logger *slog.Logger) map[TopicPartition]int64 {
	entries, err := storage.ReadHighWatermarkCheckpoint(fsys, logDir)
	if err != nil {
		logger.Error("high watermark checkpoint unreadable: high watermarks start at log starts", "dir", logDir, "err", err)
		return map[TopicPartition]int64{}
	}
	present := make(map[string]bool, len(dirEntries))
	for _, name := range dirEntries {
		present[name] = true
	}
	out := make(map[TopicPartition]int64, len(entries))
	for _, e := range entries {
		if present[e.Topic+"-"+strconv.Itoa(int(e.Partition))] {
			out[TopicPartition{e.Topic, e.Partition}] = e.Offset
		}
	}
	return out
}

// millis is a positive interval in milliseconds, def when ms is not.
func millis(ms, def int64) time.Duration {
	if ms <= 0 {
		ms = def
	}
	return time.Duration(ms) * time.Millisecond
}
