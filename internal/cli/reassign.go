package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// reassignmentPlan is Kafka's partition reassignment JSON, the format
// kafka-reassign-partitions.sh reads and writes:
//
//	{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3],"log_dirs":["any","any"]}]}
type reassignmentPlan struct {
	Version    int                `json:"version"`
	Partitions []plannedPartition `json:"partitions"`
}

// plannedPartition is one partition of a plan: the replicas it should
// have, preferred leader first. LogDirs is "any" per replica (Sluice has
// one log directory per broker).
type plannedPartition struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// anyLogDir is Kafka's "no preference" log directory.
const anyLogDir = "any"

func (p plannedPartition) name() string { return fmt.Sprintf("%s-%d", p.Topic, p.Partition) }

// newPlan builds a plan with Kafka's "any" log dirs.
func newPlan(partitions []plannedPartition) reassignmentPlan {
	plan := reassignmentPlan{Version: 1, Partitions: []plannedPartition{}}
	for _, p := range partitions {
		p.LogDirs = make([]string, len(p.Replicas))
		for i := range p.LogDirs {
			p.LogDirs[i] = anyLogDir
		}
		plan.Partitions = append(plan.Partitions, p)
	}
	slices.SortFunc(plan.Partitions, comparePlanned)
	return plan
}

func comparePlanned(a, b plannedPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

// compactJSON is the plan on one line, as Kafka's tool prints it.
func (p reassignmentPlan) compactJSON() string {
	b, _ := json.Marshal(p) // a plan always encodes
	return string(b)
}

// topicsSet is the partitions of the plan as a kadm set.
func (p reassignmentPlan) topicsSet() kadm.TopicsSet {
	set := kadm.TopicsSet{}
	for _, pp := range p.Partitions {
		set.Add(pp.Topic, pp.Partition)
	}
	return set
}

// topics lists the plan's topics, sorted, once each.
func (p reassignmentPlan) topics() []string {
	var topics []string
	for _, pp := range p.Partitions {
		if !slices.Contains(topics, pp.Topic) {
			topics = append(topics, pp.Topic)
		}
	}
	slices.Sort(topics)
	return topics
}

// parsePlan reads and checks a plan as Kafka's tool does: version 1, at
// least one partition, each named once, with a non-empty replica list
// without duplicates and, when log_dirs is given, one per replica, each
// "any" (Sluice cannot move replicas between log directories).
func parsePlan(data []byte) (reassignmentPlan, error) {
	var plan reassignmentPlan
	decoder := json.NewDecoder(bytes.NewReader(data))
	if err := decoder.Decode(&plan); err != nil {
		return plan, fmt.Errorf("plan is not reassignment JSON: %w", err)
	}
	if decoder.More() {
		return plan, errors.New("plan has more than one JSON value")
	}
	if plan.Version != 1 {
		return plan, fmt.Errorf("plan version %d: want 1", plan.Version)
	}
	if len(plan.Partitions) == 0 {
		return plan, errors.New(`plan has no partitions: want {"version":1,"partitions":[{"topic":...,"partition":...,"replicas":[...]}]}`)
	}
	seen := map[string]bool{}
	for _, p := range plan.Partitions {
		switch {
		case p.Topic == "":
			return plan, errors.New("plan names a partition without a topic")
		case p.Partition < 0:
			return plan, fmt.Errorf("plan: %s: negative partition", p.name())
		case seen[p.name()]:
			return plan, fmt.Errorf("plan names partition %s more than once", p.name())
		case len(p.Replicas) == 0:
			return plan, fmt.Errorf("plan: %s: the replica list is empty", p.name())
		case len(p.LogDirs) > 0 && len(p.LogDirs) != len(p.Replicas):
			return plan, fmt.Errorf("plan: %s: %d log_dirs for %d replicas", p.name(), len(p.LogDirs), len(p.Replicas))
		}
		seen[p.name()] = true
		for i, r := range p.Replicas {
			if slices.Contains(p.Replicas[:i], r) {
				return plan, fmt.Errorf("plan: %s: replica %d is listed more than once", p.name(), r)
			}
		}
		for _, dir := range p.LogDirs {
			if dir != anyLogDir {
				return plan, fmt.Errorf("plan: %s: log dir %q: Sluice has one log directory per broker, want \"any\"", p.name(), dir)
			}
		}
	}
	return plan, nil
}

// readPlan reads a plan file; "-" is standard input.
func readPlan(cmd *cobra.Command, path string) (reassignmentPlan, error) {
	if path == "" {
		return reassignmentPlan{}, errors.New("--plan FILE: the reassignment JSON (from --generate, or written by hand; - reads standard input)")
	}
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return reassignmentPlan{}, fmt.Errorf("read plan: %w", err)
	}
	plan, err := parsePlan(data)
	if err != nil && path != "-" {
		return plan, fmt.Errorf("%s: %w", path, err)
	}
	return plan, err
}

// reassignFlags are the modes and inputs of `sluice topic reassign`.
type reassignFlags struct {
	generate, execute, verify, cancel, list bool
	topics                                  []string
	brokers                                 []int32
	plan                                    string
	additional, all                         bool
}

func newTopicReassignCommand(client *clientFlags) *cobra.Command {
	var f reassignFlags
	cmd := &cobra.Command{
		Use:   "reassign (--generate | --execute | --verify | --cancel | --list)",
		Short: "Move partition replicas between brokers (like kafka-reassign-partitions.sh)",
		Long: `Move partition replicas between brokers, as kafka-reassign-partitions.sh does,
with Kafka's reassignment JSON:

  {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3],"log_dirs":["any","any"]}]}

--generate proposes a plan that spreads the topics' partitions over the given
brokers (table output: the current and the proposed assignment, as Kafka's tool
prints them; -o json: the proposed plan alone, ready for --execute). --execute
starts the moves of a plan and prints the current assignment, to keep for a
rollback: new replicas copy the log from the leader outside the ISR, and the old
ones are removed once every new one is in sync. --verify reports each
partition of a plan: completed, still in progress, or not as planned.
--cancel stops the moves of a plan (or every move with --all) and returns those
partitions to their original replicas. --list shows the moves in progress.`,
		Example: "  sluice topic reassign --generate --topics orders,payments --brokers 1,2,3 -o json > plan.json\n" +
			"  sluice topic reassign --execute --plan plan.json\n" +
			"  sluice topic reassign --verify --plan plan.json\n" +
			"  sluice topic reassign --cancel --plan plan.json\n" +
			"  sluice topic reassign --list",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			modes := 0
			for _, on := range []bool{f.generate, f.execute, f.verify, f.cancel, f.list} {
				if on {
					modes++
				}
			}
			if modes != 1 {
				return errors.New("give exactly one of --generate, --execute, --verify, --cancel and --list")
			}
			switch {
			case f.generate:
				return runReassignGenerate(cmd, client, f)
			case f.execute:
				return runReassignExecute(cmd, client, f)
			case f.verify:
				return runReassignVerify(cmd, client, f)
			case f.cancel:
				return runReassignCancel(cmd, client, f)
			}
			return runReassignList(cmd, client, f)
		},
	}
	flags := cmd.Flags()
	flags.BoolVar(&f.generate, "generate", false, "propose a plan moving --topics onto --brokers")
	flags.BoolVar(&f.execute, "execute", false, "start the reassignments of --plan")
	flags.BoolVar(&f.verify, "verify", false, "report the progress of the reassignments of --plan")
	flags.BoolVar(&f.cancel, "cancel", false, "cancel the reassignments of --plan (or every one with --all)")
	flags.BoolVar(&f.list, "list", false, "list the reassignments in progress (of --topics, or all)")
	flags.StringSliceVar(&f.topics, "topics", nil, "topics to move (--generate) or list (--list), comma-separated")
	flags.Int32SliceVar(&f.brokers, "brokers", nil, "brokers to place the replicas on (--generate), comma-separated")
	flags.StringVar(&f.plan, "plan", "", "reassignment JSON file (- for standard input)")
	flags.BoolVar(&f.additional, "additional", false, "execute even though some of the plan's partitions are being reassigned (replaces those moves)")
	flags.BoolVar(&f.all, "all", false, "with --cancel: cancel every reassignment in progress")
	cmd.RegisterFlagCompletionFunc("topics", completeTopics(client))
	return cmd
}

// freshMetadataAge is the metadata cache age of the reassignment and
// election commands: kgo's lowest. kadm answers metadata from kgo's cache,
// up to 5 s old by default, and these commands compare it with what the
// controller just did.
const freshMetadataAge = 10 * time.Millisecond

// openPlan reads the --plan file, then connects: a plan that does not
// parse fails before any connection is made.
func openPlan(cmd *cobra.Command, client *clientFlags, f reassignFlags) (reassignmentPlan, *adminSession, error) {
	plan, err := readPlan(cmd, f.plan)
	if err != nil {
		return reassignmentPlan{}, nil, err
	}
	s, err := openFreshAdmin(cmd, client)
	if err != nil {
		return reassignmentPlan{}, nil, err
	}
	return plan, s, nil
}

// openFreshAdmin is openAdmin with metadata read (almost) fresh.
func openFreshAdmin(cmd *cobra.Command, client *clientFlags) (*adminSession, error) {
	conn, err := client.resolve(cmd)
	if err != nil {
		return nil, err
	}
	kafka, err := conn.connect(cmd.Context(), kgo.MetadataMinAge(freshMetadataAge))
	if err != nil {
		return nil, err
	}
	ctx, cancel := conn.requestContext(cmd.Context())
	return &adminSession{conn: conn, admin: conn.newAdmin(kafka), ctx: ctx, cancel: cancel}, nil
}

// generateResult is what --generate found and proposes.
type generateResult struct {
	Current  reassignmentPlan `json:"current"`
	Proposed reassignmentPlan `json:"proposed"`
}

func runReassignGenerate(cmd *cobra.Command, client *clientFlags, f reassignFlags) error {
	topics := splitList(strings.Join(f.topics, ","))
	if len(topics) == 0 {
		return errors.New("--generate needs --topics t1,t2,...")
	}
	if len(f.brokers) == 0 {
		return errors.New("--generate needs --brokers 1,2,3 (the brokers to place the replicas on)")
	}
	brokers := slices.Clone(f.brokers)
	slices.Sort(brokers)
	if i := duplicateIndex(brokers); i >= 0 {
		return fmt.Errorf("--brokers names broker %d more than once", brokers[i])
	}
	s, err := openFreshAdmin(cmd, client)
	if err != nil {
		return err
	}
	defer s.close()
	details, err := existingTopics(s.ctx, s.conn, s.admin, topics...)
	if err != nil {
		return err
	}
	cluster, err := s.admin.BrokerMetadata(s.ctx)
	if err != nil {
		return s.conn.requestFailed("read cluster metadata", err)
	}
	var unknown []int32
	for _, id := range brokers {
		if !slices.ContainsFunc(cluster.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == id }) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("--brokers: broker(s) %s are not in the cluster", joinInt32s(unknown))
	}
	ongoing, err := s.admin.ListPartitionReassignments(s.ctx, partitionSet(details))
	if err != nil {
		return s.conn.requestFailed("list partition reassignments", err)
	}
	var current, proposed []plannedPartition
	for _, topic := range topics {
		partitions := details[topic].Partitions.Sorted()
		if len(partitions) == 0 {
			continue
		}
		rf := len(targetReplicas(partitions[0], ongoing))
		if rf > len(brokers) {
			return fmt.Errorf("topic %q has replication factor %d, more than the %d broker(s) given", topic, rf, len(brokers))
		}
		assignment := stripedAssignment(topic, len(partitions), rf, brokers)
		for i, p := range partitions {
			current = append(current, plannedPartition{Topic: topic, Partition: p.Partition, Replicas: slices.Clone(p.Replicas)})
			proposed = append(proposed, plannedPartition{Topic: topic, Partition: p.Partition, Replicas: assignment[i]})
		}
	}
	result := generateResult{Current: newPlan(current), Proposed: newPlan(proposed)}
	if s.conn.output != outputTable {
		return s.print(cmd, result.Proposed, nil)
	}
	return s.print(cmd, result, func(t *tableWriter) {
		t.line("Current partition replica assignment")
		t.line("%s", result.Current.compactJSON())
		t.line("")
		t.line("Proposed partition reassignment configuration")
		t.line("%s", result.Proposed.compactJSON())
	})
}

// stripedAssignment is Kafka's rack-unaware replica placement
// (AdminUtils.assignReplicasToBrokersRackUnaware): partition p's first
// replica is broker (p + start) mod n, the others follow at a shift that
// grows by one every n partitions, so leaders and followers both spread
// evenly. Kafka draws start and the first shift at random; Sluice derives
// both from the topic name, so the same input gives the same plan while
// different topics start on different brokers.
func stripedAssignment(topic string, partitions, rf int, brokers []int32) [][]int32 {
	n := len(brokers)
	h := fnv.New32a()
	h.Write([]byte(topic))
	start := int(h.Sum32() % uint32(n))
	shift := start
	out := make([][]int32, partitions)
	for p := range partitions {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []int32{brokers[first]}
		for j := range rf - 1 {
			replicas = append(replicas, brokers[(first+1+(shift+j)%(n-1))%n])
		}
		out[p] = replicas
	}
	return out
}

// partitionSet is every partition of details as a kadm set.
func partitionSet(details kadm.TopicDetails) kadm.TopicsSet {
	set := kadm.TopicsSet{}
	for topic, d := range details {
		for p := range d.Partitions {
			set.Add(topic, p)
		}
	}
	return set
}

// targetReplicas are a partition's replicas without those an ongoing
// reassignment is removing.
func targetReplicas(p kadm.PartitionDetail, ongoing kadm.ListPartitionReassignmentsResponses) []int32 {
	r, ok := ongoing[p.Topic][p.Partition]
	if !ok {
		return p.Replicas
	}
	var target []int32
	for _, id := range p.Replicas {
		if !slices.Contains(r.RemovingReplicas, id) {
			target = append(target, id)
		}
	}
	return target
}

// duplicateIndex is the index of the first value equal to its predecessor
// in a sorted slice, -1 if none.
func duplicateIndex(sorted []int32) int {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return i
		}
	}
	return -1
}

// executeResult is what --execute did.
type executeResult struct {
	// Current is the assignment before the plan, to execute for a
	// rollback.
	Current reassignmentPlan `json:"current"`
	// Started are the partitions whose reassignment the controller
	// accepted.
	Started []string `json:"started"`
}

func runReassignExecute(cmd *cobra.Command, client *clientFlags, f reassignFlags) error {
	plan, s, err := openPlan(cmd, client, f)
	if err != nil {
		return err
	}
	defer s.close()
	details, err := planTopics(s, plan)
	if err != nil {
		return err
	}
	ongoing, err := s.admin.ListPartitionReassignments(s.ctx, plan.topicsSet())
	if err != nil {
		return s.conn.requestFailed("list partition reassignments", err)
	}
	if busy := ongoingNames(ongoing); len(busy) > 0 && !f.additional {
		return fmt.Errorf("partition(s) %s are being reassigned already: --verify or --cancel that first, or add --additional to replace those moves",
			strings.Join(busy, ","))
	}
	var current []plannedPartition
	var req kadm.AlterPartitionAssignmentsReq
	for _, p := range plan.Partitions {
		d := details[p.Topic].Partitions[p.Partition]
		current = append(current, plannedPartition{Topic: p.Topic, Partition: p.Partition, Replicas: slices.Clone(d.Replicas)})
		req.Assign(p.Topic, p.Partition, p.Replicas)
	}
	responses, err := s.admin.AlterPartitionAssignments(s.ctx, req)
	if err != nil {
		return s.conn.requestFailed("alter partition reassignments", err)
	}
	result := executeResult{Current: newPlan(current), Started: []string{}}
	var failures []error
	for _, p := range plan.Partitions {
		r, ok := responses[p.Topic][p.Partition]
		switch {
		case !ok:
			failures = append(failures, missingFromAnswer("partition", p.name()))
		case r.Err != nil:
			failures = append(failures, withBrokerMessage(fmt.Errorf("partition %s: %w", p.name(), explain(r.Err)), r.ErrMessage))
		default:
			result.Started = append(result.Started, p.name())
		}
	}
	if len(result.Started) == 0 {
		return errors.Join(failures...)
	}
	if err := s.print(cmd, result, func(t *tableWriter) {
		t.line("Current partition replica assignment")
		t.line("")
		t.line("%s", result.Current.compactJSON())
		t.line("")
		t.line("Save this to use as the --plan during rollback")
		t.line("Successfully started partition reassignment(s) for %s", strings.Join(result.Started, ","))
	}); err != nil {
		return err
	}
	return errors.Join(failures...)
}

// planTopics reads the metadata of the plan's topics; a topic or partition
// that does not exist is an error.
func planTopics(s *adminSession, plan reassignmentPlan) (kadm.TopicDetails, error) {
	details, err := existingTopics(s.ctx, s.conn, s.admin, plan.topics()...)
	if err != nil {
		return nil, err
	}
	for _, p := range plan.Partitions {
		if _, ok := details[p.Topic].Partitions[p.Partition]; !ok {
			return nil, explainedError{message: fmt.Sprintf("partition %s does not exist", p.name()), cause: kerr.UnknownTopicOrPartition}
		}
	}
	return details, nil
}

// ongoingNames lists the partitions being reassigned, sorted.
func ongoingNames(ongoing kadm.ListPartitionReassignmentsResponses) []string {
	var names []string
	for _, r := range ongoing.Sorted() {
		names = append(names, fmt.Sprintf("%s-%d", r.Topic, r.Partition))
	}
	return names
}

// Reassignment states --verify reports.
const (
	reassignComplete   = "complete"
	reassignInProgress = "in_progress"
	reassignMismatch   = "mismatch"
)

// verifyResult is one partition of --verify.
type verifyResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Status is complete (the replicas are the plan's), in_progress, or
	// mismatch (no reassignment runs, and the replicas differ).
	Status string `json:"status"`
	// Replicas are the partition's replicas now (target plus removing
	// while in progress); Target the plan's.
	Replicas []int32 `json:"replicas"`
	Target   []int32 `json:"target"`
	Adding   []int32 `json:"adding"`
	Removing []int32 `json:"removing"`
}

func runReassignVerify(cmd *cobra.Command, client *clientFlags, f reassignFlags) error {
	plan, s, err := openPlan(cmd, client, f)
	if err != nil {
		return err
	}
	defer s.close()
	results, err := verifyPlan(s, plan)
	if err != nil {
		return err
	}
	return s.print(cmd, results, func(t *tableWriter) {
		t.line("Status of partition reassignment:")
		for _, r := range results {
			name := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
			switch r.Status {
			case reassignComplete:
				t.line("Reassignment of partition %s is completed.", name)
			case reassignInProgress:
				t.line("Reassignment of partition %s is still in progress (replicas %s, adding %s, removing %s).",
					name, joinInt32s(r.Replicas), orDash(joinInt32s(r.Adding)), orDash(joinInt32s(r.Removing)))
			default:
				t.line("There is no active reassignment of partition %s, but replica set is %s rather than %s.",
					name, joinInt32s(r.Replicas), joinInt32s(r.Target))
			}
		}
	})
}

// verifyAttempts and verifyPause bound how long --verify waits for the
// metadata to agree with the controller before it reports a mismatch.
const (
	verifyAttempts = 10
	verifyPause    = 200 * time.Millisecond
)

// verifyPlan reports each partition of the plan. The reassignments in
// progress come from the controller, the replicas from the metadata of
// whichever broker answers, which may not have applied the change that
// completed a move yet: a partition that is not moving and whose replicas
// differ from the plan is read again, for up to verifyAttempts reads,
// before it counts as a mismatch.
func verifyPlan(s *adminSession, plan reassignmentPlan) ([]verifyResult, error) {
	for attempt := 1; ; attempt++ {
		ongoing, err := s.admin.ListPartitionReassignments(s.ctx, plan.topicsSet())
		if err != nil {
			return nil, s.conn.requestFailed("list partition reassignments", err)
		}
		details, err := planTopics(s, plan)
		if err != nil {
			return nil, err
		}
		results := make([]verifyResult, 0, len(plan.Partitions))
		mismatches := 0
		for _, p := range plan.Partitions {
			d := details[p.Topic].Partitions[p.Partition]
			r := verifyResult{Topic: p.Topic, Partition: p.Partition, Replicas: nonNil(d.Replicas), Target: p.Replicas,
				Adding: []int32{}, Removing: []int32{}}
			switch o, busy := ongoing[p.Topic][p.Partition]; {
			case busy:
				r.Status, r.Replicas, r.Adding, r.Removing = reassignInProgress, nonNil(o.Replicas), nonNil(o.AddingReplicas), nonNil(o.RemovingReplicas)
			case slices.Equal(d.Replicas, p.Replicas):
				r.Status = reassignComplete
			default:
				r.Status = reassignMismatch
				mismatches++
			}
			results = append(results, r)
		}
		if mismatches == 0 || attempt == verifyAttempts {
			return results, nil
		}
		if err := wait(s.ctx, verifyPause); err != nil {
			return results, nil
		}
	}
}

// cancelResult is what --cancel did.
type cancelResult struct {
	Cancelled []string `json:"cancelled"`
	// NotActive are the plan's partitions that had no reassignment to
	// cancel.
	NotActive []string `json:"not_active"`
}

func runReassignCancel(cmd *cobra.Command, client *clientFlags, f reassignFlags) error {
	var plan reassignmentPlan
	switch {
	case f.all && f.plan != "":
		return errors.New("--cancel takes --plan FILE or --all, not both")
	case !f.all:
		var err error
		if plan, err = readPlan(cmd, f.plan); err != nil {
			return err
		}
	}
	s, err := openFreshAdmin(cmd, client)
	if err != nil {
		return err
	}
	defer s.close()
	ongoing, err := listReassignments(s, plan.topicsSet(), f.all)
	if err != nil {
		return err
	}
	result := cancelResult{Cancelled: []string{}, NotActive: []string{}}
	var req kadm.AlterPartitionAssignmentsReq
	for _, p := range plan.Partitions {
		if _, busy := ongoing[p.Topic][p.Partition]; !busy {
			result.NotActive = append(result.NotActive, p.name())
		}
	}
	for _, r := range ongoing.Sorted() {
		req.CancelAssign(r.Topic, r.Partition)
	}
	var failures []error
	if len(req) > 0 {
		responses, err := s.admin.AlterPartitionAssignments(s.ctx, req)
		if err != nil {
			return s.conn.requestFailed("cancel partition reassignments", err)
		}
		for _, r := range responses.Sorted() {
			name := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
			switch {
			case errors.Is(r.Err, kerr.NoReassignmentInProgress):
				// Completed since it was listed.
				result.NotActive = append(result.NotActive, name)
			case r.Err != nil:
				failures = append(failures, withBrokerMessage(fmt.Errorf("partition %s: %w", name, explain(r.Err)), r.ErrMessage))
			default:
				result.Cancelled = append(result.Cancelled, name)
			}
		}
	}
	slices.Sort(result.NotActive)
	if err := s.print(cmd, result, func(t *tableWriter) {
		if len(result.Cancelled) > 0 {
			t.line("Successfully cancelled partition reassignment(s) for: %s", strings.Join(result.Cancelled, ","))
		} else {
			t.line("None of the specified partition reassignments are active.")
		}
	}); err != nil {
		return err
	}
	return errors.Join(failures...)
}

// listReassignments lists the reassignments in progress among set, or
// with all among every partition of every topic.
func listReassignments(s *adminSession, set kadm.TopicsSet, all bool) (kadm.ListPartitionReassignmentsResponses, error) {
	if all {
		details, err := s.admin.ListTopicsWithInternal(s.ctx)
		if err != nil {
			return nil, s.conn.requestFailed("read topic metadata", err)
		}
		set = partitionSet(details)
	}
	ongoing, err := s.admin.ListPartitionReassignments(s.ctx, set)
	if err != nil {
		return nil, s.conn.requestFailed("list partition reassignments", err)
	}
	return ongoing, nil
}

// ongoingReassignment is one row of --list.
type ongoingReassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
	Adding    []int32 `json:"adding"`
	Removing  []int32 `json:"removing"`
}

func runReassignList(cmd *cobra.Command, client *clientFlags, f reassignFlags) error {
	topics := splitList(strings.Join(f.topics, ","))
	s, err := openFreshAdmin(cmd, client)
	if err != nil {
		return err
	}
	defer s.close()
	set := kadm.TopicsSet{}
	if len(topics) > 0 {
		details, err := existingTopics(s.ctx, s.conn, s.admin, topics...)
		if err != nil {
			return err
		}
		set = partitionSet(details)
	}
	ongoing, err := listReassignments(s, set, len(topics) == 0)
	if err != nil {
		return err
	}
	rows := []ongoingReassignment{}
	for _, r := range ongoing.Sorted() {
		rows = append(rows, ongoingReassignment{Topic: r.Topic, Partition: r.Partition, Replicas: nonNil(r.Replicas),
			Adding: nonNil(r.AddingReplicas), Removing: nonNil(r.RemovingReplicas)})
	}
	return s.print(cmd, rows, func(t *tableWriter) {
		if len(rows) == 0 {
			t.line("No partition reassignments in progress.")
			return
		}
		t.row("TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING")
		for _, r := range rows {
			t.row(r.Topic, r.Partition, joinInt32s(r.Replicas), orDash(joinInt32s(r.Adding)), orDash(joinInt32s(r.Removing)))
		}
	})
}
