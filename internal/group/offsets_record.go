package group

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/coord"
)

// Offset commit records, byte for byte as Kafka 4 writes them to
// `__consumer_offsets` (GroupCoordinatorRecordHelpers.newOffsetCommitRecord),
// so that tools reading the topic directly (Burrow) decode them unchanged.
// Integers are big-endian; a string is an int16 length and its bytes.
//
// Key (OffsetCommitKey; the leading int16 is the record type, 1, and Kafka's
// pre-0.9 type 0 is read the same way):
//
//	+----------+--------------+-------+--------------+-------+-----------+
//	| int16 1  | int16 len    | group | int16 len    | topic | int32     |
//	| type     |              |       |              |       | partition |
//	+----------+--------------+-------+--------------+-------+-----------+
//
// Value version 3 (every commit, unless a v2-v4 request set
// retention_time_ms):
//
//	+---------+--------------+--------------+-----------+----------+------------------+
//	| int16 3 | int64 offset | int32 leader | int16 len | metadata | int64 commit     |
//	|         |              | epoch (-1)   |           |          | timestamp (ms)   |
//	+---------+--------------+--------------+-----------+----------+------------------+
//
// Value version 1 (a commit with retention_time_ms: it carries its own expiry):
//
//	+---------+--------------+-----------+----------+------------------+------------------+
//	| int16 1 | int64 offset | int16 len | metadata | int64 commit     | int64 expire     |
//	|         |              |           |          | timestamp (ms)   | timestamp (ms)   |
//	+---------+--------------+-----------+----------+------------------+------------------+
//
// Versions 0 (no expire timestamp) and 2 (no leader epoch, no expire) are
// read for logs written by old brokers; version 4 (flexible, tagged fields)
// is read but not written, as in Kafka. A tombstone is the key with a null
// value.

const (
	// offsetCommitKeyType is the int16 that starts an offset commit key.
	offsetCommitKeyType = 1
	// offsetCommitValueVersion is the value version Kafka writes for a
	// commit without an explicit expiry: the highest non-flexible one.
	offsetCommitValueVersion = 3
	// offsetCommitValueExpiringVersion is the only value version with an
	// expire timestamp, written for v2-v4 commits with retention_time_ms.
	offsetCommitValueExpiringVersion = 1
)

// offsetCommitKey encodes the key of one group/topic/partition's offset.
func offsetCommitKey(group, topic string, partition int32) []byte {
	key := kmsg.OffsetCommitKey{Version: offsetCommitKeyType, Group: group, Topic: topic, Partition: partition}
	return key.AppendTo(make([]byte, 0, 2+2+len(group)+2+len(topic)+4))
}

// offsetCommitRecord is the record that stores a committed offset.
func offsetCommitRecord(group, topic string, partition int32, c committedOffset) coord.Record {
	value := kmsg.OffsetCommitValue{
		Version:         offsetCommitValueVersion,
		Offset:          c.offset,
		LeaderEpoch:     c.leaderEpoch,
		Metadata:        c.metadata,
		CommitTimestamp: c.commitTime,
		ExpireTimestamp: noTimestamp,
	}
	if c.expireTime != noTimestamp {
		value.Version = offsetCommitValueExpiringVersion
		value.ExpireTimestamp = c.expireTime
	}
	return coord.Record{
		Key:   offsetCommitKey(group, topic, partition),
		Value: value.AppendTo(make([]byte, 0, 2+8+4+2+len(c.metadata)+8+8)),
	}
}

// offsetTombstone is the record that deletes a committed offset.
func offsetTombstone(group, topic string, partition int32) coord.Record {
	return coord.Record{Key: offsetCommitKey(group, topic, partition)}
}

// committedFromValue reads a stored value, filling the defaults Kafka's
// schema gives fields older versions lack (kmsg leaves them zero).
func committedFromValue(v *kmsg.OffsetCommitValue) committedOffset {
	c := committedOffset{
		offset:      v.Offset,
		leaderEpoch: v.LeaderEpoch,
		metadata:    v.Metadata,
		commitTime:  v.CommitTimestamp,
		expireTime:  v.ExpireTimestamp,
	}
	if v.Version < 3 {
		c.leaderEpoch = noLeaderEpoch
	}
	if v.Version != offsetCommitValueExpiringVersion {
		c.expireTime = noTimestamp
	}
	return c
}
