package storage

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

// writeRaw puts data in logDir's high-watermark checkpoint as is.
func writeRaw(t *testing.T, fsys vfs.FS, logDir, data string) {
	t.Helper()
	if err := fsys.MkdirAll(logDir); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Create(filepath.Join(logDir, HighWatermarkCheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
}

// The file is Kafka's CheckpointFile text as OffsetCheckpointFile writes
// it: the version (0), the entry count, then "topic partition offset"
// lines, each ended by a newline. Sluice sorts the lines; Kafka writes
// them in hash order, and the order carries no meaning.
func TestHighWatermarkCheckpointExactFormat(t *testing.T) {
	fsys := vfs.NewMem()
	if err := fsys.MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	entries := []PartitionOffset{{"orders", 1, 7}, {"__consumer_offsets", 12, 0}, {"orders", 0, 1540}}
	if err := WriteHighWatermarkCheckpoint(fsys, "/data", entries); err != nil {
		t.Fatal(err)
	}
	got, err := readBoundedFile(fsys, "/data/replication-offset-checkpoint", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := "0\n3\n__consumer_offsets 12 0\norders 0 1540\norders 1 7\n"
	if string(got) != want {
		t.Fatalf("file:\n%q\nwant\n%q", got, want)
	}
	if names, _ := fsys.ReadDir("/data"); !slices.Equal(names, []string{HighWatermarkCheckpointName}) {
		t.Errorf("log dir holds %v, want only the checkpoint (no .tmp left)", names)
	}
	back, err := ReadHighWatermarkCheckpoint(fsys, "/data")
	if err != nil {
		t.Fatal(err)
	}
	if want := []PartitionOffset{{"__consumer_offsets", 12, 0}, {"orders", 0, 1540}, {"orders", 1, 7}}; !slices.Equal(back, want) {
		t.Errorf("read back %v, want %v", back, want)
	}
}

// The write is atomic and durable: after a power cut the file holds the
// last complete write, never a mix or nothing.
func TestHighWatermarkCheckpointSurvivesPowerCut(t *testing.T) {
	fsys := vfs.NewMem()
	if err := vfs.MkdirAllDurable(fsys, "/data"); err != nil {
		t.Fatal(err)
	}
	if err := WriteHighWatermarkCheckpoint(fsys, "/data", []PartitionOffset{{"t", 0, 10}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteHighWatermarkCheckpoint(fsys, "/data", []PartitionOffset{{"t", 0, 20}}); err != nil {
		t.Fatal(err)
	}
	fsys.Crash()
	got, err := ReadHighWatermarkCheckpoint(fsys, "/data")
	if err != nil {
		t.Fatal(err)
	}
	if want := []PartitionOffset{{"t", 0, 20}}; !slices.Equal(got, want) {
		t.Errorf("after a power cut: %v, want %v", got, want)
	}
}

// Files Kafka writes or would read: its CheckpointReadBuffer takes an
// empty file, or one with only the version, as no entries, and splits
// entry lines on runs of whitespace (trailing whitespace is dropped).
func TestHighWatermarkCheckpointReadsKafkaFiles(t *testing.T) {
	tests := []struct {
		name, data string
		want       []PartitionOffset
	}{
		{"Kafka's hash order", "0\n2\nfoo 1 5\nbar 0 3\n", []PartitionOffset{{"foo", 1, 5}, {"bar", 0, 3}}},
		{"no final newline", "0\n1\nfoo 0 5", []PartitionOffset{{"foo", 0, 5}}},
		{"tabs and runs of spaces", "0\n1\nfoo\t0   5\n", []PartitionOffset{{"foo", 0, 5}}},
		{"trailing whitespace", "0\n1\nfoo 0 5 \n", []PartitionOffset{{"foo", 0, 5}}},
		{"no entries", "0\n0\n", []PartitionOffset{}},
		{"empty file", "", nil},
		{"only the version", "0\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			writeRaw(t, fsys, "/data", tt.data)
			got, err := ReadHighWatermarkCheckpoint(fsys, "/data")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// A missing file is no entries: a new log directory.
func TestHighWatermarkCheckpointMissing(t *testing.T) {
	fsys := vfs.NewMem()
	if err := fsys.MkdirAll("/data"); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHighWatermarkCheckpoint(fsys, "/data")
	if err != nil || got != nil {
		t.Fatalf("missing file: %v, %v; want no entries, no error", got, err)
	}
}

// What Kafka refuses (another version, a malformed line, a count that
// does not match) and what Sluice refuses besides (negative numbers, a
// partition twice, a name Kafka never allows) is corruption naming the file.
func TestHighWatermarkCheckpointRejects(t *testing.T) {
	tests := []struct{ name, data string }{
		{"version 1", "1\n1\nfoo 0 5\n"},
		{"version not a number", "zero\n1\nfoo 0 5\n"},
		{"count not a number", "0\nmany\nfoo 0 5\n"},
		{"negative count", "0\n-1\n"},
		{"fewer entries than counted", "0\n2\nfoo 0 5\n"},
		{"more entries than counted", "0\n1\nfoo 0 5\nfoo 1 6\n"},
		{"two fields", "0\n1\nfoo 5\n"},
		{"four fields", "0\n1\nfoo 0 5 6\n"},
		{"leading whitespace", "0\n1\n foo 0 5\n"},
		{"blank line", "0\n1\n\nfoo 0 5\n"},
		{"partition not a number", "0\n1\nfoo x 5\n"},
		{"offset not a number", "0\n1\nfoo 0 5.5\n"},
		{"negative offset", "0\n1\nfoo 0 -5\n"},
		{"negative partition", "0\n1\nfoo -1 5\n"},
		{"partition twice", "0\n2\nfoo 0 5\nfoo 0 6\n"},
		{"bad topic name", "0\n1\nfo/o 0 5\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			writeRaw(t, fsys, "/data", tt.data)
			got, err := ReadHighWatermarkCheckpoint(fsys, "/data")
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("got %v, %v; want corruption", got, err)
			}
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.File != "/data/replication-offset-checkpoint" {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
}
