package quorum

import (
	"errors"
	"runtime"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"

	"github.com/sluice-io/sluice/internal/vfs"
)

// raftStores is the WAL as hashicorp/raft's LogStore and StableStore, with
// one difference for a simulated power cut: the raft goroutine that finds
// the disk gone (vfs.ErrCrashed) stops there instead of panicking.
//
// hashicorp/raft panics when it cannot persist a new term (setCurrentTerm)
// or read back a committed entry it must apply (processLogs). On a real
// machine a power cut stops the process before either could happen; in a
// test the broker lives on, on a dead MemFS, until the test halts it, and a
// heartbeat carrying a newer term would take the whole test binary down
// with it. So such a call ends its goroutine (runtime.Goexit: its deferred
// calls run, raft's shutdown still finds the goroutine done), as the power
// cut would have. Any other error, a real disk's, reaches raft unchanged
// and keeps raft's fail-stop panic.
//
// Safe for concurrent use, as the WAL is.
type raftStores struct {
	*wal.WAL
}

var (
	_ raft.LogStore    = raftStores{}
	_ raft.StableStore = raftStores{}
)

// GetLog implements raft.LogStore.
func (s raftStores) GetLog(index uint64, log *raft.Log) error {
	err := s.WAL.GetLog(index, log)
	stopIfPoweredOff(err)
	return err
}

// Set implements raft.StableStore.
func (s raftStores) Set(key, value []byte) error {
	err := s.WAL.Set(key, value)
	stopIfPoweredOff(err)
	return err
}

// SetUint64 implements raft.StableStore.
func (s raftStores) SetUint64(key []byte, value uint64) error {
	err := s.WAL.SetUint64(key, value)
	stopIfPoweredOff(err)
	return err
}

// stopIfPoweredOff ends the calling goroutine when err comes from a disk
// whose simulated power is off (see raftStores).
func stopIfPoweredOff(err error) {
	if errors.Is(err, vfs.ErrCrashed) {
		runtime.Goexit()
	}
}
