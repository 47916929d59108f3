package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// Heartbeats are the most frequent group request: every member sends one
// every few seconds.
func BenchmarkHeartbeat(b *testing.B) {
	h := newClassicHarness(b)
	members := h.stabilize("g", "a", "b", "c")
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.Generation, req.MemberID = "g", members[1].generation, members[1].id
	respond := func(*kmsg.HeartbeatResponse) {}
	b.ReportAllocs()
	for b.Loop() {
		fx := coord.Effects{Now: h.clock.now}
		h.shard.Heartbeat(&fx, req, respond)
		fx.Complete(nil)
	}
}

// A full rebalance of a 100-member group: every member rejoins, the
// leader assigns, everyone syncs.
func BenchmarkRebalance100(b *testing.B) {
	h := newClassicHarness(b)
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	members := h.stabilize("g", ids...)
	b.ReportAllocs()
	for b.Loop() {
		var calls []*joinCall
		for _, m := range members {
			calls = append(calls, h.join(m))
		}
		for i, m := range members {
			m.joined(b, calls[i])
		}
		h.syncAll(members)
	}
}
