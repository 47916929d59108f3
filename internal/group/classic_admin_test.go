package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

func TestDescribeGroup(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")

	d := h.shard.DescribeGroup("g")
	if d.ErrorCode != 0 || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "range" || len(d.Members) != 2 {
		t.Fatalf("stable group described as %+v", d)
	}
	m := d.Members[1]
	if m.MemberID != members[1].id || *m.InstanceID != "i-b" || m.ClientID != "client" || m.ClientHost != "/10.0.0.1" ||
		string(m.MemberAssignment) != "b" || string(m.ProtocolMetadata) != string(members[1].protocols[0].Metadata) {
		t.Fatalf("member described as %+v", m)
	}
	if d.AuthorizedOperations != -2147483648 {
		t.Fatalf("authorized operations %d, want kmsg's default", d.AuthorizedOperations)
	}

	h.join(members[0]) // rebalancing: no protocol, no metadata
	d = h.shard.DescribeGroup("g")
	if d.State != "PreparingRebalance" || d.Protocol != "" || len(d.Members[0].ProtocolMetadata) != 0 || string(d.Members[0].MemberAssignment) != "a" {
		t.Fatalf("rebalancing group described as %+v", d)
	}

	d = h.shard.DescribeGroup("missing")
	if d.State != "Dead" || d.ErrorCode != kerr.GroupIDNotFound.Code || d.ErrorMessage == nil || d.Group != "missing" {
		t.Fatalf("unknown group described as %+v", d)
	}
}

func TestListGroups(t *testing.T) {
	h := newClassicHarness(t)
	h.stabilize("stable", "a")
	h.leave(h.stabilize("empty", "b")[0])
	h.join(newClassicClient("preparing", "c", "topic"))
	h.shard.ensureSimpleGroup("simple")

	names := func(groups []kmsg.ListGroupsResponseGroup) []string {
		var out []string
		for _, g := range groups {
			out = append(out, g.Group+":"+g.GroupState+":"+g.ProtocolType+":"+g.GroupType)
		}
		return out
	}
	tests := []struct {
		states, types []string
		want          []string
	}{
		{nil, nil, []string{"empty:Empty:consumer:classic", "preparing:PreparingRebalance:consumer:classic", "simple:Empty::classic", "stable:Stable:consumer:classic"}},
		{[]string{"stable", " EMPTY "}, nil, []string{"empty:Empty:consumer:classic", "simple:Empty::classic", "stable:Stable:consumer:classic"}},
		{[]string{"Dead"}, nil, nil},
		{nil, []string{"Classic"}, []string{"empty:Empty:consumer:classic", "preparing:PreparingRebalance:consumer:classic", "simple:Empty::classic", "stable:Stable:consumer:classic"}},
		{nil, []string{"consumer"}, nil},
		{[]string{"preparingrebalance"}, []string{"classic", "share"}, []string{"preparing:PreparingRebalance:consumer:classic"}},
	}
	for _, tt := range tests {
		got := names(h.shard.ListGroups(tt.states, tt.types))
		if len(got) != len(tt.want) {
			t.Fatalf("states %q types %q: %v, want %v", tt.states, tt.types, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("states %q types %q: %v, want %v", tt.states, tt.types, got, tt.want)
			}
		}
	}
}

// DeleteGroups: only Empty groups; their offsets' tombstones come first,
// then the group's.
func TestDeleteGroup(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a")

	code, records := h.deleteGroup("g")
	wantClassicCode(t, "delete Stable group", code, kerr.NonEmptyGroup.Code)
	if len(records) != 0 {
		t.Fatal("refused delete wrote records")
	}
	code, _ = h.deleteGroup("missing")
	wantClassicCode(t, "delete unknown group", code, kerr.GroupIDNotFound.Code)

	h.leave(members[0])
	h.commitOffset("g", "t", 0, 42)
	code, records = h.deleteGroup("g")
	wantClassicCode(t, "delete Empty group", code, 0)
	if len(records) != 2 || records[0].Key[1] != 1 || records[0].Value != nil || records[1].Value != nil {
		t.Fatalf("delete wrote %d records: %+v", len(records), records)
	}
	if key, value := decodeGroupRecord(t, records[1]); key.Group != "g" || value != nil {
		t.Fatal("group tombstone missing")
	}
	if _, exists := h.shard.groupState("g"); exists || h.shard.hasOffsets("g") {
		t.Fatal("group or offsets left after delete")
	}
	code, _ = h.deleteGroup("g")
	wantClassicCode(t, "delete twice", code, kerr.GroupIDNotFound.Code)

	// A deleted group loads as absent.
	if loaded := newClassicHarnessWith(t, classicTestConfig(), h.written...); loaded.group("g") != nil {
		t.Fatal("deleted group loaded")
	}
	// And its ID can be used again at once.
	again := newClassicClient("g", "a", "topic")
	call := h.join(again)
	h.awaitJoins(call)
	if resp := again.joined(t, call); resp.Generation != 1 {
		t.Fatalf("recreated group generation %d", resp.Generation)
	}
}

// commitOffset commits one offset as a simple consumer (generation -1).
func (h *classicHarness) commitOffset(group, topic string, partition int32, offset int64) {
	h.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group = group
	req.Generation = -1
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset = partition, offset
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	var resp *kmsg.OffsetCommitResponse
	h.run(func(fx *coord.Effects) {
		h.shard.CommitOffsets(fx, req, func(r *kmsg.OffsetCommitResponse) { resp = r })
	})
	if resp == nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		h.t.Fatalf("commit failed: %+v", resp)
	}
}

func TestDeleteEmptyClassicGroup(t *testing.T) {
	h := newClassicHarness(t)
	h.stabilize("stable", "a")
	h.shard.ensureSimpleGroup("simple")
	var deleted []bool
	records := h.run(func(fx *coord.Effects) {
		deleted = append(deleted, h.shard.deleteEmptyClassicGroup(fx, "stable"), h.shard.deleteEmptyClassicGroup(fx, "simple"), h.shard.deleteEmptyClassicGroup(fx, "none"))
	})
	if deleted[0] || !deleted[1] || deleted[2] || len(records) != 1 || records[0].Value != nil {
		t.Fatalf("deleted %v, records %d", deleted, len(records))
	}
}

// ClassicGroup.validateOffsetCommit, for OffsetCommit and TxnOffsetCommit.
func TestValidateOffsetCommit(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilizeStatic("g", "a", "b")
	a := members[0]
	h.leave(h.stabilize("empty", "x")[0])
	completing := newClassicClient("completing", "c", "topic")
	cc := h.join(completing)
	h.awaitJoins(cc)
	completing.joined(t, cc)

	tests := []struct {
		name       string
		group      string
		member     string
		instance   *string
		generation int32
		txn        bool
		want       *kerr.Error
	}{
		{"unknown group, no generation", "none", "", nil, -1, false, nil},
		{"unknown group with generation", "none", "m", nil, 3, false, kerr.IllegalGeneration},
		{"empty group, no generation", "empty", "", nil, -1, false, nil},
		{"empty group, old member", "empty", "x", nil, 1, false, kerr.UnknownMemberID},
		{"member of Stable group", "g", a.id, a.instanceID, 1, false, nil},
		{"wrong generation", "g", a.id, nil, 2, false, kerr.IllegalGeneration},
		{"unknown member", "g", "ghost", nil, 1, false, kerr.UnknownMemberID},
		{"fenced instance", "g", "ghost", a.instanceID, 1, false, kerr.FencedInstanceID},
		{"no member while Stable", "g", "", nil, -1, false, kerr.UnknownMemberID},
		{"no member while Stable, txn", "g", "", nil, -1, true, nil},
		{"member while CompletingRebalance", "completing", completing.id, nil, 1, false, kerr.RebalanceInProgress},
		{"member while CompletingRebalance, txn", "completing", completing.id, nil, 1, true, nil},
	}
	for _, tt := range tests {
		if got := h.shard.validateOffsetCommit(tt.group, tt.member, tt.instance, tt.generation, tt.txn); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// As in Kafka's commitOffset, a member's valid commit keeps its session.
func TestOffsetCommitKeepsSession(t *testing.T) {
	h := newClassicHarness(t)
	members := h.stabilize("g", "a")
	a := members[0]
	for i := 0; i < 5; i++ {
		h.advance(8 * time.Second)
		if err := h.shard.validateOffsetCommit("g", a.id, nil, a.generation, false); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if h.group("g").members[a.id] == nil {
		t.Fatal("member committing offsets expired")
	}
}

func TestGroupSubscribedTo(t *testing.T) {
	h := newClassicHarness(t)
	h.stabilize("g", "a")
	h.shard.ensureSimpleGroup("simple")

	garbled := newClassicClient("garbled", "x")
	garbled.protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1, 0, 0, 0, 9}}}
	garbled.version = 3
	cg := h.join(garbled)
	h.awaitJoins(cg)

	connect := newClassicClient("connect", "y")
	connect.version = 3
	req := connect.joinRequest()
	req.ProtocolType = "connect"
	cc := h.joinWith(req)
	h.awaitJoins(cc)

	tests := []struct {
		group, topic string
		want         bool
	}{
		{"g", "topic", true},
		{"g", "other", false},
		{"simple", "topic", false},
		{"missing", "topic", false},
		{"garbled", "anything", true}, // "consumer" metadata that does not decode: assumed subscribed
		{"connect", "topic", false},
	}
	for _, tt := range tests {
		if got := h.shard.groupSubscribedTo(tt.group, tt.topic); got != tt.want {
			t.Errorf("groupSubscribedTo(%s, %s) = %v, want %v", tt.group, tt.topic, got, tt.want)
		}
	}
}

func TestClassicOffsetRules(t *testing.T) {
	h := newClassicHarness(t)
	h.stabilize("stable", "a")
	h.leave(h.stabilize("empty", "b")[0])
	emptySince := h.clock.now.UnixMilli()
	h.join(newClassicClient("preparing", "c", "topic"))
	h.shard.ensureSimpleGroup("simple")
	connect := newClassicClient("connect", "y")
	connect.version = 3
	req := connect.joinRequest()
	req.ProtocolType = "connect"
	h.awaitJoins(h.joinWith(req))

	tests := []struct {
		group         string
		base          int64
		expirable     bool
		offsetsDelete *kerr.Error
	}{
		{"stable", -1, true, nil},
		{"empty", emptySince, true, nil},
		{"preparing", -1, false, nil},
		{"simple", -1, true, nil},
		{"connect", -1, false, kerr.NonEmptyGroup},
		{"missing", -1, true, kerr.GroupIDNotFound},
	}
	for _, tt := range tests {
		base, expirable := h.shard.classicOffsetExpiry(tt.group)
		if base != tt.base || expirable != tt.expirable {
			t.Errorf("%s: expiry (%d, %v), want (%d, %v)", tt.group, base, expirable, tt.base, tt.expirable)
		}
		if got := h.shard.classicValidateOffsetDelete(tt.group); got != tt.offsetsDelete {
			t.Errorf("%s: offset delete %v, want %v", tt.group, got, tt.offsetsDelete)
		}
	}
}
