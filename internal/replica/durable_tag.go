package replica

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DurableEndTag is the number of a Sluice-only tagged field of a Fetch
// request partition (flexible versions, Fetch v12+): the follower's
// durable log end, the offset below which everything it fetched is
// fsynced. A Sluice follower fetches on while its previous fsync is still
// running, so its fetch offset (its log end) may be ahead of what it has
// durably; the leader counts min(fetch offset, this) toward the high
// watermark, and the fetch offset alone when the tag is absent (a
// follower that fsyncs before it fetches, as Sluice followers did before
// the tag), so brokers of both kinds may replicate from each other.
//
// Kafka's own tags on this structure count up from 0 (ReplicaDirectoryId
// is 0, HighWatermark 1, KIP-1166); 0x5101 stays far above any Kafka will
// use, and a Kafka broker skips an unknown tag. The value is an int64,
// big endian (8 bytes). The format is fixed: a different one would take a
// new tag number.
//
//	partition tagged fields: ... | uvarint 0x5101 | uvarint 8 | int64 durable end (big endian)
const DurableEndTag uint32 = 0x5101

// durableEndSize is the encoded size of the tag's value.
const durableEndSize = 8

// SetDurableEnd adds the durable-end tag with offset to a follower's
// fetch partition. It is encoded only at flexible versions (v12+).
func SetDurableEnd(rp *kmsg.FetchRequestTopicPartition, offset int64) {
	rp.UnknownTags.Set(DurableEndTag, binary.BigEndian.AppendUint64(make([]byte, 0, durableEndSize), uint64(offset)))
}

// DurableEnd reads the durable-end tag of a fetch partition as decoded
// (kmsg keeps tags it does not know in UnknownTags); ok is false when the
// partition carries none. A value that is not 8 bytes long is present but
// unreadable: it reports nothing durable (-1), so a malformed report can
// never count records the follower may not have on disk.
func DurableEnd(rp *kmsg.FetchRequestTopicPartition) (offset int64, ok bool) {
	var val []byte
	rp.UnknownTags.Each(func(key uint32, v []byte) {
		if key == DurableEndTag {
			val, ok = v, true
		}
	})
	switch {
	case !ok:
		return unknownOffset, false
	case len(val) != durableEndSize:
		return unknownOffset, true
	}
	return max(int64(binary.BigEndian.Uint64(val)), unknownOffset), true
}
