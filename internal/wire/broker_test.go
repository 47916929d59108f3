package wire_test

import (
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/testcluster"
	"github.com/sluice-io/sluice/internal/wire"
)

// The client against a real in-process Sluice broker: every ApiVersions
// version, old and flexible Metadata, a topic created and listed, and
// concurrent requests on the shared connection.
func TestAgainstSluiceBroker(t *testing.T) {
	b := testcluster.Start(t)
	c := wire.New(b.Addr())
	t.Cleanup(func() { c.Close() })
	ctx := wire.TestContext(t)
	for version := int16(0); version <= kmsg.NewPtrApiVersionsRequest().MaxVersion(); version++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(version)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-broker", "test"
		resp, err := c.Request(ctx, req)
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", version, err)
		}
		if r := resp.(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 || len(r.ApiKeys) == 0 {
			t.Fatalf("ApiVersions v%d: error %d, %d keys", version, r.ErrorCode, len(r.ApiKeys))
		}
	}

	create := kmsg.NewPtrCreateTopicsRequest()
	create.SetVersion(7)
	topic := kmsg.NewCreateTopicsRequestTopic()
	topic.Topic, topic.NumPartitions, topic.ReplicationFactor = "wire-test", 3, 1
	create.Topics = append(create.Topics, topic)
	create.TimeoutMillis = 5000
	resp, err := c.Request(ctx, create)
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}

	var wg sync.WaitGroup
	for _, version := range []int16{1, 4, 8, 9, 12, 13} {
		wg.Go(func() {
			resp, err := c.Request(ctx, wire.MetadataFor(version, "wire-test"))
			if err != nil {
				t.Errorf("Metadata v%d: %v", version, err)
				return
			}
			m := resp.(*kmsg.MetadataResponse)
			if len(m.Topics) != 1 || m.Topics[0].ErrorCode != 0 || len(m.Topics[0].Partitions) != 3 {
				t.Errorf("Metadata v%d: %+v", version, m.Topics)
			}
		})
	}
	wg.Wait()
}
