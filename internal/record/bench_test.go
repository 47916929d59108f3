package record

import (
	"testing"
)

// benchmarkValidate validates a 100 x 1 KiB batch in codec, as produced.
func benchmarkValidate(b *testing.B, codec Codec, target Codec) {
	batch := mustBatch(b, codecSpec(codec), kibRecords(100))
	opts := testOptions()
	opts.TargetCodec = target
	work := make([]byte, len(batch))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, batch)
		if _, err := Validate(work, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateUncompressed(b *testing.B) { benchmarkValidate(b, CodecNone, CodecProducer) }
func BenchmarkValidateGzip(b *testing.B)         { benchmarkValidate(b, CodecGzip, CodecProducer) }
func BenchmarkValidateSnappy(b *testing.B)       { benchmarkValidate(b, CodecSnappy, CodecProducer) }
func BenchmarkValidateLZ4(b *testing.B)          { benchmarkValidate(b, CodecLZ4, CodecProducer) }
func BenchmarkValidateZstd(b *testing.B)         { benchmarkValidate(b, CodecZstd, CodecProducer) }

// BenchmarkValidateRecompressZstd is the topic-codec path: an uncompressed
// produce re-encoded for a compression.type=zstd topic.
func BenchmarkValidateRecompressZstd(b *testing.B) { benchmarkValidate(b, CodecNone, CodecZstd) }

// BenchmarkValidateRecompressLZ4 re-encodes at Kafka's default lz4 level 9.
func BenchmarkValidateRecompressLZ4(b *testing.B) { benchmarkValidate(b, CodecNone, CodecLZ4) }

func benchmarkIterator(b *testing.B, codec Codec) {
	batch := mustBatch(b, codecSpec(codec), kibRecords(100))
	var it Iterator
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if err := it.Reset(batch); err != nil {
			b.Fatal(err)
		}
		for _, ok := it.Next(); ok; _, ok = it.Next() {
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
	}
}

func BenchmarkIteratorUncompressed(b *testing.B) { benchmarkIterator(b, CodecNone) }
func BenchmarkIteratorLZ4(b *testing.B)          { benchmarkIterator(b, CodecLZ4) }
func BenchmarkIteratorZstd(b *testing.B)         { benchmarkIterator(b, CodecZstd) }

func benchmarkCompress(b *testing.B, codec Codec) {
	src := compressibleBytes(100 << 10)
	var dst []byte
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = Compress(codec, dst[:0], src, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompressGzip(b *testing.B)   { benchmarkCompress(b, CodecGzip) }
func BenchmarkCompressSnappy(b *testing.B) { benchmarkCompress(b, CodecSnappy) }
func BenchmarkCompressLZ4(b *testing.B)    { benchmarkCompress(b, CodecLZ4) }
func BenchmarkCompressZstd(b *testing.B)   { benchmarkCompress(b, CodecZstd) }

func BenchmarkAppendBatch(b *testing.B) {
	records := kibRecords(100)
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = AppendBatch(dst[:0], NewBatchSpec(), records); err != nil {
			b.Fatal(err)
		}
	}
}
