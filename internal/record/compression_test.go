package record

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
)

func compressibleBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := [][]byte{[]byte("kafka "), []byte("sluice "), []byte("record "), []byte("batch ")}
	var b []byte
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
	}
	return b[:n]
}

func TestCompressRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 100, xerialBlockSize, xerialBlockSize + 1, 300_000}
	for _, codec := range allCodecs {
		for _, size := range sizes {
			src := compressibleBytes(size)
			prefix := []byte("prefix")
			compressed, err := Compress(codec, append([]byte{}, prefix...), src, 0)
			if err != nil {
				t.Fatalf("%s %d: compress: %v", codec, size, err)
			}
			if !bytes.HasPrefix(compressed, prefix) {
				t.Fatalf("%s %d: Compress must append to dst", codec, size)
			}
			out, err := Decompress(codec, []byte("x"), compressed[len(prefix):], 0)
			if err != nil {
				t.Fatalf("%s %d: decompress: %v", codec, size, err)
			}
			if !bytes.Equal(out[1:], src) || out[0] != 'x' {
				t.Fatalf("%s %d: round trip changed the bytes", codec, size)
			}
		}
	}
}

func TestCompressLevels(t *testing.T) {
	src := compressibleBytes(50_000)
	valid := map[Codec][]int{CodecGzip: {-1, 1, 9}, CodecLZ4: {1, 9, 17}, CodecZstd: {-5, 1, 3, 7, 22}}
	invalid := map[Codec][]int{CodecGzip: {10, -2}, CodecLZ4: {18, -1}, CodecZstd: {23, -131073}}
	for codec, levels := range valid {
		for _, level := range levels {
			out, err := Compress(codec, nil, src, level)
			if err != nil {
				t.Fatalf("%s level %d: %v", codec, level, err)
			}
			back, err := Decompress(codec, nil, out, 0)
			if err != nil || !bytes.Equal(back, src) {
				t.Fatalf("%s level %d: round trip failed: %v", codec, level, err)
			}
		}
	}
	for codec, levels := range invalid {
		for _, level := range levels {
			if _, err := Compress(codec, nil, src, level); err == nil {
				t.Fatalf("%s level %d: want an error", codec, level)
			}
		}
	}
}

// TestSnappyFormats checks our xerial framing against klauspost's
// independent xerial implementation, and that raw blocks decode too.
func TestSnappyFormats(t *testing.T) {
	src := compressibleBytes(100_000) // four xerial chunks
	ours, _ := Compress(CodecSnappy, nil, src, 0)
	if !bytes.HasPrefix(ours, xerialMagic) {
		t.Fatal("snappy output lacks the xerial header the Java client writes")
	}
	if back, err := xerial.Decode(ours); err != nil || !bytes.Equal(back, src) {
		t.Fatalf("xerial.Decode of our output: %v", err)
	}
	theirs := xerial.Encode(nil, src)
	if back, err := Decompress(CodecSnappy, nil, theirs, 0); err != nil || !bytes.Equal(back, src) {
		t.Fatalf("decoding xerial.Encode output: %v", err)
	}
	raw := snappy.Encode(nil, src)
	if back, err := Decompress(CodecSnappy, nil, raw, 0); err != nil || !bytes.Equal(back, src) {
		t.Fatalf("decoding a raw snappy block: %v", err)
	}
}

func TestDecompressLimit(t *testing.T) {
	src := compressibleBytes(200_000)
	for _, codec := range allCodecs {
		compressed, _ := Compress(codec, nil, src, 0)
		if _, err := Decompress(codec, nil, compressed, len(src)); err != nil {
			t.Fatalf("%s: exactly at the limit: %v", codec, err)
		}
		buf := make([]byte, 3, 10)
		out, err := Decompress(codec, buf, compressed, len(src)-1)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%s: one byte over the limit: %v, want ErrTooLarge", codec, err)
		}
		if len(out) != 3 {
			t.Fatalf("%s: failed Decompress returned %d bytes, want dst's 3", codec, len(out))
		}
	}
}

func TestDecompressBomb(t *testing.T) {
	zeros := make([]byte, 16<<20)
	for _, codec := range allCodecs[1:] {
		bomb, _ := Compress(codec, nil, zeros, 0)
		if _, err := Decompress(codec, nil, bomb, 1<<20); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%s: %d-byte bomb: %v, want ErrTooLarge", codec, len(bomb), err)
		}
	}
}

func TestDecompressMalformed(t *testing.T) {
	src := compressibleBytes(10_000)
	for _, codec := range allCodecs[1:] {
		good, _ := Compress(codec, nil, src, 0)
		cases := map[string][]byte{
			"empty":     {},
			"truncated": good[:len(good)/2],
			"garbage":   bytes.Repeat([]byte{0xde, 0xad}, 50),
		}
		for name, input := range cases {
			if codec != CodecGzip && name == "empty" {
				// Empty lz4 and zstd streams decode to nothing, and an
				// empty section then fails record iteration instead.
				continue
			}
			if _, err := Decompress(codec, nil, input, 0); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s %s: %v, want ErrCorrupt", codec, name, err)
			}
		}
	}
	xerialCut := append(append([]byte{}, xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1)
	if _, err := Decompress(CodecSnappy, nil, xerialCut, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("xerial chunk longer than input: %v, want ErrCorrupt", err)
	}
	if _, err := Decompress(Codec(6), nil, []byte{1}, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown codec: %v, want ErrCorrupt", err)
	}
}

func TestParseCodec(t *testing.T) {
	for name, want := range map[string]Codec{"producer": CodecProducer, "uncompressed": CodecNone, "none": CodecNone,
		"GZIP": CodecGzip, "snappy": CodecSnappy, "lz4": CodecLZ4, "zstd": CodecZstd} {
		if got, err := ParseCodec(name); err != nil || got != want {
			t.Errorf("ParseCodec(%q) = %s, %v; want %s", name, got, err, want)
		}
	}
	if _, err := ParseCodec("brotli"); err == nil {
		t.Error("ParseCodec(brotli) must fail")
	}
}
