package api

import (
	"context"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
)

// DescribeConfigs v0-v4: topic and broker resources, every config or the
// named ones, with source (v1+), synonyms when asked (v1+), type and
// documentation (v3+). Values come from internal/config's registry, the one
// place that knows defaults and synonyms. A broker resource must name this
// broker (or be "" for the cluster default); broker loggers are not
// supported.

func handleDescribeConfigs(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range r.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		entries, err := b.describeResource(rr)
		if err != nil {
			res.ErrorCode = err.Code
			msg := err.Description
			res.ErrorMessage = &msg
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			res.Configs = append(res.Configs, describedConfig(e, r))
		}
		resp.Resources = append(resp.Resources, res)
	}
	return reply(resp)
}

// describeResource lists a resource's config entries.
func (b *Broker) describeResource(rr kmsg.DescribeConfigsRequestResource) ([]config.Entry, *kerr.Error) {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		t := b.cfg.Metadata.Image().TopicByName(rr.ResourceName)
		if t == nil {
			return nil, kerr.UnknownTopicOrPartition
		}
		return config.DescribeTopic(b.cfg.Broker, t.Configs), nil
	case kmsg.ConfigResourceTypeBroker:
		if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.cfg.Broker.NodeID)) {
			return nil, kerr.InvalidRequest
		}
		return config.DescribeBroker(b.cfg.Broker, b.cfg.StaticConfig), nil
	}
	return nil, kerr.InvalidRequest
}

// describedConfig renders one entry for the request's version and options.
func describedConfig(e config.Entry, r *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Sensitive
	if e.Sensitive {
		c.Value = nil
	}
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = c.Source == kmsg.ConfigSourceDefaultConfig
	c.ConfigType = kmsg.ConfigType(e.Type)
	if r.IncludeDocumentation {
		doc := e.Documentation
		c.Documentation = &doc
	}
	if r.IncludeSynonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = s.Name, s.Value, kmsg.ConfigSource(s.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	return c
}
