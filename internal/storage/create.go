package storage

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/sluice-io/sluice/internal/vfs"
)

// CreateLogDirs makes the partition directories in dirs (all children of
// parent) that do not exist yet, and makes every name in dirs durable with
// one fsync of parent: creating many partitions at once (a CreateTopics of
// thousands, the first start of a broker given many replicas) then costs
// one directory fsync, not one per partition. Open finds such a directory
// present and does not fsync parent again, so parent is fsynced even when
// every directory existed (one made by an earlier call whose fsync failed
// must not be trusted). The fsync goes through files' budget (a transient
// descriptor). created counts the directories made. On an error none is
// known to be durable: the caller must not open those logs.
func CreateLogDirs(fsys vfs.FS, files *FileCache, parent string, dirs []string) (created int, err error) {
	for _, dir := range dirs {
		made, err := makeDir(fsys, dir)
		if err != nil {
			return created, fmt.Errorf("create log directory %s: %w", dir, err)
		}
		if made {
			created++
		}
	}
	if len(dirs) == 0 {
		return 0, nil
	}
	// fsync point: the names of every directory made above.
	if err := files.transient(neverRefuse, parent, func() error { return fsys.SyncDir(parent) }); err != nil {
		return created, fmt.Errorf("sync log directory %s: %w", parent, err)
	}
	return created, nil
}

// makeDir creates dir unless it exists, reporting whether it did.
func makeDir(fsys vfs.FS, dir string) (bool, error) {
	info, err := fsys.Stat(dir)
	if err == nil {
		if !info.IsDir {
			return false, fmt.Errorf("%s is not a directory", dir)
		}
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, fsys.MkdirAll(dir)
}
