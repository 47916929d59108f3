package cli

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// resetFlags are the options of `sluice group reset-offsets`, named as in
// kafka-consumer-groups.sh --reset-offsets.
type resetFlags struct {
	topics     []string
	allTopics  bool
	toEarliest bool
	toLatest   bool
	toOffset   int64
	toDatetime string
	byDuration time.Duration
	shiftBy    int64
	execute    bool
}

// strategy is the one reset target chosen, with the flags that name one.
type strategy struct {
	// at is where the new offsets lie; for a shift it is unused.
	at position
	// shift moves the committed offsets by this many records.
	shift *int64
}

// chooseStrategy insists on exactly one target flag.
func (f *resetFlags) chooseStrategy(cmd *cobra.Command, now time.Time) (strategy, error) {
	var chosen []string
	var s strategy
	flags := cmd.Flags()
	if f.toEarliest {
		chosen, s = append(chosen, "--to-earliest"), strategy{at: position{kind: positionBeginning}}
	}
	if f.toLatest {
		chosen, s = append(chosen, "--to-latest"), strategy{at: position{kind: positionEnd}}
	}
	if flags.Changed("to-offset") {
		chosen, s = append(chosen, "--to-offset"), strategy{at: position{kind: positionOffset, value: f.toOffset}}
	}
	if flags.Changed("to-datetime") {
		millis, err := parseTime(f.toDatetime)
		if err != nil {
			return strategy{}, fmt.Errorf("--to-datetime: %w", err)
		}
		chosen, s = append(chosen, "--to-datetime"), strategy{at: position{kind: positionTime, value: millis}}
	}
	if flags.Changed("by-duration") {
		if f.byDuration <= 0 {
			return strategy{}, fmt.Errorf("--by-duration %s: want a positive duration", f.byDuration)
		}
		chosen, s = append(chosen, "--by-duration"), strategy{at: position{kind: positionTime, value: now.Add(-f.byDuration).UnixMilli()}}
	}
	if flags.Changed("shift-by") {
		shift := f.shiftBy
		chosen, s = append(chosen, "--shift-by"), strategy{shift: &shift}
	}
	if len(chosen) != 1 {
		return strategy{}, errors.New("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --by-duration, --shift-by")
	}
	return s, nil
}

// resetPlan is the outcome of reset-offsets: the plan, and whether it was
// applied.
type resetPlan struct {
	Group      string           `json:"group"`
	Executed   bool             `json:"executed"`
	Partitions []resetPartition `json:"partitions"`
}

// resetPartition is one partition's move.
type resetPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// CurrentOffset is null when the group has no commit here.
	CurrentOffset *int64 `json:"current_offset"`
	NewOffset     int64  `json:"new_offset"`
}

func newGroupResetOffsetsCommand(client *clientFlags) *cobra.Command {
	var f resetFlags
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic T[:P,...] | --all-topics) (--to-earliest | --to-latest | --to-offset N | --to-datetime T | --by-duration D | --shift-by N) [--execute]",
		Short: "Move a group's committed offsets; prints the plan, and applies it with --execute",
		Long: "Move a group's committed offsets. Without --execute this is a dry run: it prints\n" +
			"the plan and changes nothing. The group must have no active members (stop its\n" +
			"consumers first). New offsets are clamped to each partition's start and end.",
		Example: "  sluice group reset-offsets billing --topic orders --to-earliest\n" +
			"  sluice group reset-offsets billing --topic orders:0,1 --shift-by -100 --execute\n" +
			"  sluice group reset-offsets billing --all-topics --to-datetime 2024-05-01T00:00:00Z --execute",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeGroups(client),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			chosen, err := f.chooseStrategy(cmd, time.Now())
			if err != nil {
				return err
			}
			if (len(f.topics) > 0) == f.allTopics {
				return errors.New("give --topic (repeatable) or --all-topics")
			}
			selection, err := parseTopicSelection(f.topics)
			if err != nil {
				return err
			}
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			plan, err := planReset(s, group, selection, f.allTopics, chosen)
			if err != nil {
				return err
			}
			if f.execute {
				if err := applyReset(s, plan); err != nil {
					return err
				}
				plan.Executed = true
			}
			return s.print(cmd, plan, func(t *tableWriter) { writeResetPlan(t, plan) })
		},
	}
	flags := cmd.Flags()
	flags.StringArrayVar(&f.topics, "topic", nil, "topic to reset, optionally with partitions: orders or orders:0,1 (repeatable)")
	flags.BoolVar(&f.allTopics, "all-topics", false, "every topic the group has committed offsets for")
	flags.BoolVar(&f.toEarliest, "to-earliest", false, "to each partition's log start offset")
	flags.BoolVar(&f.toLatest, "to-latest", false, "to each partition's end offset (skip everything)")
	flags.Int64Var(&f.toOffset, "to-offset", 0, "to this offset in every selected partition")
	flags.StringVar(&f.toDatetime, "to-datetime", "", "to the first record at or after this time (2024-05-01T12:00:00Z, 2024-05-01T12:00:00.000 local, @UNIX_MILLIS)")
	flags.DurationVar(&f.byDuration, "by-duration", 0, "to the first record at or after this long ago (1h30m)")
	flags.Int64Var(&f.shiftBy, "shift-by", 0, "move the committed offsets by N (negative: back)")
	flags.BoolVar(&f.execute, "execute", false, "apply the plan (without it, only print it)")
	cmd.RegisterFlagCompletionFunc("topic", completeTopics(client))
	return cmd
}

// topicSelection is --topic values: a topic with all its partitions (nil)
// or with some.
type topicSelection map[string][]int32

// parseTopicSelection reads "orders" and "orders:0,1,2".
func parseTopicSelection(values []string) (topicSelection, error) {
	out := topicSelection{}
	for _, v := range values {
		topic, list, hasList := strings.Cut(v, ":")
		if topic == "" {
			return nil, fmt.Errorf("--topic %q: want TOPIC or TOPIC:PARTITION,...", v)
		}
		if !hasList {
			out[topic] = nil
			continue
		}
		for part := range strings.SplitSeq(list, ",") {
			p, err := strconv.ParseInt(strings.TrimSpace(part), 10, 32)
			if err != nil || p < 0 {
				return nil, fmt.Errorf("--topic %q: partition %q is not a partition number", v, part)
			}
			out[topic] = append(out[topic], int32(p))
		}
	}
	return out, nil
}

// planReset computes the new offsets. It refuses a group with members:
// their next commit would undo the reset (Kafka's tool refuses too).
func planReset(s *adminSession, group string, selection topicSelection, allTopics bool, chosen strategy) (resetPlan, error) {
	if err := requireInactive(s, group); err != nil {
		return resetPlan{}, err
	}
	committed, err := s.admin.FetchOffsets(s.ctx, group)
	if err != nil {
		return resetPlan{}, s.conn.requestFailed("fetch committed offsets", groupError(group, err))
	}
	if err := committed.Error(); err != nil {
		return resetPlan{}, groupError(group, err)
	}
	partitions, err := selectedPartitions(s, selection, allTopics, committed)
	if err != nil {
		return resetPlan{}, err
	}
	if len(partitions) == 0 {
		return resetPlan{}, fmt.Errorf("group %q has no committed offsets: name the topics with --topic", group)
	}
	topics := partitionTopics(partitions)
	limits, err := listBounds(s.ctx, s.conn, s.admin, chosen.at, topics...)
	if err != nil {
		return resetPlan{}, err
	}
	plan := resetPlan{Group: group, Partitions: make([]resetPartition, 0, len(partitions))}
	for _, tp := range partitions {
		b, ok := limits[tp]
		if !ok {
			return resetPlan{}, fmt.Errorf("partition %s does not exist", tp)
		}
		row := resetPartition{Topic: tp.topic, Partition: tp.partition}
		if c, ok := committed.Lookup(tp.topic, tp.partition); ok && c.At >= 0 {
			current := c.At
			row.CurrentOffset = &current
		}
		if row.NewOffset, err = chosen.target(tp, row.CurrentOffset, b); err != nil {
			return resetPlan{}, err
		}
		plan.Partitions = append(plan.Partitions, row)
	}
	return plan, nil
}

// target is a partition's new offset under the strategy.
func (s strategy) target(tp topicPartition, current *int64, b bounds) (int64, error) {
	if s.shift == nil {
		return s.at.resolve(b), nil
	}
	if current == nil {
		return 0, fmt.Errorf("partition %s has no committed offset to shift from: use --to-earliest, --to-latest or --to-offset", tp)
	}
	return clampOffset(*current+*s.shift, b), nil
}

// requireInactive fails unless the group has no members.
func requireInactive(s *adminSession, group string) error {
	described, err := s.admin.DescribeGroups(s.ctx, group)
	if err != nil {
		return s.conn.requestFailed("describe group", err)
	}
	d, ok := described[group]
	if !ok {
		return nil
	}
	if errors.Is(d.Err, kerr.GroupIDNotFound) {
		return nil // resetting a new group's offsets creates it
	}
	if d.Err != nil {
		return groupError(group, d.Err)
	}
	switch d.State {
	case "Empty", "Dead", "":
		return nil
	}
	return fmt.Errorf("group %q is %s with %d member(s): offsets can be reset only while it has none (stop its consumers first)",
		group, d.State, len(d.Members))
}

// selectedPartitions expands the selection into partitions, sorted:
// --all-topics means every partition the group has committed, a bare
// topic all of its partitions.
func selectedPartitions(s *adminSession, selection topicSelection, allTopics bool, committed kadm.OffsetResponses) ([]topicPartition, error) {
	var out []topicPartition
	if allTopics {
		committed.Each(func(o kadm.OffsetResponse) {
			out = append(out, topicPartition{o.Topic, o.Partition})
		})
		sortPartitions(out)
		return out, nil
	}
	topics := make([]string, 0, len(selection))
	for topic := range selection {
		topics = append(topics, topic)
	}
	details, err := existingTopics(s.ctx, s.conn, s.admin, topics...)
	if err != nil {
		return nil, err
	}
	for topic, chosen := range selection {
		for _, p := range details[topic].Partitions.Numbers() {
			if chosen == nil || slices.Contains(chosen, p) {
				out = append(out, topicPartition{topic, p})
			}
		}
		for _, p := range chosen {
			if _, ok := details[topic].Partitions[p]; !ok {
				return nil, fmt.Errorf("partition %d of topic %q does not exist (the topic has %d)", p, topic, len(details[topic].Partitions))
			}
		}
	}
	sortPartitions(out)
	return out, nil
}

func sortPartitions(partitions []topicPartition) {
	slices.SortFunc(partitions, func(a, b topicPartition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition - b.partition)
	})
}

// partitionTopics lists the distinct topics of partitions, in order.
func partitionTopics(partitions []topicPartition) []string {
	var topics []string
	for _, tp := range partitions {
		if !slices.Contains(topics, tp.topic) {
			topics = append(topics, tp.topic)
		}
	}
	return topics
}

// applyReset commits the plan's offsets for the group.
func applyReset(s *adminSession, plan resetPlan) error {
	var offsets kadm.Offsets
	for _, p := range plan.Partitions {
		offsets.AddOffset(p.Topic, p.Partition, p.NewOffset, -1)
	}
	responses, err := s.admin.CommitOffsets(s.ctx, plan.Group, offsets)
	if err != nil {
		return s.conn.requestFailed("commit offsets", groupError(plan.Group, err))
	}
	var failures []error
	responses.EachError(func(o kadm.OffsetResponse) {
		failures = append(failures, fmt.Errorf("commit %s: %w", topicPartition{o.Topic, o.Partition}, groupError(plan.Group, o.Err)))
	})
	return errors.Join(failures...)
}

func writeResetPlan(t *tableWriter, plan resetPlan) {
	t.row("TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET")
	for _, p := range plan.Partitions {
		t.row(p.Topic, p.Partition, int64OrDash(p.CurrentOffset), p.NewOffset)
	}
	if plan.Executed {
		t.line("Reset %d partition(s) of group %q.", len(plan.Partitions), plan.Group)
		return
	}
	t.line("Dry run: nothing changed. Add --execute to apply this plan.")
}
