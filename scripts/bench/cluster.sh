#!/usr/bin/env bash
# cluster.sh: RF=3 acks=all against RF=1 on one 3-node Sluice cluster on this
# machine, alternating A B A B so drift in the machine's speed hits both.
#
#   bash scripts/bench/cluster.sh [ROUNDS] [RECORDS] [RECORD_SIZE] [PARTITIONS]
#
# Starts three combined broker/controller nodes on 127.0.0.1 (fresh data in
# a temporary directory), then per round: `sluice perf produce` at full speed
# on a new RF=1 topic, then on a new RF=3 topic (min.insync.replicas=2),
# then the same two at a capped rate (latency: 2,000 records/s). Prints one
# JSON line per run (sluice perf --json, plus "rf" and "mode") and stops the
# nodes with SIGTERM. MODES="latency" runs one kind only; EXTRA_PROPS adds
# lines to every node's server.properties; KEEP=1 keeps the data and logs.
#
# WARM_GB (default: all available memory but 2 GiB, at most 20) first
# touches that much memory once and frees it. On this machine's VM, the
# first write to a guest page the host has not backed yet costs a
# hypervisor fault: appending to new page cache runs at about 0.3-0.4 GB/s
# until the memory has been touched once, then at 3-5 GB/s (measured with
# dd, docs/performance.md). RF=3 writes three times the page cache of
# RF=1, so a cold machine charges RF=3 three times the artifact; a server
# that has run for a while has recycled its page cache long ago. WARM_GB=0
# skips the step.
set -euo pipefail

ROUNDS=${1:-3}
RECORDS=${2:-500000}
RECORD_SIZE=${3:-100}
PARTITIONS=${4:-1}
LATENCY_RECORDS=${LATENCY_RECORDS:-20000}
LATENCY_RATE=${LATENCY_RATE:-2000}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-cluster-bench.XXXXXX")
pids=()

cleanup() {
	((${#pids[@]} > 0)) && kill "${pids[@]}" 2>/dev/null
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	[[ -n ${KEEP:-} ]] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

(cd "$ROOT" && go build -o "$work/sluice" ./cmd/sluice)

warm_gb=${WARM_GB:-$(awk '/MemAvailable/ { gb = int($2 / 1048576) - 2; print (gb > 20 ? 20 : (gb < 0 ? 0 : gb)) }' /proc/meminfo)}
if ((warm_gb > 0)); then
	echo "touching ${warm_gb} GiB of memory once (WARM_GB=0 skips)" >&2
	python3 -c 'import sys; b = bytearray(int(sys.argv[1]) << 30); b[::4096] = b"\1" * len(range(0, len(b), 4096))' "$warm_gb"
fi
echo "sluice $(cd "$ROOT" && git rev-parse --short HEAD)" >&2

ports=() cports=() voters=""
for i in 1 2 3; do
	ports+=("$(free_port)")
	cports+=("$(free_port)")
	voters+="${voters:+,}$i@127.0.0.1:${cports[i - 1]}"
done
bootstrap=""
for i in 1 2 3; do
	dir="$work/node-$i"
	mkdir -p "$dir/data"
	cat >"$dir/server.properties" <<EOF
node.id=$i
process.roles=broker,controller
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[i - 1]},CONTROLLER://127.0.0.1:${cports[i - 1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[i - 1]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
sluice.metrics.listener=
${EXTRA_PROPS:-}
EOF
	"$work/sluice" serve --config "$dir/server.properties" >"$dir/log" 2>&1 &
	pids+=($!)
	bootstrap+="${bootstrap:+,}127.0.0.1:${ports[i - 1]}"
done

deadline=$((SECONDS + 60))
until "$work/sluice" cluster info --bootstrap "$bootstrap" -o json 2>/dev/null | grep -c '"port"' | grep -q '^3$'; do
	((SECONDS < deadline)) || { echo "cluster did not form" >&2; tail -n 20 "$work"/node-*/log >&2; exit 1; }
	sleep 0.5
done
echo "cluster up: $bootstrap" >&2

run() {
	local round=$1 rf=$2 mode=$3 topic="bench-$1-rf$2-$3"
	"$work/sluice" topic create "$topic" -p "$PARTITIONS" -r "$rf" --config min.insync.replicas=$((rf > 1 ? 2 : 1)) \
		--bootstrap "$bootstrap" >/dev/null
	local extra=(--records "$RECORDS")
	if [[ $mode == latency ]]; then
		extra=(--records "$LATENCY_RECORDS" --throughput "$LATENCY_RATE" --linger 0s)
	fi
	"$work/sluice" perf --bootstrap "$bootstrap" produce --topic "$topic" --record-size "$RECORD_SIZE" \
		--acks all --quiet --json "${extra[@]}" |
		python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(rf=int(sys.argv[1]), mode=sys.argv[2], round=int(sys.argv[3])); print(json.dumps(d))' "$rf" "$mode" "$round"
}

for round in $(seq 1 "$ROUNDS"); do
	for mode in ${MODES:-throughput latency}; do
		run "$round" 1 "$mode"
		run "$round" 3 "$mode"
	done
done
