package group

import (
	"testing"
	"time"
)

func TestOffsetsExpireAfterRetention(t *testing.T) {
	// Kafka: an Empty (here simple) group's offset expires once
	// now - commitTimestamp >= offsets.retention, checked every
	// offsets.retention.check.interval.
	h := newOffsetsHarness(t)
	interval := h.shard.cfg.OffsetsRetentionCheckInterval
	retention := h.shard.cfg.OffsetsRetention
	h.commit(offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 1, epoch: -1}))
	h.advance(retention / 2)
	h.commit(offsetCommitReq(8, "g", offsetPart{topic: "t", partition: 1, offset: 2, epoch: -1}))

	h.advance(retention/2 - interval)
	if h.committedAt("g", "t", 0) != 1 {
		t.Fatal("offset expired before its retention")
	}
	h.advance(interval)
	if h.committedAt("g", "t", 0) != -1 {
		t.Fatal("offset kept past its retention")
	}
	if h.committedAt("g", "t", 1) != 2 {
		t.Fatal("younger offset expired with the older one")
	}
	h.advance(retention / 2)
	if h.shard.hasOffsets("g") {
		t.Fatal("younger offset kept past its retention")
	}
	if _, ok := h.clock.timers[offsetExpiryTimer]; !ok {
		t.Fatal("expiry not rescheduled")
	}
}

func TestStableGroupKeepsOffsetsOfSubscribedTopics(t *testing.T) {
	// KIP-496: a Stable consumer group's offsets of topics it no longer
	// subscribes to expire by commit time; those of subscribed topics never.
	h := newOffsetsHarnessWith(t, offsetsTestConfig(), groupRecord("g", 1, offsetsEpoch.UnixMilli(), []string{"m1"}, "t"))
	commit := offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 1, epoch: -1}, offsetPart{topic: "u", offset: 2, epoch: -1})
	commit.Generation, commit.MemberID = 1, "m1"
	h.commit(commit)
	retention := h.shard.cfg.OffsetsRetention
	h.advance(retention - h.shard.cfg.OffsetsRetentionCheckInterval)
	if h.committedAt("g", "u", 0) != 2 {
		t.Fatal("unsubscribed topic's offset expired before retention")
	}
	h.advance(h.shard.cfg.OffsetsRetentionCheckInterval)
	if h.committedAt("g", "u", 0) != -1 {
		t.Fatal("unsubscribed topic's offset kept past retention")
	}
	h.advance(2 * retention)
	if h.committedAt("g", "t", 0) != 1 {
		t.Fatal("subscribed topic's offset expired")
	}
	if state, _ := h.shard.groupState("g"); state != "Stable" {
		t.Fatalf("group state %q, want Stable (sessions outlast the test)", state)
	}
}

func TestActiveNonConsumerGroupKeepsAllOffsets(t *testing.T) {
	// ClassicGroup.offsetExpirationCondition has no condition for an
	// active group of another protocol type: nothing of it expires.
	h := newOffsetsHarnessWith(t, offsetsTestConfig(), groupRecordOfType("connect", "g", 1, offsetsEpoch.UnixMilli(), []string{"m1"}))
	commit := offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 1, epoch: -1})
	commit.Generation, commit.MemberID = 1, "m1"
	h.commit(commit)
	h.advance(2 * h.shard.cfg.OffsetsRetention)
	if h.committedAt("g", "t", 0) != 1 {
		t.Fatal("offset of an active connect group expired")
	}
}

func TestCommitWithRetentionTimeExpiresOnItsOwn(t *testing.T) {
	// OffsetCommit v2-v4 retention_time_ms: the offset expires at commit
	// time + retention_time_ms, not by the broker's retention.
	h := newOffsetsHarness(t)
	withRetention := offsetCommitReq(2, "g", offsetPart{topic: "t", offset: 1})
	withRetention.RetentionTimeMillis = time.Hour.Milliseconds()
	h.commit(withRetention)
	h.commit(offsetCommitReq(2, "g", offsetPart{topic: "t", partition: 1, offset: 2}))
	h.advance(time.Hour - time.Minute)
	if h.committedAt("g", "t", 0) != 1 {
		t.Fatal("expired before its own expire timestamp")
	}
	h.advance(time.Minute)
	if h.committedAt("g", "t", 0) != -1 || h.committedAt("g", "t", 1) != 2 {
		t.Fatal("want only the offset with its own expiry gone after an hour")
	}
}

func TestOffsetExpirationRule(t *testing.T) {
	// OffsetExpirationConditionImpl.isOffsetExpired.
	const retention = 1000
	committed := committedOffset{commitTime: 5000, expireTime: noTimestamp}
	own := committedOffset{commitTime: 5000, expireTime: 5500}
	fromCommit := offsetExpiration{groupBase: noTimestamp}
	fromGroup := offsetExpiration{groupBase: 8000} // the group became Empty at 8000
	cases := []struct {
		name   string
		rule   offsetExpiration
		offset committedOffset
		now    int64
		want   bool
	}{
		{"before retention from commit", fromCommit, committed, 5999, false},
		{"at retention from commit", fromCommit, committed, 6000, true},
		{"group base delays expiry", fromGroup, committed, 8999, false},
		{"at retention from group base", fromGroup, committed, 9000, true},
		{"own expiry before", fromGroup, own, 5499, false},
		{"own expiry reached, whatever the base", fromGroup, own, 5500, true},
	}
	for _, c := range cases {
		if got := c.rule.expired(c.offset, c.now, retention); got != c.want {
			t.Errorf("%s: expired = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestExpiryDisabledWithoutInterval(t *testing.T) {
	cfg := offsetsTestConfig()
	cfg.OffsetsRetentionCheckInterval = 0
	h := newOffsetsHarnessWith(t, cfg)
	if _, ok := h.clock.timers[offsetExpiryTimer]; ok {
		t.Fatal("expiry scheduled with a zero interval (it would spin)")
	}
}

func TestEmptyGroupOffsetsExpireFromWhenGroupBecameEmpty(t *testing.T) {
	// ClassicGroup.offsetExpirationCondition: an Empty group with a
	// protocol type counts retention from its currentStateTimestamp, not
	// from each commit.
	day := 24 * time.Hour
	committed := committedOffset{offset: 3, leaderEpoch: -1, commitTime: offsetsEpoch.Add(-6 * day).UnixMilli(), expireTime: noTimestamp}
	h := newOffsetsHarnessWith(t, offsetsTestConfig(),
		offsetCommitRecord("g", "t", 0, committed),
		groupRecord("g", 3, offsetsEpoch.Add(-day).UnixMilli(), nil),
	)
	if state, _ := h.shard.groupState("g"); state != "Empty" {
		t.Fatalf("group state %q, want Empty", state)
	}
	h.advance(5*day + 23*time.Hour)
	if h.committedAt("g", "t", 0) != 3 {
		t.Fatal("offset expired by its commit time although the group became Empty later")
	}
	h.advance(time.Hour)
	if h.committedAt("g", "t", 0) != -1 {
		t.Fatal("offset kept past retention from when the group became Empty")
	}
}

func TestExpiryDeletesEmptyGroupsWithoutOffsets(t *testing.T) {
	// GroupCoordinatorShard.cleanupGroupMetadata: a group with no offsets
	// left (or none at all) is deleted if Empty, in the same cycle that
	// tombstones its last offsets.
	h := newOffsetsHarnessWith(t, offsetsTestConfig(), groupRecord("idle", 2, offsetsEpoch.UnixMilli(), nil))
	h.commit(offsetCommitReq(8, "simple", offsetPart{topic: "t", offset: 1, epoch: -1}))
	h.advance(h.shard.cfg.OffsetsRetentionCheckInterval)
	if _, exists := h.shard.groupState("idle"); exists {
		t.Fatal("Empty group without offsets not deleted")
	}
	if _, exists := h.shard.groupState("simple"); !exists {
		t.Fatal("group with live offsets deleted")
	}
	before := len(h.written)
	h.advance(h.shard.cfg.OffsetsRetention)
	if _, exists := h.shard.groupState("simple"); exists || h.shard.hasOffsets("simple") {
		t.Fatal("simple group or its offsets outlived retention")
	}
	var kinds []int16
	for _, r := range h.written[before:] {
		kinds = append(kinds, int16(r.Key[0])<<8|int16(r.Key[1]))
	}
	if len(kinds) != 2 || kinds[0] != 1 || kinds[1] != 2 {
		t.Fatalf("record types written = %v, want [1 2] (offset tombstone, then group tombstone)", kinds)
	}
}
