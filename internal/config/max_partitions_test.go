package config

import (
	"strings"
	"testing"
	"testing/fstest"
)

// meminfo24G is the head of /proc/meminfo on a 24 GiB machine.
const meminfo24G = "MemTotal:       25165824 kB\nMemFree:        1000000 kB\n"

// hybridMountinfo is a cgroup v1/v2 hybrid host: cgroup2 mounted at
// /sys/fs/cgroup/unified, beside v1 hierarchies.
const hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
`

// unifiedMountinfo is a cgroup v2 only host (or container).
const unifiedMountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"

func TestMaxPartitionsKey(t *testing.T) {
	if b := DefaultBroker(); b.MaxPartitions != 0 {
		t.Fatalf("default sluice.max.partitions = %d, want 0 (automatic)", b.MaxPartitions)
	}
	b, err := ParseBroker(map[string]string{"sluice.max.partitions": "1500"})
	if err != nil || b.MaxPartitions != 1500 {
		t.Fatalf("sluice.max.partitions=1500: %v, %d", err, b.MaxPartitions)
	}
	for value, want := range map[string]string{
		"-1":   `config "sluice.max.partitions": value "-1" must be at least 0`,
		"lots": `config "sluice.max.partitions": value "lots" is not a valid int`,
		"1.5":  `config "sluice.max.partitions": value "1.5" is not a valid int`,
	} {
		if _, err := ParseBroker(map[string]string{"sluice.max.partitions": value}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("sluice.max.partitions=%s: err = %v, want %q", value, err, want)
		}
	}
	if entry := describeEntry(t, DefaultBroker(), "sluice.max.partitions"); entry == nil || *entry != "0" {
		t.Fatalf("DescribeConfigs reports %v, want 0", entry)
	}
}

func TestResolvePartitionCap(t *testing.T) {
	memTotalOnly := fstest.MapFS{"proc/meminfo": {Data: []byte(meminfo24G)}}
	tests := []struct {
		name       string
		configured int32
		root       fstest.MapFS
		want       int32
		source     string
	}{
		{"explicit wins, memory not read", 1500, fstest.MapFS{}, 1500, PartitionCapConfigured},
		{"MemTotal: 24 GiB / 64 KiB", 0, memTotalOnly, 393216, PartitionCapMemTotal},
		{"cgroup v2 memory.max below MemTotal", 0, fstest.MapFS{
			"proc/meminfo":                              {Data: []byte(meminfo24G)},
			"proc/self/mountinfo":                       {Data: []byte(unifiedMountinfo)},
			"proc/self/cgroup":                          {Data: []byte("0::/kubepods/pod1/c1\n")},
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": {Data: []byte("max\n")},
			"sys/fs/cgroup/kubepods/pod1/memory.max":    {Data: []byte("2147483648\n")}, // 2 GiB on the pod
			"sys/fs/cgroup/kubepods/memory.max":         {Data: []byte("8589934592\n")},
		}, 32768, PartitionCapCgroup},
		{"cgroup v2 on a hybrid host", 0, fstest.MapFS{
			"proc/meminfo":                         {Data: []byte(meminfo24G)},
			"proc/self/mountinfo":                  {Data: []byte(hybridMountinfo)},
			"proc/self/cgroup":                     {Data: []byte("4:memory:/x\n0::/svc\n")},
			"sys/fs/cgroup/unified/svc/memory.max": {Data: []byte("1073741824\n")},
		}, 16384, PartitionCapCgroup},
		{"memory.max max everywhere", 0, fstest.MapFS{
			"proc/meminfo":                 {Data: []byte(meminfo24G)},
			"proc/self/mountinfo":          {Data: []byte(unifiedMountinfo)},
			"proc/self/cgroup":             {Data: []byte("0::/svc\n")},
			"sys/fs/cgroup/svc/memory.max": {Data: []byte("max\n")},
		}, 393216, PartitionCapMemTotal},
		{"memory.max above MemTotal", 0, fstest.MapFS{
			"proc/meminfo":                 {Data: []byte(meminfo24G)},
			"proc/self/mountinfo":          {Data: []byte(unifiedMountinfo)},
			"proc/self/cgroup":             {Data: []byte("0::/svc\n")},
			"sys/fs/cgroup/svc/memory.max": {Data: []byte("1099511627776\n")},
		}, 393216, PartitionCapMemTotal},
		{"small container: the floor", 0, fstest.MapFS{
			"proc/meminfo":             {Data: []byte(meminfo24G)},
			"proc/self/mountinfo":      {Data: []byte(unifiedMountinfo)},
			"proc/self/cgroup":         {Data: []byte("0::/\n")},
			"sys/fs/cgroup/memory.max": {Data: []byte("33554432\n")}, // 32 MiB seen at the namespace's root
		}, MinAutoMaxPartitions, PartitionCapCgroup},
		{"no /proc (not Linux)", 0, fstest.MapFS{}, FallbackMaxPartitions, PartitionCapFallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := DefaultBroker()
			b.MaxPartitions = tt.configured
			got := b.ResolvePartitionCap(tt.root)
			if got.Value != tt.want || got.Source != tt.source {
				t.Fatalf("cap = %d from %q (memory %d, err %v), want %d from %q", got.Value, got.Source, got.MemoryLimit, got.Err, tt.want, tt.source)
			}
			if (got.Source == PartitionCapFallback) != (got.Err != nil) {
				t.Fatalf("err = %v with source %q", got.Err, got.Source)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/mnt/my\040cgroup`); got != "/mnt/my cgroup" {
		t.Fatalf("unescape = %q", got)
	}
	if got := unescapeMountinfo(`/trailing\04`); got != `/trailing\04` {
		t.Fatalf("a short escape changed: %q", got)
	}
}
