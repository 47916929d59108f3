package crash

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A test record's value is self-checking, so the reader can tell a record
// the producer wrote from corrupt or invented bytes:
//
//	0      4           8                16                     60      64
//	+------+-----------+----------------+----------------------+-------+
//	|"SLCR"| partition | sequence       | filler (from seq)    | CRC32 |
//	+------+-----------+----------------+----------------------+-------+
//
// partition is uint32 and sequence uint64, both big-endian; the sequence
// counts the records produced to that partition from 0; CRC32 (IEEE) covers
// bytes 0-59.
const (
	valueSize    = 64
	valueMagic   = "SLCR"
	checksumFrom = valueSize - 4
)

func encodeValue(partition int32, seq uint64) []byte {
	v := make([]byte, valueSize)
	copy(v, valueMagic)
	binary.BigEndian.PutUint32(v[4:], uint32(partition))
	binary.BigEndian.PutUint64(v[8:], seq)
	for i := 16; i < checksumFrom; i++ {
		v[i] = byte(seq>>(uint(i)%8*8)) ^ byte(i)
	}
	binary.BigEndian.PutUint32(v[checksumFrom:], crc32.ChecksumIEEE(v[:checksumFrom]))
	return v
}

func decodeValue(v []byte) (partition int32, seq uint64, err error) {
	if len(v) != valueSize {
		return 0, 0, fmt.Errorf("value of %d bytes, want %d", len(v), valueSize)
	}
	if string(v[:4]) != valueMagic {
		return 0, 0, fmt.Errorf("value starts %q, want %q", v[:4], valueMagic)
	}
	if got, want := binary.BigEndian.Uint32(v[checksumFrom:]), crc32.ChecksumIEEE(v[:checksumFrom]); got != want {
		return 0, 0, fmt.Errorf("value checksum %08x, computed %08x", got, want)
	}
	partition = int32(binary.BigEndian.Uint32(v[4:]))
	seq = binary.BigEndian.Uint64(v[8:])
	if string(encodeValue(partition, seq)) != string(v) {
		return 0, 0, errors.New("value filler does not match its sequence number")
	}
	return partition, seq, nil
}
