package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// compactConfig is a small-segment, compact-only config that compacts at
// any dirty ratio.
func compactConfig() Config {
	cfg := testConfig()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	cfg.Compact, cfg.Delete = true, false
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetentionMs = 0
	return cfg
}

// keyed is one record as appended (or as read back).
type keyed struct {
	offset    int64
	timestamp int64
	key       string
	value     string
	tombstone bool
}

// model remembers every record appended to a compacted log.
type model struct {
	records map[int64]keyed
	latest  map[string]int64 // key → offset of its latest record
}

func newModel() *model { return &model{records: map[int64]keyed{}, latest: map[string]int64{}} }

// appendKeyed appends one batch of records (value "" with tombstone set
// encodes a null value) compressed with codec, and records them.
func (m *model) appendKeyed(t testing.TB, l *Log, codec record.Codec, recs []keyed) AppendResult {
	t.Helper()
	spec := record.NewBatchSpec()
	spec.Codec = codec
	specs := make([]record.RecordSpec, len(recs))
	for i, r := range recs {
		specs[i] = record.RecordSpec{Timestamp: r.timestamp, Key: []byte(r.key)}
		if !r.tombstone {
			specs[i].Value = []byte(r.value)
		}
	}
	batch, err := record.AppendBatch(nil, spec, specs)
	if err != nil {
		t.Fatal(err)
	}
	res := mustAppend(t, l, batch)
	for i, r := range recs {
		r.offset = res.BaseOffset + int64(i)
		if r.tombstone {
			r.value = ""
		}
		m.records[r.offset] = r
		m.latest[r.key] = r.offset
	}
	return res
}

// appendRandom appends n records over keys key-0..key-(keys-1) in batches
// of 1..8 records with random codecs, tombstoning about one in tombstoneIn.
func (m *model) appendRandom(t testing.TB, l *Log, rng *rand.Rand, n, keys, tombstoneIn int, ts int64) {
	t.Helper()
	codecs := []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd}
	for n > 0 {
		size := min(n, 1+rng.IntN(8))
		recs := make([]keyed, size)
		for i := range recs {
			recs[i] = keyed{timestamp: ts, key: fmt.Sprintf("key-%d", rng.IntN(keys)), value: fmt.Sprintf("value-%d-%d", ts, rng.Int())}
			recs[i].tombstone = tombstoneIn > 0 && rng.IntN(tombstoneIn) == 0
			ts++
		}
		m.appendKeyed(t, l, codecs[rng.IntN(len(codecs))], recs)
		n -= size
	}
}

// readRecords reads the whole log from its start and returns its records,
// checking CRCs and that offsets only increase. It also returns the batch
// headers.
func readRecords(t testing.TB, l *Log) ([]keyed, []record.Header) {
	t.Helper()
	var out []keyed
	var headers []record.Header
	var it record.Iterator
	end := l.LogEndOffset()
	for offset := l.LogStartOffset(); offset < end; {
		chunk, err := l.Read(offset, 1<<16, end, true)
		if err != nil {
			t.Fatalf("read at %d: %v", offset, err)
		}
		if len(chunk) == 0 {
			t.Fatalf("empty read at %d below the log end %d", offset, end)
		}
		for pos := 0; pos < len(chunk); {
			h, err := record.ParseHeader(chunk[pos:])
			if err != nil || h.Size() > len(chunk)-pos {
				t.Fatalf("bad batch at byte %d of a read at %d: %v", pos, offset, err)
			}
			if err := record.VerifyCRC(chunk[pos : pos+h.Size()]); err != nil {
				t.Fatalf("batch at offset %d: %v", h.BaseOffset, err)
			}
			if n := len(headers); n > 0 && h.BaseOffset <= headers[n-1].LastOffset() {
				t.Fatalf("batch at %d follows a batch ending at %d", h.BaseOffset, headers[n-1].LastOffset())
			}
			headers = append(headers, h)
			out = appendBatchRecords(t, &it, out, chunk[pos:pos+h.Size()])
			pos += h.Size()
			offset = h.LastOffset() + 1
		}
	}
	return out, headers
}

func appendBatchRecords(t testing.TB, it *record.Iterator, out []keyed, batch []byte) []keyed {
	t.Helper()
	if err := it.Reset(batch); err != nil {
		t.Fatal(err)
	}
	for rec, ok := it.Next(); ok; rec, ok = it.Next() {
		out = append(out, keyed{offset: rec.Offset, timestamp: rec.Timestamp, key: string(rec.Key), value: string(rec.Value), tombstone: rec.Value == nil})
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkCompacted checks the log against the model: every record read is
// one appended, at its offset; every key's latest value is there; and
// below cleanedTo no record is followed by a later one of its key below
// cleanedTo (compaction kept only the latest). Tombstones that are the
// latest of their key may or may not be there (delete.retention.ms).
func (m *model) checkCompacted(t testing.TB, l *Log, cleanedTo int64) []keyed {
	t.Helper()
	recs, _ := readRecords(t, l)
	present := map[int64]bool{}
	lastBelow := map[string]int64{}
	for _, r := range recs {
		want, ok := m.records[r.offset]
		if !ok || want.key != r.key || want.value != r.value || want.tombstone != r.tombstone || want.timestamp != r.timestamp {
			t.Fatalf("offset %d holds %+v, appended %+v (found %v)", r.offset, r, want, ok)
		}
		present[r.offset] = true
		if r.offset < cleanedTo {
			if prev, seen := lastBelow[r.key]; seen {
				t.Fatalf("key %s has records at %d and %d, both below the cleaned offset %d", r.key, prev, r.offset, cleanedTo)
			}
			lastBelow[r.key] = r.offset
		}
	}
	for key, offset := range m.latest {
		if !present[offset] && !m.records[offset].tombstone {
			t.Fatalf("key %s lost its latest value (offset %d)", key, offset)
		}
	}
	return recs
}

// forceRoll seals the active segment so that it becomes cleanable.
func forceRoll(t testing.TB, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.activeLocked().size == 0 {
		return
	}
	if err := l.rollLocked(l.logEndOffset); err != nil {
		t.Fatal(err)
	}
}

func mustCompact(t testing.TB, l *Log, now int64) CompactResult {
	t.Helper()
	res, err := l.Compact(time.UnixMilli(now))
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	return res
}

func segmentCount(l *Log) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segments)
}

// mustSplitGaps is mustSplit for a compacted log: offsets increase but
// may skip.
func mustSplitGaps(t testing.TB, b []byte) []record.Header {
	t.Helper()
	var headers []record.Header
	for pos := 0; pos < len(b); {
		h, err := record.ParseHeader(b[pos:])
		if err != nil || h.Size() > len(b)-pos {
			t.Fatalf("batch at byte %d: %v", pos, err)
		}
		if err := record.VerifyCRC(b[pos : pos+h.Size()]); err != nil {
			t.Fatalf("batch at byte %d: %v", pos, err)
		}
		if n := len(headers); n > 0 && h.BaseOffset <= headers[n-1].LastOffset() {
			t.Fatalf("batch at byte %d starts at offset %d after %d", pos, h.BaseOffset, headers[n-1].LastOffset())
		}
		headers = append(headers, h)
		pos += h.Size()
	}
	return headers
}
