package controller

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// electFixture: brokers 1-3, 3 fenced. Topic "a": 0 led by its preferred
// replica; 1 led by 2 with the preferred replica 1 in the ISR; 2 led by 2
// with 1 out of the ISR; 3 leaderless with the fenced 3 as last ISR
// member.
func electFixture(t *testing.T) *clusterTest {
	img := clusterImage(t, []testBroker{{id: 1}, {id: 2}, {id: 3, fenced: true}},
		testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
			part([]int32{1, 2}, []int32{1, 2}, 1),
			part([]int32{1, 2}, []int32{2, 1}, 2),
			part([]int32{1, 2}, []int32{2}, 2),
			{Replicas: []int32{3, 2}, ISR: []int32{3}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 1},
		}})
	return newClusterTest(t, img, nil)
}

func electRequest(electionType int8, topic string, partitions ...int32) *kmsg.ElectLeadersRequest {
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version = 2
	req.ElectionType = electionType
	t := kmsg.NewElectLeadersRequestTopic()
	t.Topic, t.Partitions = topic, partitions
	req.Topics = append(req.Topics, t)
	return req
}

func TestElectLeaders(t *testing.T) {
	tests := []struct {
		name         string
		electionType int8
		topic        string
		partition    int32
		code         *kerr.Error
		message      string
		leader       int32
	}{
		{"preferred already leads", electionTypePreferred, "a", 0, kerr.ElectionNotNeeded, electionNotNeededMessage, 1},
		{"preferred elected", electionTypePreferred, "a", 1, nil, "", 1},
		{"preferred out of the ISR", electionTypePreferred, "a", 2, kerr.PreferredLeaderNotAvailable, preferredNotAvailableMessage, 2},
		{"unclean with a leader", electionTypeUnclean, "a", 1, kerr.ElectionNotNeeded, electionNotNeededMessage, 2},
		{"unclean elects a live replica", electionTypeUnclean, "a", 3, nil, "", 2},
		{"unknown topic", electionTypePreferred, "nope", 0, kerr.UnknownTopicOrPartition, "No such topic as nope", 0},
		{"unknown partition", electionTypePreferred, "a", 7, kerr.UnknownTopicOrPartition, "No such partition as a-7", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := electFixture(t)
			resp := ct.c.ElectLeaders(t.Context(), electRequest(tt.electionType, tt.topic, tt.partition))
			if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].Topic != tt.topic || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("response = %+v", resp)
			}
			got := resp.Topics[0].Partitions[0]
			wantError(t, tt.name, got.ErrorCode, got.ErrorMessage, tt.code, tt.message)
			if tt.topic == "a" && tt.partition < 4 {
				if p := ct.partition("a", tt.partition); p.Leader != tt.leader {
					t.Fatalf("leader %d, want %d", p.Leader, tt.leader)
				}
			}
		})
	}
}

// Unclean ElectLeaders with no live replica at all.
func TestElectLeadersUncleanWithoutLiveReplica(t *testing.T) {
	img := clusterImage(t, []testBroker{{id: 1, fenced: true}}, testTopic{name: "a", id: topicA, partitions: []metadata.Partition{
		{Replicas: []int32{1}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 1},
	}})
	ct := newClusterTest(t, img, nil)
	got := ct.c.ElectLeaders(t.Context(), electRequest(electionTypeUnclean, "a", 0)).Topics[0].Partitions[0]
	wantError(t, "unclean", got.ErrorCode, got.ErrorMessage, kerr.EligibleLeadersNotAvailable, eligibleNotAvailableMessage)
}

// Null topics elect for every partition and leave ELECTION_NOT_NEEDED out.
func TestElectLeadersAllPartitions(t *testing.T) {
	ct := electFixture(t)
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version = 1
	resp := ct.c.ElectLeaders(t.Context(), req)
	if len(resp.Topics) != 1 {
		t.Fatalf("topics = %+v", resp.Topics)
	}
	var got []int32
	for _, p := range resp.Topics[0].Partitions {
		got = append(got, p.Partition)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("partitions reported = %v, want 1, 2, 3 (0 needs no election)", got)
	}
	if ct.partition("a", 1).Leader != 1 {
		t.Fatalf("partition 1 not moved to its preferred replica")
	}
}

func TestElectLeadersRequestErrors(t *testing.T) {
	ct := electFixture(t)
	resp := ct.c.ElectLeaders(t.Context(), electRequest(7, "a", 1))
	if resp.ErrorCode != kerr.InvalidRequest.Code || resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("unknown election type: %+v", resp)
	}
	ct.q.err = errFake
	resp = ct.c.ElectLeaders(t.Context(), electRequest(electionTypePreferred, "a", 1))
	if resp.ErrorCode != kerr.UnknownServerError.Code || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownServerError.Code {
		t.Fatalf("failed proposal: %+v", resp)
	}
	if ct.partition("a", 1).Leader != 2 {
		t.Fatalf("failed proposal changed the image")
	}
}
