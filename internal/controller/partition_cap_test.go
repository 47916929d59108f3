package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// fixtureImage hosts 3 partition replicas on broker 1 (orders-0, orders-2,
// a_b-0), 2 on broker 2 and 2 on broker 3.

func cappedConfig(limit int32) *Config {
	cfg := testConfig()
	cfg.MaxPartitions = limit
	return cfg
}

// A topic that would take a broker over sluice.max.partitions is refused
// with POLICY_VIOLATION and a message naming the key, the broker and the
// numbers, and writes nothing: no TopicRecord, no ConfigRecord, no ID
// taken.
func TestPlanCreateTopicsOverCap(t *testing.T) {
	img := fixtureImage(t)
	req := createRequest(createTopic("wide", 3, 3, "retention.ms", "5"))
	records, resp, refused := planCreateTopics(img, req, cappedConfig(5))
	got := resp.Topics[0]
	wantError(t, "wide", got.ErrorCode, got.ErrorMessage, kerr.PolicyViolation,
		"Creating these partitions would put 6 partition replicas on broker 1, over sluice.max.partitions=5 (it hosts 3 now).")
	if len(records) != 0 || refused != 1 || got.TopicID != ([16]byte{}) || got.NumPartitions != -1 || len(got.Configs) != 0 {
		t.Fatalf("refused topic: %d records, %d refusals, result %+v", len(records), refused, got)
	}
	// At the cap exactly is allowed: broker 1 reaches 6 of 6.
	records, resp, refused = planCreateTopics(img, req, cappedConfig(6))
	wantError(t, "wide at the cap", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, nil, "")
	if refused != 0 || mustApply(t, img, records).TopicByName("wide") == nil {
		t.Fatalf("a topic that fits was not created (%d refusals)", refused)
	}
}

// Topics of one request count cumulatively in request order (as Kafka
// answers policy violations per topic): what fits is created, a topic
// that no longer fits is refused, and a later one that fits still is.
// validate_only answers the same and writes nothing.
func TestPlanCreateTopicsCapIsCumulative(t *testing.T) {
	img := fixtureImage(t)
	request := func() *kmsg.CreateTopicsRequest {
		return createRequest(
			assigned("first", []int32{1}, []int32{1}), // broker 1: 3 → 5
			assigned("second", []int32{1}),            // 6 > 5: refused
			assigned("third", []int32{2}, []int32{3}), // brokers 2 and 3: 3 each
			assigned("fourth", []int32{2, 1}),         // broker 1 again: refused
		)
	}
	wantCodes := func(t *testing.T, resp *kmsg.CreateTopicsResponse) {
		t.Helper()
		want := map[string]*kerr.Error{"first": nil, "second": kerr.PolicyViolation, "third": nil, "fourth": kerr.PolicyViolation}
		for _, r := range resp.Topics {
			wantError(t, r.Topic, r.ErrorCode, r.ErrorMessage, want[r.Topic], "*")
		}
		wantError(t, "second", resp.Topics[1].ErrorCode, resp.Topics[1].ErrorMessage, kerr.PolicyViolation,
			"Creating these partitions would put 6 partition replicas on broker 1, over sluice.max.partitions=5 (it hosts 5 now).")
	}

	records, resp, refused := planCreateTopics(img, request(), cappedConfig(5))
	wantCodes(t, resp)
	next := mustApply(t, img, records)
	if next.TopicByName("first") == nil || next.TopicByName("third") == nil || next.TopicByName("second") != nil || next.TopicByName("fourth") != nil {
		t.Fatalf("created %v, want first and third only", topicNames(next))
	}
	if refused != 2 {
		t.Fatalf("refusals = %d, want 2", refused)
	}

	validate := request()
	validate.ValidateOnly = true
	records, resp, refused = planCreateTopics(img, validate, cappedConfig(5))
	wantCodes(t, resp)
	if len(records) != 0 || refused != 2 {
		t.Fatalf("validate_only: %d records, %d refusals", len(records), refused)
	}
}

func TestPlanCreatePartitionsOverCap(t *testing.T) {
	img := fixtureImage(t)
	req := growRequest(
		grow("orders", 5, []int32{1, 2}, []int32{1, 3}), // broker 1: 3 → 5
		grow("a_b", 2, []int32{1}),                      // 6 > 5: refused
	)
	records, resp, refused := planCreatePartitions(img, req, cappedConfig(5))
	wantError(t, "orders", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, nil, "")
	wantError(t, "a_b", resp.Topics[1].ErrorCode, resp.Topics[1].ErrorMessage, kerr.PolicyViolation,
		"Creating these partitions would put 6 partition replicas on broker 1, over sluice.max.partitions=5 (it hosts 5 now).")
	next := mustApply(t, img, records)
	if len(next.TopicByName("orders").Partitions) != 5 || len(next.TopicByName("a_b").Partitions) != 1 || refused != 1 {
		t.Fatalf("orders %d, a_b %d partitions, %d refusals; want 5, 1 (unchanged), 1",
			len(next.TopicByName("orders").Partitions), len(next.TopicByName("a_b").Partitions), refused)
	}
	// Placed partitions are checked too: RF 2 over three brokers puts one
	// more replica on broker 1 whichever way it is striped.
	placed := growRequest(grow("orders", 6))
	placed.ValidateOnly = true
	records, resp, refused = planCreatePartitions(img, placed, cappedConfig(3))
	if resp.Topics[0].ErrorCode != kerr.PolicyViolation.Code || len(records) != 0 || refused != 1 {
		t.Fatalf("placed growth over the cap (validate_only): %+v, %d records, %d refusals", resp.Topics[0], len(records), refused)
	}
}

// A reassignment counts the replicas it adds (the broker hosts them while
// it catches up) cumulatively over the request; reordering or removing
// replicas never needs room.
func TestPlanReassignmentsOverCap(t *testing.T) {
	img := fixtureImage(t) // brokers 1: 3, 2: 2, 3: 2
	cfg := cappedConfig(3)
	p := newPlanner(img, cfg)
	resp := p.alterPartitionReassignments(reassignRequest(0, true,
		target{"a_b", 0, []int32{2}},          // broker 2 → 3 (broker 1 keeps it until done)
		target{"orders", 0, []int32{2, 3}},    // broker 3 → 3 (2 already hosts it)
		target{"orders", 1, []int32{3, 2}},    // a reorder: nothing new
		target{"orders", 2, []int32{2, 3, 1}}, // broker 2 → 4: refused
	))
	var codes []int16
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			codes = append(codes, rp.ErrorCode)
			if rp.ErrorCode != 0 {
				wantError(t, "orders-2", rp.ErrorCode, rp.ErrorMessage, kerr.PolicyViolation,
					"This reassignment would put 4 partition replicas on broker 2, over sluice.max.partitions=3 (it hosts 3 now).")
			}
		}
	}
	want := []int16{0, 0, 0, kerr.PolicyViolation.Code}
	if len(codes) != len(want) || codes[0] != 0 || codes[1] != 0 || codes[2] != 0 || codes[3] != want[3] {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	next := mustApply(t, img, p.records)
	if r := next.TopicByName("orders").Partitions[2].Replicas; len(r) != 2 || p.cap.refused != 1 {
		t.Fatalf("orders-2 replicas %v, %d refusals; want unchanged, 1", r, p.cap.refused)
	}
}

// The driver reports refusals through PartitionCapRefused once they are
// answered, for the server's sluice_refusals_total{reason="max_partitions"}.
func TestPartitionCapRefusalsReported(t *testing.T) {
	q := &fakeQuorum{image: fixtureImage(t)}
	cfg := cappedConfig(4)
	var reported int
	cfg.PartitionCapRefused = func(n int) { reported += n }
	c, err := New(*cfg, q)
	if err != nil {
		t.Fatal(err)
	}
	resp := c.CreateTopics(context.Background(), createRequest(assigned("fits", []int32{1}), assigned("over", []int32{1})))
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != kerr.PolicyViolation.Code || reported != 1 {
		t.Fatalf("create: %+v, reported %d", resp.Topics, reported)
	}
	if q.Image().TopicByName("fits") == nil || q.Image().TopicByName("over") != nil {
		t.Fatalf("committed topics %v", topicNames(q.Image()))
	}
	c.CreatePartitions(context.Background(), growRequest(grow("a_b", 2, []int32{1})))
	if reported != 2 {
		t.Fatalf("reported %d after CreatePartitions, want 2", reported)
	}
	if err := c.AutoCreateTopic(context.Background(), "auto"); err == nil || !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("auto-create over the cap: %v, want POLICY_VIOLATION", err)
	}
	if reported != 3 {
		t.Fatalf("reported %d after auto-create, want 3", reported)
	}
	if _, err := New(*cappedConfig(-1), q); err == nil {
		t.Fatal("a negative cap was accepted")
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 100512: "100,512", 100000: "100,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

func topicNames(img *metadata.Image) []string {
	var names []string
	for _, t := range img.Topics() {
		names = append(names, t.Name)
	}
	return names
}
