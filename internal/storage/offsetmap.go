package storage

import (
	"crypto/md5"
	"encoding/binary"
	"math/bits"
)

// offsetSlotSize is the memory one offsetMap slot takes: a 16-byte key
// digest and an 8-byte offset.
const offsetSlotSize = md5.Size + 8

// offsetMapLoadFactor is how full the map may get before a pass stops
// adding keys (Kafka's log.cleaner.io.buffer.load.factor): open
// addressing slows down sharply near 100%.
const offsetMapLoadFactor = 0.9

// offsetMap maps each key of the dirty part of a log to the latest offset
// it has there, in memory fixed when the map is made, whatever the keys'
// sizes: an open-addressing hash table of MD5(key) → offset, Kafka's
// SkimpyOffsetMap. A slot is 24 bytes and holds no pointer, so the garbage
// collector never scans it. Two keys with one digest would share a slot;
// with 128-bit digests that takes about 2^64 keys, so a digest stands for
// its key, as in Kafka.
//
// When the map is full a compaction pass maps only the dirty records up to
// latest and cleans up to there; the next pass continues from that point,
// so a log with more distinct keys than the map holds is cleaned in several
// passes.
type offsetMap struct {
	slots   []offsetSlot
	entries int
	limit   int // entries allowed before put refuses new keys
	// latest is the highest offset the map covers: every keyed record of
	// the dirty part at or below it is in the map. Records after it are
	// kept by the pass whatever their keys.
	latest int64
}

type offsetSlot struct {
	digest [md5.Size]byte
	offset int64 // offset + 1, so that 0 marks an empty slot
}

// newOffsetMap returns a map for up to wantEntries keys (the offsets in
// the dirty range bound them), using at most maxBytes. The slot count is a
// power of two so that probing masks rather than divides.
func newOffsetMap(wantEntries, maxBytes int64) *offsetMap {
	maxSlots := max(maxBytes/offsetSlotSize, 2)
	maxSlots = 1 << (bits.Len64(uint64(maxSlots)) - 1) // round down to a power of two
	want := int64(float64(max(wantEntries, 1))/offsetMapLoadFactor) + 1
	slots := int64(1) << bits.Len64(uint64(want-1)) // round up to a power of two
	slots = min(slots, maxSlots)
	return &offsetMap{
		slots:  make([]offsetSlot, slots),
		limit:  max(int(float64(slots)*offsetMapLoadFactor), 1),
		latest: -1,
	}
}

// put records offset as key's latest. It returns false, changing nothing,
// when key is new and the map is full.
func (m *offsetMap) put(key []byte, offset int64) bool {
	digest := md5.Sum(key)
	i := m.find(&digest)
	slot := &m.slots[i]
	if slot.offset == 0 {
		if m.entries >= m.limit {
			return false
		}
		slot.digest = digest
		m.entries++
	}
	slot.offset = offset + 1
	return true
}

// get returns key's latest offset, or -1 if the map does not hold key.
func (m *offsetMap) get(key []byte) int64 {
	digest := md5.Sum(key)
	return m.slots[m.find(&digest)].offset - 1
}

// find returns the slot holding digest, or the empty slot where it would
// go. The map is never full (limit < len(slots)), so probing ends.
func (m *offsetMap) find(digest *[md5.Size]byte) int {
	mask := uint64(len(m.slots) - 1)
	i := binary.LittleEndian.Uint64(digest[:8]) & mask
	for {
		slot := &m.slots[i]
		if slot.offset == 0 || slot.digest == *digest {
			return int(i)
		}
		i = (i + 1) & mask
	}
}

// full reports whether the map takes no more new keys.
func (m *offsetMap) full() bool { return m.entries >= m.limit }
