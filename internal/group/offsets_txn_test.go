package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// txnCommitReq builds a TxnOffsetCommit v3 of one partition's offset for
// producer 5 at epoch 1, without a generation (a simple group).
func txnCommitReq(group, topic string, partition int32, offset int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.TransactionalID, req.Group = "tx", group
	req.ProducerID, req.ProducerEpoch = 5, 1
	req.Generation = -1
	t := kmsg.NewTxnOffsetCommitRequestTopic()
	t.Topic = topic
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch = partition, offset, 2
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

// txnCommit runs a TxnOffsetCommit and returns its one response.
func (h *offsetsHarness) txnCommit(req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, []coord.Record) {
	h.t.Helper()
	var resp *kmsg.TxnOffsetCommitResponse
	calls := 0
	records := h.run(func(fx *coord.Effects) {
		h.shard.CommitTxnOffsets(fx, req, func(r *kmsg.TxnOffsetCommitResponse) { resp, calls = r, calls+1 })
	})
	if calls != 1 {
		h.t.Fatalf("CommitTxnOffsets responded %d times, want 1", calls)
	}
	return resp, records
}

// fetchStable fetches one partition with require_stable.
func (h *offsetsHarness) fetchStable(group, topic string, partition int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	h.t.Helper()
	resp := h.shard.FetchOffsets(group, []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{partition}}}, true)
	return resp.Topics[0].Partitions[0]
}

func TestTxnOffsetCommitPendingUntilCommitMarker(t *testing.T) {
	h := newOffsetsHarness(t)
	h.commit(offsetCommitReq(2, "g", offsetPart{topic: "t", partition: 0, offset: 3}))
	resp, records := h.txnCommit(txnCommitReq("g", "t", 0, 10))
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("TxnOffsetCommit error %d", code)
	}
	if len(records) != 1 || !records[0].Transactional || records[0].ProducerID != 5 || records[0].ProducerEpoch != 1 {
		t.Fatalf("records %+v, want one transactional record of producer 5 epoch 1", records)
	}
	if got := h.committedAt("g", "t", 0); got != 3 {
		t.Fatalf("before the marker: committed %d, want 3 (the plain commit)", got)
	}
	if p := h.fetchStable("g", "t", 0); p.ErrorCode != kerr.UnstableOffsetCommit.Code || p.Offset != -1 {
		t.Fatalf("require_stable before the marker: %+v, want UNSTABLE_OFFSET_COMMIT at -1", p)
	}
	if p := h.fetchStable("g", "t", 1); p.ErrorCode != 0 {
		t.Fatalf("require_stable of another partition: error %d", p.ErrorCode)
	}
	h.shard.ReplayMarker(5, true)
	if p := h.fetchStable("g", "t", 0); p.ErrorCode != 0 || p.Offset != 10 || p.LeaderEpoch != 2 {
		t.Fatalf("after the commit marker: %+v, want offset 10 epoch 2", p)
	}
	h.shard.ReplayMarker(5, true) // a second delivery changes nothing
	if got := h.committedAt("g", "t", 0); got != 10 {
		t.Fatalf("after a repeated marker: committed %d, want 10", got)
	}
}

func TestTxnOffsetCommitAbortDrops(t *testing.T) {
	h := newOffsetsHarness(t)
	h.txnCommit(txnCommitReq("g", "t", 0, 10))
	h.shard.ReplayMarker(5, false)
	if p := h.fetchStable("g", "t", 0); p.ErrorCode != 0 || p.Offset != -1 {
		t.Fatalf("after the abort marker: %+v, want no offset and no error", p)
	}
	h.shard.ReplayMarker(5, true) // a late commit of nothing
	if got := h.committedAt("g", "t", 0); got != -1 {
		t.Fatalf("committed %d after abort, want -1", got)
	}
}

func TestTxnOffsetCommitPlainCommitAfterwardsWins(t *testing.T) {
	h := newOffsetsHarness(t)
	h.txnCommit(txnCommitReq("g", "t", 0, 10))
	h.commit(offsetCommitReq(2, "g", offsetPart{topic: "t", partition: 0, offset: 20}))
	h.shard.ReplayMarker(5, true)
	if got := h.committedAt("g", "t", 0); got != 20 {
		t.Fatalf("committed %d, want 20: the later plain commit stands", got)
	}
}

func TestTxnOffsetCommitReplayWithMarkers(t *testing.T) {
	h := newOffsetsHarness(t)
	h.txnCommit(txnCommitReq("g", "t", 0, 10))
	other := txnCommitReq("g", "t", 1, 30)
	other.ProducerID = 6
	h.txnCommit(other)
	open := txnCommitReq("g", "t", 2, 40)
	open.ProducerID = 7
	h.txnCommit(open)

	reloaded := newOffsetsHarnessWith(t, offsetsTestConfig(), h.written...)
	reloaded.shard.ReplayMarker(5, true)
	reloaded.shard.ReplayMarker(6, false)
	if got := reloaded.committedAt("g", "t", 0); got != 10 {
		t.Errorf("committed transaction after reload: %d, want 10", got)
	}
	if got := reloaded.committedAt("g", "t", 1); got != -1 {
		t.Errorf("aborted transaction after reload: %d, want -1", got)
	}
	if p := reloaded.fetchStable("g", "t", 2); p.ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Errorf("open transaction after reload: %+v, want UNSTABLE_OFFSET_COMMIT", p)
	}
}

func TestTxnOffsetCommitValidation(t *testing.T) {
	h := newOffsetsHarness(t)
	req := txnCommitReq("unknown", "t", 0, 1)
	req.Generation = 3
	resp, records := h.txnCommit(req)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.IllegalGeneration.Code || len(records) != 0 {
		t.Fatalf("generation for an unknown group: error %d, %d records; want ILLEGAL_GENERATION, none", code, len(records))
	}
	big := txnCommitReq("g", "t", 0, 1)
	big.Topics[0].Partitions[0].Metadata = metadataOf(string(make([]byte, 5000)))
	resp, records = h.txnCommit(big)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.OffsetMetadataTooLarge.Code || len(records) != 0 {
		t.Fatalf("oversized metadata: error %d, %d records; want OFFSET_METADATA_TOO_LARGE, none", code, len(records))
	}
}

func TestTxnOffsetCommitWriteFailure(t *testing.T) {
	h := newOffsetsHarness(t)
	var resp *kmsg.TxnOffsetCommitResponse
	h.runFailing(func(fx *coord.Effects) {
		h.shard.CommitTxnOffsets(fx, txnCommitReq("g", "t", 0, 1), func(r *kmsg.TxnOffsetCommitResponse) { resp = r })
	}, coord.ErrNotCoordinator)
	if resp == nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("failed write answered %+v, want NOT_COORDINATOR", resp)
	}
}

func TestTxnOffsetsKeepGroupFromExpiry(t *testing.T) {
	h := newOffsetsHarness(t)
	h.commit(offsetCommitReq(2, "g", offsetPart{topic: "t", partition: 0, offset: 3}))
	h.txnCommit(txnCommitReq("g", "t", 0, 10))
	h.advance(8 * 24 * time.Hour)
	if _, exists := h.shard.groupState("g"); !exists {
		t.Fatal("group with a pending transactional offset was deleted by expiry")
	}
	if got := h.committedAt("g", "t", 0); got != 3 {
		t.Fatalf("committed %d, want 3 kept while a transaction commits the partition", got)
	}
	h.shard.ReplayMarker(5, true)
	if got := h.committedAt("g", "t", 0); got != 10 {
		t.Fatalf("committed %d after the commit marker, want 10", got)
	}
}

func TestDeleteGroupTombstonesPendingOffsets(t *testing.T) {
	h := newOffsetsHarness(t)
	h.txnCommit(txnCommitReq("g", "t", 4, 10))
	var records []coord.Record
	h.run(func(fx *coord.Effects) {
		h.shard.deleteGroupOffsets(fx, "g")
		records = fx.Records()
	})
	if len(records) != 1 || records[0].Value != nil || string(records[0].Key) != string(offsetCommitKey("g", "t", 4)) {
		t.Fatalf("delete wrote %+v, want one tombstone of t-4", records)
	}
	h.shard.ReplayMarker(5, true)
	if got := h.committedAt("g", "t", 4); got != -1 {
		t.Fatalf("committed %d after deletion and commit, want -1", got)
	}
}

// A consumer group (KIP-848) checks a TxnOffsetCommit's member and epoch
// when it names them, and takes one without them unchecked, as Kafka's
// ConsumerGroup.validateOffsetCommit.
func TestTxnOffsetCommitConsumerGroupMember(t *testing.T) {
	h := newClassicHarnessWith(t, consumerTestConfig())
	a := h.consumerClient("g", "a", testImage(t, "orders", 2), "orders")
	a.mustHeartbeat()
	commit := func(memberID string, epoch int32) int16 {
		req := txnCommitReq("g", "orders", 0, 10)
		req.MemberID, req.Generation = memberID, epoch
		var code int16 = -1
		h.run(func(fx *coord.Effects) {
			h.shard.CommitTxnOffsets(fx, req, func(resp *kmsg.TxnOffsetCommitResponse) {
				code = resp.Topics[0].Partitions[0].ErrorCode
			})
		})
		return code
	}
	if code := commit("a", a.epoch); code != 0 {
		t.Errorf("member at its epoch: error %d", code)
	}
	if code := commit("a", a.epoch-1); code != kerr.StaleMemberEpoch.Code {
		t.Errorf("stale epoch: error %d, want STALE_MEMBER_EPOCH", code)
	}
	if code := commit("ghost", a.epoch); code != kerr.UnknownMemberID.Code {
		t.Errorf("unknown member: error %d, want UNKNOWN_MEMBER_ID", code)
	}
	if code := commit("", -1); code != 0 {
		t.Errorf("no member and no generation: error %d, want none", code)
	}
}
