package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicSummary is one row of `sluice topic list`.
type topicSummary struct {
	Name              string `json:"name"`
	ID                string `json:"id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
}

// topicDescription is what `sluice topic describe` shows of one topic.
type topicDescription struct {
	Name              string                 `json:"name"`
	ID                string                 `json:"id"`
	Internal          bool                   `json:"internal"`
	PartitionCount    int                    `json:"partition_count"`
	ReplicationFactor int                    `json:"replication_factor"`
	MinInsyncReplicas int32                  `json:"min_insync_replicas"` // 0: the broker did not say
	Partitions        []partitionDescription `json:"partitions"`
	Configs           []configEntry          `json:"configs"`
}

// partitionDescription is one partition: its replicas and its offsets.
type partitionDescription struct {
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	// StartOffset is the log start offset; EndOffset the high watermark.
	StartOffset int64 `json:"start_offset"`
	EndOffset   int64 `json:"end_offset"`
	// The partition's health (topic_health.go): no live leader, fewer
	// in-sync replicas than replicas, fewer than min.insync.replicas.
	Offline         bool   `json:"offline"`
	UnderReplicated bool   `json:"under_replicated"`
	UnderMinISR     bool   `json:"under_min_isr"`
	Error           string `json:"error,omitempty"`
}

// formatTopicID spells a topic ID as Kafka does (Uuid.toString: URL-safe
// base64 without padding), so IDs match what Kafka's tools print.
func formatTopicID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func newTopicCommand() *cobra.Command {
	var client clientFlags
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics (like kafka-topics.sh)",
	}
	client.register(cmd, true, true)
	cmd.AddCommand(
		newTopicCreateCommand(&client),
		newTopicListCommand(&client),
		newTopicDescribeCommand(&client),
		newTopicDeleteCommand(&client),
		newTopicAddPartitionsCommand(&client),
		newTopicAlterConfigCommand(&client),
		newTopicReassignCommand(&client),
	)
	return cmd
}

// adminSession is what every admin command starts with: the resolved
// connection, a connected admin client and a context bounded by the
// timeout. close releases all three.
type adminSession struct {
	conn   connection
	admin  *kadm.Client
	ctx    context.Context
	cancel context.CancelFunc
}

func openAdmin(cmd *cobra.Command, client *clientFlags) (*adminSession, error) {
	conn, err := client.resolve(cmd)
	if err != nil {
		return nil, err
	}
	admin, err := conn.admin(cmd.Context())
	if err != nil {
		return nil, err
	}
	ctx, cancel := conn.requestContext(cmd.Context())
	return &adminSession{conn: conn, admin: admin, ctx: ctx, cancel: cancel}, nil
}

func (s *adminSession) close() {
	s.cancel()
	s.admin.Close()
}

// print renders value in the session's output format.
func (s *adminSession) print(cmd *cobra.Command, value any, table func(*tableWriter)) error {
	return render(cmd.OutOrStdout(), s.conn.output, value, table)
}

func newTopicCreateCommand(client *clientFlags) *cobra.Command {
	var partitions int32
	var replicationFactor int16
	var configs []string
	var ifNotExists, dryRun bool
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Example: "  sluice topic create orders --partitions 6 --config retention.ms=86400000\n" +
			"  sluice topic create events --if-not-exists",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, topics []string) error {
			configMap, err := parseConfigPairs(configs)
			if err != nil {
				return err
			}
			if partitions == 0 || partitions < -1 {
				return fmt.Errorf("--partitions %d: want at least 1 (or -1 for the broker's num.partitions)", partitions)
			}
			if replicationFactor == 0 || replicationFactor < -1 {
				return fmt.Errorf("--replication-factor %d: want at least 1 (or -1 for the broker's default)", replicationFactor)
			}
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			create := s.admin.CreateTopics
			if dryRun {
				create = s.admin.ValidateCreateTopics
			}
			responses, err := create(s.ctx, partitions, replicationFactor, configMap, topics...)
			if err != nil {
				return s.conn.requestFailed("create topics", err)
			}
			results, err := createResults(topics, responses, ifNotExists, dryRun)
			if err != nil {
				return err
			}
			return s.print(cmd, results, func(t *tableWriter) { writeCreateResults(t, results) })
		},
	}
	flags := cmd.Flags()
	flags.Int32VarP(&partitions, "partitions", "p", -1, "partitions (-1: the broker's num.partitions)")
	flags.Int16VarP(&replicationFactor, "replication-factor", "r", -1, "replicas per partition (-1: the broker's default.replication.factor)")
	flags.StringArrayVarP(&configs, "config", "c", nil, "topic config: --config retention.ms=86400000 (repeatable)")
	flags.BoolVar(&ifNotExists, "if-not-exists", false, "succeed when the topic already exists")
	flags.BoolVar(&dryRun, "dry-run", false, "have the broker validate the request without creating anything")
	return cmd
}

// createResult is one created topic as reported.
type createResult struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Partitions        int32  `json:"partitions"`
	ReplicationFactor int16  `json:"replication_factor"`
	// Created is false for a topic that existed (--if-not-exists) and for
	// a dry run.
	Created bool `json:"created"`
	Existed bool `json:"existed,omitempty"`
	DryRun  bool `json:"dry_run,omitempty"`
}

func createResults(topics []string, responses kadm.CreateTopicResponses, ifNotExists, dryRun bool) ([]createResult, error) {
	results := make([]createResult, 0, len(topics))
	var failures []error
	for _, topic := range topics {
		r, ok := responses[topic]
		if !ok {
			failures = append(failures, missingFromAnswer("topic", topic))
			continue
		}
		if ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists) {
			results = append(results, createResult{Name: topic, Existed: true})
			continue
		}
		if r.Err != nil {
			failures = append(failures, withBrokerMessage(topicError(topic, r.Err), r.ErrMessage))
			continue
		}
		results = append(results, createResult{Name: topic, ID: formatTopicID(r.ID), Partitions: r.NumPartitions,
			ReplicationFactor: r.ReplicationFactor, Created: !dryRun, DryRun: dryRun})
	}
	return results, errors.Join(failures...)
}

func writeCreateResults(t *tableWriter, results []createResult) {
	for _, r := range results {
		switch {
		case r.Existed:
			t.line("Topic %q already exists.", r.Name)
		case r.DryRun:
			t.line("Topic %q would be created with %d partitions, replication factor %d (dry run).", r.Name, r.Partitions, r.ReplicationFactor)
		default:
			t.line("Created topic %q with %d partitions, replication factor %d.", r.Name, r.Partitions, r.ReplicationFactor)
		}
	}
}

// parseConfigPairs reads repeated key=value flags into a config map.
func parseConfigPairs(pairs []string) (map[string]*string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]*string, len(pairs))
	for _, kv := range pairs {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return nil, fmt.Errorf("--config %q: want key=value", kv)
		}
		out[strings.TrimSpace(key)] = &value
	}
	return out, nil
}

func newTopicListCommand(client *clientFlags) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			list := s.admin.ListTopics
			if internal {
				list = s.admin.ListTopicsWithInternal
			}
			details, err := list(s.ctx)
			if err != nil {
				return s.conn.requestFailed("list topics", err)
			}
			summaries := summarizeTopics(details)
			return s.print(cmd, summaries, func(t *tableWriter) {
				t.row("NAME", "PARTITIONS", "REPLICATION-FACTOR", "ID")
				for _, topic := range summaries {
					name := topic.Name
					if topic.Internal {
						name += " (internal)"
					}
					t.row(name, topic.Partitions, topic.ReplicationFactor, topic.ID)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets)")
	return cmd
}

// summarizeTopics turns metadata into list rows, sorted by name.
func summarizeTopics(details kadm.TopicDetails) []topicSummary {
	summaries := make([]topicSummary, 0, len(details))
	for _, d := range details.Sorted() {
		summaries = append(summaries, topicSummary{
			Name:              d.Topic,
			ID:                formatTopicID(d.ID),
			Partitions:        len(d.Partitions),
			ReplicationFactor: d.Partitions.NumReplicas(),
			Internal:          d.IsInternal,
		})
	}
	return summaries
}

func newTopicDescribeCommand(client *clientFlags) *cobra.Command {
	var allConfigs bool
	var filter partitionFilter
	cmd := &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Show partitions (leader, replicas, ISR, offline replicas, offsets, health) and config overrides",
		Long: `Show topics' partitions: leader, replicas, in-sync replicas (ISR), offline
replicas, offsets, and a STATUS naming what is wrong: offline (no live
leader), under-replicated (ISR smaller than the replicas), under-min-isr (ISR
below min.insync.replicas, capped at the replica count: acks=all produce is
refused). Without TOPIC every topic is described, internal ones included
unless --exclude-internal. --under-replicated, --offline and --under-min-isr
keep only the partitions in that state (any of them when several are given),
as kafka-topics.sh --describe --under-replicated-partitions,
--unavailable-partitions and --under-min-isr-partitions do.`,
		Example: "  sluice topic describe orders\n  sluice topic describe orders --all-configs -o yaml\n" +
			"  sluice topic describe --under-replicated      # every topic's under-replicated partitions\n" +
			"  sluice topic describe --offline -o json",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeTopics(client),
		RunE: func(cmd *cobra.Command, topics []string) error {
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			descriptions, err := describeTopics(s.ctx, s.conn, s.admin, topics, allConfigs, filter.excludeInternal)
			if err != nil {
				return err
			}
			if filter.active() {
				descriptions = filter.apply(descriptions)
			}
			return s.print(cmd, descriptions, func(t *tableWriter) { writeTopicDescriptions(t, descriptions, allConfigs, filter.active()) })
		},
	}
	cmd.Flags().BoolVar(&allConfigs, "all-configs", false, "show every config, not only the ones set on the topic")
	filter.register(cmd)
	return cmd
}

// describeTopics gathers metadata, offsets and configs of topics (every
// topic when none is named, internal ones unless excludeInternal); a topic
// that does not exist is an error.
func describeTopics(ctx context.Context, conn connection, admin *kadm.Client, topics []string, allConfigs, excludeInternal bool) ([]topicDescription, error) {
	meta, err := topicMetadata(ctx, conn, admin, topics...)
	if err != nil {
		return nil, err
	}
	details := meta.Topics
	if len(topics) == 0 {
		topics = describedTopicNames(details, excludeInternal)
		if len(topics) == 0 {
			return []topicDescription{}, nil
		}
	}
	starts, err := listOffsetsOfAvailable(admin.ListStartOffsets(ctx, topics...))
	if err != nil {
		return nil, conn.requestFailed("list start offsets", err)
	}
	ends, err := listOffsetsOfAvailable(admin.ListEndOffsets(ctx, topics...))
	if err != nil {
		return nil, conn.requestFailed("list end offsets", err)
	}
	configs, minISRs, err := describeTopicConfigsAndMinISR(ctx, conn, admin, allConfigs, topics...)
	if err != nil {
		return nil, err
	}
	live := liveBrokers(meta.Brokers)
	out := make([]topicDescription, 0, len(topics))
	for _, topic := range topics {
		detail := details[topic]
		d := topicDescription{
			Name:              topic,
			ID:                formatTopicID(detail.ID),
			Internal:          detail.IsInternal,
			PartitionCount:    len(detail.Partitions),
			ReplicationFactor: detail.Partitions.NumReplicas(),
			MinInsyncReplicas: minISRs[topic],
			Configs:           configs[topic],
		}
		for _, p := range detail.Partitions.Sorted() {
			pd := describePartition(p, starts, ends)
			assessPartition(&pd, live, minISRs[topic])
			d.Partitions = append(d.Partitions, pd)
		}
		out = append(out, d)
	}
	return out, nil
}

func describePartition(p kadm.PartitionDetail, starts, ends kadm.ListedOffsets) partitionDescription {
	d := partitionDescription{
		Partition:       p.Partition,
		Leader:          p.Leader,
		LeaderEpoch:     p.LeaderEpoch,
		Replicas:        nonNil(p.Replicas),
		ISR:             nonNil(p.ISR),
		OfflineReplicas: nonNil(p.OfflineReplicas),
		StartOffset:     -1,
		EndOffset:       -1,
	}
	var problems []string
	if p.Err != nil {
		problems = append(problems, p.Err.Error())
	}
	if start, ok := starts.Lookup(p.Topic, p.Partition); ok && start.Err == nil {
		d.StartOffset = start.Offset
	} else if ok && !errors.Is(start.Err, p.Err) { // a leaderless partition says so once
		problems = append(problems, "start offset: "+start.Err.Error())
	}
	if end, ok := ends.Lookup(p.Topic, p.Partition); ok && end.Err == nil {
		d.EndOffset = end.Offset
	} else if ok && !errors.Is(end.Err, p.Err) { // a leaderless partition says so once
		problems = append(problems, "end offset: "+end.Err.Error())
	}
	d.Error = strings.Join(problems, "; ")
	return d
}

// nonNil makes an absent list print as [] rather than null.
func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

// writeTopicDescriptions draws the describe table; filtered (a health
// filter is on) leaves out the configs, as kafka-topics.sh does.
func writeTopicDescriptions(t *tableWriter, descriptions []topicDescription, allConfigs, filtered bool) {
	for i, d := range descriptions {
		if i > 0 {
			t.line("")
		}
		internal := ""
		if d.Internal {
			internal = "  Internal: true"
		}
		minISR := ""
		if d.MinInsyncReplicas > 0 {
			minISR = fmt.Sprintf("  Min ISR: %d", d.MinInsyncReplicas)
		}
		t.line("Topic: %s  ID: %s  Partitions: %d  Replication factor: %d%s%s", d.Name, d.ID, d.PartitionCount, d.ReplicationFactor, minISR, internal)
		t.row("PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "START-OFFSET", "END-OFFSET", "STATUS", "ERROR")
		for _, p := range d.Partitions {
			t.row(p.Partition, p.Leader, p.LeaderEpoch, joinInt32s(p.Replicas), joinInt32s(p.ISR), orDash(joinInt32s(p.OfflineReplicas)),
				p.StartOffset, p.EndOffset, orDash(partitionStatus(p)), orDash(p.Error))
		}
		if filtered {
			continue
		}
		heading := "Configs set on the topic:"
		if allConfigs {
			heading = "Configs:"
		}
		if len(d.Configs) == 0 {
			t.line("%s none", heading)
			continue
		}
		t.line("%s", heading)
		writeConfigTable(t, d.Configs)
	}
}

// existingTopics reads the metadata of topics and fails, naming the topic,
// if one does not exist or cannot be described.
func existingTopics(ctx context.Context, conn connection, admin *kadm.Client, topics ...string) (kadm.TopicDetails, error) {
	details, err := admin.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return nil, conn.requestFailed("read topic metadata", err)
	}
	for _, topic := range topics {
		detail, ok := details[topic]
		if !ok {
			return nil, topicError(topic, kerr.UnknownTopicOrPartition)
		}
		if detail.Err != nil {
			return nil, topicError(topic, detail.Err)
		}
	}
	return details, nil
}

func newTopicDeleteCommand(client *clientFlags) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:               "delete TOPIC...",
		Short:             "Delete topics and all their records",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTopics(client),
		RunE: func(cmd *cobra.Command, topics []string) error {
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			responses, err := s.admin.DeleteTopics(s.ctx, topics...)
			if err != nil {
				return s.conn.requestFailed("delete topics", err)
			}
			results, err := deleteResults(topics, responses, ifExists)
			if err != nil {
				return err
			}
			return s.print(cmd, results, func(t *tableWriter) {
				for _, r := range results {
					if r.Deleted {
						t.line("Deleted topic %q.", r.Name)
					} else {
						t.line("Topic %q does not exist.", r.Name)
					}
				}
			})
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed when the topic does not exist")
	return cmd
}

// deleteResult is one topic of `sluice topic delete`.
type deleteResult struct {
	Name    string `json:"name"`
	Deleted bool   `json:"deleted"`
}

func deleteResults(topics []string, responses kadm.DeleteTopicResponses, ifExists bool) ([]deleteResult, error) {
	results := make([]deleteResult, 0, len(topics))
	var failures []error
	for _, topic := range topics {
		r, ok := responses[topic]
		switch {
		case !ok:
			failures = append(failures, missingFromAnswer("topic", topic))
		case ifExists && errors.Is(r.Err, kerr.UnknownTopicOrPartition):
			results = append(results, deleteResult{Name: topic})
		case r.Err != nil:
			failures = append(failures, withBrokerMessage(topicError(topic, r.Err), r.ErrMessage))
		default:
			results = append(results, deleteResult{Name: topic, Deleted: true})
		}
	}
	return results, errors.Join(failures...)
}

func newTopicAddPartitionsCommand(client *clientFlags) *cobra.Command {
	var count, total int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "add-partitions TOPIC... (--count N | --total N)",
		Short: "Add partitions to topics (keyed records may move to other partitions)",
		Example: "  sluice topic add-partitions orders --total 12\n" +
			"  sluice topic add-partitions orders --count 2",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTopics(client),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if (count > 0) == (total > 0) {
				return errors.New("give either --count N (partitions to add) or --total N (the new partition count)")
			}
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			before, err := existingTopics(s.ctx, s.conn, s.admin, topics...)
			if err != nil {
				return err
			}
			responses, err := createPartitions(s, count, total, dryRun, topics)
			if err != nil {
				return s.conn.requestFailed("create partitions", err)
			}
			results, err := partitionResults(topics, before, responses, count, total, dryRun)
			if err != nil {
				return err
			}
			return s.print(cmd, results, func(t *tableWriter) {
				for _, r := range results {
					suffix := "."
					if r.DryRun {
						suffix = " (dry run, nothing changed)."
					}
					t.line("Topic %q: %d -> %d partitions%s", r.Name, r.Before, r.After, suffix)
				}
			})
		},
	}
	cmd.Flags().IntVar(&count, "count", 0, "partitions to add")
	cmd.Flags().IntVar(&total, "total", 0, "the new total partition count (as kafka-topics.sh --alter --partitions)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "have the broker validate the request without changing anything")
	return cmd
}

func createPartitions(s *adminSession, count, total int, dryRun bool, topics []string) (kadm.CreatePartitionsResponses, error) {
	switch {
	case count > 0 && dryRun:
		return s.admin.ValidateCreatePartitions(s.ctx, count, topics...)
	case count > 0:
		return s.admin.CreatePartitions(s.ctx, count, topics...)
	case dryRun:
		return s.admin.ValidateUpdatePartitions(s.ctx, total, topics...)
	}
	return s.admin.UpdatePartitions(s.ctx, total, topics...)
}

// partitionResult is one topic of `sluice topic add-partitions`.
type partitionResult struct {
	Name   string `json:"name"`
	Before int    `json:"before"`
	After  int    `json:"after"`
	DryRun bool   `json:"dry_run,omitempty"`
}

func partitionResults(topics []string, before kadm.TopicDetails, responses kadm.CreatePartitionsResponses, count, total int, dryRun bool) ([]partitionResult, error) {
	results := make([]partitionResult, 0, len(topics))
	var failures []error
	for _, topic := range topics {
		r, ok := responses[topic]
		if !ok {
			failures = append(failures, missingFromAnswer("topic", topic))
			continue
		}
		if r.Err != nil {
			failures = append(failures, withBrokerMessage(topicError(topic, r.Err), r.ErrMessage))
			continue
		}
		had := len(before[topic].Partitions)
		after := total
		if count > 0 {
			after = had + count
		}
		results = append(results, partitionResult{Name: topic, Before: had, After: after, DryRun: dryRun})
	}
	return results, errors.Join(failures...)
}

func newTopicAlterConfigCommand(client *clientFlags) *cobra.Command {
	var alter alterFlags
	cmd := &cobra.Command{
		Use:               "alter-config TOPIC... [--set k=v] [--delete k]",
		Short:             "Change topic configs (same as sluice config alter --topic)",
		Example:           "  sluice topic alter-config orders --set retention.ms=3600000 --delete max.message.bytes",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTopics(client),
		RunE: func(cmd *cobra.Command, topics []string) error {
			changes, err := alter.changes()
			if err != nil {
				return err
			}
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			results, err := alterTopicConfigs(s.ctx, s.conn, s.admin, changes, alter.dryRun, topics...)
			if err != nil {
				return err
			}
			return s.print(cmd, results, func(t *tableWriter) { writeAlterResults(t, results) })
		},
	}
	alter.register(cmd.Flags())
	return cmd
}
