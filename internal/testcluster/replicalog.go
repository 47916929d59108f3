package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/storage"
	"github.com/sluice-io/sluice/internal/vfs"
)

// readChunkBytes is how much one storage Read returns at most while a
// replica log is read whole.
const readChunkBytes = 1 << 20

// ReplicaLog is one replica of a partition as its node's storage holds
// it: every batch from the log start offset to the log end offset, byte
// for byte.
type ReplicaLog struct {
	Node           int32
	Dir            string // the partition directory
	LogStartOffset int64
	LogEndOffset   int64
	Batches        []StoredBatch
	// Recovery is what storage logged while opening the log (a truncated
	// torn tail, a rebuilt index): shown when the replica differs.
	Recovery string
}

// StoredBatch is one record batch of a replica log.
type StoredBatch struct {
	BaseOffset  int64
	LastOffset  int64
	LeaderEpoch int32 // the batch's partitionLeaderEpoch
	Bytes       []byte
}

// ReadReplicaLog opens the partition's log in logDir (a node's log.dirs,
// the node stopped) with internal/storage, recovering it as a restarting
// broker would, and reads every batch from the log start to the log end.
func ReadReplicaLog(fsys vfs.FS, logDir, topic string, partition int32) (ReplicaLog, error) {
	dir := path.Join(logDir, topic+"-"+strconv.Itoa(int(partition)))
	rl := ReplicaLog{Dir: dir}
	info, err := fsys.Stat(dir)
	if err != nil {
		return rl, fmt.Errorf("replica directory %s: %w", dir, err)
	}
	if !info.IsDir {
		return rl, fmt.Errorf("replica directory %s is not a directory", dir)
	}
	var recovery bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&recovery, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l, err := storage.Open(fsys, dir, storage.DefaultConfig(), storage.Options{Logger: logger})
	if err != nil {
		return rl, fmt.Errorf("open replica log: %w", err)
	}
	rl.LogStartOffset, rl.LogEndOffset = l.LogStartOffset(), l.LogEndOffset()
	rl.Batches, err = readBatches(l, rl.LogStartOffset, rl.LogEndOffset)
	rl.Recovery = recovery.String()
	if closeErr := l.Close(); err == nil && closeErr != nil {
		err = fmt.Errorf("close replica log: %w", closeErr)
	}
	return rl, err
}

// readBatches reads [start, end) of l and splits it into batches.
func readBatches(l *storage.Log, start, end int64) ([]StoredBatch, error) {
	var batches []StoredBatch
	for offset := start; offset < end; {
		chunk, err := l.Read(offset, readChunkBytes, end, true)
		if err != nil {
			return batches, fmt.Errorf("read at offset %d: %w", offset, err)
		}
		if len(chunk) == 0 {
			return batches, fmt.Errorf("read at offset %d returned nothing before the log end offset %d", offset, end)
		}
		read, err := splitBatches(chunk)
		if err != nil {
			return batches, fmt.Errorf("read at offset %d: %w", offset, err)
		}
		batches = append(batches, read...)
		offset = read[len(read)-1].LastOffset + 1
	}
	return batches, nil
}

// splitBatches cuts whole batches out of b (copies: storage may reuse
// nothing, but the caller keeps them past the log's life).
func splitBatches(b []byte) ([]StoredBatch, error) {
	var batches []StoredBatch
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			return batches, fmt.Errorf("batch header: %w", err)
		}
		if h.Size() > len(b) {
			return batches, fmt.Errorf("batch at offset %d of %d bytes, only %d read: %w", h.BaseOffset, h.Size(), len(b), record.ErrShortBatch)
		}
		batches = append(batches, StoredBatch{
			BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), LeaderEpoch: h.PartitionLeaderEpoch,
			Bytes: bytes.Clone(b[:h.Size()]),
		})
		b = b[h.Size():]
	}
	return batches, nil
}

// DiffReplicaLogs compares replicas of one partition offset by offset:
// log start offset, every batch's bytes (offsets, leader epoch, CRC,
// producer fields, records: nothing is ignored) and log end offset. It
// returns nil if they are identical, else an error describing the first
// difference between the first replica and another.
func DiffReplicaLogs(replicas []ReplicaLog) error {
	if len(replicas) < 2 {
		return fmt.Errorf("%d replica logs to compare, want at least 2", len(replicas))
	}
	ref := replicas[0]
	for _, other := range replicas[1:] {
		if err := diffPair(ref, other); err != nil {
			return err
		}
	}
	return nil
}

func diffPair(a, b ReplicaLog) error {
	if a.LogStartOffset != b.LogStartOffset {
		return fmt.Errorf("log start offset: node %d has %d, node %d has %d", a.Node, a.LogStartOffset, b.Node, b.LogStartOffset)
	}
	for i := range max(len(a.Batches), len(b.Batches)) {
		if i >= len(a.Batches) || i >= len(b.Batches) {
			short, long := a, b
			if i >= len(b.Batches) {
				short, long = b, a
			}
			extra := long.Batches[i]
			return fmt.Errorf("node %d's log ends at offset %d; node %d continues with the batch at offsets %d-%d (leader epoch %d)",
				short.Node, short.LogEndOffset, long.Node, extra.BaseOffset, extra.LastOffset, extra.LeaderEpoch)
		}
		if err := diffBatch(a.Node, a.Batches[i], b.Node, b.Batches[i]); err != nil {
			return err
		}
	}
	if a.LogEndOffset != b.LogEndOffset {
		return fmt.Errorf("log end offset: node %d has %d, node %d has %d (same batches)", a.Node, a.LogEndOffset, b.Node, b.LogEndOffset)
	}
	return nil
}

func diffBatch(nodeA int32, a StoredBatch, nodeB int32, b StoredBatch) error {
	if bytes.Equal(a.Bytes, b.Bytes) {
		return nil
	}
	at := 0
	for at < min(len(a.Bytes), len(b.Bytes)) && a.Bytes[at] == b.Bytes[at] {
		at++
	}
	return fmt.Errorf("first difference at offset %d: node %d's batch %d-%d (leader epoch %d, %d bytes) and node %d's batch %d-%d (leader epoch %d, %d bytes) differ from byte %d (%s)",
		min(a.BaseOffset, b.BaseOffset), nodeA, a.BaseOffset, a.LastOffset, a.LeaderEpoch, len(a.Bytes),
		nodeB, b.BaseOffset, b.LastOffset, b.LeaderEpoch, len(b.Bytes), at, batchField(at))
}

// batchField names the magic v2 batch field holding byte position at.
func batchField(at int) string {
	fields := []struct {
		end  int
		name string
	}{
		{8, "baseOffset"}, {12, "batchLength"}, {16, "partitionLeaderEpoch"}, {17, "magic"},
		{21, "crc"}, {23, "attributes"}, {27, "lastOffsetDelta"}, {35, "baseTimestamp"},
		{43, "maxTimestamp"}, {51, "producerId"}, {53, "producerEpoch"}, {57, "baseSequence"},
		{61, "recordCount"},
	}
	for _, f := range fields {
		if at < f.end {
			return f.name
		}
	}
	return "records"
}

// CompareReplicaLogs reads the partition's replica on each of nodes (all
// of them must be stopped or killed; none given means every node) from
// its data directory and fails the test with the first difference. It
// returns the replicas read, for further checks.
func (c *ProcessCluster) CompareReplicaLogs(t testing.TB, topic string, partition int32, nodes ...int32) []ReplicaLog {
	t.Helper()
	if len(nodes) == 0 {
		nodes = c.Nodes()
	}
	var replicas []ReplicaLog
	for _, id := range nodes {
		if c.Running(id) {
			t.Fatalf("testcluster: CompareReplicaLogs: node %d is running; stop or kill every node first", id)
		}
		rl, err := ReadReplicaLog(vfs.OS{}, c.DataDir(id), topic, partition)
		rl.Node = id
		if err != nil {
			t.Fatalf("testcluster: node %d's replica of %s-%d: %v", id, topic, partition, err)
		}
		replicas = append(replicas, rl)
	}
	if err := DiffReplicaLogs(replicas); err != nil {
		t.Errorf("testcluster: replicas of %s-%d differ: %v%s", topic, partition, err, recoveryNotes(replicas))
		return replicas
	}
	t.Logf("testcluster: %d replicas of %s-%d identical: offsets %d-%d, %d batches",
		len(replicas), topic, partition, replicas[0].LogStartOffset, replicas[0].LogEndOffset, len(replicas[0].Batches))
	return replicas
}

func recoveryNotes(replicas []ReplicaLog) string {
	var notes []error
	for _, r := range replicas {
		if r.Recovery != "" {
			notes = append(notes, fmt.Errorf("node %d recovery: %s", r.Node, r.Recovery))
		}
	}
	if len(notes) == 0 {
		return ""
	}
	return "\n" + errors.Join(notes...).Error()
}
