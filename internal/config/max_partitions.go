package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"
)

// sluice.max.partitions's automatic value. File descriptors do not bound
// partitions (storage keeps open files under a budget of their own), memory
// does: an idle partition costs about 10 KiB of RSS (10,000 partitions:
// 103 MiB), so one partition per 64 KiB of the memory limit leaves the rest
// (about 85 %) for page cache, requests and busy partitions.
const (
	// AutoMaxPartitionsBytesPer is the memory limit's share per partition.
	AutoMaxPartitionsBytesPer = 64 << 10
	// MinAutoMaxPartitions is the least the automatic value gives, however
	// small the memory limit: a cluster's internal topics (50 partitions
	// each) and a few ordinary ones always fit.
	MinAutoMaxPartitions = 1000
	// FallbackMaxPartitions is the automatic value where the memory limit
	// cannot be read (a system without /proc).
	FallbackMaxPartitions = 100_000
)

// Sources of a resolved PartitionCap.
const (
	PartitionCapConfigured = "sluice.max.partitions"
	PartitionCapCgroup     = "cgroup memory.max"
	PartitionCapMemTotal   = "MemTotal"
	PartitionCapFallback   = "fallback: memory limit unknown"
)

// PartitionCap is sluice.max.partitions as it applies: the configured
// value, or the automatic one and what it was derived from.
type PartitionCap struct {
	// Value is the most partition replicas one broker may host (>= 1).
	Value int32
	// Source is PartitionCapConfigured, PartitionCapCgroup,
	// PartitionCapMemTotal or PartitionCapFallback.
	Source string
	// MemoryLimit is the memory limit in bytes the automatic value was
	// derived from; 0 when configured or unknown.
	MemoryLimit int64
	// Err says why the memory limit could not be read (Source
	// PartitionCapFallback).
	Err error
}

// ResolvePartitionCap returns sluice.max.partitions as it applies on this
// machine. An explicit value (>= 1) is taken as is; 0 is
// max(MinAutoMaxPartitions, memory limit / AutoMaxPartitionsBytesPer), with
// the memory limit read by MemoryLimit from root (the server passes the
// file system root; tests pass an fstest.MapFS), or FallbackMaxPartitions
// where it cannot be read (not Linux). root is not read for an explicit
// value.
func (b Broker) ResolvePartitionCap(root fs.FS) PartitionCap {
	if b.MaxPartitions > 0 {
		return PartitionCap{Value: b.MaxPartitions, Source: PartitionCapConfigured}
	}
	limit, source, err := MemoryLimit(root)
	if err != nil {
		return PartitionCap{Value: FallbackMaxPartitions, Source: PartitionCapFallback, Err: err}
	}
	return PartitionCap{Value: AutoMaxPartitions(limit), Source: source, MemoryLimit: limit}
}

// AutoMaxPartitions is the automatic sluice.max.partitions for a memory
// limit of memoryLimit bytes.
func AutoMaxPartitions(memoryLimit int64) int32 {
	return int32(min(max(MinAutoMaxPartitions, memoryLimit/AutoMaxPartitionsBytesPer), math.MaxInt32))
}

// MemoryLimit returns the memory this process may use, read from root
// (a file system whose root is the machine's "/"): the tightest cgroup v2
// memory.max from the process's cgroup up to the cgroup2 mount (source
// PartitionCapCgroup) when that is set (not "max") and below the machine's
// MemTotal, else MemTotal from /proc/meminfo (PartitionCapMemTotal). An
// error means neither could be read.
func MemoryLimit(root fs.FS) (limit int64, source string, err error) {
	total, totalErr := memTotal(root)
	cgroup, cgroupErr := cgroupMemoryMax(root)
	switch {
	case cgroupErr == nil && cgroup > 0 && (totalErr != nil || cgroup < total):
		return cgroup, PartitionCapCgroup, nil
	case totalErr == nil:
		return total, PartitionCapMemTotal, nil
	}
	return 0, "", fmt.Errorf("read the memory limit: %w", errors.Join(totalErr, cgroupErr))
}

// memTotal reads MemTotal (in kB) from /proc/meminfo.
func memTotal(root fs.FS) (int64, error) {
	data, err := fs.ReadFile(root, "proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil || kb <= 0 {
			return 0, fmt.Errorf("/proc/meminfo: MemTotal %q is not a size in kB", strings.TrimSpace(rest))
		}
		return kb << 10, nil
	}
	return 0, errors.New("/proc/meminfo has no MemTotal")
}

// cgroupMemoryMax returns the smallest memory.max (bytes) set on the
// process's cgroup v2 or an ancestor of it below the mount, 0 if none is
// set ("max" everywhere, or the root cgroup, which has no memory.max).
func cgroupMemoryMax(root fs.FS) (int64, error) {
	mountRoot, mountPoint, err := cgroup2Mount(root)
	if err != nil {
		return 0, err
	}
	own, err := ownCgroup(root)
	if err != nil {
		return 0, err
	}
	relative := "/" // outside the mount's view (a cgroup namespace): read the mount's own top
	switch {
	case mountRoot == "/":
		relative = own
	case own == mountRoot || strings.HasPrefix(own, mountRoot+"/"):
		relative = own[len(mountRoot):]
	}
	var limit int64
	for dir := path.Join(mountPoint, relative); ; dir = path.Dir(dir) {
		if value, ok := readMemoryMax(root, dir); ok && (limit == 0 || value < limit) {
			limit = value
		}
		if dir == mountPoint || dir == "/" {
			return limit, nil
		}
	}
}

// readMemoryMax reads dir/memory.max; ok is false for "max", a missing
// file or anything that is not a byte count.
func readMemoryMax(root fs.FS, dir string) (int64, bool) {
	data, err := fs.ReadFile(root, fsPath(path.Join(dir, "memory.max")))
	if err != nil {
		return 0, false
	}
	value, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
	return value, err == nil && value > 0
}

// cgroup2Mount finds the cgroup2 file system in /proc/self/mountinfo:
// its root within the hierarchy and where it is mounted.
func cgroup2Mount(root fs.FS) (mountRoot, mountPoint string, err error) {
	data, err := fs.ReadFile(root, "proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		// id parent major:minor root mount-point options [optional...] - type source super-options
		before, after, ok := strings.Cut(scanner.Text(), " - ")
		fields, tail := strings.Fields(before), strings.Fields(after)
		if !ok || len(fields) < 5 || len(tail) == 0 || tail[0] != "cgroup2" {
			continue
		}
		return unescapeMountinfo(fields[3]), unescapeMountinfo(fields[4]), nil
	}
	return "", "", errors.New("no cgroup2 file system mounted")
}

// ownCgroup returns the process's cgroup v2 path ("0::/path" in
// /proc/self/cgroup).
func ownCgroup(root fs.FS) (string, error) {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		if own, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return own, nil
		}
	}
	return "", errors.New("/proc/self/cgroup has no cgroup v2 entry")
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(field string) string {
	if !strings.Contains(field, `\`) {
		return field
	}
	var out strings.Builder
	for i := 0; i < len(field); i++ {
		if field[i] == '\\' && i+3 < len(field) {
			if code, err := strconv.ParseUint(field[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(code))
				i += 3
				continue
			}
		}
		out.WriteByte(field[i])
	}
	return out.String()
}

// fsPath turns an absolute path into an io/fs path ("/a/b" → "a/b", "/" → ".").
func fsPath(p string) string {
	if p = strings.TrimPrefix(path.Clean(p), "/"); p == "" {
		return "."
	}
	return p
}
