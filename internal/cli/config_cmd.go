package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configEntry is one config as the describe commands print it.
type configEntry struct {
	Name string `json:"name"`
	// Value is null for a sensitive config (the broker does not send it)
	// and for one that has no value.
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive"`
}

// configResource is the configs of one topic or broker.
type configResource struct {
	// Type is "topic" or "broker".
	Type    string        `json:"type"`
	Name    string        `json:"name"`
	Configs []configEntry `json:"configs"`
}

// configEntries converts kadm's configs, sorted by name; without all, the
// ones at their default value are left out (as kafka-configs.sh --describe
// does without --all).
func configEntries(configs []kadm.Config, all bool) []configEntry {
	entries := make([]configEntry, 0, len(configs))
	for _, c := range configs {
		if !all && c.Source == kmsg.ConfigSourceDefaultConfig {
			continue
		}
		entries = append(entries, configEntry{Name: c.Key, Value: c.Value, Source: c.Source.String(), Sensitive: c.Sensitive})
	}
	slices.SortFunc(entries, func(a, b configEntry) int { return strings.Compare(a.Name, b.Name) })
	return entries
}

// displayValue shows a config value in a table.
func (e configEntry) displayValue() string {
	switch {
	case e.Sensitive:
		return "(sensitive)"
	case e.Value == nil:
		return "(null)"
	}
	return *e.Value
}

// writeConfigTable draws a config list.
func writeConfigTable(t *tableWriter, entries []configEntry) {
	t.row("NAME", "VALUE", "SOURCE")
	for _, e := range entries {
		t.row(e.Name, e.displayValue(), e.Source)
	}
}

// describeTopicConfigs reads the configs of topics, failing on the first
// topic the broker could not describe.
func describeTopicConfigs(ctx context.Context, conn connection, admin *kadm.Client, all bool, topics ...string) (map[string][]configEntry, error) {
	described, err := admin.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, conn.requestFailed("describe topic configs", err)
	}
	out := make(map[string][]configEntry, len(described))
	for _, rc := range described {
		if rc.Err != nil {
			return nil, withBrokerMessage(topicError(rc.Name, rc.Err), rc.ErrMessage)
		}
		out[rc.Name] = configEntries(rc.Configs, all)
	}
	return out, nil
}

// alterFlags are the changes an alter command applies, in Kafka's
// incremental form (IncrementalAlterConfigs): set, delete (back to the
// default), append to and subtract from a list config.
type alterFlags struct {
	set      []string
	remove   []string
	appended []string
	subtract []string
	dryRun   bool
}

func (a *alterFlags) register(flags *pflag.FlagSet) {
	flags.StringArrayVar(&a.set, "set", nil, "set a config: --set retention.ms=86400000 (repeatable)")
	flags.StringArrayVar(&a.remove, "delete", nil, "remove a config override, back to the default (repeatable)")
	flags.StringArrayVar(&a.appended, "append", nil, "add a value to a list config: --append cleanup.policy=compact (repeatable)")
	flags.StringArrayVar(&a.subtract, "subtract", nil, "remove a value from a list config (repeatable)")
	flags.BoolVar(&a.dryRun, "dry-run", false, "have the broker validate the change without applying it")
}

// changes turns the flags into kadm's alterations.
func (a *alterFlags) changes() ([]kadm.AlterConfig, error) {
	var out []kadm.AlterConfig
	for _, group := range []struct {
		flag   string
		op     kadm.IncrementalOp
		values []string
	}{
		{"--set", kadm.SetConfig, a.set},
		{"--append", kadm.AppendConfig, a.appended},
		{"--subtract", kadm.SubtractConfig, a.subtract},
	} {
		for _, kv := range group.values {
			key, value, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(key) == "" {
				return nil, fmt.Errorf("%s %q: want key=value", group.flag, kv)
			}
			out = append(out, kadm.AlterConfig{Op: group.op, Name: strings.TrimSpace(key), Value: &value})
		}
	}
	for _, key := range a.remove {
		if strings.TrimSpace(key) == "" {
			return nil, errors.New("--delete: want a config name")
		}
		out = append(out, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: strings.TrimSpace(key)})
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to change: give --set, --delete, --append or --subtract")
	}
	return out, nil
}

// alterResult is what an alter command reports.
type alterResult struct {
	Type    string           `json:"type"`
	Name    string           `json:"name"`
	DryRun  bool             `json:"dry_run"`
	Changes []configChangeOp `json:"changes"`
}

// configChangeOp is one requested change as printed.
type configChangeOp struct {
	Op    string  `json:"op"`
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

func describeChanges(changes []kadm.AlterConfig) []configChangeOp {
	out := make([]configChangeOp, len(changes))
	for i, c := range changes {
		out[i] = configChangeOp{Op: opName(c.Op), Name: c.Name, Value: c.Value}
	}
	return out
}

// opName spells an incremental operation as the flags do.
func opName(op kadm.IncrementalOp) string {
	switch op {
	case kadm.DeleteConfig:
		return "delete"
	case kadm.AppendConfig:
		return "append"
	case kadm.SubtractConfig:
		return "subtract"
	}
	return "set"
}

// alterTopicConfigs applies changes to topics and reports per topic.
func alterTopicConfigs(ctx context.Context, conn connection, admin *kadm.Client, changes []kadm.AlterConfig, dryRun bool, topics ...string) ([]alterResult, error) {
	alter := admin.AlterTopicConfigs
	if dryRun {
		alter = admin.ValidateAlterTopicConfigs
	}
	responses, err := alter(ctx, changes, topics...)
	if err != nil {
		return nil, conn.requestFailed("alter topic configs", err)
	}
	for _, r := range responses {
		if r.Err != nil {
			return nil, withBrokerMessage(topicError(r.Name, r.Err), r.ErrMessage)
		}
	}
	results := make([]alterResult, len(topics))
	for i, topic := range topics {
		results[i] = alterResult{Type: "topic", Name: topic, DryRun: dryRun, Changes: describeChanges(changes)}
	}
	return results, nil
}

// alterBrokerConfigs applies changes to brokers (all brokers, as a
// cluster-wide default, when none is named).
func alterBrokerConfigs(ctx context.Context, conn connection, admin *kadm.Client, changes []kadm.AlterConfig, dryRun bool, brokers ...int32) ([]alterResult, error) {
	alter := admin.AlterBrokerConfigs
	if dryRun {
		alter = admin.ValidateAlterBrokerConfigs
	}
	responses, err := alter(ctx, changes, brokers...)
	if err != nil {
		return nil, conn.requestFailed("alter broker configs", err)
	}
	for _, r := range responses {
		if r.Err != nil {
			return nil, withBrokerMessage(fmt.Errorf("broker %s: %w", orDefault(r.Name), explain(r.Err)), r.ErrMessage)
		}
	}
	names := brokerNames(brokers)
	results := make([]alterResult, len(names))
	for i, name := range names {
		results[i] = alterResult{Type: "broker", Name: name, DryRun: dryRun, Changes: describeChanges(changes)}
	}
	return results, nil
}

// brokerNames spells broker IDs as config resource names; no ID is the
// cluster-wide default resource, named "".
func brokerNames(brokers []int32) []string {
	if len(brokers) == 0 {
		return []string{""}
	}
	names := make([]string, len(brokers))
	for i, b := range brokers {
		names[i] = strconv.Itoa(int(b))
	}
	return names
}

// orDefault names the cluster-wide broker resource for a person.
func orDefault(name string) string {
	if name == "" {
		return "cluster-wide default"
	}
	return name
}

// writeAlterResults prints alter results as sentences.
func writeAlterResults(t *tableWriter, results []alterResult) {
	for _, r := range results {
		verb := "Altered"
		if r.DryRun {
			verb = "Validated (dry run, nothing changed)"
		}
		name := r.Name
		if r.Type == "broker" {
			name = orDefault(name)
		}
		t.line("%s configs of %s %s:", verb, r.Type, quoteName(r.Type, name))
		for _, c := range r.Changes {
			if c.Value != nil {
				t.line("  %s %s=%s", c.Op, c.Name, *c.Value)
			} else {
				t.line("  %s %s", c.Op, c.Name)
			}
		}
	}
}

// quoteName quotes topic names (which may hold dots and dashes) but not
// broker IDs.
func quoteName(resourceType, name string) string {
	if resourceType == "topic" {
		return strconv.Quote(name)
	}
	return name
}

// configTarget is the resource a config command works on: --topic or
// --broker.
type configTarget struct {
	topics  []string
	brokers []int32
	// brokerDefault is --broker-defaults: the cluster-wide broker
	// resource.
	brokerDefault bool
}

func (c *configTarget) register(flags *pflag.FlagSet) {
	flags.StringArrayVar(&c.topics, "topic", nil, "topic to work on (repeatable)")
	flags.Int32SliceVar(&c.brokers, "broker", nil, "broker node ID to work on (repeatable)")
	flags.BoolVar(&c.brokerDefault, "broker-defaults", false, "the cluster-wide broker defaults")
}

// validate insists on exactly one kind of resource.
func (c *configTarget) validate() error {
	kinds := 0
	for _, set := range []bool{len(c.topics) > 0, len(c.brokers) > 0, c.brokerDefault} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return errors.New("name what to work on: --topic NAME, --broker ID or --broker-defaults (one kind)")
	}
	return nil
}

func newConfigCommand() *cobra.Command {
	var client clientFlags
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Describe and alter topic and broker configs (like kafka-configs.sh)",
	}
	client.register(cmd, true, true)
	cmd.AddCommand(newConfigDescribeCommand(&client), newConfigAlterCommand(&client))
	return cmd
}

func newConfigDescribeCommand(client *clientFlags) *cobra.Command {
	var target configTarget
	var all bool
	cmd := &cobra.Command{
		Use:   "describe (--topic NAME | --broker ID | --broker-defaults)",
		Short: "Show the configs of topics or brokers (overrides only, unless --all)",
		Example: "  sluice config describe --topic orders\n" +
			"  sluice config describe --broker 1 --all -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := target.validate(); err != nil {
				return err
			}
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			resources, err := describeTarget(s.ctx, s.conn, s.admin, target, all)
			if err != nil {
				return err
			}
			return s.print(cmd, resources, func(t *tableWriter) {
				for i, r := range resources {
					if i > 0 {
						t.line("")
					}
					t.line("Configs of %s %s:", r.Type, quoteName(r.Type, orDefault(r.Name)))
					writeConfigTable(t, r.Configs)
				}
			})
		},
	}
	target.register(cmd.Flags())
	cmd.Flags().BoolVar(&all, "all", false, "include configs at their default value")
	cmd.RegisterFlagCompletionFunc("topic", completeTopics(client))
	return cmd
}

// describeTarget reads the configs of the target's resources.
func describeTarget(ctx context.Context, conn connection, admin *kadm.Client, target configTarget, all bool) ([]configResource, error) {
	if len(target.topics) > 0 {
		configs, err := describeTopicConfigs(ctx, conn, admin, all, target.topics...)
		if err != nil {
			return nil, err
		}
		out := make([]configResource, len(target.topics))
		for i, topic := range target.topics {
			out[i] = configResource{Type: "topic", Name: topic, Configs: configs[topic]}
		}
		return out, nil
	}
	described, err := admin.DescribeBrokerConfigs(ctx, target.brokers...)
	if err != nil {
		return nil, conn.requestFailed("describe broker configs", err)
	}
	out := make([]configResource, 0, len(described))
	for _, rc := range described {
		if rc.Err != nil {
			return nil, withBrokerMessage(fmt.Errorf("broker %s: %w", orDefault(rc.Name), explain(rc.Err)), rc.ErrMessage)
		}
		out = append(out, configResource{Type: "broker", Name: rc.Name, Configs: configEntries(rc.Configs, all)})
	}
	slices.SortFunc(out, func(a, b configResource) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func newConfigAlterCommand(client *clientFlags) *cobra.Command {
	var target configTarget
	var alter alterFlags
	cmd := &cobra.Command{
		Use:   "alter (--topic NAME | --broker ID | --broker-defaults) [--set k=v] [--delete k]",
		Short: "Change topic or broker configs (IncrementalAlterConfigs)",
		Example: "  sluice config alter --topic orders --set retention.ms=86400000 --delete cleanup.policy\n" +
			"  sluice config alter --broker-defaults --set log.retention.hours=24 --dry-run",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := target.validate(); err != nil {
				return err
			}
			changes, err := alter.changes()
			if err != nil {
				return err
			}
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			var results []alterResult
			if len(target.topics) > 0 {
				results, err = alterTopicConfigs(s.ctx, s.conn, s.admin, changes, alter.dryRun, target.topics...)
			} else {
				results, err = alterBrokerConfigs(s.ctx, s.conn, s.admin, changes, alter.dryRun, target.brokers...)
			}
			if err != nil {
				return err
			}
			return s.print(cmd, results, func(t *tableWriter) { writeAlterResults(t, results) })
		},
	}
	target.register(cmd.Flags())
	alter.register(cmd.Flags())
	cmd.RegisterFlagCompletionFunc("topic", completeTopics(client))
	return cmd
}
