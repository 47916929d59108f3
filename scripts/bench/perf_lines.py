#!/usr/bin/env python3
"""perf_lines.py: a `perf record -g` profile of a Go binary, by source line.

    perf script -i perf.data -F ip,sym | python3 scripts/bench/perf_lines.py BINARY

perf reports a Go binary's user-space addresses as file offsets and cannot
read Go's line tables itself; this maps them back to virtual addresses (the
first LOAD segment's vaddr - offset) and resolves them with `go tool
addr2line`. Return addresses of callers are moved back one byte, so a caller
frame names the line of its call. The binary should be built with
-trimpath, so files are named by module path; Sluice's own are shown
relative to the repository.

Prints, as % of all samples: buckets (garbage collection, the page
scavenger, page faults, socket and file syscalls, by symbols anywhere on
the stack), self (the innermost user-space frame of each sample, so time in
the kernel is charged to the Go line that entered it) and cumulative (every
distinct line on a sample's stack, Go runtime and standard library files
left out so the program's own lines show).
"""
import collections
import subprocess
import sys

MODULE = "github.com/sluice-io/sluice/"


def load_base(binary):
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            return int(f[2], 16) - int(f[1], 16)
    raise SystemExit(f"no LOAD segment in {binary}")


def samples(stream):
    stack = []
    for line in stream:
        line = line.strip()
        if not line:
            if stack:
                yield stack
            stack = []
            continue
        ip, _, sym = line.partition(" ")
        stack.append((int(ip, 16), sym))
    if stack:
        yield stack


BUCKETS = [
    ("GC mark (runtime.gcBgMarkWorker, mallocgc assists)", ("runtime.gcBgMarkWorker", "runtime.gcAssistAlloc")),
    ("scavenger returning memory (runtime.bgscavenge)", ("runtime.bgscavenge",)),
    ("page faults (exc_page_fault)", ("exc_page_fault",)),
    ("write(2)", ("syscall.write",)),
    ("read(2)/pread(2)", ("syscall.read", "syscall.pread")),
    ("fsync(2)/fdatasync(2)", ("syscall.Fsync", "syscall.Fdatasync")),
]


def in_module(loc):
    """With -trimpath, only files of modules (not of Go's standard library
    or runtime) have a dot in their first path element: github.com/..."""
    return "." in loc.split("/", 1)[0]


def main():
    binary = sys.argv[1]
    base = load_base(binary)
    stacks = []
    for stack in samples(sys.stdin):
        user = []
        for depth, (ip, sym) in enumerate((ip, sym) for ip, sym in stack if ip < 1 << 47):
            user.append(ip + base - (1 if depth > 0 else 0))
        kernel_leaf = stack[0][0] >= 1 << 47
        stacks.append((user, kernel_leaf, [sym for _, sym in stack]))
    addrs = sorted({a for user, _, _ in stacks for a in user})
    res = subprocess.run(["go", "tool", "addr2line", binary], input="".join(f"0x{a:x}\n" for a in addrs),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    where = {}
    ours = set()  # lines in modules, not the standard library
    for i, a in enumerate(addrs):
        func, loc = res[2 * i], res[2 * i + 1]
        where[a] = f"{loc.removeprefix(MODULE)} {func.rsplit('/', 1)[-1]}"
        if in_module(loc):
            ours.add(where[a])
    total = len(stacks)
    self_count = collections.Counter()
    cum_count = collections.Counter()
    bucket_count = collections.Counter()
    for user, kernel_leaf, syms in stacks:
        for name, needles in BUCKETS:
            if any(sym.startswith(n) for sym in syms for n in needles):
                bucket_count[name] += 1
        if not user:
            continue
        self_count[where[user[0]] + (" (in kernel)" if kernel_leaf else "")] += 1
        for w in {where[a] for a in user}:
            if w in ours:
                cum_count[w] += 1
    print(f"samples: {total}\n\nbuckets")
    for name, _ in BUCKETS:
        print(f"{100 * bucket_count[name] / total:6.2f}%  {name}")
    print("\nself (innermost Go frame)")
    for w, n in self_count.most_common(25):
        print(f"{100 * n / total:6.2f}%  {w}")
    print("\ncumulative (line anywhere on the stack)")
    for w, n in cum_count.most_common(30):
        print(f"{100 * n / total:6.2f}%  {w}")


if __name__ == "__main__":
    main()
