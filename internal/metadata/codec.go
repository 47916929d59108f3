package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// writeVersion is the body version records of type t are written with.
// Decoders accept every version from 0 up to it, so logs and snapshots
// written by an older Sluice stay readable; an unknown (newer) version is
// corrupt, never guessed at.
func writeVersion(t RecordType) uint8 {
	switch t {
	case RecordTypeRegisterBroker:
		return 1
	case RecordTypePartition:
		return 2
	}
	return 0
}

// batchFormat is the version byte at the start of an encoded batch.
const batchFormat = 1

// ErrCorrupt marks bytes that are not a valid encoding: truncated, with
// trailing bytes, or with an unknown type or version. Test with errors.Is.
var ErrCorrupt = errors.New("corrupt metadata encoding")

// AppendRecord appends the encoding of r (type, version, body) to dst.
func AppendRecord(dst []byte, r Record) []byte {
	dst = append(dst, byte(r.Type()), writeVersion(r.Type()))
	return r.appendBody(dst)
}

// EncodeBatch encodes records as one batch: the payload of a Raft log entry
// or of a snapshot.
func EncodeBatch(records []Record) []byte {
	dst := make([]byte, 0, 64*len(records)+8)
	dst = append(dst, batchFormat)
	dst = binary.AppendUvarint(dst, uint64(len(records)))
	var scratch []byte
	for _, r := range records {
		scratch = AppendRecord(scratch[:0], r)
		dst = binary.AppendUvarint(dst, uint64(len(scratch)))
		dst = append(dst, scratch...)
	}
	return dst
}

// DecodeBatch decodes a batch written by EncodeBatch. Any malformation is
// reported as an error wrapping ErrCorrupt; it never panics.
func DecodeBatch(data []byte) ([]Record, error) {
	d := decoder{buf: data}
	if format := d.byte(); d.err == nil && format != batchFormat {
		return nil, fmt.Errorf("%w: batch format %d, want %d", ErrCorrupt, format, batchFormat)
	}
	count := d.count()
	if d.err != nil {
		return nil, fmt.Errorf("batch header: %w", d.err)
	}
	records := make([]Record, 0, count)
	for i := 0; i < count; i++ {
		body := d.bytes()
		if d.err != nil {
			return nil, fmt.Errorf("batch record %d of %d: %w", i, count, d.err)
		}
		r, err := DecodeRecord(body)
		if err != nil {
			return nil, fmt.Errorf("batch record %d of %d: %w", i, count, err)
		}
		records = append(records, r)
	}
	if len(d.buf) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last batch record", ErrCorrupt, len(d.buf))
	}
	return records, nil
}

// DecodeRecord decodes one record written by AppendRecord, which must span
// all of data.
func DecodeRecord(data []byte) (Record, error) {
	d := decoder{buf: data}
	typ := RecordType(d.byte())
	version := d.byte()
	if d.err != nil {
		return nil, fmt.Errorf("record header: %w", d.err)
	}
	if version > writeVersion(typ) {
		return nil, fmt.Errorf("%w: %s record version %d, want at most %d", ErrCorrupt, typ, version, writeVersion(typ))
	}
	r, err := decodeBody(typ, version, &d)
	if err != nil {
		return nil, err
	}
	if d.err != nil {
		return nil, fmt.Errorf("%s record: %w", typ, d.err)
	}
	if len(d.buf) != 0 {
		return nil, fmt.Errorf("%w: %s record has %d trailing bytes", ErrCorrupt, typ, len(d.buf))
	}
	return r, nil
}

func decodeBody(typ RecordType, version uint8, d *decoder) (Record, error) {
	switch typ {
	case RecordTypeClusterID:
		return &ClusterIDRecord{ID: d.string()}, nil
	case RecordTypeRegisterBroker:
		return decodeRegisterBroker(d, version), nil
	case RecordTypeTopic:
		return &TopicRecord{Name: d.string(), ID: d.uuid()}, nil
	case RecordTypePartition:
		return decodePartition(d, version), nil
	case RecordTypeConfig:
		return &ConfigRecord{
			ResourceType: ConfigResourceType(d.varint(math.MinInt8, math.MaxInt8)),
			ResourceName: d.string(),
			Key:          d.string(),
			Value:        d.nullableString(),
		}, nil
	case RecordTypeRemoveTopic:
		return &RemoveTopicRecord{TopicID: d.uuid()}, nil
	case RecordTypeProducerIDs:
		return &ProducerIDsRecord{BrokerID: d.int32(), NextProducerID: d.int64()}, nil
	case RecordTypeBrokerRegistrationChange:
		return &BrokerRegistrationChangeRecord{
			BrokerID:             d.int32(),
			BrokerEpoch:          d.int64(),
			Fenced:               FenceChange(d.int8()),
			InControlledShutdown: ShutdownChange(d.int8()),
		}, nil
	case RecordTypeSnapshotOffset:
		return &SnapshotOffsetRecord{Offset: d.int64()}, nil
	}
	return nil, fmt.Errorf("%w: unknown record type %d", ErrCorrupt, uint8(typ))
}

func decodeRegisterBroker(d *decoder, version uint8) *RegisterBrokerRecord {
	r := &RegisterBrokerRecord{}
	r.NodeID = d.int32()
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		r.Endpoints = append(r.Endpoints, Endpoint{
			Listener:         d.string(),
			Host:             d.string(),
			Port:             d.int32(),
			SecurityProtocol: d.int16(),
		})
	}
	r.Rack = d.nullableString()
	if version >= 1 {
		r.IncarnationID = d.uuid()
		r.BrokerEpoch = d.int64()
		r.Fenced = d.bool()
		r.InControlledShutdown = d.bool()
		r.RegisteredAt = d.int64()
	}
	return r
}

func decodePartition(d *decoder, version uint8) *PartitionRecord {
	r := &PartitionRecord{TopicID: d.uuid()}
	r.Index = d.int32()
	r.Replicas = d.int32s()
	r.ISR = d.int32s()
	r.Leader = d.int32()
	r.LeaderEpoch = d.int32()
	r.PartitionEpoch = d.int32()
	if version >= 1 {
		r.LeaderRecoveryState = LeaderRecoveryState(d.int8())
	}
	if version >= 2 {
		r.AddingReplicas = d.int32s()
		r.RemovingReplicas = d.int32s()
	}
	return r
}

func (r *ClusterIDRecord) appendBody(dst []byte) []byte {
	return appendString(dst, r.ID)
}

func (r *RegisterBrokerRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.NodeID))
	dst = binary.AppendUvarint(dst, uint64(len(r.Endpoints)))
	for _, e := range r.Endpoints {
		dst = appendString(dst, e.Listener)
		dst = appendString(dst, e.Host)
		dst = binary.AppendVarint(dst, int64(e.Port))
		dst = binary.AppendVarint(dst, int64(e.SecurityProtocol))
	}
	dst = appendNullableString(dst, r.Rack)
	dst = append(dst, r.IncarnationID[:]...)
	dst = binary.AppendVarint(dst, r.BrokerEpoch)
	dst = appendBool(dst, r.Fenced)
	dst = appendBool(dst, r.InControlledShutdown)
	return binary.AppendVarint(dst, r.RegisteredAt)
}

func (r *TopicRecord) appendBody(dst []byte) []byte {
	dst = appendString(dst, r.Name)
	return append(dst, r.ID[:]...)
}

func (r *PartitionRecord) appendBody(dst []byte) []byte {
	dst = append(dst, r.TopicID[:]...)
	dst = binary.AppendVarint(dst, int64(r.Index))
	dst = appendInt32s(dst, r.Replicas)
	dst = appendInt32s(dst, r.ISR)
	dst = binary.AppendVarint(dst, int64(r.Leader))
	dst = binary.AppendVarint(dst, int64(r.LeaderEpoch))
	dst = binary.AppendVarint(dst, int64(r.PartitionEpoch))
	dst = binary.AppendVarint(dst, int64(r.LeaderRecoveryState))
	dst = appendInt32s(dst, r.AddingReplicas)
	return appendInt32s(dst, r.RemovingReplicas)
}

func (r *ConfigRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.ResourceType))
	dst = appendString(dst, r.ResourceName)
	dst = appendString(dst, r.Key)
	return appendNullableString(dst, r.Value)
}

func (r *RemoveTopicRecord) appendBody(dst []byte) []byte {
	return append(dst, r.TopicID[:]...)
}

func (r *ProducerIDsRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.BrokerID))
	return binary.AppendVarint(dst, r.NextProducerID)
}

func (r *BrokerRegistrationChangeRecord) appendBody(dst []byte) []byte {
	dst = binary.AppendVarint(dst, int64(r.BrokerID))
	dst = binary.AppendVarint(dst, r.BrokerEpoch)
	dst = binary.AppendVarint(dst, int64(r.Fenced))
	return binary.AppendVarint(dst, int64(r.InControlledShutdown))
}

func (r *SnapshotOffsetRecord) appendBody(dst []byte) []byte {
	return binary.AppendVarint(dst, r.Offset)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendNullableString(dst []byte, s *string) []byte {
	if s == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(*s))+1)
	return append(dst, *s...)
}

func appendInt32s(dst []byte, values []int32) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(values)))
	for _, v := range values {
		dst = binary.AppendVarint(dst, int64(v))
	}
	return dst
}

// decoder reads the primitive encodings from buf. The first failure is kept
// in err and every later read returns a zero value, so callers check err once
// at the end.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	d.buf = nil
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail("truncated: need 1 byte")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint(min, max int64) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if v < min || v > max {
		d.fail("varint %d out of range [%d, %d]", v, min, max)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) int8() int8   { return int8(d.varint(math.MinInt8, math.MaxInt8)) }
func (d *decoder) int16() int16 { return int16(d.varint(math.MinInt16, math.MaxInt16)) }
func (d *decoder) int32() int32 { return int32(d.varint(math.MinInt32, math.MaxInt32)) }
func (d *decoder) int64() int64 { return d.varint(math.MinInt64, math.MaxInt64) }

// count reads an element count, bounded by the bytes left (every element
// takes at least one byte) so a corrupt count cannot force a huge allocation.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail("count %d exceeds the %d bytes left", n, len(d.buf))
		return 0
	}
	return int(n)
}

func (d *decoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.buf))
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) bytes() []byte { return d.take(d.uvarint()) }

// bool reads one byte that must be 0 or 1, so every value has exactly one
// encoding.
func (d *decoder) bool() bool {
	b := d.byte()
	if b > 1 {
		d.fail("bool byte %d, want 0 or 1", b)
		return false
	}
	return b == 1
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) nullableString() *string {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	s := string(d.take(n - 1))
	if d.err != nil {
		return nil
	}
	return &s
}

func (d *decoder) uuid() [16]byte {
	var id [16]byte
	copy(id[:], d.take(16))
	return id
}

func (d *decoder) int32s() []int32 {
	n := d.count()
	if n == 0 {
		return nil
	}
	values := make([]int32, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		values = append(values, d.int32())
	}
	return values
}
