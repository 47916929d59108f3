package group

import (
	"slices"

	"github.com/sluice-io/sluice/internal/coord"
)

// Offset expiry, after Kafka's GroupCoordinatorShard.cleanupGroupMetadata
// and OffsetMetadataManager.cleanupExpiredOffsets: every
// offsets.retention.check.interval.ms the shard tombstones the offsets
// that outlived offsets.retention.minutes in groups whose members are gone
// (and, of other groups, nothing), then deletes the Empty groups left
// without offsets.

// offsetExpiryTimer names the shard's periodic expiry timer.
const offsetExpiryTimer = "offsets-expiry"

// offsetExpiration is Kafka's OffsetExpirationCondition for one group:
// from which time an offset's retention counts.
type offsetExpiration struct {
	// groupBase, when not noTimestamp, is the base of every offset of the
	// group: the time an Empty classic group (with a protocol type) became
	// Empty, its currentStateTimestamp. With noTimestamp each offset counts
	// from its own commit.
	groupBase int64
}

// expired reports whether c has outlived retention (ms) at now (ms). An
// offset committed with its own expiry (v2-v4 retention_time_ms) expires
// then, whatever the group's base.
func (e offsetExpiration) expired(c committedOffset, now, retention int64) bool {
	if c.expireTime != noTimestamp {
		return now >= c.expireTime
	}
	base := c.commitTime
	if e.groupBase != noTimestamp {
		base = e.groupBase
	}
	return now-base >= retention
}

// offsetsLoaded starts the periodic expiry once the partition is loaded.
func (s *Shard) offsetsLoaded(*coord.Effects) {
	s.scheduleOffsetExpiry()
}

func (s *Shard) scheduleOffsetExpiry() {
	if s.cfg.OffsetsRetentionCheckInterval <= 0 {
		s.log.Warn("offset expiry disabled: no retention check interval")
		return
	}
	s.timers.Schedule(offsetExpiryTimer, s.cfg.OffsetsRetentionCheckInterval, s.expireOffsets)
}

// expireOffsets is one expiry cycle; it schedules the next.
func (s *Shard) expireOffsets(fx *coord.Effects) {
	defer s.scheduleOffsetExpiry()
	before := len(fx.Records())
	for _, groupID := range s.expiryCandidates() {
		if s.expireGroupOffsets(fx, groupID) {
			s.maybeDeleteGroup(fx, groupID)
		}
	}
	if n := len(fx.Records()) - before; n > 0 {
		s.log.Info("expired group metadata", "tombstones", n)
	}
}

// expiryCandidates lists, sorted, every group of the shard and every group
// with offsets (the same groups once replay has created a simple group for
// each offsets-only one).
func (s *Shard) expiryCandidates() []string {
	ids := s.groupIDs()
	for id := range s.offsets.groups {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// expireGroupOffsets appends tombstones for the group's expired offsets
// and reports whether none is left (Kafka's cleanupExpiredOffsets). A
// group whose rule keeps its offsets, or subscribed to a topic, keeps
// them: offsets of subscribed topics never expire. An offset an open
// transaction is committing does not expire, and a group with such
// offsets is never reported empty.
func (s *Shard) expireGroupOffsets(fx *coord.Effects, groupID string) (allExpired bool) {
	byTopic := s.offsets.groups[groupID]
	pending := s.txnOffsets.hasPending(groupID)
	if len(byTopic) == 0 {
		return !pending
	}
	rule, ok := s.offsetExpiration(groupID)
	if !ok {
		return false
	}
	now, retention := fx.Now.UnixMilli(), s.cfg.OffsetsRetention.Milliseconds()
	allExpired = true
	for _, topic := range sortedKeys(byTopic) {
		if s.groupSubscribedTo(groupID, topic) {
			allExpired = false
			continue
		}
		byPartition := byTopic[topic]
		for _, partition := range sortedKeys(byPartition) {
			if !rule.expired(byPartition[partition], now, retention) || s.txnOffsets.isPending(groupID, topic, partition) {
				allExpired = false
				continue
			}
			fx.Append(offsetTombstone(groupID, topic, partition))
		}
	}
	return allExpired && !pending
}
