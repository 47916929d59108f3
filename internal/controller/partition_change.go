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
// PartitionChangeBuilder does: a target ISR, target replicas with the
// adding and removing replicas of a reassignment, a target leader recovery
// state, an election rule and which brokers may lead. build turns it into
// the partition's next state.
type partitionChange struct {
	current metadata.Partition
	// targetISR is the ISR the change asks for. An empty target never
	// empties the ISR: the last member stays (Kafka without ELR), and only
	// the leader is lost.
	targetISR []int32
	// targetReplicas, targetAdding and targetRemoving are the replica
	// assignment the change asks for (reassign.go sets them); they start
	// as the current ones.
	targetReplicas []int32
	targetAdding   []int32
	targetRemoving []int32
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
		targetReplicas: current.Replicas,
		targetAdding:   current.AddingReplicas,
		targetRemoving: current.RemovingReplicas,
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
// without ELR): complete a reassignment whose target replicas are all in
// the target ISR (completeReassignment), elect, set the ISR unless the
// election already forced it, set the replicas and the recovery state; a
// leader change, or a replica leaving the replicas, bumps the leader epoch
// (Kafka's triggerLeaderEpochBumpForReplicaReassignmentIfNeeded: a removed
// replica is fenced), and any change bumps the partition epoch.
func (pc partitionChange) build() changeResult {
	pc.completeReassignment()
	cur := pc.current
	next := cur
	next.Replicas = slices.Clone(cur.Replicas)
	next.ISR = slices.Clone(cur.ISR)
	leader, unclean := pc.electLeader()
	isrForced := false
	if leader != cur.Leader || !containsAll(pc.targetReplicas, cur.Replicas) {
		next.LeaderEpoch = cur.LeaderEpoch + 1
	}
	if leader != cur.Leader {
		next.Leader = leader
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
	if len(pc.targetReplicas) > 0 {
		next.Replicas = slices.Clone(pc.targetReplicas)
	}
	next.AddingReplicas = cloneNonEmpty(pc.targetAdding)
	next.RemovingReplicas = cloneNonEmpty(pc.targetRemoving)
	changed := next.Leader != cur.Leader || !slices.Equal(next.ISR, cur.ISR) ||
		next.LeaderRecoveryState != cur.LeaderRecoveryState || !slices.Equal(next.Replicas, cur.Replicas) ||
		!slices.Equal(next.AddingReplicas, cur.AddingReplicas) || !slices.Equal(next.RemovingReplicas, cur.RemovingReplicas)
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

// completeReassignment is Kafka's completeReassignmentIfNeeded
// (PartitionReassignmentReplicas.maybeCompleteReassignment): once the
// target ISR without the removing replicas holds every replica that stays,
// the change drops the removing replicas from the replicas and the ISR and
// ends the reassignment. A reassignment that would leave no ISR member or
// no replica does not complete.
func (pc *partitionChange) completeReassignment() {
	if len(pc.targetAdding) == 0 && len(pc.targetRemoving) == 0 {
		return
	}
	isr, replicas := pc.targetISR, pc.targetReplicas
	if len(pc.targetRemoving) > 0 {
		isr, replicas = withoutAll(isr, pc.targetRemoving), withoutAll(replicas, pc.targetRemoving)
		if len(isr) == 0 || len(replicas) == 0 {
			return
		}
	}
	if !containsAll(isr, replicas) {
		return
	}
	pc.targetISR, pc.targetReplicas, pc.targetAdding, pc.targetRemoving = isr, replicas, nil, nil
}

func (pc partitionChange) electPreferredLeader() int32 {
	replicas := pc.targetReplicas
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
	for _, r := range pc.targetReplicas {
		if pc.validLeader(r) {
			return r, false
		}
	}
	if pc.election == electUnclean {
		for _, r := range pc.targetReplicas {
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

// withoutAll returns values minus every member of drop, as a new slice.
func withoutAll(values, drop []int32) []int32 {
	out := make([]int32, 0, len(values))
	for _, v := range values {
		if !slices.Contains(drop, v) {
			out = append(out, v)
		}
	}
	return out
}

// containsAll reports whether every member of want is in values.
func containsAll(values, want []int32) bool {
	for _, w := range want {
		if !slices.Contains(values, w) {
			return false
		}
	}
	return true
}

// cloneNonEmpty copies values, nil when empty (as replay stores them).
func cloneNonEmpty(values []int32) []int32 {
	if len(values) == 0 {
		return nil
	}
	return slices.Clone(values)
}
