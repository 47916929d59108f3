// Package crash holds black-box crash tests of the real sluice binary: the
// test builds cmd/sluice, runs `sluice serve` as a child process, SIGKILLs
// it at random moments while a client produces with acks=all, restarts it on
// the same data directory, and finally proves that every acknowledged record
// survived at the offset it was acknowledged at, in order, uncorrupted.
//
// TestIdempotentProducerSurvivesSIGKILL does the same with the idempotent
// producer and demands more: every record exactly once, in order, however
// many retries crossed a crash.
//
// A SIGKILL loses the process but not the page cache, so these tests prove
// crash recovery (torn tails, indexes, checkpoints, restart) rather than
// fsync; power loss is tested through the vfs seam in the storage packages.
//
// The package has only tests. Set SLUICE_CRASH_BROKER_CMD to run the same
// test against another broker, with {port} and {data} standing for the port
// and data directory, e.g.
//
//	SLUICE_CRASH_BROKER_CMD='/tmp/kfake-peer -port {port} -data-dir {data} -sync' go test ./test/crash
//
// and SLUICE_CRASH_SEED to replay the kill schedule of a logged seed.
package crash
