package record

import "encoding/binary"

// Kafka encodes the per-record fields of a v2 batch as zigzag varints
// (ByteUtils.readVarint/readVarlong): the sign moves into the lowest bit so
// small negative numbers such as -1 (null) take a single byte. An int32 takes
// at most 5 bytes and an int64 at most 10; a longer encoding is malformed.

const (
	maxVarintLen  = 5
	maxVarlongLen = 10
)

// readVarint decodes a zigzag varint from the front of b. It returns the
// value and the number of bytes read, or n == 0 when b ends mid-varint or the
// varint is longer than 5 bytes. Like Kafka, bits beyond 32 in the fifth byte
// are dropped rather than rejected.
func readVarint(b []byte) (value int32, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		raw := uint32(b[0])
		return int32(raw>>1) ^ -int32(raw&1), 1
	}
	var raw uint32
	for i := 0; i < maxVarintLen && i < len(b); i++ {
		c := b[i]
		raw |= uint32(c&0x7f) << (7 * uint(i))
		if c < 0x80 {
			return int32(raw>>1) ^ -int32(raw&1), i + 1
		}
	}
	return 0, 0
}

// readVarlong is readVarint for 64-bit values (at most 10 bytes).
func readVarlong(b []byte) (value int64, n int) {
	var raw uint64
	for i := 0; i < maxVarlongLen && i < len(b); i++ {
		c := b[i]
		raw |= uint64(c&0x7f) << (7 * uint(i))
		if c < 0x80 {
			return int64(raw>>1) ^ -int64(raw&1), i + 1
		}
	}
	return 0, 0
}

// appendVarint appends v as a zigzag varint.
func appendVarint(dst []byte, v int32) []byte {
	return binary.AppendUvarint(dst, uint64(uint32(v<<1)^uint32(v>>31)))
}

// appendVarlong appends v as a zigzag varlong.
func appendVarlong(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

// sizeVarint is the encoded length of v as a zigzag varint.
func sizeVarint(v int32) int {
	return uvarintSize(uint64(uint32(v<<1) ^ uint32(v>>31)))
}

// sizeVarlong is the encoded length of v as a zigzag varlong.
func sizeVarlong(v int64) int {
	return uvarintSize(uint64(v<<1) ^ uint64(v>>63))
}

func uvarintSize(u uint64) int {
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
