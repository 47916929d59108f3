// Package perf measures a Kafka-compatible broker end to end with a real
// client (franz-go's kgo): `sluice perf produce`, `sluice perf consume` and
// `sluice perf e2e` are thin wrappers over Produce, Consume and EndToEnd. It works against any broker
// that speaks the protocol, so Sluice and a peer (franz-go's kfake, Apache
// Kafka) can be measured side by side with the same tool.
//
// # What is measured
//
// Produce writes Records records of RecordSize bytes (random capital
// letters, as Kafka's kafka-producer-perf-test does) from Producers clients
// in parallel, creating the topic with kadm if it is missing. Throughput is
// acknowledged records and bytes over the time from the first send to the
// last acknowledgement. Latency is per record: from handing the record to
// the client (so client-side batching and lingering are included, as in
// Kafka's tool) to its promise being called, recorded in a LatencyHistogram
// and reported as p50, p99, p99.9, max and mean in milliseconds.
//
// With TransactionalID set, each producer is transactional and sends its
// share in transactions of TransactionRecords records: begin, produce,
// flush, commit, then the next. The result adds committed transactions and
// transactions per second, so the cost of exactly-once shows next to plain
// idempotent produce.
//
// Consume reads a topic from its earliest offsets with Consumers clients,
// each assigned a round-robin share of the partitions directly (no consumer
// group), until Records records have arrived or, with Records zero, until
// every partition is read to the end offset it had at the start.
//
// EndToEnd produces Records records at Throughput records per second while a
// consumer, positioned at the end offsets the topic had before the first
// send, reads them back. Each value starts with its send time (monotonic
// nanoseconds since the run began, big-endian), so the latency from send to
// receipt needs no clock beyond this process's. This is what Kafka's
// EndToEndLatency tool measures.
//
// Latency results carry the percentiles and a coarse histogram (1-2-5
// millisecond steps, empty buckets at either end left out) that WriteText
// draws as bars. Progress is either one plain line per interval (for logs
// and pipes) or, with ProgressBar, one line redrawn in place with a bar
// filled towards the run's record target (for a terminal).
//
// Megabytes are 2^20 bytes, as in Kafka's tools, so numbers compare.
//
// # Hot path
//
// The per-record produce loop allocates nothing of its own: every producer
// owns a fixed pool of kgo.Record values handed out through a free list (a
// buffered channel; an empty list is the backpressure), all records share
// one read-only value buffer (kgo neither copies nor modifies a value before
// encoding it), the record's Timestamp carries the send time to the promise,
// and the promise is a single method value. A record returns to the free
// list at the end of its promise; kgo reads nothing of a record after its
// promise has been called.
//
// # Threading
//
// Produce, Consume and EndToEnd block until the run ends and may be called
// from any goroutine. EndToEnd produces on the calling goroutine and
// consumes on one of its own, which alone writes the latency histogram. Inside, each producer or consumer runs on its own goroutine
// with its own client; kgo calls a client's promises one at a time, so each
// producer's histogram has a single writer and is merged only after every
// promise has run. Running totals are atomics shared with the progress
// reporter, which prints one line per interval and is stopped and waited for
// before the result is built.
package perf
