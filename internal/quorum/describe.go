package quorum

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Description is the metadata quorum as DescribeQuorum (API 55, KIP-595,
// KIP-836) reports it, in hashicorp/raft's terms: the leader epoch is the
// Raft term and the high watermark the commit index.
//
// Offsets are Raft log indexes: the index of a log's last entry (0 for an
// empty log), the unit of HighWatermark and of the metadata offsets brokers
// heartbeat (metadata.Image.Offset), so HighWatermark - LogEndOffset is a
// replica's lag in entries.
type Description struct {
	// LeaderID is the leader's node ID, -1 while none is known.
	LeaderID int32
	// LeaderEpoch is the current Raft term.
	LeaderEpoch int32
	// HighWatermark is the Raft commit index as this node knows it.
	HighWatermark int64
	// IsLeader tells whether this node leads. Only the leader knows other
	// replicas' progress; elsewhere their offsets and times are unknown.
	IsLeader bool
	// Voters are the Raft configuration's voters, in node ID order.
	Voters []ReplicaDescription
	// Observers are the nodes that replicate the log without voting: Raft
	// non-voters and the broker-only nodes that reported progress.
	Observers []ReplicaDescription
}

// ReplicaDescription is one replica's progress, as the leader knows it.
type ReplicaDescription struct {
	NodeID int32
	// Address is the replica's Raft address (its CONTROLLER listener,
	// host:port), "" for a node outside the Raft configuration.
	Address string
	// LogEndOffset is the replica's last log index, -1 when unknown.
	LogEndOffset int64
	// LastFetch is when the replica last reported its progress (Kafka's
	// lastFetchTimestamp), zero when unknown.
	LastFetch time.Time
	// LastCaughtUp is the last time the replica was known to have every
	// committed entry (Kafka's lastCaughtUpTimestamp), zero when unknown.
	LastCaughtUp time.Time
}

// ReplicaProgress is what the active controller knows of a node's copy of
// the metadata log, from its heartbeats (BrokerHeartbeat's
// CurrentMetadataOffset). hashicorp/raft does not expose its followers'
// replication state, so this is where other replicas' progress comes from.
type ReplicaProgress struct {
	NodeID int32
	// Offset is the metadata offset (Raft index) the node last reported.
	Offset int64
	// At is when it reported it.
	At time.Time
	// LastCaughtUp, when not zero, is the last time the node had reached
	// the high watermark. Zero lets Describe infer it: a report at or above
	// the current high watermark means the node was caught up when it
	// made it, because the high watermark never moves back.
	LastCaughtUp time.Time
}

// Describe returns the quorum as this node sees it. progress (nil when
// nothing is known) supplies other nodes' offsets and is used only on the
// leader; the leader's own entry is its last log index, with its
// timestamps now, as Kafka reports the leader.
func (n *Node) Describe(progress []ReplicaProgress) Description {
	_, leader := n.raft.LeaderWithID()
	state := raftState{
		leader:   leader,
		isLeader: n.raft.State() == raft.Leader,
		term:     n.raft.CurrentTerm(),
		commit:   n.raft.CommitIndex(),
		last:     n.raft.LastIndex(),
		servers:  n.raft.GetConfiguration().Configuration().Servers,
	}
	return describe(state, progress, time.Now())
}

// raftState is the part of Raft's state a Description is built from.
type raftState struct {
	leader   raft.ServerID
	isLeader bool
	term     uint64
	commit   uint64
	last     uint64
	servers  []raft.Server
}

// describe builds the Description from a snapshot of Raft's state; it
// reads no clock and no Raft, so tests can drive it directly.
func describe(state raftState, progress []ReplicaProgress, now time.Time) Description {
	d := Description{
		LeaderID:      nodeIDOf(state.leader),
		LeaderEpoch:   int32(min(state.term, math.MaxInt32)),
		HighWatermark: index(state.commit),
		IsLeader:      state.isLeader,
	}
	known := map[int32]ReplicaProgress{}
	if state.isLeader {
		for _, p := range progress {
			known[p.NodeID] = p
		}
	}
	inConfiguration := map[int32]bool{}
	for _, s := range state.servers {
		id := nodeIDOf(s.ID)
		if id < 0 {
			continue
		}
		inConfiguration[id] = true
		r := d.replica(id, string(s.Address), known, state, now)
		if s.Suffrage == raft.Voter {
			d.Voters = append(d.Voters, r)
		} else {
			d.Observers = append(d.Observers, r)
		}
	}
	for id := range known {
		if !inConfiguration[id] {
			d.Observers = append(d.Observers, d.replica(id, "", known, state, now))
		}
	}
	byID := func(a, b ReplicaDescription) int { return int(a.NodeID) - int(b.NodeID) }
	slices.SortFunc(d.Voters, byID)
	slices.SortFunc(d.Observers, byID)
	return d
}

// replica describes one node: the leader from its own log, another node
// from its reported progress, unknown otherwise.
func (d *Description) replica(id int32, address string, known map[int32]ReplicaProgress, state raftState, now time.Time) ReplicaDescription {
	r := ReplicaDescription{NodeID: id, Address: address, LogEndOffset: -1}
	if state.isLeader && id == d.LeaderID {
		r.LogEndOffset, r.LastFetch, r.LastCaughtUp = index(state.last), now, now
		return r
	}
	p, ok := known[id]
	if !ok {
		return r
	}
	r.LogEndOffset, r.LastFetch, r.LastCaughtUp = p.Offset, p.At, p.LastCaughtUp
	if r.LastCaughtUp.IsZero() && p.Offset >= d.HighWatermark {
		r.LastCaughtUp = p.At
	}
	return r
}

// nodeIDOf parses a Raft server ID (a node.id in decimal), -1 if it is not
// one.
func nodeIDOf(id raft.ServerID) int32 {
	n, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil || id == "" {
		return -1
	}
	return int32(n)
}

func index(i uint64) int64 { return int64(min(i, math.MaxInt64)) }
