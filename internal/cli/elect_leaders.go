package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Election results `sluice cluster elect-leaders` reports.
const (
	electionDone      = "elected"
	electionNotNeeded = "not_needed"
	electionFailed    = "failed"
)

// electionResult is one partition's election.
type electionResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Result is elected, not_needed (the preferred replica leads already,
	// or, unclean, the partition has a leader) or failed.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

func newClusterElectLeadersCommand(client *clientFlags) *cobra.Command {
	var electionType, topic string
	var partitions []int32
	var all bool
	cmd := &cobra.Command{
		Use:   "elect-leaders (--topic TOPIC [--partition N,...] | --all)",
		Short: "Move partition leadership to the preferred replica, or elect a leader outside the ISR (like kafka-leader-election.sh)",
		Long: `Ask the controller for leader elections (ElectLeaders), as kafka-leader-election.sh does.

--election-type preferred (the default) moves each partition's leadership to its
preferred replica (the first one) when that replica is alive and in the ISR.
--election-type unclean elects a leader for partitions that have none, from
outside the ISR if no in-sync replica is alive: records the ISR had and the new
leader lacks are lost.

A partition whose election was not needed is reported and is not an error; a
failed election is, and makes the command exit non-zero.`,
		Example: "  sluice cluster elect-leaders --all\n" +
			"  sluice cluster elect-leaders --topic orders --partition 0,3\n" +
			"  sluice cluster elect-leaders --election-type unclean --topic orders --partition 2",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			how, err := parseElectionType(electionType)
			if err != nil {
				return err
			}
			switch {
			case all && (topic != "" || len(partitions) > 0):
				return errors.New("--all elects every partition: leave out --topic and --partition")
			case !all && topic == "":
				return errors.New("name the partitions: --topic TOPIC [--partition N,...], or --all")
			}
			s, err := openFreshAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			var set kadm.TopicsSet
			if !all {
				if set, err = electionSet(s, topic, partitions); err != nil {
					return err
				}
			}
			results, err := s.admin.ElectLeaders(s.ctx, how, set)
			if err != nil {
				return s.conn.requestFailed("elect leaders", err)
			}
			rows, failed := electionRows(results)
			if err := s.print(cmd, rows, func(t *tableWriter) { writeElections(t, rows, strings.ToUpper(electionType)) }); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d leader election(s) failed", failed, len(rows))
			}
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&electionType, "election-type", "preferred", "preferred or unclean")
	flags.StringVar(&topic, "topic", "", "the topic whose partitions to elect leaders for")
	flags.Int32SliceVar(&partitions, "partition", nil, "partitions of --topic, comma-separated (default: all of them)")
	flags.BoolVar(&all, "all", false, "every partition of every topic")
	cmd.RegisterFlagCompletionFunc("election-type", cobra.FixedCompletions([]string{"preferred", "unclean"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("topic", completeTopics(client))
	return cmd
}

func parseElectionType(s string) (kadm.ElectLeadersHow, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "preferred":
		return kadm.ElectPreferredReplica, nil
	case "unclean":
		return kadm.ElectLiveReplica, nil
	}
	return 0, fmt.Errorf("--election-type %q: want preferred or unclean", s)
}

// electionSet is the partitions to elect: the named ones of topic, or all
// of its partitions; the topic and each partition must exist.
func electionSet(s *adminSession, topic string, partitions []int32) (kadm.TopicsSet, error) {
	details, err := existingTopics(s.ctx, s.conn, s.admin, topic)
	if err != nil {
		return nil, err
	}
	set := kadm.TopicsSet{}
	if len(partitions) == 0 {
		for p := range details[topic].Partitions {
			set.Add(topic, p)
		}
		return set, nil
	}
	for _, p := range partitions {
		if _, ok := details[topic].Partitions[p]; !ok {
			return nil, explainedError{message: fmt.Sprintf("partition %s-%d does not exist", topic, p), cause: kerr.UnknownTopicOrPartition}
		}
		set.Add(topic, p)
	}
	return set, nil
}

// electionRows sorts the results and counts the failures.
func electionRows(results kadm.ElectLeadersResults) ([]electionResult, int) {
	rows := []electionResult{}
	failed := 0
	for topic, ps := range results {
		for p, r := range ps {
			row := electionResult{Topic: topic, Partition: p, Result: electionDone}
			switch {
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
				row.Result = electionNotNeeded
			case r.Err != nil:
				row.Result = electionFailed
				row.Error = withBrokerMessage(explain(r.Err), r.ErrMessage).Error()
				failed++
			}
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b electionResult) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	return rows, failed
}

// writeElections prints the results as kafka-leader-election.sh does: one
// line per outcome listing its partitions, then each failure.
func writeElections(t *tableWriter, rows []electionResult, kind string) {
	var done, notNeeded []string
	for _, r := range rows {
		name := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
		switch r.Result {
		case electionDone:
			done = append(done, name)
		case electionNotNeeded:
			notNeeded = append(notNeeded, name)
		}
	}
	if len(rows) == 0 {
		t.line("No partition needed a leader election.")
	}
	if len(done) > 0 {
		t.line("Successfully completed leader election (%s) for partitions %s", kind, strings.Join(done, ", "))
	}
	if len(notNeeded) > 0 {
		t.line("Valid replica already elected for partitions %s", strings.Join(notNeeded, ", "))
	}
	for _, r := range rows {
		if r.Result == electionFailed {
			t.line("Error completing leader election (%s) for partition %s-%d: %s", kind, r.Topic, r.Partition, r.Error)
		}
	}
}
