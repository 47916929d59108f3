package record

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestIteratorRoundTrip(t *testing.T) {
	records := sampleRecords()
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			spec := codecSpec(codec)
			spec.BaseOffset = 1000
			batch := mustBatch(t, spec, records)
			if err := VerifyCRC(batch); err != nil {
				t.Fatal(err)
			}
			var it Iterator
			if err := it.Reset(batch); err != nil {
				t.Fatal(err)
			}
			if got := it.Header().Codec(); got != codec {
				t.Fatalf("codec %s, want %s", got, codec)
			}
			i := 0
			for rec, ok := it.Next(); ok; rec, ok = it.Next() {
				if got, want := describeRecord(rec), describeSpec(1000+int64(i), records[i]); got != want {
					t.Errorf("record %d:\n got %s\nwant %s", i, got, want)
				}
				if rec.OffsetDelta != int32(i) {
					t.Errorf("record %d: offset delta %d", i, rec.OffsetDelta)
				}
				i++
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			if i != len(records) {
				t.Fatalf("iterated %d records, want %d", i, len(records))
			}
		})
	}
}

func TestIteratorLogAppendTimeUsesMaxTimestamp(t *testing.T) {
	batch := mustBatch(t, NewBatchSpec(), sampleRecords())
	SetLogAppendTime(batch, 42)
	var it Iterator
	if err := it.Reset(batch); err != nil {
		t.Fatal(err)
	}
	for rec, ok := it.Next(); ok; rec, ok = it.Next() {
		if rec.Timestamp != 42 {
			t.Fatalf("record %d timestamp %d, want the log append time 42", rec.OffsetDelta, rec.Timestamp)
		}
	}
}

// TestBuilderMatchesKmsg decodes the builder's output with franz-go's kmsg
// and kgo decompression, an independent implementation of the format.
func TestBuilderMatchesKmsg(t *testing.T) {
	records := sampleRecords()
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			spec := BatchSpec{BaseOffset: 7, PartitionLeaderEpoch: 3, ProducerID: 99, ProducerEpoch: 2,
				BaseSequence: 11, Transactional: true, Codec: codec}
			batch := mustBatch(t, spec, records)
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(batch); err != nil {
				t.Fatal(err)
			}
			checkKmsgHeader(t, &kb, spec, records)
			raw, err := kgo.DefaultDecompressor().Decompress(kb.Records, kgo.CompressionCodecType(codec))
			if err != nil {
				t.Fatalf("kgo decompress: %v", err)
			}
			for i, want := range records {
				var kr kmsg.Record
				if err := kr.ReadFrom(raw); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				raw = raw[recordWireSize(kr):]
				got := Record{Offset: 7 + int64(kr.OffsetDelta), Timestamp: kb.FirstTimestamp + kr.TimestampDelta64, Key: kr.Key, Value: kr.Value}
				gotHeaders := RecordSpec{Timestamp: got.Timestamp, Key: kr.Key, Value: kr.Value}
				for _, h := range kr.Headers {
					gotHeaders.Headers = append(gotHeaders.Headers, RecordHeader{Key: h.Key, Value: h.Value})
				}
				if g, w := describeSpec(got.Offset, gotHeaders), describeSpec(7+int64(i), want); g != w {
					t.Errorf("record %d:\n got %s\nwant %s", i, g, w)
				}
			}
			if len(raw) != 0 {
				t.Fatalf("%d bytes after the last record", len(raw))
			}
		})
	}
}

func checkKmsgHeader(t *testing.T, kb *kmsg.RecordBatch, spec BatchSpec, records []RecordSpec) {
	t.Helper()
	want := kmsg.RecordBatch{FirstOffset: 7, PartitionLeaderEpoch: 3, Magic: 2, Attributes: int16(spec.Codec) | 0x10,
		LastOffsetDelta: int32(len(records) - 1), FirstTimestamp: records[0].Timestamp, MaxTimestamp: 1_700_000_000_100,
		ProducerID: 99, ProducerEpoch: 2, FirstSequence: 11, NumRecords: int32(len(records))}
	got := *kb
	got.Length, got.CRC, got.Records = 0, 0, nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("kmsg header\n got %+v\nwant %+v", got, want)
	}
}

// recordWireSize is the encoded size of a record kmsg decoded.
func recordWireSize(r kmsg.Record) int {
	return sizeVarint(r.Length) + int(r.Length)
}

// TestIteratorReadsKmsgRecords iterates a batch whose records kmsg encoded
// and kgo compressed, the path franz-go producers take.
func TestIteratorReadsKmsgRecords(t *testing.T) {
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			var section []byte
			for i := range 3 {
				kr := kmsg.Record{TimestampDelta64: int64(i * 10), OffsetDelta: int32(i), Key: []byte{byte('a' + i)},
					Value: bytes.Repeat([]byte{byte(i)}, 100), Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}
				kr.Length = int32(len(kr.AppendTo(nil)) - 1)
				section = kr.AppendTo(section)
			}
			compressed := kgoCompress(t, codec, section)
			kb := kmsg.RecordBatch{Magic: 2, Attributes: int16(codec), LastOffsetDelta: 2, FirstTimestamp: 500,
				MaxTimestamp: 520, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 3, Records: compressed}
			batch := kb.AppendTo(nil)
			batch = finishKmsgBatch(batch)
			if err := VerifyCRC(batch); err != nil {
				t.Fatal(err)
			}
			var it Iterator
			if err := it.Reset(batch); err != nil {
				t.Fatal(err)
			}
			n := 0
			for rec, ok := it.Next(); ok; rec, ok = it.Next() {
				if rec.Timestamp != 500+int64(n*10) || rec.Key[0] != byte('a'+n) || len(rec.Value) != 100 || rec.Headers.Len() != 1 {
					t.Errorf("record %d: %s", n, describeRecord(rec))
				}
				n++
			}
			if it.Err() != nil || n != 3 {
				t.Fatalf("read %d records, err %v", n, it.Err())
			}
		})
	}
}

func kgoCompress(t *testing.T, codec Codec, src []byte) []byte {
	t.Helper()
	if codec == CodecNone {
		return src
	}
	codecs := map[Codec]kgo.CompressionCodec{CodecGzip: kgo.GzipCompression(), CodecSnappy: kgo.SnappyCompression(),
		CodecLZ4: kgo.Lz4Compression(), CodecZstd: kgo.ZstdCompression()}
	c, err := kgo.DefaultCompressor(codecs[codec])
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	out, used := c.Compress(&buf, src)
	if used != kgo.CompressionCodecType(codec) {
		t.Fatalf("kgo compressed with %d, want %s", used, codec)
	}
	return append([]byte(nil), out...)
}

// finishKmsgBatch fills in the length and CRC kmsg leaves to the caller.
func finishKmsgBatch(b []byte) []byte {
	b[offsetBatchLength] = byte((len(b) - LogOverhead) >> 24)
	b[offsetBatchLength+1] = byte((len(b) - LogOverhead) >> 16)
	b[offsetBatchLength+2] = byte((len(b) - LogOverhead) >> 8)
	b[offsetBatchLength+3] = byte(len(b) - LogOverhead)
	SetCRC(b)
	return b
}

// rawBatch wraps hand-made record bytes in a valid header claiming count
// records, for malformed-record cases the builder cannot produce.
func rawBatch(count int32, section []byte) []byte {
	h := Header{Magic: CurrentMagic, LastOffsetDelta: count - 1, ProducerID: -1, ProducerEpoch: -1,
		BaseSequence: -1, NumRecords: count, PartitionLeaderEpoch: -1}
	b, _ := appendBatchWith(nil, h, section, CodecNone, 0)
	return b
}

func TestIteratorMalformedRecords(t *testing.T) {
	good := appendRecord(nil, 0, 0, RecordSpec{Key: []byte("k"), Value: []byte("v")})
	cases := []struct {
		name    string
		count   int32
		section []byte
	}{
		{"empty section", 1, nil},
		{"fewer records than declared", 2, good},
		{"bytes after last record", 1, append(append([]byte{}, good...), 0)},
		{"length beyond section", 1, []byte{0x7e, 0}},
		{"negative length", 1, []byte{0x01}},
		{"varint too long", 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"length larger than fields", 1, append([]byte{byte(len(good))}, append(append([]byte{}, good[1:]...), 0)...)},
		{"key length below -1", 1, []byte{10, 0, 0, 0, 3, 0, 0}},
		{"key longer than record", 1, []byte{8, 0, 0, 0, 20, 0, 0, 0}},
		{"negative header count", 1, []byte{10, 0, 0, 0, 1, 1, 1}},
		{"null header key", 1, []byte{12, 0, 0, 0, 1, 1, 2, 1, 1}},
		{"header count beyond bytes", 1, []byte{10, 0, 0, 0, 1, 1, 20}},
		{"cut in attributes", 1, []byte{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var it Iterator
			if err := it.Reset(rawBatch(tc.count, tc.section)); err != nil {
				t.Fatal(err)
			}
			for _, ok := it.Next(); ok; _, ok = it.Next() {
			}
			if err := it.Err(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Err() = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestIteratorResetErrors(t *testing.T) {
	batch := mustBatch(t, NewBatchSpec(), sampleRecords()[:2])
	badMagic := append([]byte{}, batch...)
	badMagic[offsetMagic] = 1
	negativeCount := append([]byte{}, batch...)
	negativeCount[offsetNumRecords] = 0xff
	zstdBatch := mustBatch(t, codecSpec(CodecZstd), sampleRecords())
	garbled := append([]byte{}, zstdBatch...)
	for i := HeaderSize + 10; i < len(garbled); i += 7 {
		garbled[i] ^= 0x5a
	}
	unknownCodec := append([]byte{}, batch...)
	unknownCodec[offsetAttributes+1] |= 7
	cases := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"short header", batch[:HeaderSize-1], ErrShortBatch},
		{"short batch", batch[:len(batch)-1], ErrShortBatch},
		{"magic 1", badMagic, ErrCorrupt},
		{"negative count", negativeCount, ErrCorrupt},
		{"garbled zstd", garbled, ErrCorrupt},
		{"unknown codec", unknownCodec, ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var it Iterator
			err := it.Reset(tc.batch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Reset = %v, want %v", err, tc.want)
			}
			if _, ok := it.Next(); ok || it.Err() == nil {
				t.Fatal("Next after a failed Reset must yield nothing and keep the error")
			}
		})
	}
}

func TestIteratorDecompressionLimit(t *testing.T) {
	for _, codec := range allCodecs[1:] {
		t.Run(codec.String(), func(t *testing.T) {
			batch := mustBatch(t, codecSpec(codec), sampleRecords()) // ~320 KB of records
			var it Iterator
			it.SetMaxDecompressedBytes(100 << 10)
			if err := it.Reset(batch); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Reset = %v, want ErrTooLarge", err)
			}
			it.SetMaxDecompressedBytes(0)
			if err := it.Reset(batch); err != nil {
				t.Fatalf("Reset with the default limit: %v", err)
			}
		})
	}
}

func TestIteratorUncompressedDoesNotAllocate(t *testing.T) {
	batch := mustBatch(t, NewBatchSpec(), sampleRecords())
	var it Iterator
	allocs := testing.AllocsPerRun(100, func() {
		if err := it.Reset(batch); err != nil {
			t.Fatal(err)
		}
		for rec, ok := it.Next(); ok; rec, ok = it.Next() {
			hi := rec.Headers.Iterator()
			for _, _, ok := hi.Next(); ok; _, _, ok = hi.Next() {
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch, want 0", allocs)
	}
}

func FuzzIterator(f *testing.F) {
	for _, codec := range allCodecs {
		f.Add(mustBatch(f, codecSpec(codec), sampleRecords()[:3]))
	}
	f.Add(rawBatch(1, []byte{12, 0, 0, 0, 1, 1, 2, 1, 1}))
	f.Fuzz(func(t *testing.T, batch []byte) {
		var it Iterator
		it.SetMaxDecompressedBytes(1 << 20)
		if it.Reset(batch) != nil {
			return
		}
		n := 0
		for rec, ok := it.Next(); ok; rec, ok = it.Next() {
			hi := rec.Headers.Iterator()
			for _, _, ok := hi.Next(); ok; _, _, ok = hi.Next() {
			}
			n++
		}
		if it.Err() == nil && n != int(it.Header().NumRecords) {
			t.Fatalf("clean end after %d of %d records", n, it.Header().NumRecords)
		}
	})
}

func TestAppendBatchAppends(t *testing.T) {
	for _, codec := range allCodecs {
		first := mustBatch(t, codecSpec(codec), smallRecords())
		both, err := AppendBatch(append([]byte{}, first...), codecSpec(codec), sampleRecords())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(both[:len(first)], first) {
			t.Fatalf("%s: AppendBatch changed the bytes already in dst", codec)
		}
		checkBatchHolds(t, both[len(first):], codec, sampleRecords())
	}
	if _, err := AppendBatch(nil, NewBatchSpec(), nil); err == nil {
		t.Fatal("a batch without records must be refused")
	}
}
