package testcluster

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The waiting logic both harnesses share: InProcessCluster and
// ProcessCluster differ in how they reach a node, not in what they wait
// for.

// poll runs check every pollInterval until it returns nil or timeout
// passes; it returns the time taken, or the last error.
func poll(timeout time.Duration, check func() error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := check()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), err
		}
		<-ticker.C // poll the cluster again
	}
}

// runningNodes is the ids for which running holds, in order.
func runningNodes(ids []int32, running func(id int32) bool) []int32 {
	var out []int32
	for _, id := range ids {
		if running(id) {
			out = append(out, id)
		}
	}
	return out
}

// metadataRequest asks for topics (every topic if none are given).
func metadataRequest(topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// nodeMetadataFunc is how a harness gets node id's own Metadata answer.
type nodeMetadataFunc func(ctx context.Context, id int32, topics ...string) (*kmsg.MetadataResponse, error)

// brokersJoined says why the running nodes have not all joined yet, nil
// once each one's own Metadata answer names an active controller and
// lists every running node as a broker (registered and unfenced), so a
// test may create topics of any replication factor.
func brokersJoined(running []int32, nodeMetadata nodeMetadataFunc) error {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	for _, id := range running {
		md, err := nodeMetadata(ctx, id)
		if err != nil {
			return err
		}
		if md.ControllerID < 0 {
			return fmt.Errorf("node %d knows no active controller", id)
		}
		if len(md.Brokers) != len(running) {
			return fmt.Errorf("node %d lists %d brokers, want %d", id, len(md.Brokers), len(running))
		}
	}
	return nil
}
