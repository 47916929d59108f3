package quorum

import (
	"bytes"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/metadata"
)

// memorySink is a raft.SnapshotSink in memory.
type memorySink struct{ bytes.Buffer }

func (s *memorySink) ID() string    { return "test" }
func (s *memorySink) Cancel() error { return nil }
func (s *memorySink) Close() error  { return nil }

// The FSM applies each entry at its Raft index, which becomes the image's
// Offset and the RegisteredAt of brokers it registers; a snapshot restores
// both.
func TestFSMPassesTheRaftIndex(t *testing.T) {
	f := newFSM(nil, slog.New(slog.DiscardHandler))
	apply := func(index uint64, records ...metadata.Record) {
		t.Helper()
		if err, _ := f.Apply(&raft.Log{Index: index, Data: metadata.EncodeBatch(records)}).(error); err != nil {
			t.Fatalf("Apply(%d): %v", index, err)
		}
	}
	apply(3, &metadata.ClusterIDRecord{ID: "c"})
	apply(7, &metadata.RegisterBrokerRecord{Broker: metadata.Broker{NodeID: 1, BrokerEpoch: 4}})
	img := f.image.Load()
	if img.Offset() != 7 || img.Broker(1).RegisteredAt != 7 {
		t.Fatalf("offset %d, RegisteredAt %d, want 7 and 7", img.Offset(), img.Broker(1).RegisteredAt)
	}

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	var sink memorySink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	restored := newFSM(nil, slog.New(slog.DiscardHandler))
	if err := restored.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := restored.image.Load(); !reflect.DeepEqual(got, img) {
		t.Fatalf("restored image differs:\n got %+v\nwant %+v", got, img)
	}
}
