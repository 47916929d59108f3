package api

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metadata"
)

// DescribeTopicPartitions v0 (KIP-966): topic metadata paged by partition
// count. Topics are answered in name order starting at the cursor; once
// response_partition_limit partitions are listed, next_cursor says where to
// resume. An empty topic list asks for every topic. Eligible leader replicas
// are empty: Sluice elects from the ISR only.

const defaultPartitionLimit = 2000

func handleDescribeTopicPartitions(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DescribeTopicPartitionsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	img := b.cfg.Metadata.Image()
	names := requestedTopicNames(img, r.Topics)
	limit := r.ResponsePartitionLimit
	if limit <= 0 || limit > defaultPartitionLimit {
		limit = defaultPartitionLimit
	}
	for _, name := range names {
		startPartition := int32(0)
		if c := r.Cursor; c != nil {
			if name < c.Topic {
				continue
			}
			if name == c.Topic {
				startPartition = c.Partition
			}
		}
		t := img.TopicByName(name)
		if t != nil && limit == 0 {
			// The page is full: resume at this topic, do not list it empty.
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: startPartition}
			break
		}
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic, rt.AuthorizedOperations = &name, authorizedOperationsOmitted
		if t == nil {
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if metadata.ValidateTopicName(name) != nil {
				rt.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		rt.TopicID, rt.IsInternal = t.ID, t.Internal()
		for i := startPartition; i < int32(len(t.Partitions)); i++ {
			if limit == 0 {
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: i}
				break
			}
			rt.Partitions = append(rt.Partitions, describedPartition(&t.Partitions[i]))
			limit--
		}
		resp.Topics = append(resp.Topics, rt)
		if resp.NextCursor != nil {
			break
		}
	}
	return reply(resp)
}

// requestedTopicNames lists the topics to describe in name order.
func requestedTopicNames(img *metadata.Image, topics []kmsg.DescribeTopicPartitionsRequestTopic) []string {
	var names []string
	if len(topics) == 0 {
		for _, t := range img.Topics() {
			names = append(names, t.Name)
		}
	}
	for _, t := range topics {
		names = append(names, t.Topic)
	}
	slices.SortFunc(names, strings.Compare)
	return slices.Compact(names)
}

func describedPartition(p *metadata.Partition) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
	dp.Partition, dp.LeaderID, dp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
	dp.Replicas, dp.ISR = p.Replicas, p.ISR
	dp.EligibleLeaderReplicas, dp.LastKnownELR, dp.OfflineReplicas = []int32{}, []int32{}, []int32{}
	if p.Leader < 0 {
		dp.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	return dp
}
