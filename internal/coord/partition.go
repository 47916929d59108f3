package coord

import "unicode/utf16"

// PartitionFor maps a group ID (or transactional ID) to the partition of
// the coordinator's internal topic that owns it, exactly as Kafka does:
// Utils.abs(key.hashCode()) % partitions, with Java's String.hashCode over
// UTF-16 code units and Utils.abs = h & 0x7fffffff. Matching Kafka means a
// group lands on the same partition of `__consumer_offsets` on both.
func PartitionFor(key string, partitions int32) int32 {
	var h int32
	for _, r := range key {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return (h & 0x7fffffff) % partitions
}
