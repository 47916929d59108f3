package api

import (
	"context"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/replica"
)

// DescribeLogDirs v0-v5: the log directory, the size of every hosted
// partition (all, or those asked for), and total and usable bytes of the
// directory's file system (v4+, KIP-827). The offset lag is Kafka's: how
// far the log end is below the high watermark, so 0 for a current replica;
// a directory is never cordoned (v5, KIP-1066).

func handleDescribeLogDirs(b *Broker, _ context.Context, req *Request) Reply {
	r := req.Body.(*kmsg.DescribeLogDirsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.logDir()
	dir.TotalBytes, dir.UsableBytes = b.cfg.Partitions.DiskSpace()
	wanted := wantedPartitions(r.Topics)
	for _, p := range b.cfg.Partitions.Partitions() {
		if wanted != nil && !wanted[replica.TopicPartition{Topic: p.Topic, Partition: p.Partition}] {
			continue
		}
		n := len(dir.Topics)
		if n == 0 || dir.Topics[n-1].Topic != p.Topic {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = p.Topic
			dir.Topics = append(dir.Topics, t)
			n++
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition, dp.Size = p.Partition, p.Size()
		dp.OffsetLag = max(p.HighWatermark()-p.LogEndOffset(), 0)
		dir.Topics[n-1].Partitions = append(dir.Topics[n-1].Partitions, dp)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return reply(resp)
}

// wantedPartitions is the request's filter; nil asks for everything.
func wantedPartitions(topics []kmsg.DescribeLogDirsRequestTopic) map[replica.TopicPartition]bool {
	if topics == nil {
		return nil
	}
	out := map[replica.TopicPartition]bool{}
	for _, t := range topics {
		for _, p := range t.Partitions {
			out[replica.TopicPartition{Topic: t.Topic, Partition: p}] = true
		}
	}
	return out
}

// logDir is the absolute log directory, as Kafka reports it.
func (b *Broker) logDir() string {
	dir := b.cfg.Broker.LogDirs[0]
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}
