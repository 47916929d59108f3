package testcluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// CheckedValue is the record value format of the loss and corruption
// tests: self-checking, so a reader can tell a record the producer wrote
// from corrupt or invented bytes, and naming its partition and sequence
// number, so a ledger can tell lost, duplicated and reordered records:
//
//	0       4           8                16                  Size-4   Size
//	+-------+-----------+----------------+-------------------+--------+
//	| Magic | partition | sequence       | filler (from seq) | CRC32  |
//	+-------+-----------+----------------+-------------------+--------+
//
// partition is uint32 and sequence uint64, big-endian; the sequence counts
// the records produced to that partition from 0; the CRC32 (IEEE) covers
// every byte before it. Each suite picks its own Magic, so records of one
// suite are never taken for another's.
type CheckedValue struct {
	// Magic is the 4-byte prefix.
	Magic string
	// Size is the whole value's length, at least 20.
	Size int
}

// Encode returns the value of record seq of partition.
func (f CheckedValue) Encode(partition int32, seq uint64) []byte {
	v := make([]byte, f.Size)
	copy(v, f.Magic)
	binary.BigEndian.PutUint32(v[4:], uint32(partition))
	binary.BigEndian.PutUint64(v[8:], seq)
	checksumFrom := f.Size - 4
	for i := 16; i < checksumFrom; i++ {
		v[i] = byte(seq>>(uint(i)%8*8)) ^ byte(i)
	}
	binary.BigEndian.PutUint32(v[checksumFrom:], crc32.ChecksumIEEE(v[:checksumFrom]))
	return v
}

// Decode checks v and returns the partition and sequence it names.
func (f CheckedValue) Decode(v []byte) (partition int32, seq uint64, err error) {
	if len(v) != f.Size {
		return 0, 0, fmt.Errorf("value of %d bytes, want %d", len(v), f.Size)
	}
	if string(v[:4]) != f.Magic {
		return 0, 0, fmt.Errorf("value starts %q, want %q", v[:4], f.Magic)
	}
	checksumFrom := f.Size - 4
	if got, want := binary.BigEndian.Uint32(v[checksumFrom:]), crc32.ChecksumIEEE(v[:checksumFrom]); got != want {
		return 0, 0, fmt.Errorf("value checksum %08x, computed %08x", got, want)
	}
	partition = int32(binary.BigEndian.Uint32(v[4:]))
	seq = binary.BigEndian.Uint64(v[8:])
	if string(f.Encode(partition, seq)) != string(v) {
		return 0, 0, errors.New("value filler does not match its sequence number")
	}
	return partition, seq, nil
}
