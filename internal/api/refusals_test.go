package api

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/storage"
)

// A storage failure is counted under the file budget's reason only when
// the budget (or the OS's descriptor limit) was the cause.
func TestStorageRefusal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("append to t-0: %w", &storage.TooManyOpenFilesError{File: "x.log", Budget: 64}), metrics.RefusedTooManyOpenFiles},
		{fmt.Errorf("append to t-0: %w", storage.ErrTooManyOpenFiles), metrics.RefusedTooManyOpenFiles},
		{fmt.Errorf("write x.log: %w", syscall.ENOSPC), metrics.RefusedStorageError},
		{errors.New("disk on fire"), metrics.RefusedStorageError},
	} {
		if got := StorageRefusal(tc.err); got != tc.want {
			t.Errorf("StorageRefusal(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
