package group

// Server-side assignors of consumer groups (KIP-848): "uniform" (Kafka's
// UniformAssignor) and "range" (RangeAssignor), and the target assignment
// they produce (TargetAssignmentBuilder). Both are sticky: a member keeps
// what it had in the previous target as far as balance allows, so a
// rebalance moves as few partitions as it can. Neither is rack-aware yet.
//
// Assignors see only topics that exist in the metadata image; members are
// taken in member ID order and topics in name order, so the same input
// always gives the same assignment.

import (
	"cmp"
	"hash/fnv"
	"slices"
	"strconv"

	"github.com/sluice-io/sluice/internal/metadata"
)

// Assignor names (group.consumer.assignors); Kafka's class names are
// accepted for them too.
const (
	uniformAssignor = "uniform"
	rangeAssignor   = "range"
)

// assignorName maps a configured assignor (short or class name) to its
// name, "" if it is not one of ours.
func assignorName(configured string) string {
	switch configured {
	case uniformAssignor, "org.apache.kafka.coordinator.group.assignor.UniformAssignor":
		return uniformAssignor
	case rangeAssignor, "org.apache.kafka.coordinator.group.assignor.RangeAssignor":
		return rangeAssignor
	}
	return ""
}

// assignTopic is one subscribed topic as the assignors see it.
type assignTopic struct {
	id         [16]byte
	name       string
	partitions int32
}

// assignMember is one member as the assignors see it.
type assignMember struct {
	id string
	// topics are the member's subscribed topics that exist, by ID.
	topics map[[16]byte]bool
	// current is the member's previous target assignment.
	current partitionSet
}

// assignSpec is an assignor's input (GroupSpec and SubscribedTopicDescriber).
type assignSpec struct {
	members []assignMember // by member ID
	topics  []assignTopic  // every subscribed topic that exists, by name
}

// homogeneous reports whether every member subscribes to the same topics.
func (spec *assignSpec) homogeneous() bool {
	for _, m := range spec.members[1:] {
		if len(m.topics) != len(spec.members[0].topics) {
			return false
		}
		for t := range m.topics {
			if !spec.members[0].topics[t] {
				return false
			}
		}
	}
	return true
}

// subscribedOnly is the spec without the topics no member subscribes to.
func (spec *assignSpec) subscribedOnly() *assignSpec {
	out := &assignSpec{members: spec.members}
	for _, t := range spec.topics {
		for _, m := range spec.members {
			if m.topics[t.id] {
				out.topics = append(out.topics, t)
				break
			}
		}
	}
	return out
}

// assign runs the named assignor; an empty group gets nothing.
func assign(name string, spec *assignSpec) map[string]partitionSet {
	out := make(map[string]partitionSet, len(spec.members))
	for _, m := range spec.members {
		out[m.id] = partitionSet{}
	}
	if len(spec.members) == 0 {
		return out
	}
	if name == rangeAssignor {
		assignRange(spec, out)
		return out
	}
	if spec.homogeneous() {
		assignUniformHomogeneous(spec.subscribedOnly(), out)
		return out
	}
	assignUniformHeterogeneous(spec, out)
	return out
}

// topicPartition names one partition for the assignors.
type topicPartition struct {
	topic     [16]byte
	partition int32
}

// assignUniformHomogeneous spreads the partitions of all topics evenly when
// every member subscribes to the same topics (Kafka's
// OptimizedUniformAssignmentBuilder): each member gets total/members, the
// first total%members members that can keep one more do, and a member
// keeps as much of its previous assignment as its quota allows. Free
// partitions then go to the least loaded members.
func assignUniformHomogeneous(spec *assignSpec, out map[string]partitionSet) {
	total := 0
	for _, t := range spec.topics {
		total += int(t.partitions)
	}
	minQuota, extra := total/len(spec.members), total%len(spec.members)
	taken := map[topicPartition]bool{}
	for _, m := range spec.members {
		quota := minQuota
		if extra > 0 && validPartitions(spec, m) > minQuota {
			quota++
		}
		if keepSticky(spec, m, quota, taken, out[m.id]) > minQuota {
			extra--
		}
	}
	ids := make([]string, len(spec.members))
	for i, m := range spec.members {
		ids[i] = m.id
	}
	for _, tp := range freePartitions(spec, taken) {
		out[leastLoaded(ids, out)].add(tp.topic, tp.partition)
	}
}

// validPartitions counts the partitions of a member's previous assignment
// that still exist in topics it subscribes to.
func validPartitions(spec *assignSpec, m assignMember) int {
	n := 0
	for _, t := range spec.topics {
		if !m.topics[t.id] {
			continue
		}
		for _, p := range m.current[t.id] {
			if p < t.partitions {
				n++
			}
		}
	}
	return n
}

// keepSticky gives a member up to quota partitions of its previous
// assignment that still exist, it still subscribes to, and no other member
// kept; it returns how many it kept.
func keepSticky(spec *assignSpec, m assignMember, quota int, taken map[topicPartition]bool, into partitionSet) int {
	kept := 0
	for _, t := range spec.topics {
		if !m.topics[t.id] {
			continue
		}
		for _, p := range m.current[t.id] {
			tp := topicPartition{t.id, p}
			if kept >= quota || p >= t.partitions || taken[tp] {
				continue
			}
			taken[tp] = true
			into.add(t.id, p)
			kept++
		}
	}
	return kept
}

// freePartitions lists the partitions nobody was given, topics by name.
func freePartitions(spec *assignSpec, taken map[topicPartition]bool) []topicPartition {
	var free []topicPartition
	for _, t := range spec.topics {
		for p := range t.partitions {
			if !taken[topicPartition{t.id, p}] {
				free = append(free, topicPartition{t.id, p})
			}
		}
	}
	return free
}

// assignUniformHeterogeneous balances partitions when members subscribe to
// different topics (Kafka's GeneralUniformAssignmentBuilder has the same
// goals): members keep their previous partitions, free partitions go to
// the least loaded subscriber (those with fewest subscribers first), then
// partitions move from the most to the least loaded subscriber while that
// narrows the gap.
func assignUniformHeterogeneous(spec *assignSpec, out map[string]partitionSet) {
	taken := map[topicPartition]bool{}
	for _, m := range spec.members {
		keepSticky(spec, m, int(^uint(0)>>1), taken, out[m.id])
	}
	subscribers := map[[16]byte][]string{}
	for _, m := range spec.members {
		for _, t := range spec.topics {
			if m.topics[t.id] {
				subscribers[t.id] = append(subscribers[t.id], m.id)
			}
		}
	}
	free := freePartitions(spec, taken)
	slices.SortStableFunc(free, func(a, b topicPartition) int {
		return cmp.Compare(len(subscribers[a.topic]), len(subscribers[b.topic]))
	})
	for _, tp := range free {
		if to := leastLoaded(subscribers[tp.topic], out); to != "" {
			out[to].add(tp.topic, tp.partition)
		}
	}
	for rebalanceOnce(spec, subscribers, out) {
	}
}

// leastLoaded returns the candidate with the fewest partitions (the first
// in order on a tie), "" if there is none.
func leastLoaded(candidates []string, out map[string]partitionSet) string {
	best := ""
	for _, id := range candidates {
		if best == "" || out[id].size() < out[best].size() {
			best = id
		}
	}
	return best
}

// rebalanceOnce moves one partition from a member to a less loaded
// subscriber of its topic when the gap between them is two or more, and
// reports whether it did. Every move lowers the sum of squared loads, so
// repeating it ends.
func rebalanceOnce(spec *assignSpec, subscribers map[[16]byte][]string, out map[string]partitionSet) bool {
	members := slices.Clone(spec.members)
	slices.SortStableFunc(members, func(a, b assignMember) int {
		return cmp.Compare(out[b.id].size(), out[a.id].size())
	})
	for _, from := range members {
		load := out[from.id].size()
		for _, t := range spec.topics {
			to := leastLoaded(subscribers[t.id], out)
			partitions := out[from.id][t.id]
			if to == "" || len(partitions) == 0 || out[to].size()+1 >= load {
				continue
			}
			p := partitions[len(partitions)-1]
			out[from.id].remove(t.id, p)
			out[to].add(t.id, p)
			return true
		}
	}
	return false
}

// assignRange gives each subscriber of a topic a contiguous share of its
// partitions, the first partitions%subscribers members one more (Kafka's
// RangeAssignor): with co-partitioned topics, a member gets the same
// partition numbers of each. Members keep their previous partitions of the
// topic up to their share.
func assignRange(spec *assignSpec, out map[string]partitionSet) {
	for _, t := range spec.topics {
		var members []assignMember
		for _, m := range spec.members {
			if m.topics[t.id] {
				members = append(members, m)
			}
		}
		if len(members) > 0 {
			assignRangeTopic(t, members, out)
		}
	}
}

func assignRangeTopic(t assignTopic, members []assignMember, out map[string]partitionSet) {
	minQuota := int(t.partitions) / len(members)
	extra := int(t.partitions) % len(members)
	taken := map[int32]bool{}
	type unfilled struct {
		id        string
		remaining int
	}
	var pending []unfilled
	for _, m := range members {
		var current []int32
		for _, p := range m.current[t.id] {
			if p < t.partitions {
				current = append(current, p)
			}
		}
		retained := min(len(current), minQuota)
		for _, p := range current[:retained] {
			taken[p] = true
			out[m.id].add(t.id, p)
		}
		remaining := minQuota - len(current)
		if remaining < 0 && extra > 0 {
			extra--
			taken[current[minQuota]] = true
			out[m.id].add(t.id, current[minQuota])
			continue
		}
		pending = append(pending, unfilled{m.id, remaining})
	}
	var free []int32
	for p := range t.partitions {
		if !taken[p] {
			free = append(free, p)
		}
	}
	for _, u := range pending {
		remaining := u.remaining
		if extra > 0 {
			remaining++
			extra--
		}
		for ; remaining > 0 && len(free) > 0; remaining-- {
			out[u.id].add(t.id, free[0])
			free = free[1:]
		}
	}
}

// resolveTopics turns subscribed topic names into the topics that exist in
// the image, by name.
func resolveTopics(image *metadata.Image, names []string) []assignTopic {
	var topics []assignTopic
	for _, name := range names {
		if t := image.TopicByName(name); t != nil {
			topics = append(topics, assignTopic{id: t.ID, name: name, partitions: int32(len(t.Partitions))})
		}
	}
	return topics
}

// metadataHash summarises what the assignors see of the subscribed topics
// (name, ID, partition count), so that a change to any of them is noticed
// and triggers a new assignment (Kafka's group metadata hash, KIP-1101;
// the value differs from Kafka's, which also hashes racks). Zero means no
// subscribed topic exists.
func metadataHash(image *metadata.Image, names []string) int64 {
	topics := resolveTopics(image, names)
	if len(topics) == 0 {
		return 0
	}
	h := fnv.New64a()
	for _, t := range topics {
		h.Write([]byte(t.name))
		h.Write([]byte{0})
		h.Write(t.id[:])
		h.Write(strconv.AppendInt(nil, int64(t.partitions), 10))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}
