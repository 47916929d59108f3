package api

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-io/sluice/internal/coord"
)

// TestCommittedAnswerWaitsForTheCommit: an answer given while the
// operation runs is held until the loop iteration's records commit, and
// dropped (receive reports false, without waiting for the shard to stop)
// when the commit fails; an answer given from a completion goes at once.
func TestCommittedAnswerWaitsForTheCommit(t *testing.T) {
	never := make(chan struct{})

	held := newCommittedAnswer[int]()
	fx := &coord.Effects{}
	held.run(fx, func(deliver func(int)) { deliver(1); deliver(2) })
	select {
	case v := <-held.answer:
		t.Fatalf("answer %d sent before the commit", v)
	default:
	}
	fx.Complete(nil)
	if v, ok := held.receive(context.Background(), never); !ok || v != 1 {
		t.Fatalf("after the commit: %d, %v; want the first answer, 1", v, ok)
	}

	lost := newCommittedAnswer[int]()
	fx = &coord.Effects{}
	lost.run(fx, func(deliver func(int)) { deliver(1) })
	fx.Complete(errors.New("commit failed"))
	if v, ok := lost.receive(context.Background(), never); ok {
		t.Fatalf("a failed commit still delivered %d", v)
	}

	later := newCommittedAnswer[int]()
	fx = &coord.Effects{}
	later.run(fx, func(deliver func(int)) {
		fx.Then(func(err error) {
			if err == nil {
				deliver(3)
			}
		})
	})
	fx.Complete(nil)
	if v, ok := later.receive(context.Background(), never); !ok || v != 3 {
		t.Fatalf("answer from a completion: %d, %v; want 3", v, ok)
	}
}
