#!/usr/bin/env python3
"""summarize.py: turn compare.sh's results.jsonl into Markdown tables.

    python3 scripts/bench/summarize.py /tmp/sluice-bench-.../

Every cell is the median over rounds with the range (min-max) in brackets.
Ratio columns compare medians; a ratio within 0.8-1.25 is marked "~"
(noise on this shared 2-core machine), anything outside is shown bare.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

TARGET_ORDER = ["sluice", "kfake-mem", "kfake-sync", "sluice-cache"]
NOISE = 1.25


def load(out_dir):
    rows = []
    for line in (Path(out_dir) / "results.jsonl").read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def fmt(values, digits=0):
    if not values:
        return "-"
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    f = f"{{:.{digits}f}}"
    return f"{f.format(med)} [{f.format(lo)}-{f.format(hi)}]"


def ratio(a, b):
    if not a or not b:
        return "-"
    r = statistics.median(a) / statistics.median(b)
    mark = "~" if 1 / NOISE <= r <= NOISE else ""
    return f"{mark}{r:.2f}x"


def size_name(size):
    return "1 KiB" if size == 1024 else f"{size} B"


def targets_in(rows):
    present = {r["target"] for r in rows}
    return [t for t in TARGET_ORDER if t in present]


def throughput_table(rows, phase, key_fields, title):
    groups = defaultdict(lambda: defaultdict(list))
    failures = defaultdict(int)
    for r in rows:
        if r.get("phase") != phase:
            continue
        key = tuple(r[k] for k in key_fields)
        if r.get("error") or r.get("failed", 0) or not r.get("records"):
            failures[(key, r["target"])] += 1
            continue
        groups[key][r["target"]].append(r["mb_per_sec"])
    targets = targets_in([r for r in rows if r.get("phase") == phase])
    head = ["size", "partitions"] + (["acks"] if "acks" in key_fields else [])
    cols = head + [f"{t} MB/s" for t in targets]
    ratios = [("sluice", "kfake-sync"), ("sluice", "kfake-mem"), ("sluice-cache", "kfake-mem")]
    ratios = [(a, b) for a, b in ratios if a in targets and b in targets]
    cols += [f"{a} / {b}" for a, b in ratios]
    out = [f"#### {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        g = groups[key]
        cells = [size_name(key[0]), str(key[1])] + ([str(key[2])] if "acks" in key_fields else [])
        for t in targets:
            cell = fmt(g.get(t, []))
            if failures.get((key, t)):
                cell += f" ({failures[(key, t)]} failed)"
            cells.append(cell)
        cells += [ratio(g.get(a), g.get(b)) for a, b in ratios]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def records_table(rows, phase, key_fields, title):
    groups = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.get("phase") != phase or r.get("error") or r.get("failed", 0):
            continue
        groups[tuple(r[k] for k in key_fields)][r["target"]].append(r["records_per_sec"] / 1000)
    targets = targets_in([r for r in rows if r.get("phase") == phase])
    head = ["size", "partitions"] + (["acks"] if "acks" in key_fields else [])
    cols = head + [f"{t} k rec/s" for t in targets]
    out = [f"#### {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        cells = [size_name(key[0]), str(key[1])] + ([str(key[2])] if "acks" in key_fields else [])
        cells += [fmt(groups[key].get(t, [])) for t in targets]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def cpu_table(rows):
    """Broker CPU milliseconds per MB moved: less sensitive to a noisy
    neighbour than wall-clock throughput, since it counts only the broker's
    own work (but it still includes any fsync wait spent on-CPU)."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.get("phase") not in ("throughput", "consume") or r.get("error") or r.get("failed", 0):
            continue
        if "broker_cpu_seconds" not in r or not r.get("bytes"):
            continue
        mb = r["bytes"] / (1 << 20)
        groups[(r["phase"], r["size"], r["partitions"])][r["target"]].append(1000 * r["broker_cpu_seconds"] / mb)
    targets = targets_in([r for r in rows if r.get("phase") == "throughput"])
    out = ["#### Broker CPU per MB, ms (lower is better; produce pools acks=1 and acks=all)", "",
           "| run | size | partitions | " + " | ".join(targets) + " |", "|" + "---|" * (3 + len(targets))]
    for key in sorted(groups, key=lambda k: (k[0] != "throughput", k[1], k[2])):
        run = "produce" if key[0] == "throughput" else "consume"
        cells = [run, size_name(key[1]), str(key[2])] + [fmt(groups[key].get(t, []), 2) for t in targets]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def latency_table(rows):
    groups = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in rows:
        if r.get("phase") != "latency" or r.get("error") or r.get("failed", 0):
            continue
        g = groups[(r.get("linger", "10ms"), r["rate"])][r["target"]]
        g["rate"].append(r["records_per_sec"] / 1000)
        for p in ("p50", "p99", "p99_9", "max"):
            g[p].append(r["latency_ms"][p])
    out = ["#### Produce ack latency at a capped rate (100 B, 1 partition, acks=all), ms", "",
           "| client linger | offered rate | target | achieved k rec/s | p50 | p99 | p99.9 | max |",
           "|---|---|---|---|---|---|---|---|"]
    for linger, rate in sorted(groups, key=lambda k: (k[0] != "0s", k[1])):
        for t in targets_in([{"target": t} for t in groups[(linger, rate)]]):
            g = groups[(linger, rate)][t]
            out.append(f"| {linger} | {rate // 1000}k/s | {t} | {fmt(g['rate'])} | {fmt(g['p50'], 2)} | "
                       f"{fmt(g['p99'], 2)} | {fmt(g['p99_9'], 2)} | {fmt(g['max'], 1)} |")
    return "\n".join(out) + "\n"


def uncapped_latency_table(rows):
    groups = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.get("phase") != "throughput" or r.get("error") or r.get("failed", 0):
            continue
        groups[(r["size"], r["partitions"], r["acks"])][r["target"]].append(r["latency_ms"]["p50"])
    targets = targets_in([r for r in rows if r.get("phase") == "throughput"])
    out = ["#### p50 ack latency of the uncapped runs, ms (client buffer full: queueing, not service time)", "",
           "| size | partitions | acks | " + " | ".join(targets) + " |", "|" + "---|" * (3 + len(targets))]
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        cells = [size_name(key[0]), str(key[1]), key[2]] + [fmt(groups[key].get(t, []), 1) for t in targets]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main():
    out_dir = sys.argv[1]
    rows = load(out_dir)
    parts = [
        throughput_table(rows, "throughput", ["size", "partitions", "acks"], "Produce throughput, MB/s (uncapped)"),
        records_table(rows, "throughput", ["size", "partitions", "acks"], "Produce throughput, thousand records/s (uncapped)"),
        throughput_table(rows, "consume", ["size", "partitions"], "Consume throughput, MB/s (both acks runs pooled)"),
        records_table(rows, "consume", ["size", "partitions"], "Consume throughput, thousand records/s"),
        cpu_table(rows),
        latency_table(rows),
        uncapped_latency_table(rows),
    ]
    parts = [p for p in parts if p.count("\n|") > 2]  # drop tables of phases not run
    machine = Path(out_dir) / "machine.txt"
    if machine.exists():
        parts.insert(0, "```\n" + machine.read_text() + "```\n")
    print("\n".join(parts))


if __name__ == "__main__":
    main()
