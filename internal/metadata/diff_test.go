package metadata

import "testing"

func names(topics []*Topic) []string {
	var out []string
	for _, t := range topics {
		out = append(out, t.Name)
	}
	return out
}

func TestDiffTopics(t *testing.T) {
	base := mustApply(t, NewImage(), append(createTopicRecords("orders", ordersID, 1, nil), createTopicRecords("payments", paymentsID, 1, nil)...)...)
	base = mustApply(t, base, createTopicRecords("static", [16]byte{0xc3}, 1, nil)...)
	next := mustApply(t, base,
		&RemoveTopicRecord{TopicID: ordersID},
		&TopicRecord{Name: "orders", ID: [16]byte{0xd4}},
		&PartitionRecord{TopicID: [16]byte{0xd4}, Partition: Partition{Replicas: []int32{1}, Leader: 1}},
		&PartitionRecord{TopicID: paymentsID, Partition: Partition{Index: 1, Replicas: []int32{1}, Leader: 1}},
	)
	diff := DiffTopics(base, next)
	if got := names(diff.Created); len(got) != 1 || got[0] != "orders" || diff.Created[0].ID != ([16]byte{0xd4}) {
		t.Fatalf("Created = %v", got)
	}
	if got := names(diff.Deleted); len(got) != 1 || got[0] != "orders" || diff.Deleted[0].ID != ordersID {
		t.Fatalf("Deleted = %v", got)
	}
	if got := names(diff.Changed); len(got) != 1 || got[0] != "payments" {
		t.Fatalf("Changed = %v (static must not appear)", got)
	}
	if empty := DiffTopics(next, next); len(empty.Created)+len(empty.Deleted)+len(empty.Changed) != 0 {
		t.Fatalf("diff of an image with itself: %+v", empty)
	}
}
