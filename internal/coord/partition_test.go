package coord

import "testing"

// Expected partitions computed independently from Java's definition
// ((s.hashCode() & 0x7fffffff) % 50 over UTF-16 code units), including a
// non-BMP rune that Java sees as a surrogate pair.
func TestPartitionForMatchesJava(t *testing.T) {
	cases := []struct {
		key  string
		want int32
	}{
		{"", 0},
		{"a", 47},
		{"my-group", 36},
		{"console-consumer-12345", 6},
		{"payments.v2", 9},
		{"😀", 49},
		{"grüße", 23},
	}
	for _, c := range cases {
		if got := PartitionFor(c.key, 50); got != c.want {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", c.key, got, c.want)
		}
	}
}
