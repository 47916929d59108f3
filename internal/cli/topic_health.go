package cli

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionFilter is topic describe's health filters (kafka-topics.sh
// --under-replicated-partitions, --unavailable-partitions,
// --under-min-isr-partitions) and --exclude-internal.
type partitionFilter struct {
	underReplicated bool
	offline         bool
	underMinISR     bool
	excludeInternal bool
}

func (f *partitionFilter) register(cmd *cobra.Command) {
	flags := cmd.Flags()
	flags.BoolVar(&f.underReplicated, "under-replicated", false, "only partitions whose ISR is smaller than their replica set")
	flags.BoolVar(&f.offline, "offline", false, "only partitions without a live leader (kafka-topics.sh --unavailable-partitions)")
	flags.BoolVar(&f.underMinISR, "under-min-isr", false, "only partitions whose ISR is below min.insync.replicas (acks=all produce refused)")
	flags.BoolVar(&f.excludeInternal, "exclude-internal", false, "leave out internal topics when describing every topic")
}

// active tells whether a health filter is on.
func (f partitionFilter) active() bool { return f.underReplicated || f.offline || f.underMinISR }

// matches tells whether p is in one of the states asked for.
func (f partitionFilter) matches(p partitionDescription) bool {
	return f.underReplicated && p.UnderReplicated || f.offline && p.Offline || f.underMinISR && p.UnderMinISR
}

// apply keeps the matching partitions, and the topics that have one.
func (f partitionFilter) apply(descriptions []topicDescription) []topicDescription {
	out := []topicDescription{}
	for _, d := range descriptions {
		var kept []partitionDescription
		for _, p := range d.Partitions {
			if f.matches(p) {
				kept = append(kept, p)
			}
		}
		if len(kept) > 0 {
			d.Partitions = kept
			out = append(out, d)
		}
	}
	return out
}

// topicMetadata reads the brokers and the metadata of topics (every topic
// when none is named) and fails, naming the topic, if a named one does not
// exist or cannot be described.
func topicMetadata(ctx context.Context, conn connection, admin *kadm.Client, topics ...string) (kadm.Metadata, error) {
	meta, err := admin.Metadata(ctx, topics...)
	if err != nil {
		return kadm.Metadata{}, conn.requestFailed("read topic metadata", err)
	}
	for _, topic := range topics {
		detail, ok := meta.Topics[topic]
		if !ok {
			return kadm.Metadata{}, topicError(topic, kerr.UnknownTopicOrPartition)
		}
		if detail.Err != nil {
			return kadm.Metadata{}, topicError(topic, detail.Err)
		}
	}
	return meta, nil
}

// describedTopicNames is every topic of details by name, internal ones
// unless excludeInternal; topics the broker reported an error for are left
// out.
func describedTopicNames(details kadm.TopicDetails, excludeInternal bool) []string {
	var names []string
	for _, d := range details.Sorted() {
		if d.Err != nil || excludeInternal && d.IsInternal {
			continue
		}
		names = append(names, d.Topic)
	}
	return names
}

// liveBrokers is the set of brokers Metadata lists: Kafka (and Sluice)
// list only registered, unfenced brokers.
func liveBrokers(brokers kadm.BrokerDetails) map[int32]bool {
	live := make(map[int32]bool, len(brokers))
	for _, b := range brokers {
		live[b.NodeID] = true
	}
	return live
}

// assessPartition fills in p's health. A replica counts as offline when
// the broker said so or when its broker is not among the live ones; the
// partition is offline when it has no leader or its leader is not live;
// under min ISR when its ISR is below minISR capped at the replica count
// (the rule the broker applies to acks=all produce). minISR 0 (unknown)
// checks nothing.
func assessPartition(p *partitionDescription, live map[int32]bool, minISR int32) {
	if len(live) > 0 {
		for _, id := range p.Replicas {
			if !live[id] && !slices.Contains(p.OfflineReplicas, id) {
				p.OfflineReplicas = append(p.OfflineReplicas, id)
			}
		}
	}
	p.Offline = p.Leader < 0 || len(live) > 0 && !live[p.Leader]
	p.UnderReplicated = len(p.ISR) < len(p.Replicas)
	if minISR > 0 {
		p.UnderMinISR = len(p.ISR) < max(1, min(int(minISR), len(p.Replicas)))
	}
}

// partitionStatus names what is wrong with p, "" when nothing is.
func partitionStatus(p partitionDescription) string {
	var states []string
	if p.Offline {
		states = append(states, "offline")
	}
	if p.UnderReplicated {
		states = append(states, "under-replicated")
	}
	if p.UnderMinISR {
		states = append(states, "under-min-isr")
	}
	return strings.Join(states, ",")
}

// describeTopicConfigsAndMinISR is describeTopicConfigs that also returns
// each topic's effective min.insync.replicas (0 when not reported), read
// from the same answer.
func describeTopicConfigsAndMinISR(ctx context.Context, conn connection, admin *kadm.Client, all bool, topics ...string) (map[string][]configEntry, map[string]int32, error) {
	described, err := admin.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, nil, conn.requestFailed("describe topic configs", err)
	}
	configs := make(map[string][]configEntry, len(described))
	minISRs := make(map[string]int32, len(described))
	for _, rc := range described {
		if rc.Err != nil {
			return nil, nil, withBrokerMessage(topicError(rc.Name, rc.Err), rc.ErrMessage)
		}
		configs[rc.Name] = configEntries(rc.Configs, all)
		for _, c := range rc.Configs {
			if c.Key != "min.insync.replicas" || c.Value == nil {
				continue
			}
			if n, err := strconv.ParseInt(*c.Value, 10, 32); err == nil {
				minISRs[rc.Name] = int32(n)
			}
		}
	}
	return configs, minISRs, nil
}

// listOffsetsOfAvailable keeps what a ListOffsets listing (kadm's
// ListStartOffsets or ListEndOffsets) got when only some partitions could
// not be asked: those without a leader, or led by a broker that is gone,
// fail their shard of the request. Their entries get the shard's error,
// so describe shows the rest of the topic; any other failure is returned.
func listOffsetsOfAvailable(listed kadm.ListedOffsets, err error) (kadm.ListedOffsets, error) {
	var shards *kadm.ShardErrors
	if err == nil || !errors.As(err, &shards) || !allUnavailable(shards) {
		return listed, err
	}
	if listed == nil {
		listed = kadm.ListedOffsets{}
	}
	for _, shard := range shards.Errs {
		req, ok := shard.Req.(*kmsg.ListOffsetsRequest)
		if !ok {
			continue
		}
		for _, t := range req.Topics {
			if listed[t.Topic] == nil {
				listed[t.Topic] = map[int32]kadm.ListedOffset{}
			}
			for _, p := range t.Partitions {
				listed[t.Topic][p.Partition] = kadm.ListedOffset{Topic: t.Topic, Partition: p.Partition, Offset: -1, Err: shard.Err}
			}
		}
	}
	return listed, nil
}

// allUnavailable tells whether every failed shard failed for want of a
// partition leader, not for a reason the whole command should stop on
// (authorization, an unreachable cluster).
func allUnavailable(shards *kadm.ShardErrors) bool {
	for _, shard := range shards.Errs {
		var kafkaErr *kerr.Error
		switch {
		case shard.Broker.NodeID < 0:
		case errors.As(shard.Err, &kafkaErr) && kafkaErr.Retriable:
		default:
			return false
		}
	}
	return true
}
