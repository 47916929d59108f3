package perf

import (
	"math"
	"math/bits"
	"time"
)

// subBucketBits sets the histogram's precision: every power-of-two range of
// durations is split into 2^(subBucketBits-1) equal buckets, so a recorded
// value is known to within 1/2^(subBucketBits-1) of itself (0.8% here).
const subBucketBits = 8

// subBucketCount is the number of exact one-nanosecond buckets at the bottom
// of the range, and twice the number of buckets per power of two above it.
const subBucketCount = 1 << subBucketBits

// halfSubBucketCount is the number of buckets per power of two above the
// exact range.
const halfSubBucketCount = subBucketCount / 2

// bucketCount covers every non-negative int64 nanosecond duration.
const bucketCount = subBucketCount + (64-subBucketBits)*halfSubBucketCount

// LatencyHistogram counts durations in fixed log-linear buckets (the idea of
// HdrHistogram): recording is an index computation and one increment, with no
// allocation, so it can sit in a per-record hot path. Its zero value is ready
// to use. It is not safe for concurrent use: give each goroutine its own and
// Merge them at the end.
type LatencyHistogram struct {
	counts [bucketCount]uint64
	total  uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

// Record adds one observation. Negative durations count as zero.
func (h *LatencyHistogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketIndex(uint64(d))]++
	if h.total == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.total++
	h.sum += d
}

// Merge adds every observation of other into h.
func (h *LatencyHistogram) Merge(other *LatencyHistogram) {
	if other.total == 0 {
		return
	}
	for i, c := range other.counts {
		h.counts[i] += c
	}
	if h.total == 0 || other.min < h.min {
		h.min = other.min
	}
	if other.max > h.max {
		h.max = other.max
	}
	h.total += other.total
	h.sum += other.sum
}

// Count is the number of recorded observations.
func (h *LatencyHistogram) Count() uint64 { return h.total }

// Max is the largest recorded observation, exactly.
func (h *LatencyHistogram) Max() time.Duration { return h.max }

// Mean is the average observation, exactly; zero when empty.
func (h *LatencyHistogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return h.sum / time.Duration(h.total)
}

// Quantile returns the smallest bucket bound at or below which a fraction q
// (0..1) of observations lie: an upper estimate, never more than 0.8% above
// the true value and never above Max. It returns zero when empty.
func (h *LatencyHistogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketUpperBound(i)), h.max)
		}
	}
	return h.max
}

// bucketIndex maps a value to its bucket: values below subBucketCount have a
// bucket each; above, the bucket is chosen by the value's bit length (which
// power of two) and its next subBucketBits-1 bits (where within it).
func bucketIndex(v uint64) int {
	if v < subBucketCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBucketBits
	top := v >> uint(shift) // in [halfSubBucketCount, subBucketCount)
	return subBucketCount + (shift-1)*halfSubBucketCount + int(top-halfSubBucketCount)
}

// bucketUpperBound is the largest value that bucketIndex maps to index i.
func bucketUpperBound(i int) uint64 {
	if i < subBucketCount {
		return uint64(i)
	}
	rest := i - subBucketCount
	shift := rest/halfSubBucketCount + 1
	top := uint64(rest%halfSubBucketCount + halfSubBucketCount)
	lower := top << uint(shift)
	return lower + (uint64(1) << uint(shift)) - 1
}

// CountsUpTo splits the observations at bounds, which must be ascending:
// element i counts the observations above bounds[i-1] and at most
// bounds[i]. Observations above the last bound are not counted. Each fine
// bucket is placed by its upper bound, so a count may include values up to
// 0.8% above its bound.
func (h *LatencyHistogram) CountsUpTo(bounds []time.Duration) []uint64 {
	counts := make([]uint64, len(bounds))
	next := 0
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		upper := time.Duration(bucketUpperBound(i))
		for next < len(bounds) && upper > bounds[next] {
			next++
		}
		if next == len(bounds) {
			break
		}
		counts[next] += c
	}
	return counts
}
