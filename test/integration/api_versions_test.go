package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// versionRange is an advertised [min, max] of one API key.
type versionRange struct{ min, max int16 }

// requiredVersions are the ranges Sluice's single-node broker promises
// (internal/api registry); more APIs may be added, but these must stay.
var requiredVersions = map[kmsg.Key]versionRange{
	kmsg.Produce:                 {3, 13},
	kmsg.Fetch:                   {4, 18},
	kmsg.ListOffsets:             {0, 11},
	kmsg.Metadata:                {0, 13},
	kmsg.ApiVersions:             {0, 5},
	kmsg.CreateTopics:            {0, 7},
	kmsg.DeleteTopics:            {0, 6},
	kmsg.DeleteRecords:           {0, 2},
	kmsg.OffsetForLeaderEpoch:    {0, 4},
	kmsg.DescribeConfigs:         {0, 4},
	kmsg.AlterConfigs:            {0, 2},
	kmsg.DescribeLogDirs:         {0, 5},
	kmsg.CreatePartitions:        {0, 3},
	kmsg.IncrementalAlterConfigs: {0, 1},
	kmsg.DescribeCluster:         {0, 2},
	kmsg.DescribeTopicPartitions: {0, 0},
}

// advertised decodes an ApiVersions response into key → range, failing on
// a key listed twice.
func advertised(t *testing.T, resp *kmsg.ApiVersionsResponse) map[kmsg.Key]versionRange {
	t.Helper()
	out := map[kmsg.Key]versionRange{}
	for _, k := range resp.ApiKeys {
		key := kmsg.Key(k.ApiKey)
		if _, dup := out[key]; dup {
			t.Errorf("ApiVersions lists %s twice", kmsg.NameForKey(k.ApiKey))
		}
		out[key] = versionRange{k.MinVersion, k.MaxVersion}
	}
	return out
}

// checkAdvertised compares an advertised list with requiredVersions and
// checks every advertised range is one a Kafka client can decode.
func checkAdvertised(t *testing.T, got map[kmsg.Key]versionRange) {
	t.Helper()
	for key, want := range requiredVersions {
		if r, ok := got[key]; !ok || r != want {
			t.Errorf("%s advertised %v (present %v), want v%d-v%d", kmsg.NameForKey(key.Int16()), r, ok, want.min, want.max)
		}
	}
	for key, r := range got {
		req := kmsg.RequestForKey(key.Int16())
		switch {
		case req == nil:
			t.Errorf("advertises unknown API key %d", key)
		case r.min > r.max || r.min < 0 || r.max > req.MaxVersion():
			t.Errorf("%s advertises v%d-v%d, outside the protocol's v0-v%d", kmsg.NameForKey(key.Int16()), r.min, r.max, req.MaxVersion())
		}
	}
}

// Every ApiVersions version we advertise (v0-v5) answers with the same list
// (KIP-35, KIP-511 from v3).
func TestApiVersionsAdvertisesImplementedRanges(t *testing.T) {
	b := startBroker(t)
	wire := dialWire(t, b)
	for version := int16(0); version <= 4; version++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = version
		req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-integration", "1.0"
		resp := wire.roundTrip(req).(*kmsg.ApiVersionsResponse)
		wantCode(t, "ApiVersions", resp.ErrorCode, nil)
		checkAdvertised(t, advertised(t, resp))
	}
}

// KIP-511: an ApiVersions request newer than the broker knows is answered
// at v0 with UNSUPPORTED_VERSION and the full list, so the client can retry
// at a version both sides speak; the connection stays usable.
func TestApiVersionsUnsupportedVersionAnswersV0(t *testing.T) {
	b := startBroker(t)
	for _, version := range []int16{6, 127} {
		wire := dialWire(t, b)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = version
		correlation := wire.send(req)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := wire.receive(correlation, resp); err != nil {
			t.Fatalf("ApiVersions v%d: read v0 response: %v", version, err)
		}
		wantCode(t, fmt.Sprintf("ApiVersions v%d", version), resp.ErrorCode, kerr.UnsupportedVersion)
		checkAdvertised(t, advertised(t, resp))

		retry := kmsg.NewPtrApiVersionsRequest()
		retry.Version = 3
		retry.ClientSoftwareName, retry.ClientSoftwareVersion = "sluice-test", "1.0"
		again := wire.roundTrip(retry).(*kmsg.ApiVersionsResponse)
		wantCode(t, "ApiVersions v3 after the downgrade", again.ErrorCode, nil)
	}
}

// A request at a version the broker does not advertise (other than
// ApiVersions) cannot be parsed: Kafka closes the connection, and so must
// we, rather than answer something the client would misread.
func TestUnsupportedRequestVersionClosesConnection(t *testing.T) {
	b := startBroker(t)
	cases := []struct {
		name string
		req  kmsg.Request
	}{
		{"Produce v2 (magic v1 era)", func() kmsg.Request { r := produceRequest("t", 0, 1, nil); r.Version = 2; return r }()},
		{"Fetch v3", func() kmsg.Request { r := fetchRequest(); r.Version = 3; return r }()},
		{"DescribeTopicPartitions v1", func() kmsg.Request { r := kmsg.NewPtrDescribeTopicPartitionsRequest(); r.Version = 1; return r }()},
	}
	for _, c := range cases {
		wire := dialWire(t, b)
		wire.send(c.req)
		wire.expectClosed(c.name)
	}
	// The broker still serves new connections.
	req := kmsg.NewPtrApiVersionsRequest()
	resp := dialWire(t, b).roundTrip(req).(*kmsg.ApiVersionsResponse)
	wantCode(t, "ApiVersions after closed connections", resp.ErrorCode, nil)
}

// kgo negotiates versions from ApiVersions; an admin call going through
// proves the negotiation picked versions we serve.
func TestApiVersionsNegotiatedByClient(t *testing.T) {
	b := startBroker(t)
	versions, err := b.Admin().ApiVersions(testContext(t))
	if err != nil {
		t.Fatalf("kadm ApiVersions: %v", err)
	}
	for _, v := range versions {
		if v.Err != nil {
			t.Fatalf("broker %d: %v", v.NodeID, v.Err)
		}
		got := map[kmsg.Key]versionRange{}
		v.EachKeySorted(func(key, minVersion, maxVersion int16) {
			got[kmsg.Key(key)] = versionRange{minVersion, maxVersion}
		})
		checkAdvertised(t, got)
	}
}

// KIP-511: from v3 the client software name and version must match Kafka's
// pattern, else INVALID_REQUEST.
func TestApiVersionsRejectsMalformedSoftwareName(t *testing.T) {
	b := startBroker(t)
	wire := dialWire(t, b)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "bad name!", "1.0"
	resp := wire.roundTrip(req).(*kmsg.ApiVersionsResponse)
	wantCode(t, "ApiVersions v3 with a malformed software name", resp.ErrorCode, kerr.InvalidRequest)
	req.ClientSoftwareName = "good-client"
	resp = wire.roundTrip(req).(*kmsg.ApiVersionsResponse)
	wantCode(t, "ApiVersions v3 with a good software name", resp.ErrorCode, nil)
}

// KIP-1242: a v5 client naming another cluster or node is told to
// rebootstrap; naming this one (or nothing) is fine.
func TestApiVersionsRebootstrapOnWrongNode(t *testing.T) {
	b := startBroker(t)
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), b.Client())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		cluster *string
		node    int32
		want    *kerr.Error
	}{
		{"this node", meta.ClusterID, b.Config().NodeID, nil},
		{"unnamed", nil, -1, nil},
		{"other node", meta.ClusterID, b.Config().NodeID + 1, kerr.RebootstrapRequired},
		{"other cluster", kmsg.StringPtr("another-cluster"), b.Config().NodeID, kerr.RebootstrapRequired},
	}
	for _, c := range cases {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 5
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		req.ClusterID, req.NodeID = c.cluster, c.node
		resp := dialWire(t, b).roundTrip(req).(*kmsg.ApiVersionsResponse)
		wantCode(t, "ApiVersions v5 "+c.name, resp.ErrorCode, c.want)
	}
}
