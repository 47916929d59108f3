package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Byte positions of the fixed record-batch (magic v2) header fields.
const (
	offsetBaseOffset           = 0
	offsetBatchLength          = 8
	offsetPartitionLeaderEpoch = 12
	offsetMagic                = 16
	offsetCRC                  = 17
	offsetAttributes           = 21
	offsetLastOffsetDelta      = 23
	offsetBaseTimestamp        = 27
	offsetMaxTimestamp         = 35
	offsetProducerID           = 43
	offsetProducerEpoch        = 51
	offsetBaseSequence         = 53
	offsetNumRecords           = 57

	// HeaderSize is the size of the fixed batch header; the records follow it.
	HeaderSize = 61
	// LogOverhead is the part of the header not counted by BatchLength
	// (base offset and the length field itself).
	LogOverhead = 12
	// CurrentMagic is the only batch format Sluice stores (as Kafka 4.x).
	CurrentMagic = 2
)

// Attribute bits of a v2 batch.
const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
	attrDeleteHorizon   = 0x40
)

// Codec is a batch compression codec as numbered in the attributes.
type Codec int8

// The compression codecs Kafka defines.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String names the codec with Kafka's compression.type spelling.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	case CodecProducer:
		return "producer"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// ErrShortBatch means fewer bytes are available than a batch header needs or
// than the batch's length field claims: on disk, the sign of a torn write.
var ErrShortBatch = errors.New("record batch truncated")

// Header is the decoded fixed header of a magic v2 record batch.
type Header struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the batch's full size in bytes, header included.
func (h Header) Size() int { return int(h.BatchLength) + LogOverhead }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec of the records section.
func (h Header) Codec() Codec { return Codec(h.Attributes & attrCompressionMask) }

// IsLogAppendTime reports whether MaxTimestamp was set by the broker.
func (h Header) IsLogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// IsTransactional reports whether the batch belongs to a transaction.
func (h Header) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports whether the batch holds a control record (txn marker).
func (h Header) IsControl() bool { return h.Attributes&attrControl != 0 }

// ParseHeader decodes the fixed header at the start of b. It checks only that
// the header is complete and that the length field is sane; it does not
// verify the CRC (see VerifyCRC) or that the whole batch is present.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShortBatch
	}
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offsetBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offsetBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offsetPartitionLeaderEpoch:])),
		Magic:                int8(b[offsetMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offsetCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offsetAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offsetLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offsetBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offsetMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offsetProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offsetProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offsetBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offsetNumRecords:])),
	}
	if h.BatchLength < HeaderSize-LogOverhead {
		return h, fmt.Errorf("record batch length %d is below the %d-byte header: %w", h.BatchLength, HeaderSize, ErrCorrupt)
	}
	return h, nil
}

// ErrCorrupt marks bytes that are complete but wrong (bad CRC, impossible
// lengths): real corruption, as opposed to a short (torn) batch.
var ErrCorrupt = errors.New("corrupt record batch")

// VerifyCRC checks the CRC-32C of the complete batch in b (exactly one batch,
// header included) against the header's stored CRC.
func VerifyCRC(b []byte) error {
	if len(b) < HeaderSize {
		return ErrShortBatch
	}
	stored := binary.BigEndian.Uint32(b[offsetCRC:])
	if got := crc32.Checksum(b[offsetAttributes:], crc32c); got != stored {
		return fmt.Errorf("record batch crc %08x, computed %08x: %w", stored, got, ErrCorrupt)
	}
	return nil
}

// SetCRC recomputes and stores the CRC of the complete batch in b; call it
// after changing any field from the attributes onwards.
func SetCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offsetCRC:], crc32.Checksum(b[offsetAttributes:], crc32c))
}

// SetBaseOffset stores the broker-assigned base offset. The base offset is
// outside the CRC, so the batch stays valid without recomputing it.
func SetBaseOffset(b []byte, baseOffset int64) {
	binary.BigEndian.PutUint64(b[offsetBaseOffset:], uint64(baseOffset))
}

// SetPartitionLeaderEpoch stores the leader epoch under which the batch was
// appended (also outside the CRC).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offsetPartitionLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch's timestamps as broker time, stores ts as
// its max timestamp and recomputes the CRC, as Kafka does for topics with
// message.timestamp.type=LogAppendTime.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := int16(binary.BigEndian.Uint16(b[offsetAttributes:])) | attrLogAppendTime
	putHeaderTimestamp(b, attrs, ts)
	SetCRC(b)
}

// putHeaderTimestamp stores the attributes and max timestamp; the caller
// recomputes the CRC.
func putHeaderTimestamp(b []byte, attrs int16, maxTimestamp int64) {
	binary.BigEndian.PutUint16(b[offsetAttributes:], uint16(attrs))
	binary.BigEndian.PutUint64(b[offsetMaxTimestamp:], uint64(maxTimestamp))
}
