package record

import (
	"errors"
	"fmt"
)

// Record is one record of a v2 batch as the Iterator yields it. Key, Value
// and Headers are sub-slices of the batch (or of the iterator's
// decompression buffer): they stay valid only until the next Reset, and
// must be copied to be kept.
type Record struct {
	Attributes     int8  // unused by Kafka so far; carried as written
	TimestampDelta int64 // relative to the batch's base timestamp
	OffsetDelta    int32 // relative to the batch's base offset
	// Timestamp is the record's effective time: base timestamp plus delta,
	// or the batch's max timestamp when the batch uses LogAppendTime.
	Timestamp int64
	// Offset is the batch's base offset plus OffsetDelta.
	Offset int64
	Key    []byte // nil for a null key
	Value  []byte // nil for a null value (a tombstone)
	// Headers is the record's header section, already validated.
	Headers Headers
}

// Headers is the raw header section of one record. It is walked on demand
// (see Iterator) so that records whose headers nobody reads cost nothing.
type Headers struct {
	raw   []byte
	count int32
}

// Len is the number of headers.
func (h Headers) Len() int { return int(h.count) }

// Iterator returns an iterator over the headers, in order.
func (h Headers) Iterator() HeaderIterator { return HeaderIterator{raw: h.raw, left: h.count} }

// HeaderIterator walks a record's headers without allocating.
type HeaderIterator struct {
	raw  []byte
	left int32
}

// Next returns the next header. The key is never nil; the value is nil for
// a null header value. ok is false after the last header.
func (h *HeaderIterator) Next() (key, value []byte, ok bool) {
	if h.left <= 0 {
		return nil, nil, false
	}
	r := fieldReader{b: h.raw}
	key, value = r.header()
	if !r.ok() {
		h.left = 0
		return nil, nil, false
	}
	h.raw = h.raw[r.pos:]
	h.left--
	return key, value, true
}

// Iterator decodes the records of one batch at a time without allocating per
// record. A compressed batch is decompressed into a buffer the iterator keeps
// and reuses across batches. The zero value is ready to use; an Iterator is
// not safe for concurrent use.
//
//	var it record.Iterator
//	if err := it.Reset(batch); err != nil { ... }
//	for rec, ok := it.Next(); ok; rec, ok = it.Next() { ... }
//	if err := it.Err(); err != nil { ... }
type Iterator struct {
	header  Header
	section []byte // the whole (decompressed) records section
	rest    []byte // record bytes not yet decoded
	left    int32  // records still to decode
	index   int32  // index of the next record
	err     error

	buffer          []byte // decompression buffer, reused across batches
	maxDecompressed int
}

// SetMaxDecompressedBytes bounds the decompressed size of a batch's records
// section; n <= 0 restores DefaultMaxDecompressedBytes.
func (it *Iterator) SetMaxDecompressedBytes(n int) { it.maxDecompressed = n }

// Reset starts iterating the batch at the front of batch; bytes after the
// batch are ignored. It does not verify the CRC (see VerifyCRC). Errors:
// ErrShortBatch when batch is cut short; ErrTooLarge when the records
// inflate beyond the limit; otherwise an error wrapping ErrCorrupt.
func (it *Iterator) Reset(batch []byte) error {
	it.section, it.rest, it.left, it.index, it.err = nil, nil, 0, 0, nil
	records, h, err := recordsSection(batch)
	if err == nil && h.Codec() != CodecNone {
		records, err = it.decompress(h.Codec(), records)
	}
	if err != nil {
		it.err = err
		return err
	}
	it.header, it.section, it.rest, it.left = h, records, records, h.NumRecords
	return nil
}

// recordsSection checks the header of the batch at the front of b and
// returns its (possibly compressed) records bytes.
func recordsSection(b []byte) ([]byte, Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, h, err
	}
	if h.Magic != CurrentMagic {
		return nil, h, fmt.Errorf("record batch magic %d, want %d: %w", h.Magic, CurrentMagic, ErrCorrupt)
	}
	if h.Size() > len(b) {
		return nil, h, fmt.Errorf("record batch of %d bytes, %d present: %w", h.Size(), len(b), ErrShortBatch)
	}
	if h.NumRecords < 0 {
		return nil, h, fmt.Errorf("record batch claims %d records: %w", h.NumRecords, ErrCorrupt)
	}
	return b[HeaderSize:h.Size()], h, nil
}

func (it *Iterator) decompress(codec Codec, compressed []byte) ([]byte, error) {
	var err error
	it.buffer, err = Decompress(codec, it.buffer[:0], compressed, it.maxDecompressed)
	if err != nil {
		return nil, fmt.Errorf("decompress %s records: %w", codec, err)
	}
	return it.buffer, nil
}

// Header is the header of the batch being iterated.
func (it *Iterator) Header() Header { return it.header }

// Next decodes the next record. ok is false after the last record or on
// error; check Err to tell them apart.
func (it *Iterator) Next() (rec Record, ok bool) {
	if it.err != nil || it.left <= 0 {
		return Record{}, false
	}
	rec, n, err := parseRecord(it.rest, &it.header)
	if err != nil {
		return Record{}, it.fail(err)
	}
	it.rest = it.rest[n:]
	it.left--
	it.index++
	if it.left == 0 && len(it.rest) > 0 {
		return Record{}, it.fail(fmt.Errorf("%d bytes follow the last of %d records", len(it.rest), it.header.NumRecords))
	}
	return rec, true
}

// fail records a malformed-record error; it returns false for Next.
func (it *Iterator) fail(err error) bool {
	it.err = fmt.Errorf("batch at offset %d, record %d: %w: %w", it.header.BaseOffset, it.index, ErrCorrupt, err)
	it.left = 0
	return false
}

// Err is the error that stopped iteration, or nil after a clean end. Errors
// from Next wrap ErrCorrupt; those from Reset are returned by Reset too.
func (it *Iterator) Err() error { return it.err }

// Remaining is the number of records Next has still to yield.
func (it *Iterator) Remaining() int { return int(it.left) }

// parseRecord decodes one record from the front of b and returns it with
// the number of bytes it occupied. The layout (Kafka's DefaultRecord):
//
//	length varint, attributes int8, timestampDelta varlong,
//	offsetDelta varint, keyLength varint, key, valueLength varint, value,
//	headerCount varint, headers { keyLength varint, key, valueLength varint, value }
func parseRecord(b []byte, h *Header) (Record, int, error) {
	length, n := readVarint(b)
	if n == 0 {
		return Record{}, 0, errors.New("malformed record length varint")
	}
	if length < 0 || int(length) > len(b)-n {
		return Record{}, 0, fmt.Errorf("record length %d with %d bytes left", length, len(b)-n)
	}
	body := fieldReader{b: b[n : n+int(length)]}
	rec := body.record()
	if err := body.err(); err != nil {
		return Record{}, 0, err
	}
	if body.pos != len(body.b) {
		return Record{}, 0, fmt.Errorf("record length %d but its fields take %d bytes", length, body.pos)
	}
	rec.Offset = h.BaseOffset + int64(rec.OffsetDelta)
	rec.Timestamp = h.BaseTimestamp + rec.TimestampDelta
	if h.IsLogAppendTime() {
		rec.Timestamp = h.MaxTimestamp
	}
	return rec, n + int(length), nil
}

// fieldReader decodes record fields with bounds checks. The first failure
// is kept as two constant strings (no allocation on the happy path) and
// turns later reads into no-ops, so callers check once at the end.
type fieldReader struct {
	b       []byte
	pos     int
	field   string // the field that failed
	problem string // what was wrong with it; "" while all is well
}

func (r *fieldReader) ok() bool { return r.problem == "" }

func (r *fieldReader) fail(field, problem string) {
	if r.ok() {
		r.field, r.problem = field, problem
	}
}

func (r *fieldReader) err() error {
	if r.ok() {
		return nil
	}
	return fmt.Errorf("%s: %s", r.field, r.problem)
}

func (r *fieldReader) record() Record {
	var rec Record
	rec.Attributes = int8(r.byte("attributes"))
	rec.TimestampDelta = r.varlong("timestamp delta")
	rec.OffsetDelta = r.varint("offset delta")
	rec.Key = r.nullableBytes("key")
	rec.Value = r.nullableBytes("value")
	rec.Headers = r.headers()
	return rec
}

func (r *fieldReader) headers() Headers {
	count := r.varint("header count")
	if count < 0 {
		r.fail("header count", "negative")
	}
	start := r.pos
	for i := int32(0); i < count && r.ok(); i++ {
		r.header()
	}
	if !r.ok() {
		return Headers{}
	}
	return Headers{raw: r.b[start:r.pos], count: count}
}

func (r *fieldReader) header() (key, value []byte) {
	key = r.nullableBytes("header key")
	if key == nil {
		r.fail("header key", "null")
	}
	value = r.nullableBytes("header value")
	return key, value
}

func (r *fieldReader) byte(field string) byte {
	if !r.ok() {
		return 0
	}
	if r.pos >= len(r.b) {
		r.fail(field, "cut short")
		return 0
	}
	r.pos++
	return r.b[r.pos-1]
}

func (r *fieldReader) varint(field string) int32 {
	if !r.ok() {
		return 0
	}
	v, n := readVarint(r.b[r.pos:])
	if n == 0 {
		r.fail(field, "malformed varint")
	}
	r.pos += n
	return v
}

func (r *fieldReader) varlong(field string) int64 {
	if !r.ok() {
		return 0
	}
	v, n := readVarlong(r.b[r.pos:])
	if n == 0 {
		r.fail(field, "malformed varint")
	}
	r.pos += n
	return v
}

// nullableBytes reads a varint length and that many bytes; length -1 is
// null (nil), and an empty non-null field is a non-nil empty slice.
func (r *fieldReader) nullableBytes(field string) []byte {
	length := r.varint(field)
	switch {
	case !r.ok() || length == -1:
		return nil
	case length < -1:
		r.fail(field, "negative length")
		return nil
	case int(length) > len(r.b)-r.pos:
		r.fail(field, "longer than the record")
		return nil
	}
	end := r.pos + int(length)
	value := r.b[r.pos:end:end]
	r.pos = end
	return value
}
