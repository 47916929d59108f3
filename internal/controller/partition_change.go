package controller

import (
	"slices"

	"github.com/sluice-io/sluice/internal/metadata"
)

// noLeader is the leader of a partition that has none (Kafka's
// ReplicationControlManager.NO_LEADER).
const noLeader int32 = -1

// election is how a partition change may pick a leader: Kafka's
// PartitionChangeBuilder.Election.
type election int

const (
	// electOnline keeps the current leader while it is acceptable and in
	// the target ISR, otherwise takes the first acceptable ISR member in
	// replica order.
	electOnline election = iota
	// electPreferred takes the preferred (first) replica when it is an
	// acceptable ISR member, otherwise behaves like electOnline.
	electPreferred
	// electUnclean is electOnline, then, when no ISR member is acceptable,
	// the first acceptable replica outside the ISR: data loss.
	electUnclean
)

// partitionChange describes one change to a partition, as Kafka's
// PartitionChangeBuilder does: a target ISR, a target leader recovery state,
// an election rule and which brokers may lead. build turns it into the
// partition's next state.
type partitionChange struct {
	current metadata.Partition
	// targetISR is the ISR the change asks for. An empty target never
	// empties the ISR: the last member stays (Kafka without ELR), and only
	// the leader is lost.
	targetISR []int32
	// targetRecovery is the leader recovery state asked for.
	targetRecovery metadata.LeaderRecoveryState
	election       election
	// acceptable reports whether a broker may lead: registered, unfenced,
	// not shutting down, and not being removed by this change.
	acceptable func(broker int32) bool
}

// newPartitionChange starts a change that keeps everything as it is.
func newPartitionChange(current metadata.Partition, acceptable func(int32) bool) partitionChange {
	return partitionChange{
		current:        current,
		targetISR:      current.ISR,
		targetRecovery: current.LeaderRecoveryState,
		election:       electOnline,
		acceptable:     acceptable,
	}
}

// changeResult is a built change.
type changeResult struct {
	// next is the partition's new state; equal to the current one (epochs
	// included) when changed is false.
	next    metadata.Partition
	changed bool
	// unclean reports a leader elected from outside the ISR.
	unclean bool
}

// build computes the next state (Kafka's PartitionChangeBuilder.build
// without reassignment or ELR): elect, set the ISR unless the election
// already forced it, set the recovery state; a leader change bumps the
// leader epoch and any change bumps the partition epoch.
func (pc partitionChange) build() changeResult {
	cur := pc.current
	next := cur
	next.Replicas = slices.Clone(cur.Replicas)
	next.ISR = slices.Clone(cur.ISR)
	leader, unclean := pc.electLeader()
	isrForced := false
	if leader != cur.Leader {
		next.Leader = leader
		next.LeaderEpoch = cur.LeaderEpoch + 1
		if unclean {
			// Kafka: "we have to forcibly set the ISR to just the new
			// leader. This can result in data loss!"
			next.ISR = []int32{leader}
			next.LeaderRecoveryState = metadata.LeaderRecovering
			isrForced = true
		}
	}
	if !isrForced && len(pc.targetISR) > 0 && !slices.Equal(pc.targetISR, cur.ISR) {
		next.ISR = slices.Clone(pc.targetISR)
	}
	if !unclean && pc.targetRecovery != cur.LeaderRecoveryState {
		next.LeaderRecoveryState = pc.targetRecovery
	}
	changed := next.Leader != cur.Leader || !slices.Equal(next.ISR, cur.ISR) ||
		next.LeaderRecoveryState != cur.LeaderRecoveryState
	if !changed {
		return changeResult{next: cur}
	}
	next.PartitionEpoch = cur.PartitionEpoch + 1
	return changeResult{next: next, changed: true, unclean: unclean}
}

// electLeader is Kafka's PartitionChangeBuilder.electLeader.
func (pc partitionChange) electLeader() (leader int32, unclean bool) {
	if pc.election == electPreferred {
		return pc.electPreferredLeader(), false
	}
	return pc.electAnyLeader()
}

func (pc partitionChange) electPreferredLeader() int32 {
	replicas := pc.current.Replicas
	if len(replicas) > 0 && pc.validLeader(replicas[0]) {
		return replicas[0]
	}
	if pc.validLeader(pc.current.Leader) {
		return pc.current.Leader
	}
	for _, r := range replicas[min(1, len(replicas)):] {
		if pc.validLeader(r) {
			return r
		}
	}
	return noLeader
}

func (pc partitionChange) electAnyLeader() (int32, bool) {
	if pc.validLeader(pc.current.Leader) {
		return pc.current.Leader, false
	}
	for _, r := range pc.current.Replicas {
		if pc.validLeader(r) {
			return r, false
		}
	}
	if pc.election == electUnclean {
		for _, r := range pc.current.Replicas {
			if pc.acceptable(r) {
				return r, true
			}
		}
	}
	return noLeader, false
}

// validLeader is Kafka's isValidNewLeader without ELR: an acceptable
// member of the target ISR.
func (pc partitionChange) validLeader(broker int32) bool {
	return broker >= 0 && slices.Contains(pc.targetISR, broker) && pc.acceptable(broker)
}

// without returns values minus every occurrence of drop, as a new slice.
func without(values []int32, drop int32) []int32 {
	out := make([]int32, 0, len(values))
	for _, v := range values {
		if v != drop {
			out = append(out, v)
		}
	}
	return out
}
