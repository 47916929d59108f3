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
//	file.Sync   -> everything written to that file so far survives a crash
//	               (its directory entry does not: see SyncDir)
//	Create, Rename, Remove, MkdirAll
//	            -> visible at once, undone by a crash until SyncDir(parent)
//	Truncate    -> visible at once, undone by a crash until file.Sync
//
// # Threading
//
// An FS is safe for concurrent use. A File is safe for concurrent ReadAt calls
// alongside one writer (Write, Truncate, Sync); storage serialises its writers.
// After MemFS.Crash every File opened before it fails with ErrCrashed, so a
// writer racing with a simulated power loss can never report success for a
// write that the crash dropped.
//
// Only internal/storage (and tests) import this package.
package vfs
