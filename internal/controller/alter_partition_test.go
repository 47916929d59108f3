package controller

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// alterFixture: brokers 1-3 active, 4 fenced, 5 in controlled shutdown;
// topic "a" partition 0 replicas 1-5, ISR [1 2], leader 1, leader epoch 5,
// partition epoch 7; partition 1 recovering after an unclean election.
func alterFixture(t *testing.T) *clusterTest {
	img := clusterImage(t, []testBroker{{id: 1}, {id: 2}, {id: 3}, {id: 4, fenced: true}, {id: 5, shutdown: true}},
		testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
			{Replicas: []int32{1, 2, 3, 4, 5}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 5, PartitionEpoch: 7},
			{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 3, LeaderRecoveryState: metadata.LeaderRecovering},
		}})
	return newClusterTest(t, img, nil)
}

// alterRequest asks, as broker 1 at its epoch, for partition index of "a"
// (by ID from v2) to get isr with the given epochs.
func alterRequest(version int16, index int32, leaderEpoch, partitionEpoch int32, isr []int32, mutate func(*kmsg.AlterPartitionRequestTopicPartition)) *kmsg.AlterPartitionRequest {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = version
	req.BrokerID = 1
	req.BrokerEpoch = brokerEpoch(1)
	topic := kmsg.NewAlterPartitionRequestTopic()
	topic.Topic, topic.TopicID = "a", topicA
	p := kmsg.NewAlterPartitionRequestTopicPartition()
	p.Partition, p.LeaderEpoch, p.PartitionEpoch = index, leaderEpoch, partitionEpoch
	if version < 3 {
		p.NewISR = isr
	} else {
		for _, id := range isr {
			m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			m.BrokerID, m.BrokerEpoch = id, brokerEpoch(id)
			p.NewEpochISR = append(p.NewEpochISR, m)
		}
	}
	if mutate != nil {
		mutate(&p)
	}
	topic.Partitions = append(topic.Partitions, p)
	req.Topics = append(req.Topics, topic)
	return req
}

func TestAlterPartitionValidation(t *testing.T) {
	tests := []struct {
		name    string
		version int16
		req     func(version int16) *kmsg.AlterPartitionRequest
		code    *kerr.Error
	}{
		{"unknown partition", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 9, 5, 7, []int32{1}, nil) }, kerr.UnknownTopicOrPartition},
		{"leader epoch ahead of the controller", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 6, 7, []int32{1}, nil) }, kerr.NotController},
		{"partition epoch ahead of the controller", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 8, []int32{1}, nil) }, kerr.NotController},
		{"old leader epoch", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 4, 7, []int32{1}, nil) }, kerr.FencedLeaderEpoch},
		{"not the leader", 2, func(v int16) *kmsg.AlterPartitionRequest {
			req := alterRequest(v, 0, 5, 7, []int32{2}, nil)
			req.BrokerID, req.BrokerEpoch = 2, brokerEpoch(2)
			return req
		}, kerr.NotLeaderForPartition},
		{"old partition epoch", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 6, []int32{1}, nil) }, kerr.InvalidUpdateVersion},
		{"member not a replica", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 7, []int32{1, 9}, nil) }, kerr.InvalidRequest},
		{"duplicate member", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 7, []int32{1, 2, 2}, nil) }, kerr.InvalidRequest},
		{"leader left out", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 7, []int32{2, 3}, nil) }, kerr.InvalidRequest},
		{"empty ISR", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 7, nil, nil) }, kerr.InvalidRequest},
		{"recovering with two members", 2, func(v int16) *kmsg.AlterPartitionRequest {
			return alterRequest(v, 1, 2, 3, []int32{1, 2}, func(p *kmsg.AlterPartitionRequestTopicPartition) { p.LeaderRecoveryState = 1 })
		}, kerr.InvalidRequest},
		{"recovered back to recovering", 2, func(v int16) *kmsg.AlterPartitionRequest {
			return alterRequest(v, 0, 5, 7, []int32{1}, func(p *kmsg.AlterPartitionRequestTopicPartition) { p.LeaderRecoveryState = 1 })
		}, kerr.InvalidRequest},
		{"unknown recovery state", 2, func(v int16) *kmsg.AlterPartitionRequest {
			return alterRequest(v, 0, 5, 7, []int32{1}, func(p *kmsg.AlterPartitionRequestTopicPartition) { p.LeaderRecoveryState = 5 })
		}, kerr.InvalidRequest},
		{"fenced member", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 7, []int32{1, 4}, nil) }, kerr.IneligibleReplica},
		{"member in controlled shutdown", 2, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 7, []int32{1, 5}, nil) }, kerr.IneligibleReplica},
		{"ineligible member before v2", 1, func(v int16) *kmsg.AlterPartitionRequest { return alterRequest(v, 0, 5, 7, []int32{1, 4}, nil) }, kerr.OperationNotAttempted},
		{"member with a stale broker epoch (v3)", 3, func(v int16) *kmsg.AlterPartitionRequest {
			return alterRequest(v, 0, 5, 7, []int32{1, 3}, func(p *kmsg.AlterPartitionRequestTopicPartition) { p.NewEpochISR[1].BrokerEpoch = 1 })
		}, kerr.IneligibleReplica},
		{"member epoch -1 skips the check (v3)", 3, func(v int16) *kmsg.AlterPartitionRequest {
			return alterRequest(v, 0, 5, 7, []int32{1, 3}, func(p *kmsg.AlterPartitionRequestTopicPartition) { p.NewEpochISR[1].BrokerEpoch = -1 })
		}, nil},
		{"unknown topic ID (v2)", 2, func(v int16) *kmsg.AlterPartitionRequest {
			req := alterRequest(v, 0, 5, 7, []int32{1}, nil)
			req.Topics[0].TopicID = topicB
			return req
		}, kerr.UnknownTopicID},
		{"unknown topic name (v1)", 1, func(v int16) *kmsg.AlterPartitionRequest {
			req := alterRequest(v, 0, 5, 7, []int32{1}, nil)
			req.Topics[0].Topic = "nope"
			return req
		}, kerr.UnknownTopicOrPartition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := alterFixture(t)
			resp := ct.c.AlterPartition(t.Context(), tt.req(tt.version))
			if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("response = %+v", resp)
			}
			got := resp.Topics[0].Partitions[0]
			wantCode := int16(0)
			if tt.code != nil {
				wantCode = tt.code.Code
			}
			if got.ErrorCode != wantCode {
				t.Fatalf("code %d (%v), want %d (%v)", got.ErrorCode, kerr.ErrorForCode(got.ErrorCode), wantCode, tt.code)
			}
			if tt.code != nil && ct.q.proposals != 0 {
				t.Fatalf("a refused change proposed %d batches", ct.q.proposals)
			}
		})
	}
}

func TestAlterPartitionStaleBrokerEpoch(t *testing.T) {
	ct := alterFixture(t)
	req := alterRequest(2, 0, 5, 7, []int32{1}, nil)
	req.BrokerEpoch = 3
	if resp := ct.c.AlterPartition(t.Context(), req); resp.ErrorCode != kerr.StaleBrokerEpoch.Code || len(resp.Topics) != 0 {
		t.Fatalf("response = %+v, want top-level STALE_BROKER_EPOCH", resp)
	}
}

// Accepted changes bump the partition epoch, keep the leader epoch, and
// answer the committed state; an unchanged ISR commits nothing.
func TestAlterPartitionCommits(t *testing.T) {
	for _, version := range []int16{0, 1, 2, 3} {
		ct := alterFixture(t)
		resp := ct.c.AlterPartition(t.Context(), alterRequest(version, 0, 5, 7, []int32{1, 2, 3}, nil))
		got := resp.Topics[0].Partitions[0]
		if got.ErrorCode != 0 || got.LeaderID != 1 || got.LeaderEpoch != 5 || got.PartitionEpoch != 8 || !reflect.DeepEqual(got.ISR, []int32{1, 2, 3}) {
			t.Fatalf("v%d: response partition = %+v", version, got)
		}
		if version >= 2 && resp.Topics[0].TopidID != topicA || version < 2 && resp.Topics[0].Topic != "a" {
			t.Fatalf("v%d: response topic = %+v", version, resp.Topics[0])
		}
		ct.wantPartition("a", 0, 1, []int32{1, 2, 3}, 5, 8)
	}

	ct := alterFixture(t)
	same := ct.c.AlterPartition(t.Context(), alterRequest(2, 0, 5, 7, []int32{1, 2}, nil)).Topics[0].Partitions[0]
	if same.ErrorCode != 0 || same.PartitionEpoch != 7 || ct.q.proposals != 0 {
		t.Fatalf("unchanged ISR: %+v after %d proposals", same, ct.q.proposals)
	}
	// Shrink, then recovery of the unclean leader, in one request.
	req := alterRequest(2, 0, 5, 7, []int32{1}, nil)
	recovered := kmsg.NewAlterPartitionRequestTopicPartition()
	recovered.Partition, recovered.LeaderEpoch, recovered.PartitionEpoch, recovered.NewISR = 1, 2, 3, []int32{1}
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, recovered)
	resp := ct.c.AlterPartition(t.Context(), req)
	if p := resp.Topics[0].Partitions[1]; p.ErrorCode != 0 || p.LeaderRecoveryState != 0 || p.PartitionEpoch != 4 {
		t.Fatalf("recovered partition = %+v", p)
	}
	if ct.q.proposals != 1 || ct.partition("a", 1).LeaderRecoveryState != metadata.LeaderRecovered {
		t.Fatalf("%d proposals, partition 1 = %+v", ct.q.proposals, ct.partition("a", 1))
	}
	ct.wantPartition("a", 0, 1, []int32{1}, 5, 8)
}

// A partition named twice: the second entry is checked against the state
// the first one leaves, so it is refused as a stale partition epoch rather
// than replayed over it.
func TestAlterPartitionSamePartitionTwice(t *testing.T) {
	ct := alterFixture(t)
	req := alterRequest(2, 0, 5, 7, []int32{1, 2, 3}, nil)
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, req.Topics[0].Partitions[0])
	resp := ct.c.AlterPartition(t.Context(), req)
	if a, b := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]; a.ErrorCode != 0 || b.ErrorCode != kerr.InvalidUpdateVersion.Code {
		t.Fatalf("codes %d, %d", a.ErrorCode, b.ErrorCode)
	}
	ct.wantPartition("a", 0, 1, []int32{1, 2, 3}, 5, 8)
}

func TestAlterPartitionProposalFailure(t *testing.T) {
	ct := alterFixture(t)
	ct.q.err = errFake
	resp := ct.c.AlterPartition(t.Context(), alterRequest(2, 0, 5, 7, []int32{1, 2, 3}, nil))
	if resp.ErrorCode != kerr.UnknownServerError.Code || len(resp.Topics) != 0 {
		t.Fatalf("response = %+v", resp)
	}
}
