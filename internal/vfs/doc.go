// Package vfs is the filesystem seam under internal/storage: every byte the
// broker persists goes through an FS, so tests can pull the plug, tear writes
// and fill the disk without touching a real device.
//
// Three implementations:
//
//   - OS (vfs.OS{}): real files. Write uses O_APPEND, Sync is fsync(2), SyncDir opens the
//     directory and fsyncs it.
//   - MemFS (NewMem): in memory, with crash simulation. Every file keeps the
//     bytes that were fsynced apart from the bytes only written; every directory
//     keeps the listing as of its last SyncDir apart from its live listing.
//     Crash drops everything not made durable, as a power loss would; CrashTorn
//     also keeps a random prefix of each unsynced tail, as a torn write would.
//   - FaultFS (NewFaultFS): wraps another FS and fails chosen operations
//     through an Injector (ENOSPC after a byte budget, fsync errors, ...),
//     modelled on pebble's vfs/errorfs.
//
// # Durability contract (what storage must do, and what MemFS enforces)
//
//	file.Write  -> bytes readable at once, lost on crash until file.Sync
//	file.WriteAt-> the same; an overwrite of synced bytes is undone by a
//	               crash until file.Sync (the old bytes come back)
//	file.Sync   -> everything written to that file so far survives a crash
//	               (its directory entry does not: see SyncDir)
//	Create, Rename, Remove, MkdirAll
//	            -> visible at once, undone by a crash until SyncDir(parent)
//	Truncate    -> visible at once, undone by a crash until file.Sync
//
// Handles append (Create, OpenAppend: Write), write at offsets
// (OpenReadWrite: WriteAt; what raft-wal's segment files need) or only read
// (Open); each refuses the other kind of write, as the OS does for a file
// opened with O_APPEND.
//
// # Threading
//
// An FS is safe for concurrent use. A File is safe for concurrent ReadAt calls
// alongside one writer (Write, Truncate, Sync); storage serialises its writers.
// After MemFS.Crash every File opened before it fails with ErrCrashed, so a
// writer racing with a simulated power loss can never report success for a
// write that the crash dropped. MemFS (and a FaultFS or PowerFS over one)
// reports the crashes so far as its Generation (Generationer), so that
// storage's file cache, which closes idle handles and reopens files on
// demand, refuses after a crash the reopen a dead process could not make.
//
// internal/storage and internal/quorum (the metadata log, its stable state
// and its snapshots) write through this package, and tests import it.
package vfs
