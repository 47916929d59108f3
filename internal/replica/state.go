package replica

import (
	"fmt"
	"slices"
)

// LeaderAndISR is a partition's replication state as the controller
// committed it (Kafka's LeaderAndIsr / PartitionRegistration): who leads,
// under which leader epoch, which brokers hold a replica and which of them
// are in sync. PartitionEpoch grows with every change to the partition;
// LeaderEpoch only when the leader changes.
type LeaderAndISR struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// Clone returns a copy that shares no slices with s.
func (s LeaderAndISR) Clone() LeaderAndISR {
	s.Replicas = slices.Clone(s.Replicas)
	s.ISR = slices.Clone(s.ISR)
	return s
}

// Equal reports whether two states are the same, slices compared in order.
func (s LeaderAndISR) Equal(o LeaderAndISR) bool {
	return s.Leader == o.Leader && s.LeaderEpoch == o.LeaderEpoch && s.PartitionEpoch == o.PartitionEpoch &&
		slices.Equal(s.Replicas, o.Replicas) && slices.Equal(s.ISR, o.ISR)
}

// SingleReplica is the state of a partition whose only replica is node:
// a single node leads every partition it hosts, alone in the ISR.
func SingleReplica(node, leaderEpoch int32) LeaderAndISR {
	return LeaderAndISR{Leader: node, LeaderEpoch: leaderEpoch, Replicas: []int32{node}, ISR: []int32{node}}
}

// validateLeader checks that self may lead under s: it is the leader, and
// the leader is an assigned replica and in the ISR (the controller never
// elects a leader outside the ISR, unclean elections reset the ISR to it).
func (s LeaderAndISR) validateLeader(self int32) error {
	switch {
	case s.Leader != self:
		return fmt.Errorf("leader is %d, not this broker (%d): %w", s.Leader, self, ErrInvalidState)
	case !slices.Contains(s.Replicas, self):
		return fmt.Errorf("leader %d is not among the replicas %v: %w", self, s.Replicas, ErrInvalidState)
	case !slices.Contains(s.ISR, self):
		return fmt.Errorf("leader %d is not in the ISR %v: %w", self, s.ISR, ErrInvalidState)
	case s.LeaderEpoch < 0:
		return fmt.Errorf("negative leader epoch %d: %w", s.LeaderEpoch, ErrInvalidState)
	}
	for _, id := range s.ISR {
		if !slices.Contains(s.Replicas, id) {
			return fmt.Errorf("ISR member %d is not among the replicas %v: %w", id, s.Replicas, ErrInvalidState)
		}
	}
	return nil
}

// Role is what this broker does for a partition.
type Role int8

const (
	// RoleNone serves nothing: the partition waits for its role (a
	// manager with AwaitRole), or was closed.
	RoleNone Role = iota
	// RoleLeader accepts produce, serves consumers and followers, and
	// tracks the ISR and the high watermark.
	RoleLeader
	// RoleFollower replicates from the leader and refuses clients.
	RoleFollower
)

func (r Role) String() string {
	switch r {
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	}
	return "none"
}

// Acks values of Produce (and of coordinator writes, which use AcksAll).
const (
	// AcksNone (acks=0) and AcksLeader (acks=1) wait for the leader's own
	// durability only.
	AcksNone   int16 = 0
	AcksLeader int16 = 1
	// AcksAll (acks=-1) also waits for the high watermark to pass the
	// records: every member of the ISR has them durably.
	AcksAll int16 = -1
)
