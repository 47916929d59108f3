package controller

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func deleteByName(names ...string) *kmsg.DeleteTopicsRequest {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 5
	req.TopicNames = names
	return req
}

func deleteEntry(name *string, id [16]byte) kmsg.DeleteTopicsRequestTopic {
	t := kmsg.NewDeleteTopicsRequestTopic()
	t.Topic = name
	t.TopicID = id
	return t
}

func TestPlanDeleteTopicsByName(t *testing.T) {
	img := fixtureImage(t)
	records, resp := planDeleteTopics(img, deleteByName("orders", "missing"), true)
	if len(resp.Topics) != 2 {
		t.Fatalf("%d results", len(resp.Topics))
	}
	missing, orders := resp.Topics[0], resp.Topics[1]
	wantError(t, "missing", missing.ErrorCode, missing.ErrorMessage, kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
	wantError(t, "orders", orders.ErrorCode, orders.ErrorMessage, nil, "")
	if deref(orders.Topic) != "orders" || orders.TopicID != ordersID {
		t.Fatalf("orders result = %+v", orders)
	}
	next := mustApply(t, img, records)
	if next.TopicByName("orders") != nil || next.TopicByName("a_b") == nil {
		t.Fatalf("wrong topics deleted")
	}
}

func TestPlanDeleteTopicsByIDAndRequestRules(t *testing.T) {
	img := fixtureImage(t)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 6
	unknownID := [16]byte{0x77}
	req.Topics = []kmsg.DeleteTopicsRequestTopic{
		deleteEntry(nil, abID),
		deleteEntry(nil, [16]byte{}),
		deleteEntry(strPtr("orders"), ordersID),
		deleteEntry(nil, unknownID),
		deleteEntry(strPtr("dup"), [16]byte{}),
		deleteEntry(strPtr("dup"), [16]byte{}),
		deleteEntry(strPtr("a_b"), [16]byte{}),
	}
	records, resp := planDeleteTopics(img, req, true)
	type result struct {
		name string
		id   [16]byte
		code *kerr.Error
		msg  string
	}
	want := []result{
		{"<null>", [16]byte{}, kerr.InvalidRequest, "Neither topic name nor id were specified."},
		{"orders", ordersID, kerr.InvalidRequest, "You may not specify both topic name and topic id."},
		{"dup", [16]byte{}, kerr.InvalidRequest, "Duplicate topic name."},
		{"<null>", unknownID, kerr.UnknownTopicID, "This server does not host this topic ID."},
		{"a_b", abID, kerr.InvalidRequest, "The provided topic name maps to an ID that was already supplied."},
	}
	if len(resp.Topics) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(resp.Topics), len(want), resp.Topics)
	}
	for i, w := range want {
		got := resp.Topics[i]
		if deref(got.Topic) != w.name || got.TopicID != w.id {
			t.Fatalf("result %d = %s/%x, want %s/%x", i, deref(got.Topic), got.TopicID, w.name, w.id)
		}
		wantError(t, w.name, got.ErrorCode, got.ErrorMessage, w.code, w.msg)
	}
	if len(records) != 0 {
		t.Fatalf("%d records, want none", len(records))
	}

	req.Topics = []kmsg.DeleteTopicsRequestTopic{deleteEntry(nil, abID)}
	records, resp = planDeleteTopics(img, req, true)
	if len(records) != 1 || deref(resp.Topics[0].Topic) != "a_b" || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete by ID: %d records, %+v", len(records), resp.Topics)
	}
}

func TestPlanDeleteTopicsDisabled(t *testing.T) {
	img := fixtureImage(t)
	req := deleteByName("orders")
	req.Version = 2
	records, resp := planDeleteTopics(img, req, false)
	wantError(t, "v2", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.InvalidRequest, "Topic deletion is disabled.")
	req.Version = 3
	_, resp = planDeleteTopics(img, req, false)
	wantError(t, "v3", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, kerr.TopicDeletionDisabled, "Topic deletion is disabled.")
	if len(records) != 0 {
		t.Fatalf("disabled deletion produced records")
	}
}
