#!/usr/bin/env bash
# compare.sh: Sluice against franz-go's kfake, side by side, in one run on
# one machine, measured with the same client (`sluice perf`).
#
#   bash scripts/bench/compare.sh                 # full study, about 12 min on 2 cores
#   BENCH_ROUNDS=1 BENCH_TARGETS="sluice kfake-mem" bash scripts/bench/compare.sh
#
# Targets (every run gets a fresh broker process and a fresh data directory):
#   sluice        sluice serve, default durable mode (ack after fsync, group commit)
#   kfake-mem     kfake-peer, memory only
#   kfake-sync    kfake-peer -data-dir DIR -sync (fsync of segment and index per batch)
#   sluice-cache  sluice serve --set log.flush.interval.messages=10000 (Kafka-style
#                 write caching: ack from the page cache, fsync later)
#
# Phases:
#   throughput  perf produce (uncapped) for every record size x partitions x acks,
#               then perf consume of what was produced, on the same broker.
#   latency     perf produce capped at BENCH_RATES records/s (100 B, 1 partition,
#               acks=all) for BENCH_LATENCY_SECONDS seconds, once per client linger
#               in BENCH_LINGERS (0s: the broker's own latency shows; 10ms: perf's
#               default, where the linger dominates p50): ack latency percentiles.
#
# The targets alternate inside each round (A B C D, A B C D, ...) so slow
# drift in machine load hits all of them alike. Every result is one JSON line
# in $BENCH_OUT/results.jsonl (perf's --json line plus target, phase, round,
# acks, and the broker's CPU seconds during the run); summarize.py turns that file into the tables in docs/performance.md.
set -uo pipefail

OUT=${BENCH_OUT:-/tmp/sluice-bench-$(date -u +%Y%m%dT%H%M%SZ)}
ROUNDS=${BENCH_ROUNDS:-3}
read -r -a TARGETS <<<"${BENCH_TARGETS:-sluice kfake-mem kfake-sync sluice-cache}"
read -r -a SIZES <<<"${BENCH_SIZES:-100 1024}"
read -r -a PARTITIONS <<<"${BENCH_PARTITIONS:-1 8}"
read -r -a ACKS <<<"${BENCH_ACKS:-1 all}"
read -r -a RATES <<<"${BENCH_RATES:-20000 100000}"
read -r -a LINGERS <<<"${BENCH_LINGERS:-0s 10ms}"
PHASES=${BENCH_PHASES:-throughput latency}
LATENCY_SECONDS=${BENCH_LATENCY_SECONDS:-8}
RUN_TIMEOUT=120s # cap on any one perf run

# shellcheck source=scripts/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap stop_broker EXIT

# records_for returns the run length for a record size: about 100 MB of
# 100 B records, 300 MB of 1 KiB ones, a few seconds each.
records_for() {
	if (($1 >= 1024)); then echo 300000; else echo 1000000; fi
}

# record runs one perf command and appends its JSON line, tagged and with
# the broker's CPU seconds during the run, to results.jsonl.
record() {
	local tags=$1
	shift
	local line cpu_before cpu_after
	cpu_before=$(broker_cpu_seconds)
	if ! line=$("$OUT/bin/sluice" perf "$@" --json --quiet --timeout "$RUN_TIMEOUT" 2>>"$OUT/perf.stderr"); then
		echo "bench: perf $* failed (see $OUT/perf.stderr)" >&2
		line='{"error":true}'
	fi
	cpu_after=$(broker_cpu_seconds)
	tags=$(jq -c --argjson cpu "$(awk -v a="$cpu_after" -v b="$cpu_before" 'BEGIN { printf "%.3f", a - b }')" '. + {broker_cpu_seconds: $cpu}' <<<"$tags")
	jq -c --argjson tags "$tags" '. + $tags' <<<"$line" >>"$OUT/results.jsonl"
	jq -r --argjson tags "$tags" '"\($tags.phase) \($tags.target) r\($tags.round) \(.mode // "-") size=\($tags.size) p=\($tags.partitions) acks=\($tags.acks) \(.records_per_sec // 0 | floor) rec/s \(.mb_per_sec // 0 | . * 10 | floor / 10) MB/s p99=\(.latency_ms.p99 // "-")"' <<<"$line" >&2
}

machine_info() {
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "nproc: $(nproc)"
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
		echo "memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
		echo "kernel: $(uname -r)"
		echo "filesystem: $(df -T "$OUT" | awk 'NR == 2 {print $1 " " $2}')"
		echo "go: $(go version)"
		echo "sluice revision: $(cat "$OUT/revision")"
		# fsync ceiling: 4 KiB appends, each followed by fdatasync (O_DSYNC).
		local dd_out
		dd_out=$(dd if=/dev/zero of="$OUT/fsync-probe" bs=4k count=2000 oflag=dsync 2>&1 | tail -1)
		rm -f "$OUT/fsync-probe"
		echo "fsync probe (dd bs=4k count=2000 oflag=dsync): $dd_out"
		echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	} >"$OUT/machine.txt"
	cat "$OUT/machine.txt" >&2
}

one_run() {
	local phase=$1 target=$2 round=$3 size=$4 partitions=$5 acks=$6 rate=$7 linger=$8
	local port data tags
	port=$(free_port) || die "no free port"
	data="$OUT/data/$target"
	rm -rf "$data"
	mkdir -p "$data"
	start_broker "$target" "$port" "$data" "$OUT/logs/$phase-$target-$size-$partitions-$acks-$rate-$linger-r$round.log"
	tags=$(jq -nc --arg phase "$phase" --arg target "$target" --argjson round "$round" \
		--argjson size "$size" --argjson partitions "$partitions" --arg acks "$acks" --argjson rate "$rate" --arg linger "$linger" \
		'{phase: $phase, target: $target, round: $round, size: $size, partitions: $partitions, acks: $acks, rate: $rate, linger: $linger}')
	local records
	if [[ $phase == latency ]]; then
		records=$((rate * LATENCY_SECONDS))
	else
		records=$(records_for "$size")
	fi
	record "$tags" produce --bootstrap "127.0.0.1:$port" --records "$records" --record-size "$size" \
		--partitions "$partitions" --acks "$acks" --throughput "$rate" --linger "$linger"
	if [[ $phase == throughput ]]; then
		record "$(jq -c '.phase = "consume"' <<<"$tags")" consume --bootstrap "127.0.0.1:$port"
	fi
	stop_broker
	rm -rf "$data"
}

main() {
	mkdir -p "$OUT/logs" "$OUT/data"
	build_binaries
	machine_info
	local round size partitions acks target rate
	if [[ " $PHASES " == *" throughput "* ]]; then
		for size in "${SIZES[@]}"; do
			for partitions in "${PARTITIONS[@]}"; do
				for acks in "${ACKS[@]}"; do
					for ((round = 1; round <= ROUNDS; round++)); do
						for target in "${TARGETS[@]}"; do
							one_run throughput "$target" "$round" "$size" "$partitions" "$acks" 0 10ms
						done
					done
				done
			done
		done
	fi
	if [[ " $PHASES " == *" latency "* ]]; then
		local linger
		for linger in "${LINGERS[@]}"; do
			for rate in "${RATES[@]}"; do
				for ((round = 1; round <= ROUNDS; round++)); do
					for target in "${TARGETS[@]}"; do
						one_run latency "$target" "$round" 100 1 all "$rate" "$linger"
					done
				done
			done
		done
	fi
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
	python3 "$ROOT/scripts/bench/summarize.py" "$OUT" >"$OUT/summary.md"
	echo "bench: results in $OUT (summary.md, results.jsonl, machine.txt)" >&2
}

main "$@"
