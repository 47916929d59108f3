package replica

import "errors"

// Errors a Partition returns; the api layer maps each to a Kafka error code
// (noted beside each).
var (
	// ErrNotLeader: the partition is not led here (NOT_LEADER_OR_FOLLOWER).
	// A produce or coordinator write on a follower gets it, and so does a
	// Commit whose partition was demoted while it waited.
	ErrNotLeader = errors.New("replica: not the leader of the partition")
	// ErrNotFollower: a follower-only operation (a replicated append, a
	// truncation) on the leader.
	ErrNotFollower = errors.New("replica: not a follower of the partition")
	// ErrFencedLeaderEpoch: the caller's leader epoch is older than ours
	// (FENCED_LEADER_EPOCH, KIP-320).
	ErrFencedLeaderEpoch = errors.New("replica: fenced leader epoch")
	// ErrUnknownLeaderEpoch: the caller's leader epoch is newer than ours,
	// we have not seen the metadata it has yet (UNKNOWN_LEADER_EPOCH).
	ErrUnknownLeaderEpoch = errors.New("replica: unknown leader epoch")
	// ErrNotEnoughReplicasAfterAppend: an acks=all write was appended, but
	// the ISR shrank below min.insync.replicas before it was replicated
	// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("replica: not enough in-sync replicas after the append")
	// ErrUnknownReplica: a replica fetch from a broker that holds no
	// replica of the partition (NOT_LEADER_OR_FOLLOWER, as Kafka answers).
	ErrUnknownReplica = errors.New("replica: broker is not a replica of the partition")
	// ErrStaleState: a role change older than the state already applied
	// (an older leader epoch); the caller's metadata is behind.
	ErrStaleState = errors.New("replica: stale partition state")
	// ErrInvalidState: a role change that cannot be right (MakeLeader on a
	// state that names another leader, a leader outside the ISR, ...).
	ErrInvalidState = errors.New("replica: invalid partition state")
)
