#!/usr/bin/env bash
# profile.sh: where a broker spends its CPU in one workload, sampled from
# outside with Linux perf (Sluice has no pprof endpoint, and none is needed:
# Go binaries keep frame pointers and symbols, so `perf record -g` sees Go
# stacks with file:line).
#
#   bash scripts/bench/profile.sh [TARGET] [consume|produce]
#   PROFILE_SIZE=1024 PROFILE_RECORDS=300000 bash scripts/bench/profile.sh kfake-mem consume
#
# TARGET is one of lib.sh's targets (default sluice). The broker gets a fresh
# data dir; the topic is filled once with PROFILE_RECORDS records, then the
# profiled workload runs PROFILE_REPEAT times under `perf record`: consume
# reads the whole topic from the start each time, produce appends the same
# amount again each time. Prints the broker's CPU seconds per repeat and
# writes to $PROFILE_OUT: perf.data, self.txt (flat profile by function),
# cumulative.txt (with callees) and lines.txt (by Go source line, through
# perf_lines.py, since perf cannot read Go line tables).
set -uo pipefail

TARGET=${1:-sluice}
MODE=${2:-consume}
OUT=${PROFILE_OUT:-/tmp/sluice-profile-$TARGET-$MODE}
SIZE=${PROFILE_SIZE:-100}
PARTITIONS=${PROFILE_PARTITIONS:-8}
RECORDS=${PROFILE_RECORDS:-1000000}
REPEAT=${PROFILE_REPEAT:-5}
FREQUENCY=${PROFILE_FREQUENCY:-1999} # samples per second per CPU

# shellcheck source=scripts/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

perf_pid=""
cleanup() {
	[[ -n $perf_pid ]] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null
	stop_broker
}
trap cleanup EXIT

command -v perf >/dev/null || die "needs Linux perf (apt-get install linux-perf)"
[[ $MODE == consume || $MODE == produce ]] || die "mode is consume or produce, not $MODE"
rm -rf "$OUT" && mkdir -p "$OUT/data"
if [[ -n ${BENCH_BIN:-} ]]; then
	mkdir -p "$OUT/bin" && cp "$BENCH_BIN"/sluice "$BENCH_BIN"/kfake-peer "$OUT/bin/"
else
	build_binaries
fi
port=$(free_port) || die "no free port"
start_broker "$TARGET" "$port" "$OUT/data" "$OUT/broker.log"
perf_args=(--bootstrap "127.0.0.1:$port" --quiet --json)
produce=(produce "${perf_args[@]}" --records "$RECORDS" --record-size "$SIZE" --partitions "$PARTITIONS" --acks all)
"$OUT/bin/sluice" perf "${produce[@]}" >"$OUT/fill.json" || die "filling the topic failed"

perf record -F "$FREQUENCY" -g -p "$broker_pid" -o "$OUT/perf.data" 2>"$OUT/perf-record.log" &
perf_pid=$!
cpu_start=$(broker_cpu_seconds)
for ((i = 1; i <= REPEAT; i++)); do
	if [[ $MODE == consume ]]; then
		"$OUT/bin/sluice" perf consume "${perf_args[@]}"
	else
		"$OUT/bin/sluice" perf "${produce[@]}"
	fi
done | tee "$OUT/runs.jsonl" | jq -r '"\(.mode) \(.records_per_sec | floor) rec/s \(.mb_per_sec | floor) MB/s"'
cpu_end=$(broker_cpu_seconds)
kill -INT "$perf_pid" && wait "$perf_pid"
perf_pid=""
awk -v a="$cpu_end" -v b="$cpu_start" -v n="$REPEAT" -v t="$TARGET" -v m="$MODE" \
	'BEGIN { printf "%s %s: broker CPU %.3f s per repeat\n", t, m, (a - b) / n }' | tee "$OUT/cpu.txt"
stop_broker

perf report -i "$OUT/perf.data" --stdio --no-children --sort symbol --percent-limit 0.7 -g none 2>/dev/null \
	| grep -v '^$' >"$OUT/self.txt"
perf report -i "$OUT/perf.data" --stdio --children --sort symbol --percent-limit 3 -g none 2>/dev/null \
	| grep -v '^$' >"$OUT/cumulative.txt"
binary="$OUT/bin/sluice"
[[ $TARGET == kfake-* ]] && binary="$OUT/bin/kfake-peer"
perf script -i "$OUT/perf.data" -F ip,sym 2>/dev/null \
	| python3 "$(dirname "${BASH_SOURCE[0]}")/perf_lines.py" "$binary" >"$OUT/lines.txt"
echo "bench: profile in $OUT (self.txt, cumulative.txt, lines.txt, perf.data)" >&2
