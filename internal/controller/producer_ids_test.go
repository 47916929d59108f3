package controller

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/metadata"
	"github.com/sluice-io/sluice/internal/quorum"
)

// Blocks are consecutive, never overlap, and each is committed before it
// is returned (ProducerIdControlManager).
func TestAllocateProducerIDsHandsOutConsecutiveBlocks(t *testing.T) {
	c, q := newTestController(t, fixtureImage(t))
	for i, broker := range []int32{1, 2, 1} {
		first, count, err := c.AllocateProducerIDs(t.Context(), broker)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if first != int64(i)*ProducerIDBlockSize || count != ProducerIDBlockSize {
			t.Fatalf("block %d: [%d, +%d), want [%d, +%d)", i, first, count, int64(i)*ProducerIDBlockSize, ProducerIDBlockSize)
		}
		if next := q.Image().NextProducerID(); next != first+count {
			t.Fatalf("block %d: image's next producer ID %d, want %d", i, next, first+count)
		}
	}
}

// Concurrent callers are serialised by the controller: no two get the same
// block.
func TestAllocateProducerIDsConcurrently(t *testing.T) {
	c, _ := newTestController(t, fixtureImage(t))
	const callers = 16
	firsts := make(chan int64, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			first, _, err := c.AllocateProducerIDs(t.Context(), 1)
			if err != nil {
				t.Error(err)
			}
			firsts <- first
		})
	}
	wg.Wait()
	close(firsts)
	seen := map[int64]bool{}
	for first := range firsts {
		if seen[first] || first%ProducerIDBlockSize != 0 {
			t.Fatalf("block starting at %d handed out twice or misaligned", first)
		}
		seen[first] = true
	}
}

func TestAllocateProducerIDsErrors(t *testing.T) {
	c, q := newTestController(t, fixtureImage(t))
	if _, _, err := c.AllocateProducerIDs(t.Context(), -1); err == nil {
		t.Fatal("negative broker ID accepted")
	}
	q.err = quorum.ErrNotLeader
	if _, _, err := c.AllocateProducerIDs(t.Context(), 1); !errors.Is(err, kerr.NotController) {
		t.Fatalf("failed proposal: err = %v, want NOT_CONTROLLER", err)
	}
	q.err = nil
	if q.Image().NextProducerID() != 0 {
		t.Fatal("failed proposal moved the producer-ID mark")
	}

	exhausted, err := fixtureImage(t).Apply([]metadata.Record{&metadata.ProducerIDsRecord{BrokerID: 1, NextProducerID: math.MaxInt64 - ProducerIDBlockSize + 1}})
	if err != nil {
		t.Fatal(err)
	}
	c, q = newTestController(t, exhausted)
	if _, _, err := c.AllocateProducerIDs(t.Context(), 1); !errors.Is(err, kerr.UnknownServerError) {
		t.Fatalf("exhausted IDs: err = %v, want UNKNOWN_SERVER_ERROR", err)
	}
	if q.proposals != 0 {
		t.Fatal("exhausted IDs still proposed a block")
	}
}
