package api

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions v0-v4. The supported list is derived from the handler
// registry, so it advertises exactly what is implemented. KIP-511: a version
// above ours is answered at v0 with UNSUPPORTED_VERSION and the full list.
// (v4 is the highest kmsg's ApiVersionsRequest knows that Kafka clients use.)

func handleApiVersions(b *Broker, _ context.Context, req *Request) Reply {
	resp := kmsg.NewPtrApiVersionsResponse()
	if req.UnsupportedVersion {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	}
	for _, r := range b.supported() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey = r.key.Int16()
		k.MinVersion = r.minVersion
		k.MaxVersion = r.maxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return reply(resp)
}
