// Package scale holds black-box tests of the real sluice binary with many
// partitions (issue 11): TestPartitionsAtScale runs `sluice serve` under
// `prlimit --nofile=20000`, creates topics of 1,000 partitions each, writes
// one record to every partition with acks=all, reads a sample back,
// restarts the broker cleanly and after SIGKILL, and checks every partition
// serves again; it reports create time, RSS, open descriptors, goroutines,
// idle CPU and restart times. TestFileBudgetExhausted runs the broker
// under a tiny open-file limit and shows what a client sees.
//
// `go test ./test/scale` runs TestPartitionsAtScale with 20,000
// partitions (the CI size); `make scale` runs it with 100,000
// (SLUICE_SCALE_PARTITIONS). The package has only tests.
package scale
