package controller

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

var reassignID = [16]byte{0xb7}

// reassignFixture: brokers 1-4 active, 5 fenced; topic "r" with the given
// partitions (Index set from the position) and configs.
func reassignFixture(t *testing.T, configs map[string]string, partitions ...metadata.Partition) *clusterTest {
	t.Helper()
	brokers := append(unfencedBrokers(4), testBroker{id: 5, fenced: true})
	return newClusterTest(t, clusterImage(t, brokers, testTopic{name: "r", id: reassignID, partitions: partitions, configs: configs}), nil)
}

// target is one partition of a reassignment request; nil replicas cancel.
type target struct {
	topic     string
	partition int32
	replicas  []int32
}

func reassignRequest(version int16, allowRFChange bool, targets ...target) *kmsg.AlterPartitionAssignmentsRequest {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.Version = version
	req.AllowReplicationFactorChange = allowRFChange
	for _, tg := range targets {
		i := -1
		for j := range req.Topics {
			if req.Topics[j].Topic == tg.topic {
				i = j
			}
		}
		if i < 0 {
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = tg.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
		}
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = tg.partition, tg.replicas
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

// reassign sends one request and returns each partition's error code in
// request order, failing on a top-level error.
func (ct *clusterTest) reassign(targets ...target) []*kerr.Error {
	ct.t.Helper()
	resp := ct.c.AlterPartitionReassignments(ct.t.Context(), reassignRequest(0, true, targets...))
	if resp.ErrorCode != 0 {
		ct.t.Fatalf("top-level error %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	var codes []*kerr.Error
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			var code *kerr.Error
			if rp.ErrorCode != 0 {
				code = kerr.ErrorForCode(rp.ErrorCode).(*kerr.Error)
			}
			codes = append(codes, code)
		}
	}
	return codes
}

func (ct *clusterTest) mustReassign(targets ...target) {
	ct.t.Helper()
	for i, code := range ct.reassign(targets...) {
		if code != nil {
			ct.t.Fatalf("reassignment %d (%+v): %v", i, targets[i], code)
		}
	}
}

// alterISR sends AlterPartition v2 from the partition's current leader
// asking for isr, at the current epochs.
func (ct *clusterTest) alterISR(index int32, isr ...int32) kmsg.AlterPartitionResponseTopicPartition {
	ct.t.Helper()
	p := ct.partition("r", index)
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 2
	req.BrokerID, req.BrokerEpoch = p.Leader, brokerEpoch(p.Leader)
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.TopicID = reassignID
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = index, p.LeaderEpoch, p.PartitionEpoch, isr
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := ct.c.AlterPartition(ct.t.Context(), req)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		ct.t.Fatalf("AlterPartition response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// wantState compares a partition's whole state.
func (ct *clusterTest) wantState(index int32, want metadata.Partition) {
	ct.t.Helper()
	want.Index = index
	if got := ct.partition("r", index); !reflect.DeepEqual(got, want) {
		ct.t.Fatalf("r-%d =\n %+v\nwant\n %+v", index, got, want)
	}
}

func (ct *clusterTest) listReassignments(topics []kmsg.ListPartitionReassignmentsRequestTopic) []kmsg.ListPartitionReassignmentsResponseTopic {
	ct.t.Helper()
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.Topics = topics
	resp := ct.c.ListPartitionReassignments(ct.t.Context(), req)
	if resp.ErrorCode != 0 {
		ct.t.Fatalf("ListPartitionReassignments: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.Topics
}

// Moving a partition off its leader: [1 2] to [2 3]. The new replica 3 is
// added outside the ISR; once the leader puts it in the ISR the same
// AlterPartition completes the reassignment, which removes 1 from the
// replicas and the ISR and moves leadership to 2 with a new leader epoch
// (the requester learns NEW_LEADER_ELECTED).
func TestReassignMovesLeaderAway(t *testing.T) {
	ct := reassignFixture(t, nil, metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 6})
	ct.mustReassign(target{"r", 0, []int32{2, 3}})
	ct.wantState(0, metadata.Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}})

	listed := ct.listReassignments(nil)
	if len(listed) != 1 || listed[0].Topic != "r" || len(listed[0].Partitions) != 1 {
		t.Fatalf("listed %+v", listed)
	}
	got := listed[0].Partitions[0]
	if got.Partition != 0 || !reflect.DeepEqual(got.Replicas, []int32{2, 3, 1}) || !reflect.DeepEqual(got.AddingReplicas, []int32{3}) ||
		!reflect.DeepEqual(got.RemovingReplicas, []int32{1}) {
		t.Fatalf("listed partition %+v", got)
	}

	// An ISR change that does not bring 3 in leaves it in progress.
	if out := ct.alterISR(0, 1); out.ErrorCode != 0 {
		t.Fatalf("shrink: %v", kerr.ErrorForCode(out.ErrorCode))
	}
	ct.wantState(0, metadata.Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 8,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}})
	// 3 joins but 2 is out: the target [2 3] is not all in sync yet.
	ct.alterISR(0, 1, 3)
	if p := ct.partition("r", 0); !p.Reassigning() {
		t.Fatalf("completed without 2 in the ISR: %+v", p)
	}
	out := ct.alterISR(0, 1, 3, 2)
	if out.ErrorCode != kerr.NewLeaderElected.Code {
		t.Fatalf("completing AlterPartition answered %v, want NEW_LEADER_ELECTED", kerr.ErrorForCode(out.ErrorCode))
	}
	ct.wantState(0, metadata.Partition{Replicas: []int32{2, 3}, ISR: []int32{3, 2}, Leader: 2, LeaderEpoch: 5, PartitionEpoch: 10})
	if listed := ct.listReassignments(nil); len(listed) != 0 {
		t.Fatalf("completed reassignment still listed: %+v", listed)
	}
}

// A leader that stays keeps leading; the removal of a replica still bumps
// the leader epoch, and AlterPartition answers the new state.
func TestReassignKeepsLeader(t *testing.T) {
	ct := reassignFixture(t, nil, metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 3})
	ct.mustReassign(target{"r", 0, []int32{1, 3}})
	ct.wantState(0, metadata.Partition{Replicas: []int32{1, 3, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 4,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{2}})
	out := ct.alterISR(0, 1, 2, 3)
	if out.ErrorCode != 0 || out.LeaderID != 1 || out.LeaderEpoch != 3 || out.PartitionEpoch != 5 || !reflect.DeepEqual(out.ISR, []int32{1, 3}) {
		t.Fatalf("AlterPartition answered %+v", out)
	}
	ct.wantState(0, metadata.Partition{Replicas: []int32{1, 3}, ISR: []int32{1, 3}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 5})
}

// Reassignments whose targets are already in sync complete in the same
// change, as Kafka's do.
func TestReassignCompletingAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		current metadata.Partition
		target  []int32
		want    metadata.Partition
	}{
		{"reorder: the leader epoch stays",
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
			[]int32{2, 1},
			metadata.Partition{Replicas: []int32{2, 1}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 4}},
		{"shrink: the removed follower leaves, the leader epoch moves",
			metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
			[]int32{1, 2},
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 4}},
		{"shrink away from the leader",
			metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
			[]int32{3, 2},
			metadata.Partition{Replicas: []int32{3, 2}, ISR: []int32{2, 3}, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 4}},
		{"unchanged: nothing to commit",
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
			[]int32{1, 2},
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3}},
		{"grow: the new replica is added outside the ISR",
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
			[]int32{1, 2, 3},
			metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 4, AddingReplicas: []int32{3}}},
		{"out of sync removed replica: dropped at once",
			metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
			[]int32{1, 2},
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 4}},
		{"a fenced target is added and waits",
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 3},
			[]int32{1, 5},
			metadata.Partition{Replicas: []int32{1, 5, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 4,
				AddingReplicas: []int32{5}, RemovingReplicas: []int32{2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := reassignFixture(t, nil, tt.current)
			ct.mustReassign(target{"r", 0, tt.target})
			ct.wantState(0, tt.want)
		})
	}
}

// A single replica moved to another broker: [1] to [2]. Until 2 is in the
// ISR nothing completes (the ISR without 1 would be empty); then 2 takes
// over.
func TestReassignSingleReplica(t *testing.T) {
	ct := reassignFixture(t, nil, metadata.Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	ct.mustReassign(target{"r", 0, []int32{2}})
	ct.wantState(0, metadata.Partition{Replicas: []int32{2, 1}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 1,
		AddingReplicas: []int32{2}, RemovingReplicas: []int32{1}})
	if out := ct.alterISR(0, 1, 2); out.ErrorCode != kerr.NewLeaderElected.Code {
		t.Fatalf("AlterPartition answered %v", kerr.ErrorForCode(out.ErrorCode))
	}
	ct.wantState(0, metadata.Partition{Replicas: []int32{2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 2})
}

// A reassignment replacing one in progress starts from the current
// replicas (the union); one whose target is the current replicas ends the
// reassignment there.
func TestReassignReplacesOneInProgress(t *testing.T) {
	inProgress := metadata.Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}
	ct := reassignFixture(t, nil, inProgress, inProgress)
	ct.mustReassign(target{"r", 0, []int32{2, 4}}, target{"r", 1, []int32{2, 3, 1}})
	ct.wantState(0, metadata.Partition{Replicas: []int32{2, 4, 1, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2,
		AddingReplicas: []int32{4}, RemovingReplicas: []int32{1, 3}})
	ct.wantState(1, metadata.Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2})
}

// Cancelling reverts to the original replicas; the adding ones leave the
// replicas and the ISR (and the leadership).
func TestReassignCancel(t *testing.T) {
	tests := []struct {
		name    string
		configs map[string]string
		current metadata.Partition
		want    metadata.Partition
		code    *kerr.Error
		message string
	}{
		{"adding replica not yet in sync",
			nil,
			metadata.Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1,
				AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}},
			metadata.Partition{Replicas: []int32{2, 1}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2}, nil, ""},
		{"adding replica in sync and leading",
			nil,
			metadata.Partition{Replicas: []int32{3, 4, 1, 2}, ISR: []int32{3, 1}, Leader: 3, LeaderEpoch: 1, PartitionEpoch: 1,
				AddingReplicas: []int32{3, 4}, RemovingReplicas: []int32{1, 2}},
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2}, nil, ""},
		{"nothing in progress",
			nil,
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}, kerr.NoReassignmentInProgress, "No partition reassignment is in progress."},
		{"only adding replicas in sync: unclean revert refused",
			nil,
			metadata.Partition{Replicas: []int32{3, 4, 1, 2}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 1, PartitionEpoch: 1,
				AddingReplicas: []int32{3, 4}, RemovingReplicas: []int32{1, 2}},
			metadata.Partition{Replicas: []int32{3, 4, 1, 2}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 1, PartitionEpoch: 1,
				AddingReplicas: []int32{3, 4}, RemovingReplicas: []int32{1, 2}},
			kerr.InvalidReplicaAssignment, "Unable to revert partition assignment for r:0 because it would require an unclean leader election."},
		{"only adding replicas in sync: unclean revert allowed",
			map[string]string{"unclean.leader.election.enable": "true"},
			metadata.Partition{Replicas: []int32{3, 4, 1, 2}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 1, PartitionEpoch: 1,
				AddingReplicas: []int32{3, 4}, RemovingReplicas: []int32{1, 2}},
			metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := reassignFixture(t, tt.configs, tt.current)
			resp := ct.c.AlterPartitionReassignments(t.Context(), reassignRequest(0, true, target{"r", 0, nil}))
			got := resp.Topics[0].Partitions[0]
			if wantCode := codeOf(tt.code); got.ErrorCode != wantCode {
				t.Fatalf("code %v, want %v", kerr.ErrorForCode(got.ErrorCode), tt.code)
			}
			if tt.message != "" && (got.ErrorMessage == nil || *got.ErrorMessage != tt.message) {
				t.Fatalf("message %v, want %q", got.ErrorMessage, tt.message)
			}
			ct.wantState(0, tt.want)
		})
	}
}

// codeOf is the code of a possibly nil error.
func codeOf(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// Rejections, each with Kafka's code and message; nothing is committed.
func TestReassignRejections(t *testing.T) {
	tests := []struct {
		name    string
		version int16
		allowRF bool
		target  target
		code    *kerr.Error
		message string
	}{
		{"unknown topic", 0, true, target{"nope", 0, []int32{1}}, kerr.UnknownTopicOrPartition, "Unable to find a topic named nope."},
		{"unknown partition", 0, true, target{"r", 3, []int32{1}}, kerr.UnknownTopicOrPartition, "Unable to find partition r:3."},
		{"empty replica list", 0, true, target{"r", 0, []int32{}}, kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list."},
		{"unregistered broker", 0, true, target{"r", 0, []int32{1, 9}}, kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes broker 9, but no such broker is registered."},
		{"broker twice", 0, true, target{"r", 0, []int32{3, 3}}, kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes the broker 3 more than once."},
		{"replication factor change forbidden (v1)", 1, false, target{"r", 0, []int32{1, 2, 3}}, kerr.InvalidReplicationFactor,
			"The replication factor is changed from 2 to 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := reassignFixture(t, nil, metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
			resp := ct.c.AlterPartitionReassignments(t.Context(), reassignRequest(tt.version, tt.allowRF, tt.target))
			if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("response %+v", resp)
			}
			got := resp.Topics[0].Partitions[0]
			if got.ErrorCode != tt.code.Code || got.ErrorMessage == nil || *got.ErrorMessage != tt.message {
				t.Fatalf("got %v %v, want %v %q", kerr.ErrorForCode(got.ErrorCode), got.ErrorMessage, tt.code, tt.message)
			}
			if ct.q.proposals != 0 {
				t.Fatalf("a rejected reassignment proposed %d batches", ct.q.proposals)
			}
		})
	}
}

// v1 with replication factor changes forbidden accepts a move of the same
// size, and counts a reassignment in progress by its target; v0 and v1
// with changes allowed accept any size. The response echoes the flag.
func TestReassignReplicationFactorFlag(t *testing.T) {
	ct := reassignFixture(t, nil,
		metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		metadata.Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}},
		metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	resp := ct.c.AlterPartitionReassignments(t.Context(), reassignRequest(1, false,
		target{"r", 0, []int32{3, 4}}, target{"r", 1, []int32{4, 1}}))
	if resp.AllowReplicationFactorChange {
		t.Fatal("response does not echo AllowReplicationFactorChange=false")
	}
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 {
			t.Fatalf("partition %d: %v %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode), rp.ErrorMessage)
		}
	}
	resp = ct.c.AlterPartitionReassignments(t.Context(), reassignRequest(0, false, target{"r", 2, []int32{1, 2, 3}}))
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("v0 replication factor change: %v", kerr.ErrorForCode(code))
	}
	ct.wantState(2, metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, PartitionEpoch: 1, AddingReplicas: []int32{3}})
}

// One request is one batch: partitions are planned in order against the
// state the earlier ones leave (a partition named twice takes the second
// target), failed ones do not stop the others, and a failed proposal fails
// every partition and the request.
func TestReassignBatch(t *testing.T) {
	ct := reassignFixture(t, nil,
		metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		metadata.Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	codes := ct.reassign(target{"r", 0, []int32{2, 3}}, target{"r", 1, []int32{9}}, target{"r", 0, []int32{2, 4}})
	if !reflect.DeepEqual(codes, []*kerr.Error{nil, kerr.InvalidReplicaAssignment, nil}) {
		t.Fatalf("codes %v", codes)
	}
	if ct.q.proposals != 1 {
		t.Fatalf("%d proposals, want one batch", ct.q.proposals)
	}
	ct.wantState(0, metadata.Partition{Replicas: []int32{2, 4, 1, 3}, ISR: []int32{1, 2}, Leader: 1, PartitionEpoch: 2,
		AddingReplicas: []int32{4}, RemovingReplicas: []int32{1, 3}})

	ct.q.err = errFake
	resp := ct.c.AlterPartitionReassignments(t.Context(), reassignRequest(0, true, target{"r", 1, []int32{3, 4}}))
	if resp.ErrorCode != kerr.UnknownServerError.Code || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownServerError.Code {
		t.Fatalf("failed proposal answered %+v", resp)
	}
}

// Listing by topic and partition leaves out what is not being reassigned,
// unknown topics and unknown partitions.
func TestListPartitionReassignmentsFilters(t *testing.T) {
	moving := metadata.Partition{Replicas: []int32{2, 1}, ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{2}, RemovingReplicas: []int32{1}}
	ct := reassignFixture(t, nil, metadata.Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}, moving)
	topic := func(name string, partitions ...int32) kmsg.ListPartitionReassignmentsRequestTopic {
		rt := kmsg.NewListPartitionReassignmentsRequestTopic()
		rt.Topic, rt.Partitions = name, partitions
		return rt
	}
	if got := ct.listReassignments([]kmsg.ListPartitionReassignmentsRequestTopic{topic("r", 0, 7), topic("nope", 0)}); len(got) != 0 {
		t.Fatalf("listed %+v, want nothing", got)
	}
	got := ct.listReassignments([]kmsg.ListPartitionReassignmentsRequestTopic{topic("r", 0, 1)})
	if len(got) != 1 || len(got[0].Partitions) != 1 || got[0].Partitions[0].Partition != 1 ||
		!reflect.DeepEqual(got[0].Partitions[0].AddingReplicas, []int32{2}) {
		t.Fatalf("listed %+v, want r-1", got)
	}
}

// A standby controller answers NOT_CONTROLLER.
func TestReassignOnStandby(t *testing.T) {
	q := &standbyQuorum{fakeQuorum: &fakeQuorum{image: clusterImage(t, unfencedBrokers(2))}}
	c, err := New(*testConfig(), q)
	if err != nil {
		t.Fatal(err)
	}
	resp := c.AlterPartitionReassignments(t.Context(), reassignRequest(0, true, target{"r", 0, []int32{1}}))
	if resp.ErrorCode != kerr.NotController.Code || resp.Topics[0].Partitions[0].ErrorCode != kerr.NotController.Code {
		t.Fatalf("alter on a standby: %+v", resp)
	}
	list := c.ListPartitionReassignments(t.Context(), kmsg.NewPtrListPartitionReassignmentsRequest())
	if list.ErrorCode != kerr.NotController.Code || !strings.Contains(*list.ErrorMessage, "not the correct controller") {
		t.Fatalf("list on a standby: %+v", list)
	}
}

// A topic whose first partition is being reassigned grows with the
// replication factor of the reassignment's target, not of the transient
// union.
func TestCreatePartitionsDuringReassignment(t *testing.T) {
	ct := reassignFixture(t, nil, metadata.Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1,
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}})
	_, resp, _ := planCreatePartitions(ct.image(), growRequest(grow("r", 2)), &ct.c.cfg)
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("grow: %v", kerr.ErrorForCode(code))
	}
	_, resp, _ = planCreatePartitions(ct.image(), growRequest(grow("r", 2, []int32{1, 2, 3})), &ct.c.cfg)
	if code := resp.Topics[0].ErrorCode; code != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("grow with 3 replicas: %v, want INVALID_REPLICA_ASSIGNMENT", kerr.ErrorForCode(code))
	}
	records, _, _ := planCreatePartitions(ct.image(), growRequest(grow("r", 2)), &ct.c.cfg)
	if len(records) != 1 || len(records[0].(*metadata.PartitionRecord).Replicas) != 2 {
		t.Fatalf("records %+v, want one partition with 2 replicas", records)
	}
}
