package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/perf"
)

// maxLineBytes bounds one input line: far above Kafka's default
// message.max.bytes (about 1 MB), so the broker, not the reader, is what
// refuses an oversized record, with its own error.
const maxLineBytes = 16 << 20

// produceFlags are the options of `sluice produce`.
type produceFlags struct {
	file         string
	keySeparator string
	format       string
	input        string
	headers      []string
	partition    int32
	acks         string
	compression  string
	quiet        bool
}

func newProduceCommand() *cobra.Command {
	var client clientFlags
	var f produceFlags
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write records to a topic, one per input line (like kafka-console-producer.sh)",
		Long: "Write records to a topic, one per line of standard input or --file.\n\n" +
			"By default each line is a value. --key-separator splits key and value;\n" +
			"--format parses lines with a template (%k key, %v value, %p partition,\n" +
			"%t timestamp in Unix ms, %h headers k=v,k=v), the same verbs\n" +
			"`sluice consume --format` prints; --input json reads one JSON object per\n" +
			"line ({\"key\":..., \"value\":..., \"headers\":{...}, \"partition\":N}), the\n" +
			"shape `sluice consume -o json` prints.\n\n" +
			"A line that cannot be parsed stops the run: the lines before it have been\n" +
			"produced, nothing after it is, and the error names the line.",
		Example: "  echo hello | sluice produce orders\n" +
			"  sluice produce orders --key-separator : < orders.txt\n" +
			"  sluice produce orders --format '%k\\t%h\\t%v' --acks 1 --compression zstd\n" +
			"  sluice consume orders -o json | sluice produce orders-copy --input json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTopics(&client),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, &client, &f, args[0])
		},
	}
	client.register(cmd, false, true)
	flags := cmd.Flags()
	flags.StringVarP(&f.file, "file", "f", "-", "read lines from this file (-: standard input)")
	flags.StringVarP(&f.keySeparator, "key-separator", "k", "", "split each line into key and value at the first SEP (e.g. '\\t' or ':')")
	flags.StringVar(&f.format, "format", "", "parse lines with a template: %k %v %p %t %h, \\t \\n escapes")
	flags.StringVar(&f.input, "input", "text", "input kind: text (lines, see --format) or json (one object per line)")
	flags.StringArrayVarP(&f.headers, "header", "H", nil, "header on every record: -H source=cli (repeatable)")
	flags.Int32VarP(&f.partition, "partition", "p", -1, "write every record to this partition (-1: by key, as Kafka's default partitioner)")
	flags.StringVar(&f.acks, "acks", "all", "required acks: 0, 1 or all")
	flags.StringVar(&f.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	flags.BoolVarP(&f.quiet, "quiet", "q", false, "print no summary")
	cmd.RegisterFlagCompletionFunc("input", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("acks", cobra.FixedCompletions([]string{"0", "1", "all"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("compression", cobra.FixedCompletions([]string{"none", "gzip", "snappy", "lz4", "zstd"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// lineParser turns one input line into record fields.
type lineParser func(line []byte) (parsedLine, error)

// parser builds the line parser the flags ask for.
func (f *produceFlags) parser() (lineParser, error) {
	switch f.input {
	case "json":
		if f.format != "" || f.keySeparator != "" {
			return nil, errors.New("--input json reads whole records: drop --format and --key-separator")
		}
		return decodeJSONLine, nil
	case "text":
	default:
		return nil, fmt.Errorf("--input %q: want text or json", f.input)
	}
	template := f.format
	switch {
	case template != "" && f.keySeparator != "":
		return nil, errors.New("give --format or --key-separator, not both")
	case f.keySeparator != "":
		template = "%k" + escapePercent(f.keySeparator) + "%v"
	case template == "":
		return func(line []byte) (parsedLine, error) { return parsedLine{value: line}, nil }, nil
	}
	format, err := compileFormat(template)
	if err != nil {
		return nil, err
	}
	if err := format.checkInput(); err != nil {
		return nil, err
	}
	return format.parseLine, nil
}

// escapePercent makes a separator literal inside a template, keeping
// backslash escapes such as \t working.
func escapePercent(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// produceTarget is what runProduce writes to and with.
type produceTarget struct {
	topic      string
	partitions int32
	static     []kgo.RecordHeader
	partition  int32
}

func runProduce(cmd *cobra.Command, client *clientFlags, f *produceFlags, topic string) error {
	parse, err := f.parser()
	if err != nil {
		return err
	}
	static, err := parseHeaderFlags(f.headers)
	if err != nil {
		return err
	}
	opts, err := f.clientOptions()
	if err != nil {
		return err
	}
	conn, err := client.resolve(cmd)
	if err != nil {
		return err
	}
	input, closeInput, err := openInput(cmd, f.file)
	if err != nil {
		return err
	}
	defer closeInput()
	kafka, err := conn.connect(cmd.Context(), opts...)
	if err != nil {
		return err
	}
	defer kafka.Close()
	partitions, err := topicPartitionCount(cmd.Context(), conn, kafka, topic)
	if err != nil {
		return err
	}
	if f.partition >= partitions {
		return fmt.Errorf("--partition %d: topic %q has %d partitions", f.partition, topic, partitions)
	}
	target := produceTarget{topic: topic, partitions: partitions, static: static, partition: f.partition}
	tally := newProduceTally()
	readErr := produceLines(cmd.Context(), kafka, input, parse, target, tally)
	flushErr := kafka.Flush(context.WithoutCancel(cmd.Context()))
	summary := tally.summary(topic)
	if !f.quiet && summary.Records > 0 {
		if err := render(cmd.OutOrStdout(), conn.output, summary, func(t *tableWriter) { writeProduceSummary(t, summary) }); err != nil {
			return err
		}
	}
	return errors.Join(readErr, flushErr, tally.failure(topic))
}

// clientOptions turns acks and compression into producer options.
func (f *produceFlags) clientOptions() ([]kgo.Opt, error) {
	acks, err := perf.ParseAcks(f.acks)
	if err != nil {
		return nil, fmt.Errorf("--acks: %w", err)
	}
	codec, err := perf.ParseCompression(f.compression)
	if err != nil {
		return nil, fmt.Errorf("--compression: %w", err)
	}
	opts := []kgo.Opt{
		kgo.ProducerBatchCompression(codec),
		kgo.RecordPartitioner(explicitPartitioner{fallback: kgo.UniformBytesPartitioner(64<<10, true, true, nil)}),
		kgo.ProducerBatchMaxBytes(maxLineBytes),
	}
	return append(opts, acks.ProducerOptions()...), nil
}

// parseHeaderFlags reads -H key=value flags.
func parseHeaderFlags(values []string) ([]kgo.RecordHeader, error) {
	headers := make([]kgo.RecordHeader, 0, len(values))
	for _, kv := range values {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("--header %q: want key=value", kv)
		}
		headers = append(headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
	}
	return headers, nil
}

// openInput opens --file, or returns the command's standard input for "-".
func openInput(cmd *cobra.Command, path string) (io.Reader, func(), error) {
	if path == "-" || path == "" {
		return cmd.InOrStdin(), func() {}, nil
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--file: %w", err)
	}
	return file, func() { file.Close() }, nil
}

// topicPartitionCount checks that the topic exists (a producer would
// otherwise retry until its timeout) and returns its partition count.
func topicPartitionCount(ctx context.Context, conn connection, kafka *kgo.Client, topic string) (int32, error) {
	ctx, cancel := conn.requestContext(ctx)
	defer cancel()
	details, err := existingTopics(ctx, conn, conn.newAdmin(kafka), topic)
	if err != nil {
		return 0, err
	}
	return int32(len(details[topic].Partitions)), nil
}

// produceLines reads lines and hands a record per line to the client, until
// the input ends, a line does not parse, a record has failed, or ctx ends.
// Lines are read on their own goroutine so that Ctrl-C is noticed while
// standard input is idle.
func produceLines(ctx context.Context, kafka *kgo.Client, input io.Reader, parse lineParser, target produceTarget, tally *produceTally) error {
	lines := make(chan inputLine)
	done := make(chan struct{})
	defer close(done)
	go readLines(input, lines, done)
	for {
		var line inputLine
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line = <-lines:
		}
		if line.err != nil {
			return line.err
		}
		if line.eof {
			return nil
		}
		if tally.failed() {
			return nil
		}
		record, err := buildRecord(line.text, parse, target)
		if err != nil {
			return fmt.Errorf("line %d: %w (the %d line(s) before it were sent)", line.number, err, line.number-1)
		}
		if record == nil {
			continue
		}
		kafka.Produce(ctx, record, tally.onAck)
	}
}

// inputLine is one line from readLines, or the end of input, or a read
// error.
type inputLine struct {
	text   []byte
	number int
	eof    bool
	err    error
}

// readLines sends every line of input, then eof (or an error), and stops
// early once done is closed. A read blocked on an idle terminal cannot be
// interrupted; the goroutine then ends with the process.
func readLines(input io.Reader, lines chan<- inputLine, done <-chan struct{}) {
	scanner := bufio.NewScanner(input)
	scanner.Buffer(make([]byte, 64<<10), maxLineBytes)
	send := func(l inputLine) bool {
		select {
		case lines <- l:
			return true
		case <-done:
			return false
		}
	}
	number := 0
	for scanner.Scan() {
		number++
		text := slices.Clone(scanner.Bytes())
		if !send(inputLine{text: text, number: number}) {
			return
		}
	}
	if err := scanner.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d is longer than %d bytes", number+1, maxLineBytes)
		}
		send(inputLine{err: fmt.Errorf("read input: %w", err)})
		return
	}
	send(inputLine{eof: true})
}

// buildRecord parses one line; a blank line in JSON input is skipped (nil
// record), in text input it is an empty value, as in Kafka's console
// producer.
func buildRecord(text []byte, parse lineParser, target produceTarget) (*kgo.Record, error) {
	text = trimCarriageReturn(text)
	parsed, err := parse(text)
	if err != nil {
		if len(strings.TrimSpace(string(text))) == 0 {
			return nil, nil
		}
		return nil, err
	}
	record := &kgo.Record{Topic: target.topic, Value: parsed.value, Timestamp: parsed.timestamp}
	if parsed.hasKey {
		record.Key = parsed.key
	}
	record.Headers = append(slices.Clone(target.static), parsed.headers...)
	partition := target.partition
	if parsed.hasPartition {
		partition = parsed.partition
	}
	if partition >= target.partitions {
		return nil, fmt.Errorf("partition %d: topic %q has %d partitions", partition, target.topic, target.partitions)
	}
	if partition >= 0 {
		record.Partition = partition
		record.Context = context.WithValue(context.Background(), explicitPartitionKey{}, true)
	}
	return record, nil
}

// trimCarriageReturn drops the \r of a Windows line end.
func trimCarriageReturn(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// explicitPartitionKey marks, in a record's Context, a record whose
// Partition was chosen by the user.
type explicitPartitionKey struct{}

// explicitPartitioner sends records with a user-chosen partition there and
// every other record through fallback (Kafka's default partitioning).
type explicitPartitioner struct{ fallback kgo.Partitioner }

// ForTopic implements kgo.Partitioner.
func (p explicitPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return explicitTopicPartitioner{fallback: p.fallback.ForTopic(topic)}
}

// explicitTopicPartitioner is explicitPartitioner for one topic.
type explicitTopicPartitioner struct{ fallback kgo.TopicPartitioner }

func isExplicit(r *kgo.Record) bool {
	return r.Context != nil && r.Context.Value(explicitPartitionKey{}) != nil
}

// RequiresConsistency implements kgo.TopicPartitioner: a chosen partition
// must not be changed on a retry.
func (p explicitTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return isExplicit(r) || p.fallback.RequiresConsistency(r)
}

// Partition implements kgo.TopicPartitioner.
func (p explicitTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if isExplicit(r) {
		return int(r.Partition)
	}
	return p.fallback.Partition(r, n)
}

// PartitionByBackup implements kgo.TopicBackupPartitioner: kgo calls it
// instead of Partition when the partitioner has it, as Kafka's default
// (uniform bytes) partitioner does, to pick by buffered load.
func (p explicitTopicPartitioner) PartitionByBackup(r *kgo.Record, n int, backup kgo.TopicBackupIter) int {
	if isExplicit(r) {
		return int(r.Partition)
	}
	if byBackup, ok := p.fallback.(kgo.TopicBackupPartitioner); ok {
		return byBackup.PartitionByBackup(r, n, backup)
	}
	return p.fallback.Partition(r, n)
}

// OnNewBatch passes kgo's batch notification on, so that the fallback's
// sticky partitioning of keyless records moves on as it should.
func (p explicitTopicPartitioner) OnNewBatch() {
	if next, ok := p.fallback.(kgo.TopicPartitionerOnNewBatch); ok {
		next.OnNewBatch()
	}
}

// produceTally counts acknowledged records per partition. kgo calls a
// client's promises one at a time, but the summary is read from another
// goroutine, so the fields are guarded.
type produceTally struct {
	mu         sync.Mutex
	partitions map[int32]*partitionTally
	failures   int
	firstErr   error
}

// partitionTally is the records of one partition.
type partitionTally struct {
	records     int
	first, last int64
}

func newProduceTally() *produceTally {
	return &produceTally{partitions: map[int32]*partitionTally{}}
}

// onAck is every record's promise.
func (t *produceTally) onAck(r *kgo.Record, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failures++
		if t.firstErr == nil {
			t.firstErr = err
		}
		return
	}
	p, ok := t.partitions[r.Partition]
	if !ok {
		p = &partitionTally{first: r.Offset, last: r.Offset}
		t.partitions[r.Partition] = p
	}
	p.records++
	p.first, p.last = min(p.first, r.Offset), max(p.last, r.Offset)
}

func (t *produceTally) failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failures > 0
}

// failure describes the failed records, if any.
func (t *produceTally) failure(topic string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == 0 {
		return nil
	}
	return fmt.Errorf("%d record(s) not written: %w", t.failures, topicError(topic, t.firstErr))
}

// produceSummary is what `sluice produce` reports.
type produceSummary struct {
	Topic      string                    `json:"topic"`
	Records    int                       `json:"records"`
	Partitions []producedPartitionResult `json:"partitions"`
}

// producedPartitionResult is one partition's share; offsets are -1 with
// acks=0 (the broker sends no answer).
type producedPartitionResult struct {
	Partition   int32 `json:"partition"`
	Records     int   `json:"records"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
}

func (t *produceTally) summary(topic string) produceSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := produceSummary{Topic: topic, Partitions: []producedPartitionResult{}}
	for id, p := range t.partitions {
		s.Records += p.records
		s.Partitions = append(s.Partitions, producedPartitionResult{Partition: id, Records: p.records, FirstOffset: p.first, LastOffset: p.last})
	}
	slices.SortFunc(s.Partitions, func(a, b producedPartitionResult) int { return int(a.Partition - b.Partition) })
	return s
}

func writeProduceSummary(t *tableWriter, s produceSummary) {
	t.line("Produced %d record(s) to %q.", s.Records, s.Topic)
	t.row("PARTITION", "RECORDS", "FIRST-OFFSET", "LAST-OFFSET")
	for _, p := range s.Partitions {
		t.row(p.Partition, p.Records, p.FirstOffset, p.LastOffset)
	}
}
