// Package record owns the Kafka record-batch format (magic v2, the only one
// Sluice stores, as Kafka 4.x): header parsing and in-place header updates,
// CRC-32C, record iteration, compression, produce validation (Kafka's
// LogValidator) and a batch builder.
//
// It sits at the bottom of the layer stack: it imports no other Sluice
// package, does no I/O and keeps no global state beyond pools of
// (de)compressors. Everything here is safe for concurrent use except an
// Iterator, which belongs to one goroutine at a time.
//
// # Batch layout
//
// All integers big-endian. The CRC covers attributes through the end of the
// batch, so the broker can set the base offset and the partition leader
// epoch without recomputing it.
//
//	offset size field
//	     0    8 baseOffset            first offset (0 from producers; the broker assigns it)
//	     8    4 batchLength           bytes after this field
//	    12    4 partitionLeaderEpoch  -1 from producers
//	    16    1 magic                 2
//	    17    4 crc                   CRC-32C (Castagnoli) of bytes 21..end
//	    21    2 attributes            bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
//	                                  bit 3 timestamp type (1 = LogAppendTime)
//	                                  bit 4 transactional, bit 5 control, bit 6 delete horizon set
//	    23    4 lastOffsetDelta       number of records - 1 when freshly produced
//	    27    8 baseTimestamp         first record's timestamp (ms)
//	    35    8 maxTimestamp          largest record timestamp, or the append time
//	    43    8 producerId            -1 unless idempotent
//	    51    2 producerEpoch         -1 unless idempotent
//	    53    4 baseSequence          -1 unless idempotent
//	    57    4 numRecords
//	    61    … records               compressed as a whole when the codec is not none
//
// # Record layout
//
// Varints are zigzag-encoded (as Protocol Buffers' sint32/sint64); a length
// of -1 means null.
//
//	length          varint   bytes after this field
//	attributes      int8     unused, 0
//	timestampDelta  varlong  from baseTimestamp
//	offsetDelta     varint   from baseOffset
//	keyLength       varint   -1 for a null key
//	key             [keyLength]byte
//	valueLength     varint   -1 for a null value (tombstone)
//	value           [valueLength]byte
//	headerCount     varint
//	headers         { keyLength varint (>= 0), key, valueLength varint (-1 = null), value }
//
// # Errors
//
// ErrShortBatch means bytes are missing (a torn write on disk); ErrCorrupt
// means the bytes are complete but wrong. Validate reports what a producer
// sent wrong as an *Error carrying the Kafka error code to return.
//
// # Compression
//
// gzip, snappy and zstd come from github.com/klauspost/compress, lz4 (the LZ4
// frame format Kafka uses) from github.com/pierrec/lz4/v4. Snappy is read in
// both the raw block form and the xerial framing of Java producers, and
// written in xerial framing as the Java client does. Decompression is always
// bounded by a caller-given size limit.
package record
