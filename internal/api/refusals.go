package api

import (
	"errors"

	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/storage"
)

// StorageRefusal is the sluice_refusals_total reason for a partition that
// could not be opened, written or read (answered KAFKA_STORAGE_ERROR): the
// broker's file budget (storage.ErrTooManyOpenFiles), or any other storage
// failure. The server's applier uses it for partitions it cannot open.
func StorageRefusal(err error) string {
	if errors.Is(err, storage.ErrTooManyOpenFiles) {
		return metrics.RefusedTooManyOpenFiles
	}
	return metrics.RefusedStorageError
}
