package record

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ValidateOptions are the topic and broker settings a produced batch is
// checked against. Start from DefaultValidateOptions and set Now.
type ValidateOptions struct {
	// MaxMessageBytes is max.message.bytes: a larger batch (header
	// included) gets MESSAGE_TOO_LARGE. Zero or less means no limit.
	MaxMessageBytes int32
	// LogAppendTime is message.timestamp.type=LogAppendTime: the broker
	// stamps the batch with Now instead of checking producer timestamps.
	LogAppendTime bool
	// Now is the broker's clock in ms, for LogAppendTime and the bounds.
	Now int64
	// TimestampBeforeMaxMs and TimestampAfterMaxMs are
	// message.timestamp.before.max.ms and message.timestamp.after.max.ms:
	// with CreateTime, a record timestamp older than Now-before or newer
	// than Now+after gets INVALID_TIMESTAMP.
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// Compacted is cleanup.policy containing compact: records need keys.
	Compacted bool
	// TargetCodec is the topic's compression.type. CodecProducer keeps the
	// producer's codec; any other codec re-encodes batches that differ.
	TargetCodec Codec
	// CompressionLevel is compression.<codec>.level for TargetCodec; 0
	// picks Kafka's default.
	CompressionLevel int
	// MaxDecompressedBytes bounds a compressed batch's inflated records;
	// beyond it the batch gets MESSAGE_TOO_LARGE. Zero or less means
	// DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int
}

// DefaultValidateOptions returns Kafka 4's defaults: message.max.bytes
// 1048588, CreateTime, no lower timestamp bound, at most one hour ahead,
// compression.type=producer.
func DefaultValidateOptions() ValidateOptions {
	return ValidateOptions{
		MaxMessageBytes:      1048588,
		TimestampBeforeMaxMs: math.MaxInt64,
		TimestampAfterMaxMs:  3600000,
		TargetCodec:          CodecProducer,
	}
}

// Validated describes a batch that passed validation.
type Validated struct {
	// Batch is the batch to append: the input, possibly updated in place
	// (max timestamp, LogAppendTime, CRC), or a new buffer when the topic's
	// codec differs from the producer's. Its base offset and partition
	// leader epoch are still the producer's (0 and -1): the log sets them.
	Batch        []byte
	Recompressed bool  // Batch is a re-encoded copy
	Codec        Codec // codec of Batch
	NumRecords   int32
	// MaxTimestamp is the largest record timestamp (or Now with
	// LogAppendTime); MaxTimestampOffsetDelta is the offset delta of the
	// first record carrying it.
	MaxTimestamp            int64
	MaxTimestampOffsetDelta int32
	// LogAppendTime is the time the broker stamped, or -1 with CreateTime:
	// the produce response's log_append_time_ms.
	LogAppendTime int64
	// The producer fields, for idempotence and transaction checks.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Transactional bool
}

// Error is a produce validation failure. Kafka is the error code the
// partition's produce response carries; Reason says what was wrong;
// RecordErrors lists the offending records (the response's record_errors)
// when the failure is about individual records.
type Error struct {
	Kafka        *kerr.Error
	Reason       string
	RecordErrors []RecordError
}

// RecordError blames one record by its index in the batch.
type RecordError struct {
	BatchIndex int32
	Message    string
}

func (e *Error) Error() string { return e.Kafka.Message + ": " + e.Reason }

// Unwrap lets errors.Is(err, kerr.InvalidRecord) and friends match.
func (e *Error) Unwrap() error { return e.Kafka }

func validationError(code *kerr.Error, format string, args ...any) *Error {
	return &Error{Kafka: code, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks a produced partition payload as Kafka's broker does
// (ProduceRequest.validateRecords, UnifiedLog.analyzeAndValidateRecords and
// LogValidator for magic v2 from a client): exactly one v2 batch, base
// offset 0, size, CRC, a consistent offset range and record count, no
// control batch, a sequence when a producer ID is set, every record well
// formed, keys on compacted topics, timestamps within bounds. It then
// stamps LogAppendTime or corrects the max timestamp in place, and
// re-encodes the batch when the topic's codec asks for another.
//
// Sluice is stricter than Kafka in two places: bytes after the batch are
// rejected (Kafka silently drops a partial trailing batch) and offset deltas
// must be 0..n-1 (Kafka rewrites such compressed batches and stores
// uncompressed ones as sent).
//
// Failures are *Error. Validation walks every record without allocating
// per record; records must not be used concurrently.
func Validate(records []byte, opts ValidateOptions) (Validated, error) {
	h, err := frameSingleBatch(records)
	if err != nil {
		return Validated{}, err
	}
	if err := checkBatch(records, h, opts); err != nil {
		return Validated{}, err
	}
	it := iterators.Get().(*Iterator)
	defer releaseIterator(it)
	scan, err := scanRecords(it, records, h, opts)
	if err != nil {
		return Validated{}, err
	}
	return finish(records, h, it.section, scan, opts)
}

// frameSingleBatch checks that records holds exactly one complete v2
// batch and parses its header.
func frameSingleBatch(records []byte) (Header, error) {
	if len(records) < LogOverhead {
		return Header{}, validationError(kerr.InvalidRecord, "produce requests must contain one record batch per partition, got %d bytes", len(records))
	}
	h, err := ParseHeader(records)
	if errors.Is(err, ErrShortBatch) {
		return h, validationError(kerr.InvalidRecord, "record batch cut short: %d bytes sent", len(records))
	}
	if err != nil {
		return h, validationError(kerr.CorruptMessage, "%v", err)
	}
	if h.Size() > len(records) {
		return h, validationError(kerr.InvalidRecord, "record batch claims %d bytes but %d were sent", h.Size(), len(records))
	}
	if h.Magic != CurrentMagic {
		return h, badMagic(h.Magic)
	}
	if extra := len(records) - h.Size(); extra > 0 {
		return h, validationError(kerr.InvalidRecord, "produce requests must contain exactly one record batch per partition; %d bytes follow the first batch", extra)
	}
	return h, nil
}

func badMagic(magic int8) *Error {
	if magic == 0 || magic == 1 {
		return validationError(kerr.InvalidRecord, "produce requests are only allowed to contain record batches with magic version 2, got %d", magic)
	}
	return validationError(kerr.CorruptMessage, "invalid magic %d in record batch", magic)
}

// checkBatch applies the header-level checks in Kafka's order.
func checkBatch(batch []byte, h Header, opts ValidateOptions) error {
	if h.BaseOffset != 0 {
		return validationError(kerr.InvalidRecord, "the baseOffset of the record batch should be 0, but it is %d", h.BaseOffset)
	}
	if opts.MaxMessageBytes > 0 && h.Size() > int(opts.MaxMessageBytes) {
		return validationError(kerr.MessageTooLarge, "the record batch size is %d bytes which exceeds the maximum configured value of %d", h.Size(), opts.MaxMessageBytes)
	}
	if err := VerifyCRC(batch); err != nil {
		return validationError(kerr.CorruptMessage, "record is corrupt: %v", err)
	}
	return checkHeaderFields(h)
}

// checkHeaderFields is LogValidator.validateBatch for client appends.
func checkHeaderFields(h Header) error {
	countFromOffsets := int64(h.LastOffsetDelta) + 1
	switch {
	case countFromOffsets <= 0:
		return validationError(kerr.InvalidRecord, "batch has an invalid offset range: [%d, %d]", h.BaseOffset, h.LastOffset())
	case h.NumRecords <= 0:
		return validationError(kerr.InvalidRecord, "invalid reported count for record batch: %d", h.NumRecords)
	case countFromOffsets != int64(h.NumRecords):
		return validationError(kerr.InvalidRecord, "inconsistent batch offset range [%d, %d] and count of records %d", h.BaseOffset, h.LastOffset(), h.NumRecords)
	case h.IsControl():
		return validationError(kerr.InvalidRecord, "clients are not allowed to write control records")
	case h.ProducerID > NoProducerID && h.BaseSequence < 0:
		return validationError(kerr.InvalidRecord, "invalid sequence number %d in record batch with producerId %d", h.BaseSequence, h.ProducerID)
	case h.Codec() > CodecZstd:
		return validationError(kerr.CorruptMessage, "unknown compression codec id %d", int8(h.Codec()))
	}
	return nil
}

// recordScan is what walking the records found.
type recordScan struct {
	maxTimestamp            int64
	maxTimestampOffsetDelta int32
}

// scanRecords walks every record, checking structure (fatal) and keys and
// timestamps (collected per record, as Kafka reports them).
func scanRecords(it *Iterator, batch []byte, h Header, opts ValidateOptions) (recordScan, error) {
	it.SetMaxDecompressedBytes(opts.MaxDecompressedBytes)
	if err := it.Reset(batch); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return recordScan{}, validationError(kerr.MessageTooLarge, "%v", err)
		}
		return recordScan{}, validationError(kerr.CorruptMessage, "%v", err)
	}
	scan := recordScan{maxTimestamp: NoTimestamp, maxTimestampOffsetDelta: -1}
	var recordErrors []RecordError
	badTimestamp := false
	for index := int32(0); ; index++ {
		rec, ok := it.Next()
		if !ok {
			break
		}
		if rec.OffsetDelta != index {
			return recordScan{}, validationError(kerr.InvalidRecord, "record %d has offset delta %d; offset deltas must run 0..%d", index, rec.OffsetDelta, h.LastOffsetDelta)
		}
		if code, problem := checkRecord(&rec, h, index, opts); code != nil {
			recordErrors = append(recordErrors, problem)
			badTimestamp = badTimestamp || code == kerr.InvalidTimestamp
			continue
		}
		if rec.Timestamp > scan.maxTimestamp {
			scan.maxTimestamp, scan.maxTimestampOffsetDelta = rec.Timestamp, index
		}
	}
	if err := it.Err(); err != nil {
		return recordScan{}, validationError(kerr.InvalidRecord, "%v", err)
	}
	if recordErrors != nil {
		return recordScan{}, recordsRejected(recordErrors, badTimestamp)
	}
	return scan, nil
}

// checkRecord is LogValidator.validateKey and validateTimestamp: it returns
// the Kafka error a bad record earns (nil if fine) and why.
func checkRecord(rec *Record, h Header, index int32, opts ValidateOptions) (*kerr.Error, RecordError) {
	if opts.Compacted && rec.Key == nil {
		return kerr.InvalidRecord, RecordError{BatchIndex: index, Message: "Compacted topic cannot accept message without key"}
	}
	if !opts.LogAppendTime && rec.Timestamp != NoTimestamp {
		if timestampOutOfRange(rec.Timestamp, opts) {
			return kerr.InvalidTimestamp, RecordError{BatchIndex: index, Message: fmt.Sprintf(
				"Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
				rec.Timestamp, rec.Offset, opts.Now-opts.TimestampBeforeMaxMs, opts.Now+opts.TimestampAfterMaxMs)}
		}
	} else if h.IsLogAppendTime() {
		return kerr.InvalidTimestamp, RecordError{BatchIndex: index, Message: "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime."}
	}
	return nil, RecordError{}
}

// timestampOutOfRange uses Kafka's arithmetic, wrapping included, so the
// Long.MAX_VALUE defaults behave as they do there.
func timestampOutOfRange(ts int64, opts ValidateOptions) bool {
	diff := opts.Now - ts
	return diff > opts.TimestampBeforeMaxMs || -diff > opts.TimestampAfterMaxMs
}

// recordsRejected is LogValidator.processRecordErrors: INVALID_TIMESTAMP if
// any record's timestamp was wrong, else INVALID_RECORD.
func recordsRejected(recordErrors []RecordError, badTimestamp bool) *Error {
	if badTimestamp {
		return &Error{Kafka: kerr.InvalidTimestamp, Reason: "One or more records have been rejected due to invalid timestamp", RecordErrors: recordErrors}
	}
	shown := recordErrors[:min(len(recordErrors), 3)]
	return &Error{Kafka: kerr.InvalidRecord, RecordErrors: recordErrors, Reason: fmt.Sprintf(
		"One or more records have been rejected due to %d record errors in total, and only showing the first three errors at most: %v",
		len(recordErrors), shown)}
}

// finish stamps timestamps and, when the topic asks for another codec,
// re-encodes the records section.
func finish(batch []byte, h Header, section []byte, scan recordScan, opts ValidateOptions) (Validated, error) {
	v := Validated{
		Batch: batch, Codec: h.Codec(), NumRecords: h.NumRecords,
		MaxTimestamp: scan.maxTimestamp, MaxTimestampOffsetDelta: scan.maxTimestampOffsetDelta,
		LogAppendTime: NoTimestamp, ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
		BaseSequence: h.BaseSequence, Transactional: h.IsTransactional(),
	}
	if opts.LogAppendTime {
		// Every record carries the same time; report the first (KIP-734).
		v.LogAppendTime, v.MaxTimestamp, v.MaxTimestampOffsetDelta = opts.Now, opts.Now, 0
	}
	if opts.TargetCodec == CodecProducer || opts.TargetCodec == h.Codec() {
		setMaxTimestamp(batch, opts.LogAppendTime, v.MaxTimestamp)
		return v, nil
	}
	h.MaxTimestamp = v.MaxTimestamp
	h.Attributes &^= attrLogAppendTime
	if opts.LogAppendTime {
		h.Attributes |= attrLogAppendTime
	}
	out, err := appendBatchWith(make([]byte, 0, HeaderSize+len(section)), h, section, opts.TargetCodec, opts.CompressionLevel)
	if err != nil {
		return Validated{}, validationError(kerr.UnknownServerError, "recompress with %s: %v", opts.TargetCodec, err)
	}
	v.Batch, v.Recompressed, v.Codec = out, true, opts.TargetCodec
	return v, nil
}

// setMaxTimestamp stores the timestamp type and max timestamp, touching the
// batch (and its CRC) only when they change, as Kafka's setMaxTimestamp.
func setMaxTimestamp(b []byte, logAppendTime bool, ts int64) {
	h, _ := ParseHeader(b)
	if h.IsLogAppendTime() == logAppendTime && h.MaxTimestamp == ts {
		return
	}
	attrs := h.Attributes &^ attrLogAppendTime
	if logAppendTime {
		attrs |= attrLogAppendTime
	}
	putHeaderTimestamp(b, attrs, ts)
	SetCRC(b)
}

// iterators pools the Iterators Validate uses, with their decompression
// buffers; releaseIterator drops a buffer too big to keep around.
var iterators = sync.Pool{New: func() any { return new(Iterator) }}

const maxPooledBuffer = 8 << 20

func releaseIterator(it *Iterator) {
	if cap(it.buffer) > maxPooledBuffer {
		it.buffer = nil
	}
	it.rest, it.section = nil, nil
	iterators.Put(it)
}
