package controller

import (
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/metadata"
)

// maxPartitionsKey is the broker setting behind Config.MaxPartitions.
const maxPartitionsKey = "sluice.max.partitions"

// What a refusal says would exceed the cap.
const (
	capCreating    = "Creating these partitions"
	capReassigning = "This reassignment"
)

// partitionCap enforces Config.MaxPartitions over one plan: the partition
// replicas each broker hosts, counted from the image on first use (every
// topic, internal ones included, and the replicas of reassignments in
// progress, which their brokers host too) and kept up to date with what
// the plan admits, so the topics and partitions of one request count
// cumulatively in request order.
//
// Only brokers that gain replicas are checked: a broker already over a
// lowered cap does not block operations that add nothing to it.
type partitionCap struct {
	limit int64 // 0: no cap
	img   *metadata.Image
	// counts is the replicas per broker, nil until first needed.
	counts map[int32]int64
	// refused counts the topics or partitions refused by the cap, for
	// Config.PartitionCapRefused.
	refused int
}

func newPartitionCap(img *metadata.Image, limit int32) *partitionCap {
	return &partitionCap{limit: int64(limit), img: img}
}

// admit checks gained (new replicas per broker) and, if they fit, counts
// them.
func (c *partitionCap) admit(what string, gained map[int32]int64) *apiError {
	if failure := c.check(what, gained); failure != nil {
		return failure
	}
	c.apply(gained)
	return nil
}

// check reports whether adding gained keeps every broker that gains
// within the cap. If not, it returns Kafka's PolicyViolationException
// code with a message naming the key, the first broker (by ID) over the
// cap and the numbers; what describes the operation ("Creating these
// partitions").
func (c *partitionCap) check(what string, gained map[int32]int64) *apiError {
	if c.limit <= 0 || len(gained) == 0 {
		return nil
	}
	c.count()
	for _, broker := range slices.Sorted(maps.Keys(gained)) {
		now := c.counts[broker]
		if gained[broker] > 0 && now+gained[broker] > c.limit {
			c.refused++
			return newAPIError(kerr.PolicyViolation,
				"%s would put %s partition replicas on broker %d, over %s=%s (it hosts %s now).",
				what, groupDigits(now+gained[broker]), broker, maxPartitionsKey, groupDigits(c.limit), groupDigits(now))
		}
	}
	return nil
}

// apply adds delta (negative for replicas that leave) to the counts.
func (c *partitionCap) apply(delta map[int32]int64) {
	if c.limit <= 0 || len(delta) == 0 {
		return
	}
	c.count()
	for broker, n := range delta {
		c.counts[broker] += n
	}
}

// count fills counts from the image, once. The image is the plan's base:
// every change the plan makes after it reaches the counts through apply.
func (c *partitionCap) count() {
	if c.counts != nil {
		return
	}
	c.counts = make(map[int32]int64)
	for _, topic := range c.img.Topics() {
		for _, part := range topic.Partitions {
			for _, r := range part.Replicas {
				c.counts[r]++
			}
		}
	}
}

// replicasPerBroker counts the replicas of partitions per broker.
func replicasPerBroker(partitions []metadata.Partition) map[int32]int64 {
	counts := make(map[int32]int64)
	for _, p := range partitions {
		for _, r := range p.Replicas {
			counts[r]++
		}
	}
	return counts
}

// assignmentsPerBroker counts the replicas of replica lists per broker.
func assignmentsPerBroker(assignments [][]int32) map[int32]int64 {
	counts := make(map[int32]int64)
	for _, replicas := range assignments {
		for _, r := range replicas {
			counts[r]++
		}
	}
	return counts
}

// replicaDelta is +1 for each broker in after but not before and -1 for
// each in before but not after (a broker appears once per replica list).
func replicaDelta(before, after []int32) map[int32]int64 {
	delta := make(map[int32]int64)
	for _, r := range after {
		if !slices.Contains(before, r) {
			delta[r]++
		}
	}
	for _, r := range before {
		if !slices.Contains(after, r) {
			delta[r]--
		}
	}
	return delta
}

// groupDigits formats n with thousands separators: 100512 → "100,512".
func groupDigits(n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	out := make([]byte, 0, len(digits)+len(digits)/3)
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, digits[i])
	}
	return sign + string(out)
}

// countCapRefusals reports n refusals to Config.PartitionCapRefused, when
// set and n > 0.
func (cfg *Config) countCapRefusals(n int) {
	if n > 0 && cfg.PartitionCapRefused != nil {
		cfg.PartitionCapRefused(n)
	}
}
