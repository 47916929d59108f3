package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressedBytes bounds the decompressed records section of one
// batch when the caller gives no limit. Kafka streams compressed records and
// never holds a whole batch; Sluice decompresses into one buffer, so a small
// "decompression bomb" must not be able to claim unbounded memory.
const DefaultMaxDecompressedBytes = 64 << 20

// ErrTooLarge means a compressed records section inflates beyond the
// caller's limit. It is not corruption: the bytes may be perfectly valid.
var ErrTooLarge = errors.New("decompressed records exceed the size limit")

// CodecProducer is not a wire codec: as a topic's compression.type
// ("producer") it means "keep whatever codec the producer used".
const CodecProducer Codec = -1

// ParseCodec maps a compression.type config value to a codec. It accepts the
// topic spellings (uncompressed, producer) and the producer ones (none).
func ParseCodec(name string) (Codec, error) {
	switch strings.ToLower(name) {
	case "producer":
		return CodecProducer, nil
	case "uncompressed", "none":
		return CodecNone, nil
	case "gzip":
		return CodecGzip, nil
	case "snappy":
		return CodecSnappy, nil
	case "lz4":
		return CodecLZ4, nil
	case "zstd":
		return CodecZstd, nil
	}
	return 0, fmt.Errorf("unknown compression type %q (want uncompressed, gzip, snappy, lz4, zstd or producer)", name)
}

// Decompress appends the decompressed form of src to dst and returns the
// extended slice. At most limit bytes are produced (limit <= 0 means
// DefaultMaxDecompressedBytes); more fails with ErrTooLarge. Malformed input
// fails with an error wrapping ErrCorrupt. On error the returned slice is dst
// at its original length, possibly with grown capacity worth reusing.
//
// Snappy input may be a raw block or xerial-framed (as Java producers write).
func Decompress(codec Codec, dst, src []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxDecompressedBytes
	}
	switch codec {
	case CodecNone:
		if len(src) > limit {
			return dst, tooLarge(limit)
		}
		return append(dst, src...), nil
	case CodecGzip:
		return decompressGzip(dst, src, limit)
	case CodecSnappy:
		return decompressSnappy(dst, src, limit)
	case CodecLZ4:
		return decompressLZ4(dst, src, limit)
	case CodecZstd:
		return decompressZstd(dst, src, limit)
	}
	return dst, fmt.Errorf("unknown compression codec %d: %w", int8(codec), ErrCorrupt)
}

// Compress appends the compressed form of src to dst. Level follows Kafka's
// compression.<codec>.level configs (gzip 1..9, lz4 1..17, zstd -131072..22);
// 0 picks the codec's Kafka default (gzip 6, lz4 9, zstd 3); lz4 at its
// default level uses the fast compressor, as Kafka does. Snappy has no
// levels and is written in xerial framing, like the Java client.
func Compress(codec Codec, dst, src []byte, level int) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return compressGzip(dst, src, level)
	case CodecSnappy:
		return compressSnappy(dst, src), nil
	case CodecLZ4:
		return compressLZ4(dst, src, level)
	case CodecZstd:
		return compressZstd(dst, src, level)
	}
	return dst, fmt.Errorf("cannot compress with codec %s", codec)
}

func tooLarge(limit int) error {
	return fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
}

// readLimited appends everything r yields to dst, failing with ErrTooLarge
// once more than limit bytes arrive. It grows dst by doubling so that a
// reused buffer soon needs no growth at all.
func readLimited(r io.Reader, dst []byte, limit int) ([]byte, error) {
	start := len(dst)
	zeroReads := 0
	for {
		if len(dst) == cap(dst) {
			dst = growLimited(dst, start, limit)
		}
		window := dst[len(dst):cap(dst)]
		if room := start + limit + 1 - len(dst); len(window) > room {
			window = window[:room]
		}
		n, err := r.Read(window)
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst[:start], tooLarge(limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if n == 0 {
			if zeroReads++; zeroReads > 100 {
				return dst[:start], io.ErrNoProgress
			}
		}
	}
}

// growLimited doubles the capacity used after start (at least 4 KiB), never
// beyond the limit plus the one byte that proves the limit was exceeded.
func growLimited(dst []byte, start, limit int) []byte {
	used := len(dst) - start
	want := max(2*used, 4<<10)
	want = min(want, limit+1)
	grown := make([]byte, len(dst), start+want)
	copy(grown, dst)
	return grown
}

// A decompression reader and the bytes.Reader feeding it, pooled together so
// that Reset costs no allocation.
type gzipDecoder struct {
	source bytes.Reader
	reader gzip.Reader
}

type lz4Decoder struct {
	source bytes.Reader
	reader *lz4.Reader
}

type zstdDecoder struct {
	source bytes.Reader
	reader *zstd.Decoder
}

var (
	gzipDecoders = sync.Pool{New: func() any { return new(gzipDecoder) }}
	lz4Decoders  = sync.Pool{New: func() any { return &lz4Decoder{reader: lz4.NewReader(nil)} }}
	zstdDecoders = sync.Pool{New: func() any { return newZstdDecoder() }}
)

// zstdMaxWindow refuses frames that ask for a larger history window than
// any Kafka producer uses, so a crafted header cannot make the decoder
// allocate a huge window.
const zstdMaxWindow = 64 << 20

func newZstdDecoder() *zstdDecoder {
	// Concurrency 1 makes stream decoding synchronous: no goroutines, so
	// a decoder dropped by the pool leaks nothing.
	reader, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow))
	if err != nil {
		return nil
	}
	return &zstdDecoder{reader: reader}
}

func decompressGzip(dst, src []byte, limit int) ([]byte, error) {
	d := gzipDecoders.Get().(*gzipDecoder)
	defer gzipDecoders.Put(d)
	d.source.Reset(src)
	if err := d.reader.Reset(&d.source); err != nil {
		return dst, fmt.Errorf("gzip header: %w: %w", ErrCorrupt, err)
	}
	return readLimited(&d.reader, dst, limit)
}

func decompressLZ4(dst, src []byte, limit int) ([]byte, error) {
	d := lz4Decoders.Get().(*lz4Decoder)
	defer lz4Decoders.Put(d)
	d.source.Reset(src)
	d.reader.Reset(&d.source)
	return readLimited(d.reader, dst, limit)
}

func decompressZstd(dst, src []byte, limit int) ([]byte, error) {
	d, _ := zstdDecoders.Get().(*zstdDecoder)
	if d == nil {
		return dst, errors.New("zstd decoder unavailable")
	}
	defer zstdDecoders.Put(d)
	d.source.Reset(src)
	if err := d.reader.Reset(&d.source); err != nil {
		return dst, fmt.Errorf("zstd: %w: %w", ErrCorrupt, err)
	}
	return readLimited(d.reader, dst, limit)
}

// Xerial snappy framing (org.xerial.snappy.SnappyOutputStream, used by the
// Java client):
//
//	magic   [8]byte  0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
//	version int32    1
//	compat  int32    1
//	chunks  { length int32; raw snappy block [length]byte }...
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = 16
	xerialBlockSize  = 32 << 10 // the Java client's block size
)

func decompressSnappy(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return appendSnappyBlock(dst, src, len(dst), limit)
	}
	if len(src) < xerialHeaderSize {
		return dst, fmt.Errorf("xerial snappy header of %d bytes: %w", len(src), ErrCorrupt)
	}
	start := len(dst)
	chunks := src[xerialHeaderSize:]
	for len(chunks) > 0 {
		if len(chunks) < 4 {
			return dst[:start], fmt.Errorf("xerial snappy chunk length cut short: %w", ErrCorrupt)
		}
		size := binary.BigEndian.Uint32(chunks)
		chunks = chunks[4:]
		if uint64(size) > uint64(len(chunks)) {
			return dst[:start], fmt.Errorf("xerial snappy chunk of %d bytes, %d left: %w", size, len(chunks), ErrCorrupt)
		}
		var err error
		if dst, err = appendSnappyBlock(dst, chunks[:size], start, limit); err != nil {
			return dst[:start], err
		}
		chunks = chunks[size:]
	}
	return dst, nil
}

// appendSnappyBlock decodes one raw snappy block onto dst, checking the
// block's declared length against what is left of the limit first.
func appendSnappyBlock(dst, block []byte, start, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return dst, fmt.Errorf("snappy block: %w: %w", ErrCorrupt, err)
	}
	if len(dst)-start+n > limit {
		return dst, tooLarge(limit)
	}
	if cap(dst)-len(dst) < n {
		dst = growTo(dst, len(dst)+n)
	}
	if _, err := snappy.Decode(dst[len(dst):len(dst)+n], block); err != nil {
		return dst, fmt.Errorf("snappy block: %w: %w", ErrCorrupt, err)
	}
	return dst[:len(dst)+n], nil
}

// growTo returns dst with capacity for at least size bytes, at least doubling.
func growTo(dst []byte, size int) []byte {
	grown := make([]byte, len(dst), max(size, 2*cap(dst)))
	copy(grown, dst)
	return grown
}

func compressSnappy(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialBlockSize)]
		src = src[len(chunk):]
		need := len(dst) + 4 + snappy.MaxEncodedLen(len(chunk))
		if cap(dst) < need {
			dst = growTo(dst, need)
		}
		encoded := snappy.Encode(dst[len(dst)+4:need], chunk)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(encoded)))
		dst = dst[:len(dst)+len(encoded)]
	}
	return dst
}

// appendWriter is an io.Writer appending to a byte slice, so stream
// compressors can write straight into the caller's buffer.
type appendWriter struct{ buf []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

type gzipEncoder struct {
	sink   appendWriter
	writer *gzip.Writer
}

// gzipEncoders holds one pool per level 1..9 (index 0 unused).
var gzipEncoders [10]sync.Pool

func compressGzip(dst, src []byte, level int) ([]byte, error) {
	if level == 0 || level == -1 { // -1 is Kafka's "default" spelling
		level = 6
	}
	if level < 1 || level > 9 {
		return dst, fmt.Errorf("gzip compression level %d outside 1..9", level)
	}
	e, _ := gzipEncoders[level].Get().(*gzipEncoder)
	if e == nil {
		e = &gzipEncoder{}
		writer, err := gzip.NewWriterLevel(&e.sink, level)
		if err != nil {
			return dst, fmt.Errorf("gzip level %d: %w", level, err)
		}
		e.writer = writer
	}
	defer gzipEncoders[level].Put(e)
	e.sink.buf = dst
	e.writer.Reset(&e.sink)
	return finishStream(e.writer, &e.sink, src)
}

// finishStream writes src through a stream compressor, closes the stream
// and hands back the sink's buffer, dropping the sink's reference to it.
func finishStream(w io.WriteCloser, sink *appendWriter, src []byte) ([]byte, error) {
	_, err := w.Write(src)
	if closeErr := w.Close(); err == nil {
		err = closeErr
	}
	out := sink.buf
	sink.buf = nil
	return out, err
}

type lz4Encoder struct {
	sink   appendWriter
	writer *lz4.Writer
}

// lz4Encoders holds one pool per Kafka level 1..17 (index 0 unused).
var lz4Encoders [18]sync.Pool

// lz4Level maps Kafka's compression.lz4.level (1..17, default 9) onto
// pierrec levels. Like Kafka's Lz4BlockOutputStream, the default level uses
// the fast compressor and any other level the high-compression one; pierrec's
// high levels stop at 9.
func lz4Level(level int) lz4.CompressionLevel {
	if level == lz4DefaultLevel {
		return lz4.Fast
	}
	levels := [...]lz4.CompressionLevel{lz4.Fast, lz4.Level1, lz4.Level2, lz4.Level3,
		lz4.Level4, lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9}
	return levels[min(level, 9)]
}

const lz4DefaultLevel = 9

func compressLZ4(dst, src []byte, level int) ([]byte, error) {
	if level == 0 {
		level = lz4DefaultLevel
	}
	if level < 1 || level > 17 {
		return dst, fmt.Errorf("lz4 compression level %d outside 1..17", level)
	}
	e, _ := lz4Encoders[level].Get().(*lz4Encoder)
	if e == nil {
		e = &lz4Encoder{}
		e.writer = lz4.NewWriter(&e.sink)
		// Kafka writes 64 KiB independent blocks (KafkaLZ4BlockOutputStream).
		err := e.writer.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.CompressionLevelOption(lz4Level(level)))
		if err != nil {
			return dst, fmt.Errorf("lz4 level %d: %w", level, err)
		}
	}
	defer lz4Encoders[level].Put(e)
	e.sink.buf = dst
	e.writer.Reset(&e.sink)
	return finishStream(e.writer, &e.sink, src)
}

// zstd encoders are safe for concurrent EncodeAll, so one per klauspost
// speed class serves everyone.
var zstdEncoders [zstd.SpeedBestCompression + 1]struct {
	once    sync.Once
	encoder *zstd.Encoder
	err     error
}

func compressZstd(dst, src []byte, level int) ([]byte, error) {
	if level == 0 {
		level = 3
	}
	if level < -131072 || level > 22 {
		return dst, fmt.Errorf("zstd compression level %d outside -131072..22", level)
	}
	speed := zstd.EncoderLevelFromZstd(level)
	slot := &zstdEncoders[speed]
	slot.once.Do(func() {
		slot.encoder, slot.err = zstd.NewWriter(nil, zstd.WithEncoderLevel(speed), zstd.WithZeroFrames(true))
	})
	if slot.err != nil {
		return dst, fmt.Errorf("zstd level %d: %w", level, slot.err)
	}
	return slot.encoder.EncodeAll(src, dst), nil
}
