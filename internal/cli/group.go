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

func newGroupCommand() *cobra.Command {
	var client clientFlags
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, delete consumer groups and reset their offsets (like kafka-consumer-groups.sh)",
	}
	client.register(cmd, true, true)
	cmd.AddCommand(
		newGroupListCommand(&client),
		newGroupDescribeCommand(&client),
		newGroupDeleteCommand(&client),
		newGroupResetOffsetsCommand(&client),
	)
	return cmd
}

// groupSummary is one row of `sluice group list`.
type groupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func newGroupListCommand(client *clientFlags) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups with their state",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			listed, err := s.admin.ListGroups(s.ctx, states...)
			if err != nil {
				return s.conn.requestFailed("list groups", err)
			}
			groups := make([]groupSummary, 0, len(listed))
			for _, g := range listed.Sorted() {
				groups = append(groups, groupSummary{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType, Coordinator: g.Coordinator})
			}
			return s.print(cmd, groups, func(t *tableWriter) {
				t.row("GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
				for _, g := range groups {
					t.row(g.Group, orDash(g.State), orDash(g.ProtocolType), g.Coordinator)
				}
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in these states (Stable, Empty, PreparingRebalance, ...)")
	return cmd
}

// groupDescription is what `sluice group describe` shows of one group.
type groupDescription struct {
	Group        string         `json:"group"`
	State        string         `json:"state"`
	ProtocolType string         `json:"protocol_type"`
	Protocol     string         `json:"protocol"`
	Coordinator  int32          `json:"coordinator"`
	Members      []groupMember  `json:"members"`
	Offsets      []partitionLag `json:"offsets"`
	TotalLag     int64          `json:"total_lag"`
}

// groupMember is one member and what it was assigned.
type groupMember struct {
	MemberID   string            `json:"member_id"`
	InstanceID *string           `json:"instance_id"`
	ClientID   string            `json:"client_id"`
	Host       string            `json:"host"`
	Assignment []topicPartitions `json:"assignment"`
}

// topicPartitions is a topic and some of its partitions.
type topicPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// partitionLag is one partition the group consumes or has committed.
type partitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// CommittedOffset is null when the group has committed nothing here.
	CommittedOffset *int64 `json:"committed_offset"`
	EndOffset       int64  `json:"end_offset"`
	// Lag is end minus committed (minus start without a commit); null
	// when it cannot be known.
	Lag      *int64 `json:"lag"`
	MemberID string `json:"member_id,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Host     string `json:"host,omitempty"`
	Error    string `json:"error,omitempty"`
}

func newGroupDescribeCommand(client *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "describe GROUP...",
		Short:             "Show a group's state, members, assignments and lag per partition",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeGroups(client),
		RunE: func(cmd *cobra.Command, groups []string) error {
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			lags, err := s.admin.Lag(s.ctx, groups...)
			if err != nil {
				return s.conn.requestFailed("describe groups", err)
			}
			descriptions := make([]groupDescription, 0, len(groups))
			for _, group := range groups {
				d, err := describeGroupLag(group, lags)
				if err != nil {
					return err
				}
				descriptions = append(descriptions, d)
			}
			return s.print(cmd, descriptions, func(t *tableWriter) { writeGroupDescriptions(t, descriptions) })
		},
	}
	return cmd
}

// describeGroupLag converts kadm's view of one group. A group the
// coordinator does not know (state Dead, nothing committed) does not exist.
func describeGroupLag(group string, lags kadm.DescribedGroupLags) (groupDescription, error) {
	l, ok := lags[group]
	if !ok {
		return groupDescription{}, missingFromAnswer("group", group)
	}
	if l.DescribeErr != nil {
		return groupDescription{}, groupError(group, l.DescribeErr)
	}
	if l.FetchErr != nil {
		return groupDescription{}, groupError(group, l.FetchErr)
	}
	if l.State == "Dead" && len(l.Members) == 0 && l.Lag.IsEmpty() {
		return groupDescription{}, groupError(group, kerr.GroupIDNotFound)
	}
	d := groupDescription{
		Group: group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: l.Coordinator.NodeID, Members: []groupMember{}, Offsets: []partitionLag{},
	}
	for _, m := range l.Members {
		d.Members = append(d.Members, describeMember(m))
	}
	for _, p := range l.Lag.Sorted() {
		row := describePartitionLag(p)
		if row.Lag != nil {
			d.TotalLag += *row.Lag
		}
		d.Offsets = append(d.Offsets, row)
	}
	return d, nil
}

func describeMember(m kadm.DescribedGroupMember) groupMember {
	member := groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: []topicPartitions{}}
	if assigned, ok := m.Assigned.AsConsumer(); ok {
		for _, t := range assigned.Topics {
			partitions := slices.Clone(t.Partitions)
			slices.Sort(partitions)
			member.Assignment = append(member.Assignment, topicPartitions{Topic: t.Topic, Partitions: partitions})
		}
	}
	slices.SortFunc(member.Assignment, func(a, b topicPartitions) int { return strings.Compare(a.Topic, b.Topic) })
	return member
}

func describePartitionLag(p kadm.GroupMemberLag) partitionLag {
	row := partitionLag{Topic: p.Topic, Partition: p.Partition, EndOffset: p.End.Offset}
	if p.Commit.At >= 0 {
		committed := p.Commit.At
		row.CommittedOffset = &committed
	}
	if p.Lag >= 0 && p.Err == nil {
		lag := p.Lag
		row.Lag = &lag
	}
	if p.Member != nil {
		row.MemberID, row.ClientID, row.Host = p.Member.MemberID, p.Member.ClientID, p.Member.ClientHost
	}
	if p.Err != nil {
		row.Error = explain(p.Err).Error()
	}
	return row
}

func writeGroupDescriptions(t *tableWriter, descriptions []groupDescription) {
	for i, d := range descriptions {
		if i > 0 {
			t.line("")
		}
		protocol := orDash(d.ProtocolType)
		if d.Protocol != "" {
			protocol += "/" + d.Protocol
		}
		t.line("Group: %s  State: %s  Protocol: %s  Coordinator: %d  Members: %d  Total lag: %d",
			d.Group, d.State, protocol, d.Coordinator, len(d.Members), d.TotalLag)
		if len(d.Offsets) == 0 {
			t.line("No committed offsets or assigned partitions.")
		} else {
			t.row("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID", "CLIENT-ID", "HOST")
			for _, p := range d.Offsets {
				t.row(p.Topic, p.Partition, int64OrDash(p.CommittedOffset), p.EndOffset, int64OrDash(p.Lag),
					orDash(p.MemberID), orDash(p.ClientID), orDash(p.Host))
			}
		}
		if len(d.Members) == 0 {
			continue
		}
		t.line("")
		t.row("MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENT")
		for _, m := range d.Members {
			instance := ""
			if m.InstanceID != nil {
				instance = *m.InstanceID
			}
			t.row(m.MemberID, orDash(instance), orDash(m.ClientID), orDash(m.Host), formatAssignment(m.Assignment))
		}
	}
}

// formatAssignment shows an assignment as "orders:0,1 payments:2".
func formatAssignment(assignment []topicPartitions) string {
	if len(assignment) == 0 {
		return "-"
	}
	parts := make([]string, len(assignment))
	for i, a := range assignment {
		parts[i] = a.Topic + ":" + joinInt32s(a.Partitions)
	}
	return strings.Join(parts, " ")
}

// int64OrDash shows an optional number in a table.
func int64OrDash(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func newGroupDeleteCommand(client *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "delete GROUP...",
		Short:             "Delete groups and their committed offsets (the group must have no members)",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeGroups(client),
		RunE: func(cmd *cobra.Command, groups []string) error {
			s, err := openAdmin(cmd, client)
			if err != nil {
				return err
			}
			defer s.close()
			responses, err := s.admin.DeleteGroups(s.ctx, groups...)
			if err != nil {
				return s.conn.requestFailed("delete groups", err)
			}
			var failures []error
			deleted := make([]groupDeleted, 0, len(groups))
			for _, group := range groups {
				r, ok := responses[group]
				switch {
				case !ok:
					failures = append(failures, missingFromAnswer("group", group))
				case r.Err != nil:
					failures = append(failures, withBrokerMessage(groupError(group, r.Err), r.ErrMessage))
				default:
					deleted = append(deleted, groupDeleted{Group: group, Deleted: true})
				}
			}
			if err := errors.Join(failures...); err != nil {
				return err
			}
			return s.print(cmd, deleted, func(t *tableWriter) {
				for _, d := range deleted {
					t.line("Deleted group %q.", d.Group)
				}
			})
		},
	}
	return cmd
}

// groupDeleted is one group of `sluice group delete`.
type groupDeleted struct {
	Group   string `json:"group"`
	Deleted bool   `json:"deleted"`
}
