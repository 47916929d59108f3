package quorum

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/metadata"
)

// fsm is the raft.FSM: it replays committed batches into the image.
//
// Threading: hashicorp/raft calls Apply, Snapshot and Restore one at a time
// from its FSM goroutine, in commit order. image is an atomic pointer so any
// goroutine may read it; only those three methods store it. fault is set once
// and read anywhere.
type fsm struct {
	image    atomic.Pointer[metadata.Image]
	fault    atomic.Pointer[error]
	onChange func(prev, next *metadata.Image)
	logger   *slog.Logger
}

func newFSM(onChange func(prev, next *metadata.Image), logger *slog.Logger) *fsm {
	f := &fsm{onChange: onChange, logger: logger}
	f.image.Store(metadata.NewImage())
	return f
}

// Apply replays one committed log entry. The result (nil or an error) is what
// ApplyFuture.Response returns to the proposer.
//
// A batch that decodes but fails Image.Apply is skipped whole on every
// replica alike (Apply is deterministic and atomic), so the quorum stays
// consistent and the proposer gets the error. A batch that does not decode is
// different: a newer version or a bug wrote it, and skipping it could make
// this node disagree with its peers, so the FSM stops applying anything
// (Kafka's controller treats such a record as a fatal fault) and Node.Err
// reports why.
func (f *fsm) Apply(entry *raft.Log) any {
	if err := f.Err(); err != nil {
		return err
	}
	records, err := metadata.DecodeBatch(entry.Data)
	if err != nil {
		fault := fmt.Errorf("metadata log entry %d cannot be decoded, replay stopped: %w", entry.Index, err)
		f.fault.Store(&fault)
		f.logger.Error("metadata replay stopped", "index", entry.Index, "term", entry.Term, "err", err)
		return fault
	}
	prev := f.image.Load()
	// The entry's index becomes the image's Offset: what brokers report as
	// their metadata offset and what a registration remembers.
	next, err := prev.ApplyAt(records, int64(entry.Index))
	if err != nil {
		f.logger.Error("metadata batch rejected", "index", entry.Index, "records", len(records), "err", err)
		return fmt.Errorf("apply metadata log entry %d: %w", entry.Index, err)
	}
	f.publish(prev, next)
	return nil
}

// Err returns the fault that stopped replay, nil while replay is healthy.
func (f *fsm) Err() error {
	if fault := f.fault.Load(); fault != nil {
		return *fault
	}
	return nil
}

func (f *fsm) publish(prev, next *metadata.Image) {
	f.image.Store(next)
	if f.onChange != nil {
		f.onChange(prev, next)
	}
}

// Snapshot captures the current image. The image is immutable, so Persist
// may encode it on another goroutine while Apply carries on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.Err(); err != nil {
		return nil, fmt.Errorf("snapshot refused: %w", err)
	}
	return &snapshot{image: f.image.Load()}, nil
}

// Restore replaces the image with the one a snapshot encodes, replayed from
// empty with the same Apply that replays the log. The snapshot's first
// record restores the image's Offset (a snapshot written before offsets
// existed restores offset 0, which the next entry moves on).
func (f *fsm) Restore(snapshotReader io.ReadCloser) error {
	defer snapshotReader.Close()
	data, err := io.ReadAll(snapshotReader)
	if err != nil {
		return fmt.Errorf("read metadata snapshot: %w", err)
	}
	image, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	f.publish(f.image.Load(), image)
	return nil
}

func decodeSnapshot(data []byte) (*metadata.Image, error) {
	records, err := metadata.DecodeBatch(data)
	if err != nil {
		return nil, fmt.Errorf("decode metadata snapshot: %w", err)
	}
	image, err := metadata.NewImage().Apply(records)
	if err != nil {
		return nil, fmt.Errorf("replay metadata snapshot: %w", err)
	}
	return image, nil
}

// snapshot is a raft.FSMSnapshot of one immutable image.
type snapshot struct {
	image *metadata.Image
}

// Persist writes the snapshot format: one metadata batch of
// Image.SnapshotRecords, whose first record carries the image's offset so a
// restored image keeps it. The snapshot store (snapshotStore) checksums
// and fsyncs it when the sink is closed.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	data := metadata.EncodeBatch(s.image.SnapshotRecords())
	if _, err := sink.Write(data); err != nil {
		return errors.Join(fmt.Errorf("write metadata snapshot: %w", err), sink.Cancel())
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close metadata snapshot: %w", err)
	}
	return nil
}

// Release implements raft.FSMSnapshot; the image needs no cleanup.
func (s *snapshot) Release() {}
