// Package cluster holds black-box tests of Sluice's cluster mode (issue 12,
// "Must show"): several real `sluice serve` processes on 127.0.0.1 (or in
// network namespaces of their own), each
// with its own data directory, client and CONTROLLER ports, started and
// SIGKILLed or SIGTERMed by internal/testcluster's process harness, and
// driven with franz-go's kgo and kadm like any Kafka cluster:
//
//   - TestKillLeaderRepeatedly: acks=all idempotent produce while the
//     partition leader is SIGKILLed and restarted five times; every
//     acknowledged record exactly once, in order; identical replica logs.
//   - TestControllerFailover: SIGKILL of the active controller; CreateTopics
//     succeeds within 10 s; every broker converges on the same metadata.
//   - TestRollingRestart: SIGTERM and restart of each node under produce and
//     group consumption: zero loss, zero duplicates, the group keeps going.
//   - TestUncleanElection: the whole ISR down; with
//     unclean.leader.election.enable off the partition stays offline, on an
//     out-of-sync replica becomes leader and the loss is logged.
//   - TestNetworkPartition: each node in its own network namespace; the
//     partition leader is cut off from the others while an idempotent
//     producer writes with acks=all: the majority elects a new leader, acks=1
//     writes the isolated node accepted never reach the final log, the
//     healed node truncates and rejoins the ISR, nothing acknowledged is
//     lost. Needs root, ip and iptables (scripts/test-deps.sh), else skips.
//   - TestISRShrinkAndExpand: a dead follower leaves the ISR within
//     replica.lag.time.max.ms, acks=all still works with min.insync.replicas
//     = 2, the restarted follower rejoins.
//   - TestReassignUnderLoad: an RF=2 partition moved [1 2] -> [2 3] (off its
//     leader) and [2 3] -> [2 1] (leader stays) with `sluice topic reassign`
//     under acks=all load: the new replica catches up, the old one's
//     directory is deleted, nothing acknowledged is lost, identical logs.
//   - TestFollowerFetch: brokers in racks r1-r3 with the rack-aware replica
//     selector (KIP-392): a consumer in a follower's rack reads every batch
//     from that follower, never past the leader's high watermark.
//
// Replica logs are compared offline, after every node is killed, by reading
// each node's partition directory with internal/storage
// (testcluster.CompareReplicaLogs). Each test takes 15-40 s on two cores
// and is skipped with -short. SLUICE_TEST_CLUSTER_DIR=dir keeps the nodes'
// data and complete logs for a failed run.
//
// The package has only tests.
package cluster
