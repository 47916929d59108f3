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

func TestActiveGroupOffsetsDoNotExpire(t *testing.T) {
	h := newOffsetsHarness(t)
	h.joinStableGroup("g", "m1", 1, "t")
	commit := offsetCommitReq(8, "g", offsetPart{topic: "t", offset: 1, epoch: -1}, offsetPart{topic: "u", offset: 2, epoch: -1})
	commit.Generation, commit.MemberID = 1, "m1"
	h.commit(commit)
	h.advance(4 * h.shard.cfg.OffsetsRetention)
	if h.committedAt("g", "t", 0) != 1 || h.committedAt("g", "u", 0) != 2 {
		t.Fatal("offsets of a group with members expired")
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
