package api

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/replica"
)

// overTheWire encodes a request and decodes it as the connection does
// (kmsg's ReadFrom of the body at the request's version), so tags a
// follower wrote arrive as a leader sees them.
func overTheWire(t *testing.T, r *kmsg.FetchRequest) *kmsg.FetchRequest {
	t.Helper()
	out := kmsg.NewPtrFetchRequest()
	out.SetVersion(r.Version)
	if err := out.ReadFrom(r.AppendTo(nil)); err != nil {
		t.Fatalf("decode fetch v%d: %v", r.Version, err)
	}
	return out
}

// A follower's fetch reports its log end (the fetch offset) and its
// durable end (replica.DurableEndTag); the leader's high watermark counts
// min(fetch offset, durable end), or the fetch offset when the tag is
// absent (a follower that fsyncs before it fetches).
func TestFollowerFetchReportsDurableEnd(t *testing.T) {
	f := newClusterFixture(t, ledHere([]int32{1, 2}, []int32{1, 2}), nil)
	produce := func() {
		t.Helper()
		if sp := producePartition(t, handle(t, f.b, produceRequest(t, 9, 1, 1000, 0), kmsg.NewPtrProduceResponse())); sp.ErrorCode != 0 {
			t.Fatalf("produce: %d", sp.ErrorCode)
		}
	}
	for range 3 {
		produce()
	}
	const noTag = -2
	fetchAt := func(version int16, offset, durable int64) kmsg.FetchResponseTopicPartition {
		t.Helper()
		r := fetchRequest(version, 2, offset, 5, 0)
		if durable != noTag {
			replica.SetDurableEnd(&r.Topics[0].Partitions[0], durable)
		}
		return fetchPartition(t, handle(t, f.b, overTheWire(t, r), kmsg.NewPtrFetchResponse()))
	}
	steps := []struct {
		name            string
		version         int16
		offset, durable int64
		wantHW          int64
	}{
		{"log end 3, 1 durable", 12, 3, 1, 1},
		{"still 1 durable: the high watermark waits", 12, 3, 1, 1},
		{"durable end above the fetch offset is capped", 15, 2, 3, 2},
		{"the fsync ended", 18, 3, 3, 3},
	}
	for _, s := range steps {
		fp := fetchAt(s.version, s.offset, s.durable)
		if fp.ErrorCode != 0 || fp.HighWatermark != s.wantHW || f.p.HighWatermark() != s.wantHW {
			t.Fatalf("%s: error %d, answered high watermark %d, partition's %d; want %d",
				s.name, fp.ErrorCode, fp.HighWatermark, f.p.HighWatermark(), s.wantHW)
		}
	}
	produce()
	if fp := fetchAt(12, 4, noTag); fp.ErrorCode != 0 || fp.HighWatermark != 4 {
		t.Fatalf("fetch without the tag: error %d, high watermark %d; want the fetch offset 4", fp.ErrorCode, fp.HighWatermark)
	}
}
