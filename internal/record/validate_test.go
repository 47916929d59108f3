package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

const testNow = 1_700_000_000_050

func testOptions() ValidateOptions {
	opts := DefaultValidateOptions()
	opts.Now = testNow
	return opts
}

// smallRecords are timestamped around testNow, with keys.
func smallRecords() []RecordSpec {
	return []RecordSpec{
		{Timestamp: testNow - 10, Key: []byte("a"), Value: []byte("1")},
		{Timestamp: testNow + 5, Key: []byte("b"), Value: []byte("2")},
		{Timestamp: testNow, Key: []byte("c"), Value: []byte("3"), Headers: []RecordHeader{{Key: "h", Value: nil}}},
	}
}

// patched returns a copy of b with v written at offset; resign recomputes
// the CRC so that only the intended field is wrong.
func patched(b []byte, offset int, v any, resign bool) []byte {
	out := append([]byte{}, b...)
	switch v := v.(type) {
	case int8:
		out[offset] = byte(v)
	case int16:
		binary.BigEndian.PutUint16(out[offset:], uint16(v))
	case int32:
		binary.BigEndian.PutUint32(out[offset:], uint32(v))
	case int64:
		binary.BigEndian.PutUint64(out[offset:], uint64(v))
	}
	if resign {
		SetCRC(out)
	}
	return out
}

// rawRecordsBatch builds a batch from records with chosen offset deltas.
func rawRecordsBatch(count int32, deltas ...int32) []byte {
	var section []byte
	for _, d := range deltas {
		section = appendRecord(section, d, 0, RecordSpec{Key: []byte("k"), Value: []byte("v")})
	}
	return rawBatch(count, section)
}

func TestValidateRejects(t *testing.T) {
	good := mustBatch(t, NewBatchSpec(), smallRecords())
	zstd := mustBatch(t, codecSpec(CodecZstd), sampleRecords())
	garbledZstd := append([]byte{}, zstd...)
	for i := HeaderSize + 8; i < len(garbledZstd); i += 5 {
		garbledZstd[i] ^= 0xa5
	}
	SetCRC(garbledZstd)
	idempotent := NewBatchSpec()
	idempotent.ProducerID, idempotent.ProducerEpoch = 5, 0
	control := NewBatchSpec()
	control.Control = true
	keyless := smallRecords()
	keyless[1].Key = nil
	stale := smallRecords()
	stale[0].Timestamp, stale[2].Timestamp = testNow-2000, testNow-3000
	future := smallRecords()
	future[1].Timestamp = testNow + 3600001
	logAppend := mustBatch(t, NewBatchSpec(), smallRecords())
	SetLogAppendTime(logAppend, testNow)

	cases := []struct {
		name         string
		records      []byte
		opts         func(*ValidateOptions)
		want         *kerr.Error
		reason       string
		recordErrors []int32
	}{
		{name: "no bytes", records: nil, want: kerr.InvalidRecord, reason: "one record batch"},
		{name: "less than a length field", records: good[:11], want: kerr.InvalidRecord, reason: "one record batch"},
		{name: "header cut short", records: good[:40], want: kerr.InvalidRecord, reason: "cut short"},
		{name: "batch cut short", records: good[:len(good)-1], want: kerr.InvalidRecord, reason: "were sent"},
		{name: "length below header", records: patched(good, offsetBatchLength, int32(20), false), want: kerr.CorruptMessage, reason: "below"},
		{name: "magic 1", records: patched(good, offsetMagic, int8(1), false), want: kerr.InvalidRecord, reason: "magic version 2"},
		{name: "magic 7", records: patched(good, offsetMagic, int8(7), false), want: kerr.CorruptMessage, reason: "invalid magic"},
		{name: "two batches", records: append(append([]byte{}, good...), good...), want: kerr.InvalidRecord, reason: "exactly one record batch"},
		{name: "trailing bytes", records: append(append([]byte{}, good...), 0, 0), want: kerr.InvalidRecord, reason: "exactly one record batch"},
		{name: "base offset set", records: patched(good, offsetBaseOffset, int64(5), false), want: kerr.InvalidRecord, reason: "baseOffset"},
		{name: "too large", records: good, opts: func(o *ValidateOptions) { o.MaxMessageBytes = int32(len(good) - 1) }, want: kerr.MessageTooLarge, reason: "exceeds"},
		{name: "bad crc", records: patched(good, offsetCRC, int32(12345), false), want: kerr.CorruptMessage, reason: "crc"},
		{name: "payload flipped", records: patched(good, len(good)-1, int8(99), false), want: kerr.CorruptMessage, reason: "crc"},
		{name: "negative offset range", records: patched(good, offsetLastOffsetDelta, int32(-1), true), want: kerr.InvalidRecord, reason: "invalid offset range"},
		{name: "zero count", records: patched(good, offsetNumRecords, int32(0), true), want: kerr.InvalidRecord, reason: "reported count"},
		{name: "count disagrees with offsets", records: patched(good, offsetNumRecords, int32(2), true), want: kerr.InvalidRecord, reason: "inconsistent"},
		{name: "control batch", records: mustBatch(t, control, smallRecords()), want: kerr.InvalidRecord, reason: "control records"},
		{name: "producer id without sequence", records: mustBatch(t, idempotent, smallRecords()), want: kerr.InvalidRecord, reason: "sequence number -1"},
		{name: "unknown codec", records: patched(good, offsetAttributes, int16(5), true), want: kerr.CorruptMessage, reason: "codec"},
		{name: "offset deltas skip", records: rawRecordsBatch(2, 0, 2), want: kerr.InvalidRecord, reason: "offset delta 2"},
		{name: "offset deltas repeat", records: rawRecordsBatch(2, 0, 0), want: kerr.InvalidRecord, reason: "offset delta 0"},
		{name: "fewer records than declared", records: rawRecordsBatch(3, 0, 1), want: kerr.InvalidRecord, reason: "record 2"},
		{name: "more records than declared", records: rawRecordsBatch(1, 0, 1), want: kerr.InvalidRecord, reason: "follow the last"},
		{name: "malformed record", records: rawBatch(1, []byte{12, 0, 0, 0, 1, 1, 2, 1, 1}), want: kerr.InvalidRecord, reason: "header key"},
		{name: "garbled zstd", records: garbledZstd, want: kerr.CorruptMessage, reason: "zstd"},
		{name: "decompression bomb", records: zstd, opts: func(o *ValidateOptions) { o.MaxDecompressedBytes = 64 << 10 }, want: kerr.MessageTooLarge, reason: "size limit"},
		{name: "keyless record on compacted topic", records: mustBatch(t, NewBatchSpec(), keyless), opts: func(o *ValidateOptions) { o.Compacted = true },
			want: kerr.InvalidRecord, reason: "1 record errors", recordErrors: []int32{1}},
		{name: "timestamps too old", records: mustBatch(t, NewBatchSpec(), stale), opts: func(o *ValidateOptions) { o.TimestampBeforeMaxMs = 1000 },
			want: kerr.InvalidTimestamp, reason: "invalid timestamp", recordErrors: []int32{0, 2}},
		{name: "timestamp too new", records: mustBatch(t, NewBatchSpec(), future), want: kerr.InvalidTimestamp, reason: "invalid timestamp", recordErrors: []int32{1}},
		{name: "producer claims LogAppendTime", records: logAppend, opts: func(o *ValidateOptions) { o.LogAppendTime = true },
			want: kerr.InvalidTimestamp, reason: "invalid timestamp", recordErrors: []int32{0, 1, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			_, err := Validate(tc.records, opts)
			var verr *Error
			if !errors.As(err, &verr) {
				t.Fatalf("Validate = %v, want a *record.Error", err)
			}
			if verr.Kafka != tc.want || !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %s", err, tc.want.Message)
			}
			if !strings.Contains(verr.Reason, tc.reason) {
				t.Fatalf("reason %q does not mention %q", verr.Reason, tc.reason)
			}
			var indexes []int32
			for _, re := range verr.RecordErrors {
				indexes = append(indexes, re.BatchIndex)
			}
			if !slicesEqual(indexes, tc.recordErrors) {
				t.Fatalf("record errors at %v, want %v (%+v)", indexes, tc.recordErrors, verr.RecordErrors)
			}
		})
	}
}

func slicesEqual(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValidateAcceptsInPlace(t *testing.T) {
	spec := NewBatchSpec()
	spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence, spec.Transactional = 77, 3, 10, true
	batch := mustBatch(t, spec, smallRecords())
	// A producer that got its max timestamp wrong: the broker corrects it.
	batch = patched(batch, offsetMaxTimestamp, int64(1), true)
	v, err := Validate(batch, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if &v.Batch[0] != &batch[0] || v.Recompressed {
		t.Fatal("a batch in the topic's codec must be kept in place")
	}
	want := Validated{Batch: v.Batch, Codec: CodecNone, NumRecords: 3, MaxTimestamp: testNow + 5, MaxTimestampOffsetDelta: 1,
		LogAppendTime: -1, ProducerID: 77, ProducerEpoch: 3, BaseSequence: 10, Transactional: true}
	if !validatedEqual(v, want) {
		t.Fatalf("Validate =\n %+v\nwant\n %+v", v, want)
	}
	h, _ := ParseHeader(v.Batch)
	if h.MaxTimestamp != testNow+5 || VerifyCRC(v.Batch) != nil {
		t.Fatalf("max timestamp %d (crc %v), want the corrected %d", h.MaxTimestamp, VerifyCRC(v.Batch), testNow+5)
	}
}

func validatedEqual(a, b Validated) bool {
	a.Batch, b.Batch = nil, nil
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

func TestValidateNoTimestampSkipsBounds(t *testing.T) {
	records := smallRecords()
	for i := range records {
		records[i].Timestamp = NoTimestamp
	}
	opts := testOptions()
	opts.TimestampBeforeMaxMs, opts.TimestampAfterMaxMs = 0, 0
	v, err := Validate(mustBatch(t, NewBatchSpec(), records), opts)
	if err != nil {
		t.Fatal(err)
	}
	if v.MaxTimestamp != NoTimestamp || v.MaxTimestampOffsetDelta != -1 {
		t.Fatalf("max timestamp %d at delta %d, want -1 at -1", v.MaxTimestamp, v.MaxTimestampOffsetDelta)
	}
}

func TestValidateLogAppendTime(t *testing.T) {
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			records := smallRecords()
			records[0].Timestamp = 5 // far outside any bound: ignored with LogAppendTime
			batch := mustBatch(t, codecSpec(codec), records)
			opts := testOptions()
			opts.LogAppendTime = true
			opts.TimestampBeforeMaxMs = 0
			v, err := Validate(batch, opts)
			if err != nil {
				t.Fatal(err)
			}
			if v.LogAppendTime != testNow || v.MaxTimestamp != testNow || v.MaxTimestampOffsetDelta != 0 {
				t.Fatalf("got append time %d, max %d at %d", v.LogAppendTime, v.MaxTimestamp, v.MaxTimestampOffsetDelta)
			}
			if err := VerifyCRC(v.Batch); err != nil {
				t.Fatal(err)
			}
			var it Iterator
			if err := it.Reset(v.Batch); err != nil || !it.Header().IsLogAppendTime() {
				t.Fatalf("reset %v, log append time flag %v", err, it.Header().IsLogAppendTime())
			}
			for rec, ok := it.Next(); ok; rec, ok = it.Next() {
				if rec.Timestamp != testNow {
					t.Fatalf("record %d timestamp %d, want %d", rec.OffsetDelta, rec.Timestamp, int64(testNow))
				}
			}
		})
	}
}

// TestValidateRecompresses re-encodes between every pair of codecs and
// checks that records and producer fields survive.
func TestValidateRecompresses(t *testing.T) {
	records := sampleRecords()
	for i := range records {
		records[i].Timestamp = testNow - int64(i)
	}
	for _, from := range allCodecs {
		for _, to := range allCodecs {
			t.Run(from.String()+"->"+to.String(), func(t *testing.T) {
				spec := codecSpec(from)
				spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = 9, 1, 100
				batch := mustBatch(t, spec, records)
				original := append([]byte{}, batch...)
				opts := testOptions()
				opts.TargetCodec = to
				v, err := Validate(batch, opts)
				if err != nil {
					t.Fatal(err)
				}
				if v.Recompressed != (from != to) || v.Codec != to {
					t.Fatalf("recompressed %v to %s", v.Recompressed, v.Codec)
				}
				if v.Recompressed && !bytes.Equal(batch, original) {
					t.Fatal("recompression modified the input")
				}
				checkBatchHolds(t, v.Batch, to, records)
				h, _ := ParseHeader(v.Batch)
				if h.ProducerID != 9 || h.ProducerEpoch != 1 || h.BaseSequence != 100 || h.MaxTimestamp != testNow {
					t.Fatalf("header after recompression: %+v", h)
				}
				again := testOptions()
				again.TargetCodec = to
				if _, err := Validate(append([]byte{}, v.Batch...), again); err != nil {
					t.Fatalf("re-validating the output: %v", err)
				}
			})
		}
	}
}

func checkBatchHolds(t *testing.T, batch []byte, codec Codec, records []RecordSpec) {
	t.Helper()
	if err := VerifyCRC(batch); err != nil {
		t.Fatal(err)
	}
	var it Iterator
	if err := it.Reset(batch); err != nil {
		t.Fatal(err)
	}
	if it.Header().Codec() != codec {
		t.Fatalf("codec %s, want %s", it.Header().Codec(), codec)
	}
	i := 0
	for rec, ok := it.Next(); ok; rec, ok = it.Next() {
		if got, want := describeRecord(rec), describeSpec(int64(i), records[i]); got != want {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
		i++
	}
	if it.Err() != nil || i != len(records) {
		t.Fatalf("read %d of %d records: %v", i, len(records), it.Err())
	}
}

func TestValidateUncompressedDoesNotAllocate(t *testing.T) {
	batch := mustBatch(t, NewBatchSpec(), kibRecords(100))
	opts := testOptions()
	opts.LogAppendTime = true
	work := make([]byte, len(batch))
	allocs := testing.AllocsPerRun(100, func() {
		copy(work, batch) // Validate stamps the batch in place
		if _, err := Validate(work, opts); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Validate, want 0", allocs)
	}
}

// kibRecords returns n records of 1 KiB values, timestamped at testNow.
func kibRecords(n int) []RecordSpec {
	value := bytes.Repeat([]byte("0123456789abcdef"), 64)
	records := make([]RecordSpec, n)
	for i := range records {
		records[i] = RecordSpec{Timestamp: testNow, Key: []byte("key"), Value: value}
	}
	return records
}

func FuzzValidate(f *testing.F) {
	for _, codec := range allCodecs {
		f.Add(mustBatch(f, codecSpec(codec), smallRecords()), false, int8(-1), true)
	}
	f.Add(rawRecordsBatch(2, 0, 2), true, int8(CodecLZ4), false)
	f.Fuzz(func(t *testing.T, records []byte, logAppendTime bool, target int8, reframe bool) {
		if reframe && len(records) >= HeaderSize {
			// Fix the length and CRC so mutations reach the records.
			binary.BigEndian.PutUint32(records[offsetBatchLength:], uint32(len(records)-LogOverhead))
			SetCRC(records)
		}
		opts := testOptions()
		opts.LogAppendTime = logAppendTime
		opts.TargetCodec = Codec(target%5 - 1)
		opts.MaxDecompressedBytes = 1 << 20
		v, err := Validate(records, opts)
		if err != nil {
			var verr *Error
			if !errors.As(err, &verr) || verr.Kafka == nil {
				t.Fatalf("error %v is not a *record.Error with a Kafka code", err)
			}
			return
		}
		// What Validate accepts must be a batch that validates again (on a
		// CreateTime topic: a LogAppendTime topic refuses producer-stamped
		// batches, and rightly so).
		opts.TargetCodec = CodecProducer
		opts.LogAppendTime = false
		if _, err := Validate(append([]byte{}, v.Batch...), opts); err != nil {
			t.Fatalf("output does not re-validate: %v", err)
		}
	})
}

// TestValidateConcurrent shares the codec pools between goroutines; run
// with -race.
func TestValidateConcurrent(t *testing.T) {
	batches := make([][]byte, len(allCodecs))
	for i, codec := range allCodecs {
		batches[i] = mustBatch(t, codecSpec(codec), smallRecords())
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for i := range 20 {
				batch := append([]byte{}, batches[(g+i)%len(batches)]...)
				opts := testOptions()
				opts.TargetCodec = allCodecs[i%len(allCodecs)]
				var v Validated
				if v, err = Validate(batch, opts); err == nil && v.NumRecords != 3 {
					err = fmt.Errorf("validated %d records, want 3", v.NumRecords)
				}
				if err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
