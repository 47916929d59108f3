package group

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// specOf builds an assignor spec: topics name → partitions (IDs
// topicID(1), topicID(2), ... in order), members with their subscribed
// topic names and previous assignment.
func specOf(topics []assignTopic, members ...assignMember) *assignSpec {
	return &assignSpec{topics: topics, members: members}
}

func topicsOf(counts ...int32) []assignTopic {
	var topics []assignTopic
	for i, n := range counts {
		topics = append(topics, assignTopic{id: topicID(byte(i + 1)), name: fmt.Sprintf("t%d", i+1), partitions: n})
	}
	return topics
}

func subscriber(id string, current partitionSet, topics ...int) assignMember {
	m := assignMember{id: id, topics: map[[16]byte]bool{}, current: current}
	for _, t := range topics {
		m.topics[topicID(byte(t))] = true
	}
	return m
}

// checkAssignment fails unless every partition of the spec's topics is
// assigned exactly once, to a member subscribed to its topic.
func checkAssignment(t *testing.T, spec *assignSpec, out map[string]partitionSet) {
	t.Helper()
	seen := map[topicPartition]string{}
	subscribed := map[string]map[[16]byte]bool{}
	for _, m := range spec.members {
		subscribed[m.id] = m.topics
	}
	for id, ps := range out {
		ps.each(func(topic [16]byte, p int32) {
			if !subscribed[id][topic] {
				t.Fatalf("%s got %d-%d of a topic it does not subscribe to", id, topic[15], p)
			}
			if other, dup := seen[topicPartition{topic, p}]; dup {
				t.Fatalf("%d-%d assigned to %s and %s", topic[15], p, other, id)
			}
			seen[topicPartition{topic, p}] = id
		})
	}
	for _, topic := range spec.topics {
		for p := range topic.partitions {
			if _, ok := seen[topicPartition{topic.id, p}]; !ok {
				t.Fatalf("%d-%d not assigned", topic.id[15], p)
			}
		}
	}
}

func spread(out map[string]partitionSet) (least, most int) {
	least = int(^uint(0) >> 1)
	for _, ps := range out {
		least, most = min(least, ps.size()), max(most, ps.size())
	}
	return least, most
}

// Uniform, same subscriptions: balanced, and a new member takes only what
// it needs from the others.
func TestUniformAssignorIsBalancedAndSticky(t *testing.T) {
	topics := topicsOf(7, 5)
	first := assign(uniformAssignor, specOf(topics, subscriber("a", nil, 1, 2), subscriber("b", nil, 1, 2), subscriber("c", nil, 1, 2)))
	checkAssignment(t, specOf(topics, subscriber("a", nil, 1, 2), subscriber("b", nil, 1, 2), subscriber("c", nil, 1, 2)), first)
	if least, most := spread(first); least != 4 || most != 4 {
		t.Fatalf("12 partitions over 3 members: %d to %d each", least, most)
	}
	spec := specOf(topics, subscriber("a", first["a"], 1, 2), subscriber("b", first["b"], 1, 2), subscriber("c", first["c"], 1, 2), subscriber("d", nil, 1, 2))
	second := assign(uniformAssignor, spec)
	checkAssignment(t, spec, second)
	if least, most := spread(second); least != 3 || most != 3 {
		t.Fatalf("12 partitions over 4 members: %d to %d each", least, most)
	}
	for _, id := range []string{"a", "b", "c"} {
		kept := 0
		second[id].each(func(topic [16]byte, p int32) {
			if first[id].contains(topic, p) {
				kept++
			}
		})
		if kept != 3 {
			t.Errorf("%s kept %d of its partitions, want 3 (only one moves to the new member)", id, kept)
		}
	}
}

// Uniform, different subscriptions: every partition goes to a subscriber
// and the load evens out where subscriptions allow.
func TestUniformAssignorHeterogeneous(t *testing.T) {
	topics := topicsOf(6, 6)
	spec := specOf(topics, subscriber("a", nil, 1, 2), subscriber("b", nil, 1), subscriber("c", nil, 2))
	out := assign(uniformAssignor, spec)
	checkAssignment(t, spec, out)
	if least, most := spread(out); least != 4 || most != 4 {
		t.Fatalf("load %d to %d, want 4 each", least, most)
	}
	// A member that stops subscribing to a topic loses it, the rest stays.
	spec = specOf(topics, subscriber("a", out["a"], 2), subscriber("b", out["b"], 1), subscriber("c", out["c"], 2))
	next := assign(uniformAssignor, spec)
	checkAssignment(t, spec, next)
	if next["b"].size() != 6 {
		t.Fatalf("b, sole subscriber of t1, has %d partitions, want 6", next["b"].size())
	}
}

// Range: each subscriber gets a contiguous share of every topic, the same
// partition numbers of co-partitioned topics.
func TestRangeAssignorCoPartitions(t *testing.T) {
	topics := topicsOf(5, 5)
	spec := specOf(topics, subscriber("b", nil, 1, 2), subscriber("a", nil, 1, 2))
	spec.members[0], spec.members[1] = spec.members[1], spec.members[0]
	out := assign(rangeAssignor, spec)
	checkAssignment(t, spec, out)
	want := map[string]partitionSet{
		"a": {topicID(1): {0, 1, 2}, topicID(2): {0, 1, 2}},
		"b": {topicID(1): {3, 4}, topicID(2): {3, 4}},
	}
	for id, ps := range want {
		if !out[id].equal(ps) {
			t.Errorf("%s:%s, want%s", id, describePartitions(out[id]), describePartitions(ps))
		}
	}
	spec = specOf(topics, subscriber("a", out["a"], 1, 2), subscriber("b", out["b"], 1, 2), subscriber("c", nil, 1, 2))
	next := assign(rangeAssignor, spec)
	checkAssignment(t, spec, next)
	if least, most := spread(next); least != 2 || most != 4 {
		t.Fatalf("10 partitions of 2 topics over 3 members: %d to %d each, want 2 to 4", least, most)
	}
}

// Random groups: every assignment is complete and exclusive, and uniform
// with identical subscriptions is balanced to within one partition.
func TestAssignorsRandomGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		topics := topicsOf(rng.Int32N(9)+1, rng.Int32N(9)+1, rng.Int32N(9)+1)
		homogeneous := round%2 == 0
		var members []assignMember
		for i := range rng.IntN(6) + 1 {
			subs := []int{1, 2, 3}
			if !homogeneous {
				subs = []int{1 + rng.IntN(3), 1 + rng.IntN(3)}
			}
			members = append(members, subscriber(fmt.Sprintf("m%d", i), nil, subs...))
		}
		spec := specOf(topics, members...)
		for _, name := range []string{uniformAssignor, rangeAssignor} {
			out := assign(name, spec)
			if homogeneous || name == uniformAssignor {
				assigned := map[[16]byte]bool{}
				for _, m := range members {
					for t := range m.topics {
						assigned[t] = true
					}
				}
				trimmed := &assignSpec{members: members}
				for _, topic := range topics {
					if assigned[topic.id] {
						trimmed.topics = append(trimmed.topics, topic)
					}
				}
				checkAssignment(t, trimmed, out)
			}
			if name == uniformAssignor && homogeneous {
				if least, most := spread(out); most-least > 1 {
					t.Fatalf("round %d: uniform load %d to %d", round, least, most)
				}
			}
			// A second run from this assignment changes nothing.
			again := make([]assignMember, len(members))
			for i, m := range members {
				again[i] = assignMember{id: m.id, topics: m.topics, current: out[m.id]}
			}
			for id, ps := range assign(name, &assignSpec{members: again, topics: spec.topics}) {
				if !ps.equal(out[id]) {
					t.Fatalf("round %d %s: not stable: %s got%s then%s", round, name, id, describePartitions(out[id]), describePartitions(ps))
				}
			}
		}
	}
}

func BenchmarkUniformAssign(b *testing.B) {
	topics := topicsOf(500, 500)
	var members []assignMember
	for i := range 100 {
		members = append(members, subscriber(fmt.Sprintf("m%03d", i), nil, 1, 2))
	}
	first := assign(uniformAssignor, specOf(topics, members...))
	for i := range members {
		members[i].current = first[members[i].id]
	}
	members = append(members, subscriber("new", nil, 1, 2))
	spec := specOf(topics, members...)
	b.ReportAllocs()
	for b.Loop() {
		assign(uniformAssignor, spec)
	}
}
