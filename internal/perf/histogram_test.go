package perf

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketBoundsAreConsistent(t *testing.T) {
	random := rand.New(rand.NewPCG(3, 4))
	values := []uint64{0, 1, 255, 256, 257, 511, 512, 1 << 20, 1<<63 - 1}
	for range 10_000 {
		values = append(values, random.Uint64N(1<<uint(random.IntN(63)+1)))
	}
	for _, v := range values {
		i := bucketIndex(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketIndex(%d) = %d, outside [0, %d)", v, i, bucketCount)
		}
		upper := bucketUpperBound(i)
		if upper < v {
			t.Fatalf("value %d in bucket %d whose upper bound %d is below it", v, i, upper)
		}
		if bucketIndex(upper) != i {
			t.Fatalf("upper bound %d of bucket %d maps to bucket %d", upper, i, bucketIndex(upper))
		}
		if upper < 1<<63-1 && bucketIndex(upper+1) != i+1 {
			t.Fatalf("value after bucket %d's upper bound maps to %d, want %d", i, bucketIndex(upper+1), i+1)
		}
		if v >= subBucketCount && float64(upper-v) > float64(v)/halfSubBucketCount {
			t.Fatalf("value %d reported as %d: error above 1/%d", v, upper, halfSubBucketCount)
		}
	}
}

func TestQuantilesOfUniformDistribution(t *testing.T) {
	var h LatencyHistogram
	for i := 1; i <= 100_000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	cases := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 50 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{0.999, 99_900 * time.Microsecond},
		{1, 100 * time.Millisecond},
	}
	for _, c := range cases {
		got := h.Quantile(c.q)
		if got < c.want || float64(got-c.want) > float64(c.want)/100 {
			t.Errorf("Quantile(%v) = %v, want within 1%% above %v", c.q, got, c.want)
		}
	}
	if h.Count() != 100_000 || h.Max() != 100*time.Millisecond {
		t.Errorf("count %d max %v, want 100000 and 100ms", h.Count(), h.Max())
	}
	if want := 50_000_500 * time.Nanosecond; h.Mean() != want {
		t.Errorf("mean %v, want %v", h.Mean(), want)
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	var a, b, all LatencyHistogram
	random := rand.New(rand.NewPCG(5, 6))
	for i := range 5000 {
		d := time.Duration(random.Int64N(int64(time.Second)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var merged LatencyHistogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&LatencyHistogram{})
	if merged != all {
		t.Fatalf("merged histogram differs from one that recorded everything")
	}
}

func TestEmptyAndNegative(t *testing.T) {
	var h LatencyHistogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatalf("empty histogram reports non-zero values")
	}
	h.Record(-time.Second)
	if h.Count() != 1 || h.Quantile(0.5) != 0 {
		t.Fatalf("negative duration: count %d p50 %v, want 1 and 0", h.Count(), h.Quantile(0.5))
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h LatencyHistogram
	b.ReportAllocs()
	for i := range b.N {
		h.Record(time.Duration(i&0xfffff) * time.Microsecond)
	}
}
