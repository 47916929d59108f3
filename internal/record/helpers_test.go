package record

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// sampleRecords covers the encodings that matter: null and empty keys and
// values, headers with null values, a negative timestamp delta and a value
// big enough to span several compression blocks.
func sampleRecords() []RecordSpec {
	return []RecordSpec{
		{Timestamp: 1_700_000_000_000, Key: []byte("k0"), Value: []byte("v0")},
		{Timestamp: 1_700_000_000_005, Key: nil, Value: []byte("no key")},
		{Timestamp: 1_699_999_999_990, Key: []byte{}, Value: nil, Headers: []RecordHeader{
			{Key: "h1", Value: []byte("x")},
			{Key: "", Value: nil},
		}},
		{Timestamp: 1_700_000_000_100, Key: []byte("big"), Value: bytes.Repeat([]byte("abcdefgh"), 40_000)},
	}
}

func mustBatch(t testing.TB, spec BatchSpec, records []RecordSpec) []byte {
	t.Helper()
	b, err := AppendBatch(nil, spec, records)
	if err != nil {
		t.Fatalf("AppendBatch: %v", err)
	}
	return b
}

func codecSpec(codec Codec) BatchSpec {
	spec := NewBatchSpec()
	spec.Codec = codec
	return spec
}

// describeRecord renders what a record holds, distinguishing null from empty.
func describeRecord(r Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "off=%d ts=%d key=%s value=%s headers=[", r.Offset, r.Timestamp, nullable(r.Key), nullable(r.Value))
	it := r.Headers.Iterator()
	for k, v, ok := it.Next(); ok; k, v, ok = it.Next() {
		fmt.Fprintf(&b, "%s:%s ", nullable(k), nullable(v))
	}
	b.WriteString("]")
	return b.String()
}

func describeSpec(offset int64, r RecordSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "off=%d ts=%d key=%s value=%s headers=[", offset, r.Timestamp, nullable(r.Key), nullable(r.Value))
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%s:%s ", nullable([]byte(h.Key)), nullable(h.Value))
	}
	b.WriteString("]")
	return b.String()
}

func nullable(b []byte) string {
	if b == nil {
		return "null"
	}
	if len(b) > 16 {
		return fmt.Sprintf("%q...(%d bytes)", b[:16], len(b))
	}
	return fmt.Sprintf("%q", b)
}
