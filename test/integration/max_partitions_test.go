package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/testcluster"
)

// sluice.max.partitions (issue 11): a CreateTopics that would put more
// partition replicas on the broker than its cap is refused with
// POLICY_VIOLATION and a message naming the key and the numbers, creates
// nothing, and leaves the existing topics serving; a create that fits
// still succeeds; an auto-created topic over the cap is refused at once
// (the Metadata answer is an error, not a hang); each refusal is counted
// on /metrics.
func TestMaxPartitionsRefusesCreateTopics(t *testing.T) {
	b := startBroker(t, testcluster.WithConfig(func(c *config.Broker) {
		c.MaxPartitions = 40
		c.MetricsListener = "127.0.0.1:0"
	}))
	ctx := testContext(t)
	adm := b.Admin()
	createTopic(t, b, "kept", 30, nil)
	produceValues(t, b, "kept", "before")

	created, err := adm.CreateTopics(ctx, 20, 1, nil, "big")
	if err != nil {
		t.Fatal(err)
	}
	resp := created["big"]
	const refusal = "Creating these partitions would put 50 partition replicas on broker 1, over sluice.max.partitions=40 (it hosts 30 now)."
	if !errors.Is(resp.Err, kerr.PolicyViolation) || resp.ErrMessage != refusal {
		t.Fatalf("create over the cap: %v %q, want POLICY_VIOLATION %q", resp.Err, resp.ErrMessage, refusal)
	}
	if listed, err := adm.ListTopics(ctx); err != nil || listed.Has("big") {
		t.Fatalf("after the refusal: topics %v (%v), want no \"big\"", listed.Names(), err)
	}

	// The existing topic keeps serving.
	produceValues(t, b, "kept", "after")
	wantValues(t, "kept", consume(t, b, "kept", 2), "before", "after")

	// A create that fits exactly still succeeds.
	createTopic(t, b, "small", 10, nil)
	produceValues(t, b, "small", "fits")

	// Auto-creation goes through the same check: the Metadata request
	// that would create the topic is answered at once with an error and
	// nothing is created.
	started := time.Now()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("auto")
	req.Topics = append(req.Topics, rt)
	meta := request[*kmsg.MetadataResponse](t, b, req)
	if len(meta.Topics) != 1 || meta.Topics[0].ErrorCode == 0 {
		t.Fatalf("auto-create over the cap answered %+v, want an error", meta.Topics)
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Fatalf("auto-create refusal took %v", took)
	}
	t.Logf("auto-create over the cap: %s after %v", codeName(meta.Topics[0].ErrorCode), time.Since(started))
	if listed, err := adm.ListTopics(ctx); err != nil || listed.Has("auto") {
		t.Fatalf("after the auto-create refusal: topics %v (%v)", listed.Names(), err)
	}

	// A producer that relies on auto-creation gets an error, not a hang.
	cl := b.Client(kgo.DefaultProduceTopic("auto-produce"), kgo.AllowAutoTopicCreation(),
		kgo.MetadataMinAge(50*time.Millisecond), kgo.UnknownTopicRetries(2))
	defer cl.Close()
	started = time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("produce to a topic auto-created over the cap succeeded")
	} else {
		t.Logf("produce with auto-creation over the cap: %v after %v", err, time.Since(started))
	}

	body := scrape(t, b.MetricsURL())
	if got := metricValue(t, body, `sluice_refusals_total{reason="max_partitions"}`); got < 3 {
		t.Fatalf("sluice_refusals_total{reason=\"max_partitions\"} = %v, want at least 3 (big, auto, auto-produce)", got)
	}
}
