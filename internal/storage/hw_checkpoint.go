package storage

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/sluice-io/sluice/internal/vfs"
)

// The high-watermark checkpoint of a log directory (Kafka's
// replication-offset-checkpoint, written by ReplicaManager through
// OffsetCheckpointFile); the format is in the package doc.
const (
	// HighWatermarkCheckpointName is the file's name in the log directory.
	HighWatermarkCheckpointName    = "replication-offset-checkpoint"
	highWatermarkCheckpointVersion = 0
	// maxHighWatermarkCheckpointBytes bounds what is read: a million
	// partitions of the longest topic names.
	maxHighWatermarkCheckpointBytes = 1_000_000 * 280
)

// PartitionOffset is one line of an offset checkpoint: a partition and
// its offset (Kafka's TopicPartitionOffset).
type PartitionOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// WriteHighWatermarkCheckpoint replaces logDir's high-watermark checkpoint
// with entries, atomically and durably (a .tmp file, fsynced, renamed,
// the directory fsynced). Entries are written sorted by topic and
// partition, so equal contents give equal files.
func WriteHighWatermarkCheckpoint(fsys vfs.FS, logDir string, entries []PartitionOffset) error {
	name := filepath.Join(logDir, HighWatermarkCheckpointName)
	if err := writeFileAtomic(fsys, logDir, name, encodeOffsetCheckpoint(entries)); err != nil {
		return fmt.Errorf("write high watermark checkpoint: %w", err)
	}
	return nil
}

// ReadHighWatermarkCheckpoint reads logDir's high-watermark checkpoint; a
// missing file is no entries (a new log directory, or one from before
// checkpoints). A file that fails its checks is an error wrapping
// ErrCorruption naming the file and the bad line.
func ReadHighWatermarkCheckpoint(fsys vfs.FS, logDir string) ([]PartitionOffset, error) {
	name := filepath.Join(logDir, HighWatermarkCheckpointName)
	data, err := readBoundedFile(fsys, name, maxHighWatermarkCheckpointBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read high watermark checkpoint: %w", err)
	}
	return decodeOffsetCheckpoint(name, data)
}

// encodeOffsetCheckpoint writes Kafka's CheckpointFile text: the version,
// the entry count, then "topic partition offset" per line.
func encodeOffsetCheckpoint(entries []PartitionOffset) []byte {
	sorted := slices.SortedFunc(slices.Values(entries), func(a, b PartitionOffset) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%d\n%d\n", highWatermarkCheckpointVersion, len(sorted))
	for _, e := range sorted {
		fmt.Fprintf(&buf, "%s %d %d\n", e.Topic, e.Partition, e.Offset)
	}
	return buf.Bytes()
}

// decodeOffsetCheckpoint parses what encodeOffsetCheckpoint writes, with
// Kafka's CheckpointReadBuffer rules: an empty file, or one holding only
// the version, is no entries; another version is refused; each entry is
// three fields split on whitespace; the count must match the entries.
// Unlike Kafka it also refuses a negative partition or offset, a
// partition named twice, and a topic name with characters Kafka never
// allows, since a high watermark read from such a file could not be
// trusted.
func decodeOffsetCheckpoint(name string, data []byte) ([]PartitionOffset, error) {
	lines := bufio.NewScanner(bytes.NewReader(data))
	lines.Buffer(make([]byte, 0, 512), 4096)
	line := 0
	next := func() (string, bool) {
		if !lines.Scan() {
			return "", false
		}
		line++
		return lines.Text(), true
	}
	bad := func(text, why string) error {
		return corruption(name, 0, fmt.Sprintf("line %d %q: %s", line, text, why), nil)
	}
	text, ok := next()
	if !ok {
		return nil, scanError(name, lines.Err())
	}
	if version, err := strconv.Atoi(text); err != nil || version != highWatermarkCheckpointVersion {
		return nil, bad(text, fmt.Sprintf("want version %d", highWatermarkCheckpointVersion))
	}
	text, ok = next()
	if !ok {
		return nil, scanError(name, lines.Err())
	}
	count, err := strconv.Atoi(text)
	if err != nil || count < 0 {
		return nil, bad(text, "want the entry count")
	}
	entries := make([]PartitionOffset, 0, min(count, 1<<16))
	seen := make(map[PartitionOffset]bool, min(count, 1<<16))
	for text, ok = next(); ok; text, ok = next() {
		e, why := parseOffsetLine(text)
		if why != "" {
			return nil, bad(text, why)
		}
		key := PartitionOffset{Topic: e.Topic, Partition: e.Partition}
		if seen[key] {
			return nil, bad(text, "partition listed twice")
		}
		seen[key] = true
		entries = append(entries, e)
	}
	if err := lines.Err(); err != nil {
		return nil, scanError(name, err)
	}
	if len(entries) != count {
		return nil, corruption(name, 0, fmt.Sprintf("expected %d entries, found %d", count, len(entries)), nil)
	}
	return entries, nil
}

// parseOffsetLine parses "topic partition offset"; why says what is wrong.
func parseOffsetLine(text string) (e PartitionOffset, why string) {
	fields := strings.Fields(text)
	// Kafka splits on \s+, so leading whitespace makes a fourth field and
	// trailing whitespace is ignored.
	if len(fields) != 3 || strings.TrimLeftFunc(text, unicode.IsSpace) != text {
		return e, "want topic, partition and offset"
	}
	partition, err := strconv.ParseInt(fields[1], 10, 32)
	if err != nil || partition < 0 {
		return e, "bad partition"
	}
	offset, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || offset < 0 {
		return e, "bad offset"
	}
	if !validCheckpointTopic(fields[0]) {
		return e, "bad topic name"
	}
	return PartitionOffset{Topic: fields[0], Partition: int32(partition), Offset: offset}, ""
}

// validCheckpointTopic allows Kafka's topic name characters (letters,
// digits, '.', '_', '-'), at most 249 of them.
func validCheckpointTopic(topic string) bool {
	if topic == "" || len(topic) > 249 {
		return false
	}
	for _, c := range []byte(topic) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// scanError reports a file that ended early (Kafka reads a file with no
// version or no count as empty) or a line too long to be an entry.
func scanError(name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, bufio.ErrTooLong) {
		return corruption(name, 0, "a line is longer than any entry", nil)
	}
	return fmt.Errorf("read %s: %w", name, err)
}
