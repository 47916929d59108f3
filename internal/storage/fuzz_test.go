package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

// fuzzSeed returns the files of a small healthy log: its one segment and
// that segment's two indexes.
func fuzzSeed(f *testing.F) (segment, index, timeIndex []byte) {
	fsys := newMemFS(f)
	cfg := testConfig()
	cfg.IndexIntervalBytes = 100
	l := mustOpen(f, fsys, "t-0", cfg, Options{})
	for i := range 8 {
		mustAppend(f, l, testBatch(f, 1+i%3, int64(100*i), 60, byte(i)))
	}
	l.Close()
	read := func(suffix string) []byte {
		file, _ := fsys.Open(segmentFileName("t-0", 0, suffix))
		size, _ := file.Size()
		b := make([]byte, size)
		file.ReadAt(b, 0)
		file.Close()
		return b
	}
	return read(logSuffix), read(indexSuffix), read(timeIndexSuffix)
}

// FuzzRecovery opens a log from arbitrary segment and index bytes. It must
// never panic; after an unclean open, what it kept must be a prefix of the
// segment made of whole, checksummed, contiguous batches, readable at every
// offset.
func FuzzRecovery(f *testing.F) {
	segment, index, timeIndex := fuzzSeed(f)
	f.Add(segment, index, timeIndex, false)
	f.Add(segment, index, timeIndex, true)
	f.Add(segment[:len(segment)-7], index, timeIndex, false)
	f.Add(segment[:len(segment)-7], index, timeIndex, true)
	f.Add(append(bytes.Clone(segment), make([]byte, 100)...), []byte{}, []byte{1}, false)
	f.Add(corruptCopy(segment, 200), index, timeIndex, false)
	f.Add([]byte{}, []byte{}, []byte{}, true)
	f.Fuzz(func(t *testing.T, segment, index, timeIndex []byte, clean bool) {
		fsys := vfs.NewMem()
		fsys.MkdirAll("t-0")
		for suffix, data := range map[string][]byte{logSuffix: segment, indexSuffix: index, timeIndexSuffix: timeIndex} {
			file, _ := fsys.Create(segmentFileName("t-0", 0, suffix))
			file.Write(data)
			file.Close()
		}
		l, err := Open(fsys, "t-0", testConfig(), Options{CleanShutdown: clean})
		if err != nil {
			return
		}
		defer l.Close()
		exerciseReads(t, l)
		if clean {
			return // a clean shutdown vouches for the bytes; nothing is checked
		}
		kept := readAll(t, l)
		if !bytes.HasPrefix(segment, kept) {
			t.Fatalf("recovery kept %d bytes that are not a prefix of the segment", len(kept))
		}
		stored, _ := fsys.Stat(filepath.Join("t-0", "00000000000000000000.log"))
		if stored.Size != int64(len(kept)) {
			t.Fatalf("segment is %d bytes, reads cover %d", stored.Size, len(kept))
		}
	})
}

// exerciseReads calls every read path over the log's range.
func exerciseReads(t *testing.T, l *Log) {
	start, end := l.LogStartOffset(), l.LogEndOffset()
	for offset := start; offset < end && offset < start+64; offset++ {
		if _, err := l.Read(offset, 1000, end, true); err != nil && !isCorruption(err) && !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read at %d: %v", offset, err)
		}
	}
	l.OffsetForTimestamp(0)
	l.OffsetForTimestamp(400)
	l.MaxTimestamp()
}

// FuzzIndexDecode feeds arbitrary bytes to the index decoders and lookups.
func FuzzIndexDecode(f *testing.F) {
	_, index, timeIndex := fuzzSeed(f)
	f.Add(index, int64(10_000), int64(-5))
	f.Add(timeIndex, int64(30), int64(250))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1}, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, bound, target int64) {
		if offsets, err := decodeOffsetIndex(b, bound); err == nil {
			position := lookupPosition(offsets, target)
			if position != 0 && (position >= bound || !containsPosition(offsets, position)) {
				t.Fatalf("lookup %d gave position %d", target, position)
			}
		}
		if times, err := decodeTimeIndex(b, bound); err == nil {
			if relative := lookupTime(times, target); relative < 0 || (relative > 0 && relative >= bound) {
				t.Fatalf("time lookup %d gave relative offset %d", target, relative)
			}
		}
	})
}

func containsPosition(entries []offsetEntry, position int64) bool {
	for _, e := range entries {
		if int64(e.position) == position {
			return true
		}
	}
	return false
}
