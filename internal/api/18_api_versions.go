package api

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions v0-v5. The supported list is derived from the handler
// registry, so it advertises exactly what is implemented. KIP-511: a version
// above ours is answered at v0 with UNSUPPORTED_VERSION and the full list,
// and from v3 the client's software name and version must be well formed
// (INVALID_REQUEST otherwise). KIP-1242 (v5): a client that names the
// cluster and node it means to reach gets REBOOTSTRAP_REQUIRED if this is
// not that node, e.g. after an address was reused.

// softwareNamePattern is Kafka's rule for client_software_name and
// client_software_version.
var softwareNamePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func handleApiVersions(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.ApiVersionsRequest)
	resp := kmsg.NewPtrApiVersionsResponse()
	switch {
	case req.UnsupportedVersion:
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	case req.Version >= 3 && (!softwareNamePattern.MatchString(r.ClientSoftwareName) || !softwareNamePattern.MatchString(r.ClientSoftwareVersion)):
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.Version >= 5 && b.wrongNode(r.ClusterID, r.NodeID):
		resp.ErrorCode = kerr.RebootstrapRequired.Code
	}
	for _, rt := range b.supported() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey = rt.key.Int16()
		k.MinVersion = rt.minVersion
		k.MaxVersion = rt.maxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return reply(resp)
}

// wrongNode reports whether a client that named a cluster and node (both
// set) reached a different one.
func (b *Broker) wrongNode(clusterID *string, nodeID int32) bool {
	if clusterID == nil || nodeID < 0 {
		return false
	}
	return *clusterID != b.cfg.Metadata.Image().ClusterID() || nodeID != b.cfg.Broker.NodeID
}
