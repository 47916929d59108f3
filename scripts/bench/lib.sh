# lib.sh: pieces shared by compare.sh and profile.sh (sourced, not run).
#
# Callers set OUT (the results directory) before calling build_binaries.
# Brokers are started and stopped by pid; only processes started here are
# ever signalled.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KFAKE_DIR=${KFAKE_PEER_DIR:-$ROOT/../shared/tools/kfake-peer}
# BENCH_REV: the Sluice revision to build. A committed revision is exported
# with git archive, so other people's uncommitted edits never leak into a
# measurement; BENCH_REV=worktree builds the working tree as it is.
BENCH_REV=${BENCH_REV:-HEAD}
START_TIMEOUT=30 # seconds for a broker to listen

broker_pid=""

die() {
	echo "bench: $*" >&2
	exit 1
}

# build_binaries puts sluice and kfake-peer into $OUT/bin and records the
# revision in $OUT/revision. -trimpath makes file names module paths
# (github.com/sluice-io/sluice/internal/...), which profiles rely on.
build_binaries() {
	mkdir -p "$OUT/bin"
	command -v jq >/dev/null || die "needs jq"
	if [[ $BENCH_REV == worktree ]]; then
		(cd "$ROOT" && go build -trimpath -o "$OUT/bin/sluice" ./cmd/sluice) || die "go build ./cmd/sluice failed"
		echo "$(git -C "$ROOT" rev-parse --short HEAD) + working tree" >"$OUT/revision"
	else
		local rev src="$OUT/src"
		rev=$(git -C "$ROOT" rev-parse --short "$BENCH_REV") || die "unknown revision $BENCH_REV"
		rm -rf "$src" && mkdir -p "$src"
		git -C "$ROOT" archive "$rev" | tar -x -C "$src" || die "git archive $rev failed"
		(cd "$src" && go build -trimpath -o "$OUT/bin/sluice" ./cmd/sluice) || die "go build ./cmd/sluice at $rev failed"
		rm -rf "$src"
		echo "$rev" >"$OUT/revision"
	fi
	(cd "$KFAKE_DIR" && go build -trimpath -o "$OUT/bin/kfake-peer" .) || die "go build kfake-peer failed"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_broker runs TARGET on PORT with the (fresh) DATA dir, logging to
# LOG, and waits until the port accepts connections. Targets:
#   sluice        default durable mode: a produce is acked after fsync (group commit)
#   sluice-cache  Kafka-style write caching: log.flush.interval.messages=10000
#   kfake-mem     franz-go's kfake, memory only
#   kfake-sync    kfake persisted, fsync of segment and index per batch
start_broker() {
	local target=$1 port=$2 data=$3 log=$4
	local -a cmd
	case $target in
	sluice) cmd=("$OUT/bin/sluice" serve --log-dirs "$data" --listeners "PLAINTEXT://127.0.0.1:$port" --metrics-listener "") ;;
	sluice-cache) cmd=("$OUT/bin/sluice" serve --log-dirs "$data" --listeners "PLAINTEXT://127.0.0.1:$port" --metrics-listener "" --set log.flush.interval.messages=10000) ;;
	kfake-mem) cmd=("$OUT/bin/kfake-peer" -port "$port") ;;
	kfake-sync) cmd=("$OUT/bin/kfake-peer" -port "$port" -data-dir "$data" -sync) ;;
	*) die "unknown target $target" ;;
	esac
	"${cmd[@]}" >"$log" 2>&1 &
	broker_pid=$!
	local deadline=$((SECONDS + START_TIMEOUT))
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		kill -0 "$broker_pid" 2>/dev/null || die "$target exited before listening (log: $log)"
		((SECONDS < deadline)) || die "$target not listening on $port after ${START_TIMEOUT}s"
		sleep 0.1
	done
}

# stop_broker ends the broker started by start_broker (by pid) and waits for it.
stop_broker() {
	[[ -n $broker_pid ]] || return 0
	kill -TERM "$broker_pid" 2>/dev/null
	local deadline=$((SECONDS + 15))
	while kill -0 "$broker_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
	kill -KILL "$broker_pid" 2>/dev/null
	wait "$broker_pid" 2>/dev/null
	broker_pid=""
}

# broker_cpu_seconds prints the CPU time (user + system) the broker has used.
broker_cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$broker_pid/stat"
}
