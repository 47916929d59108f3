package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeFlags are the options of `sluice consume`.
type consumeFlags struct {
	from          string
	fromBeginning bool
	group         string
	partitions    []int32
	count         int64
	follow        bool
	idleTimeout   time.Duration
	format        string
	quiet         bool
}

func newConsumeCommand() *cobra.Command {
	var client clientFlags
	var f consumeFlags
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print a topic's records (like kafka-console-consumer.sh)",
		Long: "Print a topic's records, by default from the end as it is now, so nothing;\n" +
			"use --from. Without --follow the command exits once it has read every\n" +
			"partition up to the end offsets it had at the start; with --follow it waits\n" +
			"for new records until Ctrl-C, --count or --idle-timeout.\n\n" +
			"--from takes: beginning, end, an offset (1234), -N (N records before the\n" +
			"end of each partition), +N (N after the start), -DURATION (-1h: records\n" +
			"from that long ago), @UNIX_MILLIS or a time (2024-05-01T12:00:00Z).\n\n" +
			"With --group the records are read as a member of that consumer group:\n" +
			"partitions are shared with the group's other members, reading starts at the\n" +
			"group's committed offsets (--from applies where it has none), and what was\n" +
			"printed is committed. Exit at the end then covers the partitions this member\n" +
			"was assigned.\n\n" +
			"Records print with --format (default %v: the value); -o json prints one JSON\n" +
			"object per line, which `sluice produce --input json` reads back.",
		Example: "  sluice consume orders --from beginning\n" +
			"  sluice consume orders --from -10 --format '%p:%o %k=%v %h'\n" +
			"  sluice consume orders --group billing --follow\n" +
			"  sluice consume orders --from 2024-05-01T00:00:00Z --count 100 -o json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTopics(&client),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, &client, &f, args[0])
		},
	}
	client.register(cmd, false, true)
	flags := cmd.Flags()
	flags.StringVar(&f.from, "from", "end", "where to start: beginning, end, OFFSET, -N, +N, -DURATION, @UNIX_MILLIS or a time")
	flags.BoolVar(&f.fromBeginning, "from-beginning", false, "same as --from beginning")
	flags.StringVarP(&f.group, "group", "g", "", "consume as a member of this consumer group, committing what is printed")
	flags.Int32SliceVarP(&f.partitions, "partition", "p", nil, "only these partitions (comma-separated; not with --group)")
	flags.Int64VarP(&f.count, "count", "n", 0, "exit after this many records (0: no limit)")
	flags.BoolVarP(&f.follow, "follow", "f", false, "keep waiting for new records instead of exiting at the end")
	flags.DurationVar(&f.idleTimeout, "idle-timeout", 0, "exit when no record arrives for this long (0: never)")
	flags.StringVar(&f.format, "format", "%v", "template per record: %k key, %v value, %p partition, %o offset, %t timestamp (ms), %T topic, %h headers")
	flags.BoolVarP(&f.quiet, "quiet", "q", false, "no record count on stderr at the end")
	cmd.RegisterFlagCompletionFunc("group", completeGroups(&client))
	cmd.RegisterFlagCompletionFunc("from", cobra.FixedCompletions([]string{"beginning", "end"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runConsume(cmd *cobra.Command, client *clientFlags, f *consumeFlags, topic string) error {
	plan, err := f.validate(time.Now())
	if err != nil {
		return err
	}
	conn, err := client.resolve(cmd)
	if err != nil {
		return err
	}
	printer, err := newRecordPrinter(cmd.OutOrStdout(), conn.output, f.format)
	if err != nil {
		return err
	}
	reader, err := prepareConsume(cmd.Context(), conn, f, plan, topic)
	if err != nil {
		return err
	}
	kafka, err := conn.connect(cmd.Context(), reader.clientOptions(conn, f, plan)...)
	if err != nil {
		return err
	}
	consumed, runErr := reader.run(cmd.Context(), kafka, printer)
	closeErr := reader.finish(cmd.Context(), conn, kafka)
	if flushErr := printer.flush(); runErr == nil {
		runErr = flushErr
	}
	if !f.quiet {
		fmt.Fprintf(cmd.ErrOrStderr(), "Consumed %d record(s).\n", consumed)
	}
	return errors.Join(runErr, closeErr)
}

// consumePlan is the parsed start position.
type consumePlan struct {
	start position
}

// validate checks flag combinations and parses --from.
func (f *consumeFlags) validate(now time.Time) (consumePlan, error) {
	from := f.from
	if f.fromBeginning {
		from = "beginning"
	}
	start, err := parsePosition(from, now)
	if err != nil {
		return consumePlan{}, fmt.Errorf("--from: %w", err)
	}
	switch {
	case f.group != "" && len(f.partitions) > 0:
		return consumePlan{}, errors.New("--partition cannot be used with --group: the group assigns partitions")
	case f.count < 0:
		return consumePlan{}, fmt.Errorf("--count %d: want 0 (no limit) or more", f.count)
	case f.idleTimeout < 0:
		return consumePlan{}, fmt.Errorf("--idle-timeout %s: want 0 (never) or more", f.idleTimeout)
	}
	return consumePlan{start: start}, nil
}

// partitionReader decides where each partition starts and when reading is
// over, and prints records. It is used by one goroutine, except for the
// group assignment, which kgo's rebalance callbacks update.
type partitionReader struct {
	topic string
	group string
	count int64
	// follow disables the end check; idle bounds a wait for records.
	follow bool
	idle   time.Duration
	// starts is where each selected partition starts; ends is the end
	// offset each had at the start (the exit point without --follow).
	starts map[int32]int64
	ends   map[int32]int64
	// next is the offset after the last record printed, per partition.
	next map[int32]int64

	// mu guards assigned: a group member's current partitions, written by
	// kgo's rebalance callbacks.
	mu       sync.Mutex
	assigned map[int32]bool
}

// prepareConsume checks the topic and partitions and lists the offsets the
// run starts from and ends at.
func prepareConsume(ctx context.Context, conn connection, f *consumeFlags, plan consumePlan, topic string) (*partitionReader, error) {
	admin, err := conn.admin(ctx)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	ctx, cancel := conn.requestContext(ctx)
	defer cancel()
	details, err := existingTopics(ctx, conn, admin, topic)
	if err != nil {
		return nil, err
	}
	selected, err := selectPartitions(topic, details[topic].Partitions.Numbers(), f.partitions)
	if err != nil {
		return nil, err
	}
	limits, err := listBounds(ctx, conn, admin, plan.start, topic)
	if err != nil {
		return nil, err
	}
	committed, err := committedOffsets(ctx, conn, admin, f.group, topic)
	if err != nil {
		return nil, err
	}
	r := &partitionReader{topic: topic, group: f.group, count: f.count, follow: f.follow, idle: f.idleTimeout,
		starts: map[int32]int64{}, ends: map[int32]int64{}, next: map[int32]int64{}}
	for _, p := range selected {
		b := limits[topicPartition{topic, p}]
		r.starts[p], r.ends[p] = plan.start.resolve(b), b.end
		if c, ok := committed[p]; ok {
			r.starts[p] = c
		}
	}
	return r, nil
}

// selectPartitions applies --partition to the topic's partitions.
func selectPartitions(topic string, all []int32, chosen []int32) ([]int32, error) {
	slices.Sort(all)
	if len(chosen) == 0 {
		return all, nil
	}
	for _, p := range chosen {
		if !slices.Contains(all, p) {
			return nil, fmt.Errorf("--partition %d: topic %q has %d partitions", p, topic, len(all))
		}
	}
	return chosen, nil
}

// committedOffsets reads a group's commits on topic; none without a group.
func committedOffsets(ctx context.Context, conn connection, admin *kadm.Client, group, topic string) (map[int32]int64, error) {
	out := map[int32]int64{}
	if group == "" {
		return out, nil
	}
	fetched, err := admin.FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		return nil, conn.requestFailed("fetch committed offsets", groupError(group, err))
	}
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.Topic == topic && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// clientOptions are the consumer options: exact start offsets without a
// group; with one, the group's commits and --from as the reset point.
func (r *partitionReader) clientOptions(conn connection, f *consumeFlags, plan consumePlan) []kgo.Opt {
	if r.group == "" {
		offsets := make(map[int32]kgo.Offset, len(r.starts))
		for p, start := range r.starts {
			offsets[p] = kgo.NewOffset().At(start)
		}
		return []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.topic: offsets})}
	}
	return []kgo.Opt{
		kgo.ConsumerGroup(r.group),
		kgo.ConsumeTopics(r.topic),
		kgo.ConsumeResetOffset(plan.start.kgoOffset()),
		kgo.AutoCommitMarks(),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onRevoked),
	}
}

// kgoOffset is the position as kgo's reset offset, for partitions a group
// has not committed.
func (p position) kgoOffset() kgo.Offset {
	switch p.kind {
	case positionBeginning:
		return kgo.NewOffset().AtStart()
	case positionOffset:
		return kgo.NewOffset().At(p.value)
	case positionTime:
		return kgo.NewOffset().AfterMilli(p.value)
	case positionFromEnd:
		return kgo.NewOffset().AtEnd().Relative(-p.value)
	case positionFromStart:
		return kgo.NewOffset().AtStart().Relative(p.value)
	}
	return kgo.NewOffset().AtEnd()
}

func (r *partitionReader) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.assigned == nil {
		r.assigned = map[int32]bool{}
	}
	for _, p := range assigned[r.topic] {
		r.assigned[p] = true
	}
}

func (r *partitionReader) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range revoked[r.topic] {
		delete(r.assigned, p)
	}
}

// endCheckInterval bounds one wait for records when not following, so
// that reaching the end is noticed even when no record arrives (a group
// member whose partitions were all read already).
const endCheckInterval = 100 * time.Millisecond

// errStop ends the poll loop without an error.
var errStop = errors.New("stop")

// run polls and prints until the end, the count, the idle timeout or ctx;
// a Ctrl-C is a normal way to stop.
func (r *partitionReader) run(ctx context.Context, kafka *kgo.Client, printer *recordPrinter) (int64, error) {
	var printed int64
	lastRecord := time.Now()
	for !r.atEnd() {
		fetches := r.poll(ctx, kafka)
		if ctx.Err() != nil {
			return printed, nil
		}
		if fetches.NumRecords() > 0 {
			lastRecord = time.Now()
		} else if r.idle > 0 && time.Since(lastRecord) >= r.idle {
			return printed, nil
		}
		err := r.handle(fetches, kafka, printer, &printed)
		if errors.Is(err, errStop) {
			return printed, nil
		}
		if err != nil {
			return printed, err
		}
		if err := printer.flush(); err != nil {
			return printed, err
		}
	}
	return printed, nil
}

// poll waits for records: without a limit when following with no idle
// timeout, else for at most the idle timeout or endCheckInterval.
func (r *partitionReader) poll(ctx context.Context, kafka *kgo.Client) kgo.Fetches {
	wait := r.idle
	if !r.follow && (wait == 0 || wait > endCheckInterval) {
		wait = endCheckInterval
	}
	if wait == 0 {
		return kafka.PollFetches(ctx)
	}
	pollCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return kafka.PollFetches(pollCtx)
}

// handle prints one poll's records, skipping records past the end
// snapshot when not following, and reports the first fatal fetch error.
func (r *partitionReader) handle(fetches kgo.Fetches, kafka *kgo.Client, printer *recordPrinter, printed *int64) error {
	if err := fetchError(r.topic, fetches); err != nil {
		return err
	}
	var stopErr error
	fetches.EachRecord(func(record *kgo.Record) {
		if stopErr != nil || (!r.follow && record.Offset >= r.ends[record.Partition]) {
			return
		}
		if err := printer.print(record); err != nil {
			stopErr = err
			return
		}
		r.next[record.Partition] = record.Offset + 1
		if r.group != "" {
			kafka.MarkCommitRecords(record)
		}
		*printed++
		if r.count > 0 && *printed >= r.count {
			stopErr = errStop
		}
	})
	return stopErr
}

// fetchError returns the first error that ends reading: anything but a
// retriable partition error (which kgo retries) or the end of the poll's
// context.
func fetchError(topic string, fetches kgo.Fetches) error {
	for _, e := range fetches.Errors() {
		if errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, context.DeadlineExceeded) || kerr.IsRetriable(e.Err) {
			continue
		}
		if e.Topic == "" {
			return explain(e.Err)
		}
		return fmt.Errorf("read %s[%d]: %w", e.Topic, e.Partition, topicError(topic, e.Err))
	}
	return nil
}

// atEnd tells whether, without --follow, every partition being read has
// been printed up to its end offset. A group member waits for its first
// assignment.
func (r *partitionReader) atEnd() bool {
	if r.follow {
		return false
	}
	for _, p := range r.readingPartitions() {
		position := r.starts[p]
		if next, ok := r.next[p]; ok {
			position = max(position, next)
		}
		if position < r.ends[p] {
			return false
		}
	}
	return r.group == "" || r.hasAssignment()
}

// readingPartitions is every selected partition without a group, the
// assigned ones with one.
func (r *partitionReader) readingPartitions() []int32 {
	if r.group == "" {
		return slices.Collect(maps.Keys(r.starts))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Keys(r.assigned))
}

func (r *partitionReader) hasAssignment() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.assigned != nil
}

// finish commits what was printed (as a group member) and closes the
// client, which leaves the group.
func (r *partitionReader) finish(ctx context.Context, conn connection, kafka *kgo.Client) error {
	defer kafka.Close()
	if r.group == "" {
		return nil
	}
	commitCtx, cancel := conn.requestContext(context.WithoutCancel(ctx))
	defer cancel()
	if err := kafka.CommitMarkedOffsets(commitCtx); err != nil {
		return fmt.Errorf("commit offsets of group %q: %w", r.group, groupError(r.group, err))
	}
	return nil
}

// recordPrinter writes records in the chosen output: the template for
// table output, one JSON object per line, or one YAML document each.
type recordPrinter struct {
	out     *bufio.Writer
	format  outputFormat
	line    recordFormat
	newline bool
	buffer  []byte
}

func newRecordPrinter(w io.Writer, format outputFormat, template string) (*recordPrinter, error) {
	line, err := compileFormat(template)
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	return &recordPrinter{out: bufio.NewWriter(w), format: format, line: line, newline: !line.endsWithNewline()}, nil
}

func (p *recordPrinter) print(r *kgo.Record) error {
	switch p.format {
	case outputJSON:
		encoded, err := json.Marshal(encodeJSONRecord(r))
		if err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		p.out.Write(encoded)
		return p.out.WriteByte('\n')
	case outputYAML:
		p.out.WriteString("---\n")
		return writeYAML(p.out, encodeJSONRecord(r))
	}
	p.buffer = p.line.appendRecord(p.buffer[:0], r)
	if p.newline {
		p.buffer = append(p.buffer, '\n')
	}
	_, err := p.out.Write(p.buffer)
	return err
}

func (p *recordPrinter) flush() error { return p.out.Flush() }
