package txn

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// fakeBlocks hands out blocks of size from 0 up, or fails with err.
type fakeBlocks struct {
	mu       sync.Mutex
	size     int64
	next     int64
	err      error
	calls    int
	brokerID int32
	// block, when set, is received from before answering.
	block chan struct{}
}

func (f *fakeBlocks) AllocateProducerIDs(ctx context.Context, brokerID int32) (int64, int64, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.brokerID = brokerID
	if f.err != nil {
		return 0, 0, f.err
	}
	first := f.next
	f.next += f.size
	return first, f.size, nil
}

func TestNextProducerIDWalksBlocks(t *testing.T) {
	blocks := &fakeBlocks{size: 3}
	m := NewProducerIDManager(7, blocks)
	for want := int64(0); want < 10; want++ {
		id, err := m.NextProducerID(t.Context())
		if err != nil || id != want {
			t.Fatalf("id %d, err %v; want %d", id, err, want)
		}
	}
	if blocks.calls != 4 || blocks.brokerID != 7 {
		t.Fatalf("%d block requests for broker %d, want 4 for broker 7", blocks.calls, blocks.brokerID)
	}
}

// A failed block commit is reported and retried by the next call; no ID is
// invented meanwhile.
func TestNextProducerIDRetriesAfterFailure(t *testing.T) {
	blocks := &fakeBlocks{size: 2, err: errors.New("not controller")}
	m := NewProducerIDManager(1, blocks)
	if _, err := m.NextProducerID(t.Context()); err == nil {
		t.Fatal("failed block commit gave an ID")
	}
	blocks.err = nil
	if id, err := m.NextProducerID(t.Context()); err != nil || id != 0 {
		t.Fatalf("after recovery: id %d, err %v", id, err)
	}
}

func TestNextProducerIDRejectsInvalidBlock(t *testing.T) {
	m := NewProducerIDManager(1, &fakeBlocks{size: 0})
	if _, err := m.NextProducerID(t.Context()); err == nil {
		t.Fatal("empty block accepted")
	}
}

// Concurrent callers never share an ID, and a caller queued behind a slow
// block commit gives up when its context ends.
func TestNextProducerIDConcurrent(t *testing.T) {
	m := NewProducerIDManager(1, &fakeBlocks{size: 5})
	const callers, each = 8, 50
	ids := make(chan int64, callers*each)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				id, err := m.NextProducerID(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("producer ID %d handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != callers*each {
		t.Fatalf("%d distinct IDs, want %d", len(seen), callers*each)
	}

	slow := &fakeBlocks{size: 5, block: make(chan struct{})}
	m = NewProducerIDManager(1, slow)
	firstDone := make(chan error, 1)
	go func() {
		_, err := m.NextProducerID(t.Context())
		firstDone <- err
	}()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// Either the queued caller times out waiting for the lock, or (if it
	// won the lock) the slow commit sees its ended context: both fail.
	if _, err := m.NextProducerID(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v, want context.Canceled", err)
	}
	close(slow.block)
	if err := <-firstDone; err != nil {
		t.Fatalf("first caller: %v", err)
	}
}

func TestNextProducerIDWithoutAllocator(t *testing.T) {
	if _, err := NewProducerIDManager(1, nil).NextProducerID(t.Context()); err == nil {
		t.Fatal("a manager without a block allocator handed out an ID")
	}
}
