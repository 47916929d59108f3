// Package groups proves Sluice's consumer groups (the classic protocol) and
// committed offsets with real clients: franz-go kgo consumers in groups of
// several members with every client-side balancer (range, round-robin,
// sticky, cooperative-sticky), kadm for the admin APIs, and plain kgo
// consumers reading `__consumer_offsets` the way monitoring tools such as
// Burrow do.
//
// What the tests show:
//
//   - once a group is Stable every partition is assigned to exactly one
//     member, as the members themselves see it and as DescribeGroups reports;
//   - a member that vanishes without leaving (its connections cut, as a
//     crashed process or a dead network leaves it) is expired by its session
//     timeout and its partitions go to the survivors;
//   - across member crashes and restarts no record is lost, and a member
//     that restarts resumes after the last committed offset;
//   - an expired member, a past generation or an admin cannot commit into
//     an active group (no zombie moves the offsets);
//   - commits survive a broker restart, clean, killed in-process, or a
//     SIGKILL of the real binary, and the group resumes after it;
//   - a consume-transform-produce pipeline of kgo.GroupTransactSession
//     workers moves 100,000 records while workers are killed mid-flight
//     and restarted under the same transactional IDs (fencing their dead
//     predecessors): a read_committed consumer sees every output record
//     exactly once and the input offsets are committed exactly to the end;
//   - static members (KIP-345) that restart within the session timeout get
//     their assignment back without rebalancing the others;
//   - DescribeGroups, ListGroups, DeleteGroups, OffsetDelete and
//     FindCoordinator (batched, KIP-699, and the old single-key versions)
//     answer as Apache Kafka does, and `__consumer_offsets` is an internal,
//     compacted topic whose records decode with Kafka's own schemas.
//
// Every test starts its own broker (in-process, internal/testcluster, or the
// real binary through internal/testbin) and runs in parallel with the
// others. Session timeouts are lowered (group.min.session.timeout.ms) so
// that waiting out a dead member takes seconds; every wait polls a
// condition with a deadline, never a sleep.
//
// Set SLUICE_GROUP_MEASURE=1 to also run the timing measurements reported
// in docs/performance.md (time to a Stable group with and without
// group.initial.rebalance.delay.ms, time from a member's death to the full
// reassignment of its partitions).
package groups
