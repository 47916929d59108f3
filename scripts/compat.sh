#!/usr/bin/env bash
# compat.sh: the compatibility suite. Real third-party clients from Debian
# (kcat, built on librdkafka, and kafka-python) talk to a freshly started
# broker; every check compares exactly what comes back with what went in.
#
#   bash scripts/compat.sh            # build sluice, start `sluice serve`, run
#   SLUICE_COMPAT_BROKER_CMD='/tmp/kfake-peer -port {port}' bash scripts/compat.sh
#
# SLUICE_COMPAT_BROKER_CMD replaces the broker command line; {port} and
# {data} stand for the chosen free port and a fresh data directory. Without
# it the script builds ./cmd/sluice and runs
#   sluice serve --listeners PLAINTEXT://127.0.0.1:{port} --log-dirs {data} --metrics-listener ''
#
# Missing tools are installed with apt-get (run as root, as CI does). Prints
# "ok NAME" / "not ok NAME: why" per check and ends with the line
# "compat: N passed, N failed"; exits non-zero if anything failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Debian's python3, which has python3-kafka, not a pyenv one earlier on PATH.
PYTHON=/usr/bin/python3
PY_SUITE="$ROOT/test/compat/kafka_python_compat.py"
START_TIMEOUT=${SLUICE_COMPAT_START_TIMEOUT:-60}   # seconds for the broker to listen
APT_LOCK_TIMEOUT=${SLUICE_COMPAT_APT_LOCK_TIMEOUT:-600} # seconds to wait for another apt
CHECK_TIMEOUT=120                                   # seconds for any one client command
CODECS=(none gzip snappy lz4 zstd)

passed=0
failed=0
broker_pid=""
work=""

pass() {
	passed=$((passed + 1))
	echo "ok $1"
}

fail() {
	failed=$((failed + 1))
	echo "not ok $1: $2"
}

summary() {
	echo "compat: $passed passed, $failed failed"
}

# die ends the run on a setup failure (nothing could be checked past it).
die() {
	echo "compat: $*" >&2
	failed=$((failed + 1))
	summary
	exit 1
}

cleanup() {
	local status=$?
	stop_broker
	if [[ -n $work ]]; then
		if ((failed > 0)) && [[ -s $work/broker.log ]]; then
			echo "--- last lines of the broker log ($work/broker.log) ---" >&2
			tail -n 40 "$work/broker.log" >&2
		fi
		rm -rf "$work"
	fi
	exit "$status"
}

stop_broker() {
	[[ -n $broker_pid ]] || return 0
	kill "$broker_pid" 2>/dev/null
	local deadline=$((SECONDS + 10))
	while kill -0 "$broker_pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.1
	done
	kill -9 "$broker_pid" 2>/dev/null
	wait "$broker_pid" 2>/dev/null
	broker_pid=""
}

# missing_packages names the Debian packages whose tools are absent.
missing_packages() {
	command -v kcat >/dev/null 2>&1 || echo kcat
	"$PYTHON" -c 'import kafka' 2>/dev/null || echo python3-kafka
	# kafka-python's optional codecs; without them those checks are skipped.
	"$PYTHON" -c 'import snappy' 2>/dev/null || echo python3-snappy
	"$PYTHON" -c 'import lz4.frame' 2>/dev/null || echo python3-lz4
	"$PYTHON" -c 'import zstandard' 2>/dev/null || echo python3-zstandard
}

# apt_install installs packages, refreshing the package lists only when the
# install cannot find them, and waiting for another apt run's lock.
apt_install() {
	local log="$work/apt.log"
	local options=(-y -q -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT")
	export DEBIAN_FRONTEND=noninteractive
	echo "compat: installing $* with apt-get" >&2
	apt-get install "${options[@]}" "$@" >"$log" 2>&1 && return 0
	apt_update "${options[@]}" || { cat "$log" >&2; return 1; }
	apt-get install "${options[@]}" "$@" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; return 1; }
}

# apt_update retries while another process holds the lists lock.
apt_update() {
	local deadline=$((SECONDS + APT_LOCK_TIMEOUT))
	until apt-get update "$@" >>"$work/apt.log" 2>&1; do
		grep -q 'Could not get lock' "$work/apt.log" || return 1
		((SECONDS < deadline)) || return 1
		sleep 2
	done
}

install_tools() {
	local packages
	packages=$(missing_packages | tr '\n' ' ')
	[[ -z ${packages// /} ]] && return 0
	# shellcheck disable=SC2086 # one word per package
	apt_install $packages || die "could not install $packages (needs root and Debian's package lists)"
	packages=$(missing_packages | tr '\n' ' ')
	[[ -z ${packages// /} ]] || die "still missing after apt-get install: $packages"
}

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_broker runs the broker command in the background and waits until
# its port accepts connections.
start_broker() {
	local port=$1 data=$2 command
	if [[ -n ${SLUICE_COMPAT_BROKER_CMD:-} ]]; then
		command=$SLUICE_COMPAT_BROKER_CMD
	else
		echo "compat: building sluice" >&2
		(cd "$ROOT" && go build -o "$work/sluice" ./cmd/sluice) || die "go build ./cmd/sluice failed"
		command="'$work/sluice' serve --listeners PLAINTEXT://127.0.0.1:{port} --log-dirs '{data}' --metrics-listener ''"
	fi
	command=${command//\{port\}/$port}
	command=${command//\{data\}/$data}
	echo "compat: starting broker: $command" >&2
	bash -c "exec $command" >"$work/broker.log" 2>&1 &
	broker_pid=$!
	local deadline=$((SECONDS + START_TIMEOUT))
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		kill -0 "$broker_pid" 2>/dev/null || die "broker exited before listening on port $port"
		((SECONDS < deadline)) || die "broker not listening on port $port after ${START_TIMEOUT}s"
		sleep 0.1
	done
}

# check_broker_alive fails the run early if a check took the broker down.
check_broker_alive() {
	kill -0 "$broker_pid" 2>/dev/null || die "broker died during the checks"
}

# kcat_round_trip produces keyed records with headers through one codec
# and reads them back, comparing key, value and headers of every record.
kcat_round_trip() {
	local bootstrap=$1 codec=$2
	local topic="compat-kcat-$codec" name="kcat produce/consume keyed records with headers, $codec"
	if ! timeout "$CHECK_TIMEOUT" "$PYTHON" "$PY_SUITE" --bootstrap "$bootstrap" create-topic "$topic" >"$work/out" 2>&1; then
		fail "$name" "could not create topic $topic: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	local long
	long=$(printf 'compressible-%.0s' {1..200})
	printf '%s\n' "key-1:hello" "key-2:a value with spaces" "key-3:$long" "key-4:last" >"$work/input"
	local want="$work/want" got="$work/got"
	sed -e 's/:/ /' -e 's/$/ trace=abc,origin=kcat/' "$work/input" >"$want"
	if ! timeout "$CHECK_TIMEOUT" kcat -b "$bootstrap" -P -t "$topic" -p 0 -z "$codec" -K: \
		-H trace=abc -H origin=kcat <"$work/input" >"$work/out" 2>&1; then
		fail "$name" "kcat -P failed: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	if ! timeout "$CHECK_TIMEOUT" kcat -b "$bootstrap" -C -t "$topic" -p 0 -o beginning -e -q \
		-f '%k %s %h\n' >"$got" 2>"$work/out"; then
		fail "$name" "kcat -C failed: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	if ! diff -u "$want" "$got" >"$work/diff"; then
		fail "$name" "consumed records differ from produced ones:"$'\n'"$(cat "$work/diff")"
		return
	fi
	pass "$name"
}

kcat_metadata() {
	local bootstrap=$1 name="kcat -L lists the broker and a topic's partitions"
	if ! timeout "$CHECK_TIMEOUT" kcat -b "$bootstrap" -L -t compat-kcat-none >"$work/out" 2>&1; then
		fail "$name" "kcat -L failed: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	if ! grep -q 'topic "compat-kcat-none" with 1 partitions' "$work/out" ||
		! grep -q 'partition 0, leader' "$work/out" || ! grep -q '1 brokers:' "$work/out"; then
		fail "$name" "unexpected listing: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	pass "$name"
}

# kafka_python runs the python suite and counts its ok / not ok lines.
kafka_python() {
	local bootstrap=$1 line status
	timeout $((CHECK_TIMEOUT * 5)) "$PYTHON" "$PY_SUITE" --bootstrap "$bootstrap" suite >"$work/py.out" 2>"$work/py.err"
	status=$?
	while IFS= read -r line; do
		case $line in
		"ok "*) pass "${line#ok }" ;;
		"not ok "*)
			line=${line#not ok }
			fail "${line%%: *}" "${line#*: }"
			;;
		*) echo "$line" ;;
		esac
	done <"$work/py.out"
	if ((status != 0)) && ! grep -q '^not ok ' "$work/py.out"; then
		fail "kafka-python suite" "exited with status $status: $(tail -n 5 "$work/py.err" | tr '\n' ' ')"
	fi
}

main() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-compat.XXXXXX") || die "mktemp failed"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	install_tools
	local port
	port=$(free_port) || die "no free port"
	mkdir -p "$work/data"
	start_broker "$port" "$work/data"
	local bootstrap="127.0.0.1:$port"
	for codec in "${CODECS[@]}"; do
		kcat_round_trip "$bootstrap" "$codec"
		check_broker_alive
	done
	kcat_metadata "$bootstrap"
	kafka_python "$bootstrap"
	check_broker_alive
	summary
	((failed == 0))
}

main "$@"
