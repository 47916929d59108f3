package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-v2 (KIP-700, KIP-919 endpoint types, KIP-1073 fenced
// brokers). Fenced brokers are listed only when asked for (v2
// include_fenced_brokers). Both endpoint types answer with the registered
// brokers and name the active controller.

func handleDescribeCluster(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	if r.Version >= 1 && r.EndpointType != 1 && r.EndpointType != 2 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return reply(resp)
	}
	resp.EndpointType = max(r.EndpointType, 1)
	img := b.cfg.Metadata.Image()
	resp.ClusterID = img.ClusterID()
	resp.ControllerID = b.controllerID()
	resp.ClusterAuthorizedOperations = authorizedOperationsOmitted
	for _, br := range img.Brokers() {
		if len(br.Endpoints) == 0 || (br.Fenced && !r.IncludeFencedBrokers) {
			continue
		}
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Rack, db.IsFenced = br.NodeID, br.Rack, br.Fenced
		db.Host, db.Port = br.Endpoints[0].Host, br.Endpoints[0].Port
		resp.Brokers = append(resp.Brokers, db)
	}
	return reply(resp)
}
