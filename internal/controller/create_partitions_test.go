package controller

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func grow(name string, count int32, assignments ...[]int32) kmsg.CreatePartitionsRequestTopic {
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic = name
	t.Count = count
	for _, replicas := range assignments {
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = replicas
		t.Assignment = append(t.Assignment, a)
	}
	return t
}

func growRequest(topics ...kmsg.CreatePartitionsRequestTopic) *kmsg.CreatePartitionsRequest {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version = 3
	req.Topics = topics
	return req
}

func TestPlanCreatePartitionsRejections(t *testing.T) {
	emptyAssignments := grow("orders", 5)
	emptyAssignments.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{}
	tests := []struct {
		name    string
		topic   kmsg.CreatePartitionsRequestTopic
		code    *kerr.Error
		message string
	}{
		{"unknown topic", grow("missing", 4), kerr.UnknownTopicOrPartition, ""},
		{"same count", grow("orders", 3), kerr.InvalidPartitions, "Topic already has 3 partition(s)."},
		{"decrease", grow("orders", 2), kerr.InvalidPartitions, "The topic orders currently has 3 partition(s); 2 would not be an increase."},
		{"too few assignments", grow("orders", 5, []int32{1, 2}), kerr.InvalidReplicaAssignment,
			"Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."},
		{"empty assignment list", emptyAssignments, kerr.InvalidReplicaAssignment,
			"Attempted to add 2 additional partition(s), but only 0 assignment(s) were specified."},
		{"wrong factor", grow("orders", 4, []int32{1}), kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 2 replica(s)."},
		{"unknown broker", grow("orders", 4, []int32{1, 8}), kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes broker 8, but no such broker is registered."},
		{"repeated broker", grow("orders", 4, []int32{3, 3}), kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes the broker 3 more than once."},
	}
	img := fixtureImage(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records, resp, _ := planCreatePartitions(img, growRequest(tt.topic), testConfig())
			wantError(t, tt.name, resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, tt.code, tt.message)
			if len(records) != 0 {
				t.Fatalf("rejected request produced %d records", len(records))
			}
		})
	}
}

func TestPlanCreatePartitionsGrows(t *testing.T) {
	img := fixtureImage(t)
	records, resp, _ := planCreatePartitions(img, growRequest(grow("orders", 5), grow("a_b", 2, []int32{3})), testConfig())
	for _, r := range resp.Topics {
		wantError(t, r.Topic, r.ErrorCode, r.ErrorMessage, nil, "")
	}
	next := mustApply(t, img, records)
	orders := next.TopicByName("orders").Partitions
	if len(orders) != 5 || len(orders[4].Replicas) != 2 || !reflect.DeepEqual(orders[3].Replicas, []int32{1, 2}) {
		t.Fatalf("orders partitions = %+v", orders)
	}
	if ab := next.TopicByName("a_b").Partitions; len(ab) != 2 || ab[1].Leader != 3 {
		t.Fatalf("a_b partitions = %+v", ab)
	}
}

func TestPlanCreatePartitionsRequestRules(t *testing.T) {
	img := fixtureImage(t)
	records, resp, _ := planCreatePartitions(img, growRequest(grow("orders", 4), grow("a_b", 2), grow("orders", 6)), testConfig())
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != "orders" || resp.Topics[1].Topic != "a_b" {
		t.Fatalf("results = %+v, want the duplicate first, once", resp.Topics)
	}
	wantError(t, "dup", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidRequest, "Duplicate topic name.")
	if len(records) != 1 {
		t.Fatalf("%d records, want a_b's one", len(records))
	}

	records, resp, _ = planCreatePartitions(img, growRequest(grow("orders", 2_000_000_000), grow("a_b", 2)), testConfig())
	if len(records) != 0 {
		t.Fatalf("oversized request produced records")
	}
	for _, r := range resp.Topics {
		wantError(t, r.Topic, r.ErrorCode, r.ErrorMessage, kerr.PolicyViolation, "Unable to perform excessively large batch operation.")
	}

	req := growRequest(grow("orders", 4))
	req.ValidateOnly = true
	records, resp, _ = planCreatePartitions(img, req, testConfig())
	if len(records) != 0 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("validate_only: %d records, %+v", len(records), resp.Topics)
	}
}
