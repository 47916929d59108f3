package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Sentinel values of the v2 header that mean "none".
const (
	NoProducerID           int64 = -1
	NoProducerEpoch        int16 = -1
	NoSequence             int32 = -1
	NoPartitionLeaderEpoch int32 = -1
	NoTimestamp            int64 = -1
)

// BatchSpec holds the header fields of a batch to build. The length, CRC,
// record count, last offset delta and timestamps are derived from the
// records. Start from NewBatchSpec so the producer fields say "none".
type BatchSpec struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	Transactional        bool
	Control              bool  // a control batch (transaction markers)
	Codec                Codec // compression of the records section
	CompressionLevel     int   // 0 for the codec's Kafka default; see Compress
}

// NewBatchSpec returns a spec for a plain, non-idempotent, uncompressed
// batch at base offset 0, the way a client without idempotence writes one.
func NewBatchSpec() BatchSpec {
	return BatchSpec{
		PartitionLeaderEpoch: NoPartitionLeaderEpoch,
		ProducerID:           NoProducerID,
		ProducerEpoch:        NoProducerEpoch,
		BaseSequence:         NoSequence,
	}
}

// RecordSpec is one record to build. Nil Key or Value encode as null.
type RecordSpec struct {
	Timestamp int64 // absolute, in ms; the first record's becomes the base timestamp
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordHeader is one record header; a nil Value encodes as null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// AppendBatch encodes records as one v2 batch (offset deltas 0..n-1,
// compressed with spec.Codec, CRC set) and appends it to dst. It is the
// encoder for tests and for batches the broker writes itself; it needs at
// least one record.
func AppendBatch(dst []byte, spec BatchSpec, records []RecordSpec) ([]byte, error) {
	if len(records) == 0 {
		return dst, errors.New("build record batch: no records")
	}
	if len(records) > math.MaxInt32 {
		return dst, fmt.Errorf("build record batch: %d records", len(records))
	}
	h := Header{
		BaseOffset:           spec.BaseOffset,
		PartitionLeaderEpoch: spec.PartitionLeaderEpoch,
		Magic:                CurrentMagic,
		Attributes:           specAttributes(spec),
		LastOffsetDelta:      int32(len(records) - 1),
		BaseTimestamp:        records[0].Timestamp,
		MaxTimestamp:         NoTimestamp,
		ProducerID:           spec.ProducerID,
		ProducerEpoch:        spec.ProducerEpoch,
		BaseSequence:         spec.BaseSequence,
		NumRecords:           int32(len(records)),
	}
	for _, r := range records {
		h.MaxTimestamp = max(h.MaxTimestamp, r.Timestamp)
	}
	start := len(dst)
	dst = appendHeader(dst, &h)
	if spec.Codec == CodecNone {
		// Records go straight into dst: no intermediate section.
		for i, r := range records {
			dst = appendRecord(dst, int32(i), r.Timestamp-h.BaseTimestamp, r)
		}
		return finishBatch(dst, start)
	}
	var section []byte
	for i, r := range records {
		section = appendRecord(section, int32(i), r.Timestamp-h.BaseTimestamp, r)
	}
	dst, err := Compress(spec.Codec, dst, section, spec.CompressionLevel)
	if err != nil {
		return dst[:start], fmt.Errorf("build record batch: %w", err)
	}
	return finishBatch(dst, start)
}

func specAttributes(spec BatchSpec) int16 {
	attrs := int16(spec.Codec) & attrCompressionMask
	if spec.Transactional {
		attrs |= attrTransactional
	}
	if spec.Control {
		attrs |= attrControl
	}
	return attrs
}

// appendRecord appends one record in Kafka's DefaultRecord layout.
func appendRecord(dst []byte, offsetDelta int32, timestampDelta int64, r RecordSpec) []byte {
	size := 1 + sizeVarlong(timestampDelta) + sizeVarint(offsetDelta) +
		sizeBytesField(r.Key) + sizeBytesField(r.Value) + sizeVarint(int32(len(r.Headers)))
	for _, hdr := range r.Headers {
		size += sizeVarint(int32(len(hdr.Key))) + len(hdr.Key) + sizeBytesField(hdr.Value)
	}
	dst = appendVarint(dst, int32(size))
	dst = append(dst, 0) // attributes
	dst = appendVarlong(dst, timestampDelta)
	dst = appendVarint(dst, offsetDelta)
	dst = appendBytesField(dst, r.Key)
	dst = appendBytesField(dst, r.Value)
	dst = appendVarint(dst, int32(len(r.Headers)))
	for _, hdr := range r.Headers {
		dst = appendVarint(dst, int32(len(hdr.Key)))
		dst = append(dst, hdr.Key...)
		dst = appendBytesField(dst, hdr.Value)
	}
	return dst
}

func sizeBytesField(b []byte) int {
	if b == nil {
		return 1
	}
	return sizeVarint(int32(len(b))) + len(b)
}

func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return appendVarint(dst, -1)
	}
	dst = appendVarint(dst, int32(len(b)))
	return append(dst, b...)
}

// appendBatchWith appends a batch made of header h (its length, codec bits
// and CRC replaced) and the uncompressed records section, compressed with
// codec. Validate uses it to re-encode a batch for a topic's codec.
func appendBatchWith(dst []byte, h Header, records []byte, codec Codec, level int) ([]byte, error) {
	start := len(dst)
	h.Attributes = h.Attributes&^attrCompressionMask | int16(codec)&attrCompressionMask
	dst = appendHeader(dst, &h)
	dst, err := Compress(codec, dst, records, level)
	if err != nil {
		return dst[:start], fmt.Errorf("build record batch: %w", err)
	}
	return finishBatch(dst, start)
}

// finishBatch stores the length and CRC of the batch at dst[start:].
func finishBatch(dst []byte, start int) ([]byte, error) {
	batch := dst[start:]
	if len(batch)-LogOverhead > math.MaxInt32 {
		return dst[:start], fmt.Errorf("build record batch: %d bytes", len(batch))
	}
	binary.BigEndian.PutUint32(batch[offsetBatchLength:], uint32(len(batch)-LogOverhead))
	SetCRC(batch)
	return dst, nil
}

// appendHeader appends the fixed header fields of h as stored.
func appendHeader(dst []byte, h *Header) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.BaseOffset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.BatchLength))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.PartitionLeaderEpoch))
	dst = append(dst, byte(h.Magic))
	dst = binary.BigEndian.AppendUint32(dst, h.CRC)
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Attributes))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.LastOffsetDelta))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.BaseTimestamp))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.MaxTimestamp))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.ProducerID))
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.ProducerEpoch))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.BaseSequence))
	return binary.BigEndian.AppendUint32(dst, uint32(h.NumRecords))
}
