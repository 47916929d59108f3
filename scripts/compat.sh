#!/usr/bin/env bash
# compat.sh: the compatibility suite. Real third-party clients from Debian
# (kcat, built on librdkafka, and kafka-python) talk to a freshly started
# broker; every check compares exactly what comes back with what went in.
# Consumer groups are checked with kcat's balanced consumer (-G), a
# kafka-python group member that commits and restarts, and Burrow (Debian's
# burrow, LinkedIn's lag monitor), which must read `__consumer_offsets` and
# report a group's lag. Transactions are checked with librdkafka through
# confluent-kafka (Debian's python3-confluent-kafka): a committed and an
# aborted transaction, read back read_committed and read_uncommitted.
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
#
# Then every check runs again against a 3-node cluster (combined
# broker/controller nodes, every topic RF=3, min.insync.replicas=2); their
# names start with "[3 brokers RF=3]". SLUICE_COMPAT_CLUSTER=0 skips it.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Debian's python3, which has python3-kafka, not a pyenv one earlier on PATH.
PYTHON=/usr/bin/python3
PY_SUITE="$ROOT/test/compat/kafka_python_compat.py"
TXN_SUITE="$ROOT/test/compat/confluent_txn.py"
ZK_STUB="$ROOT/test/compat/zookeeper_stub.py"
START_TIMEOUT=${SLUICE_COMPAT_START_TIMEOUT:-60}   # seconds for the broker to listen
APT_LOCK_TIMEOUT=${SLUICE_COMPAT_APT_LOCK_TIMEOUT:-600} # seconds to wait for another apt
CHECK_TIMEOUT=120                                   # seconds for any one client command
BURROW_TIMEOUT=90                                   # seconds for Burrow to report a lag
CODECS=(none gzip snappy lz4 zstd)

passed=0
failed=0
broker_pid=""
helper_pids=() # background helpers of single checks (Burrow, its ZooKeeper stand-in)
burrow_http="" # Burrow's HTTP address, set by start_burrow
work=""

phase=""          # label of the current run: "" for one broker, "[3 brokers RF=3] " for the cluster
expect_brokers=1 # brokers kcat -L must list
cluster_pids=()  # the cluster phase's node processes

pass() {
	passed=$((passed + 1))
	echo "ok $phase$1"
}

fail() {
	failed=$((failed + 1))
	echo "not ok $phase$1: $2"
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
	stop_helpers
	stop_broker
	stop_cluster
	if [[ -n $work ]]; then
		if ((failed > 0)) && [[ -s $work/broker.log ]]; then
			echo "--- last lines of the broker log ($work/broker.log) ---" >&2
			tail -n 40 "$work/broker.log" >&2
		fi
		if ((failed > 0)); then
			for log in "$work"/cluster/node-*/broker.log; do
				[[ -s $log ]] || continue
				echo "--- last lines of $log ---" >&2
				tail -n 20 "$log" >&2
			done
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

# stop_helpers ends the background helpers this script started, by PID.
stop_helpers() {
	local pid
	for pid in "${helper_pids[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	helper_pids=()
}

# missing_packages names the Debian packages whose tools are absent.
missing_packages() {
	command -v kcat >/dev/null 2>&1 || echo kcat
	command -v Burrow >/dev/null 2>&1 || echo burrow
	"$PYTHON" -c 'import kafka' 2>/dev/null || echo python3-kafka
	"$PYTHON" -c 'import confluent_kafka' 2>/dev/null || echo python3-confluent-kafka
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

# check_broker_alive fails the run early if a check took a broker down.
check_broker_alive() {
	local pid
	for pid in ${broker_pid:+"$broker_pid"} "${cluster_pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || die "broker died during the checks"
	done
}

# start_cluster runs a 3-node cluster of combined broker/controller nodes
# (Kafka's KRaft keys, RF=3 by default, min.insync.replicas=2) and waits
# until kcat lists all three brokers. It sets the bootstrap list in
# cluster_bootstrap.
start_cluster() {
	local i nodes=3 voters="" ports=() cports=() dir deadline
	for ((i = 1; i <= nodes; i++)); do
		ports+=("$(free_port)") || die "no free port"
		cports+=("$(free_port)") || die "no free port"
		voters+="${voters:+,}$i@127.0.0.1:${cports[i - 1]}"
	done
	cluster_bootstrap=""
	for ((i = 1; i <= nodes; i++)); do
		dir="$work/cluster/node-$i"
		mkdir -p "$dir/data"
		cat >"$dir/server.properties" <<-EOF
			node.id=$i
			process.roles=broker,controller
			controller.quorum.voters=$voters
			listeners=PLAINTEXT://127.0.0.1:${ports[i - 1]},CONTROLLER://127.0.0.1:${cports[i - 1]}
			advertised.listeners=PLAINTEXT://127.0.0.1:${ports[i - 1]}
			controller.listener.names=CONTROLLER
			inter.broker.listener.name=PLAINTEXT
			listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
			log.dirs=$dir/data
			default.replication.factor=3
			min.insync.replicas=2
			sluice.metrics.listener=
		EOF
		"$work/sluice" serve --config "$dir/server.properties" >"$dir/broker.log" 2>&1 &
		cluster_pids+=($!)
		cluster_bootstrap+="${cluster_bootstrap:+,}127.0.0.1:${ports[i - 1]}"
	done
	echo "compat: started a $nodes-node cluster: $cluster_bootstrap" >&2
	deadline=$((SECONDS + START_TIMEOUT))
	until kcat -b "$cluster_bootstrap" -L -m 5 2>/dev/null | grep -q "$nodes brokers:"; do
		check_broker_alive
		((SECONDS < deadline)) || die "the cluster did not list $nodes brokers within ${START_TIMEOUT}s"
		sleep 0.2
	done
}

# stop_cluster stops every node with SIGTERM (controlled shutdown), then
# SIGKILL for any still running after 15 s.
stop_cluster() {
	local pid deadline=$((SECONDS + 15))
	((${#cluster_pids[@]} > 0)) || return 0
	kill "${cluster_pids[@]}" 2>/dev/null
	for pid in "${cluster_pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	cluster_pids=()
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

# kcat_auto_create produces to a topic nobody created (the broker's
# auto.create.topics.enable, on by default): librdkafka's producer must
# retry through the first Metadata answer (LEADER_NOT_AVAILABLE, no
# partitions, as Kafka gives for a topic it has just created) and deliver
# every record, which a consumer then reads back.
kcat_auto_create() {
	local bootstrap=$1 topic="compat-kcat-auto-$RANDOM" name="kcat produces to an auto-created topic"
	printf '%s
' first second third >"$work/input"
	if ! timeout "$CHECK_TIMEOUT" kcat -b "$bootstrap" -P -t "$topic" <"$work/input" >"$work/out" 2>&1; then
		fail "$name" "kcat -P failed: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	if ! timeout "$CHECK_TIMEOUT" kcat -b "$bootstrap" -C -t "$topic" -o beginning -e -q >"$work/got" 2>"$work/out"; then
		fail "$name" "kcat -C failed: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	if ! diff -u <(sort "$work/input") <(sort "$work/got") >"$work/diff"; then
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
		! grep -q 'partition 0, leader' "$work/out" || ! grep -q "$expect_brokers brokers:" "$work/out" ||
		{ ((expect_brokers > 1)) && ! grep -Eq 'replicas: [0-9]+,[0-9]+,[0-9]+, isrs: [0-9]+,[0-9]+,[0-9]+' "$work/out"; }; then
		fail "$name" "unexpected listing: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	pass "$name"
}

# kcat_group runs kcat's balanced consumer (librdkafka's KafkaConsumer:
# FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetFetch,
# OffsetCommit, LeaveGroup) twice in one group: the first run must read
# every record produced, the second, after more are produced, exactly the
# new ones (librdkafka commits what it consumed when it closes).
kcat_group() {
	local bootstrap=$1 topic=compat-kcat-group group=compat-kcat-group
	local name="kcat -G balanced consumer reads every produced record"
	if ! timeout "$CHECK_TIMEOUT" "$PYTHON" "$PY_SUITE" --bootstrap "$bootstrap" create-topic "$topic" --partitions 3 >"$work/out" 2>&1; then
		fail "$name" "could not create topic $topic: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	kcat_group_round "$bootstrap" "$topic" "$group" first 30 "$name" || return
	kcat_group_round "$bootstrap" "$topic" "$group" second 10 \
		"kcat -G balanced consumer resumes after its committed offsets"
}

# kcat_group_round produces count records "<prefix>-<i>" and checks that one
# run of kcat -G reads exactly those.
kcat_group_round() {
	local bootstrap=$1 topic=$2 group=$3 prefix=$4 count=$5 name=$6
	local i
	for ((i = 1; i <= count; i++)); do echo "$prefix-$i"; done | sort >"$work/want"
	if ! timeout "$CHECK_TIMEOUT" kcat -b "$bootstrap" -P -t "$topic" <"$work/want" >"$work/out" 2>&1; then
		fail "$name" "kcat -P failed: $(tr '\n' ' ' <"$work/out")"
		return 1
	fi
	# -X auto.offset.reset, not -o beginning: kcat assigns an explicit -o
	# offset over the group's committed one.
	if ! timeout "$CHECK_TIMEOUT" kcat -b "$bootstrap" -G "$group" -X auto.offset.reset=earliest -e -q \
		-f '%s\n' "$topic" >"$work/got.unsorted" 2>"$work/out"; then
		fail "$name" "kcat -G failed: $(tr '\n' ' ' <"$work/out")"
		return 1
	fi
	sort "$work/got.unsorted" >"$work/got"
	if ! diff -u "$work/want" "$work/got" >"$work/diff"; then
		fail "$name" "consumed records differ from the ones produced:"$'\n'"$(cat "$work/diff")"
		return 1
	fi
	pass "$name"
}

# burrow_lag points Burrow at the broker: its cluster module reads topic
# metadata and log-end offsets, its consumer module reads
# `__consumer_offsets` from the start and decodes the commit and group
# records (sarama, kafka-version 2.0.0, the newest Burrow 1.2.1 knows). A
# kafka-python member commits after consuming part of a topic; Burrow's
# HTTP API must then report that group's total lag as produced minus
# committed. Burrow 1.2.1 refuses to start without ZooKeeper, which it uses
# only for its own bookkeeping (never for Kafka), so it gets the in-memory
# stand-in test/compat/zookeeper_stub.py.
burrow_lag() {
	local bootstrap=$1 topic=compat-burrow group=compat-burrow
	local name="Burrow reads __consumer_offsets and reports the group's lag"
	local produced=30 committed=12
	if ! timeout "$CHECK_TIMEOUT" "$PYTHON" "$PY_SUITE" --bootstrap "$bootstrap" create-topic "$topic" --partitions 2 >"$work/out" 2>&1; then
		fail "$name" "could not create topic $topic: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	if ! seq 1 "$produced" | timeout "$CHECK_TIMEOUT" kcat -b "$bootstrap" -P -t "$topic" >"$work/out" 2>&1; then
		fail "$name" "kcat -P failed: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	if ! timeout "$CHECK_TIMEOUT" "$PYTHON" "$PY_SUITE" --bootstrap "$bootstrap" consume-commit "$group" "$topic" "$committed" >"$work/out" 2>&1; then
		fail "$name" "the group could not consume and commit: $(tr '\n' ' ' <"$work/out")"
		return
	fi
	if ! start_burrow "$bootstrap"; then
		fail "$name" "$burrow_http"
		stop_helpers
		return
	fi
	local want=$((produced - committed)) url="http://$burrow_http/v3/kafka/sluice/consumer/$group/lag" got=""
	local deadline=$((SECONDS + BURROW_TIMEOUT))
	while ((SECONDS < deadline)); do
		got=$(burrow_total_lag "$url")
		[[ $got == "$want" ]] && break
		kill -0 "${helper_pids[-1]}" 2>/dev/null || break
		sleep 1
	done
	stop_helpers
	if [[ $got != "$want" ]]; then
		fail "$name" "totallag ${got:-none} after ${BURROW_TIMEOUT}s, want $want ($produced produced, $committed committed); Burrow's log ends: $(tail -n 5 "$work/burrow/burrow.log" | tr '\n' ' ')"
		return
	fi
	pass "$name"
}

# start_burrow starts the ZooKeeper stand-in and Burrow and sets
# burrow_http to Burrow's HTTP address (or, failing, to why it could not).
start_burrow() {
	local bootstrap=$1 dir="$work/burrow" zk_port http_port deadline servers
	# TOML list of "host:port" strings from the comma-separated bootstrap.
	servers=\"${bootstrap//,/\",\"}\"
	# A fresh directory: a zk.port left by an earlier run would name a
	# stand-in that is gone.
	rm -rf "$dir"
	mkdir -p "$dir"
	"$PYTHON" "$ZK_STUB" --port-file "$dir/zk.port" >"$dir/zk.log" 2>&1 &
	helper_pids+=($!)
	deadline=$((SECONDS + 10))
	until [[ -s $dir/zk.port ]]; do
		((SECONDS < deadline)) || { burrow_http="the ZooKeeper stand-in did not start: $(cat "$dir/zk.log")"; return 1; }
		sleep 0.1
	done
	zk_port=$(cat "$dir/zk.port")
	http_port=$(free_port) || { burrow_http="no free port for Burrow"; return 1; }
	cat >"$dir/burrow.toml" <<-EOF
		[general]
		pidfile="$dir/burrow.pid"

		[logging]
		level="info"

		[zookeeper]
		servers=["127.0.0.1:$zk_port"]
		root-path="/burrow"

		[client-profile.sluice]
		client-id="burrow-compat"
		kafka-version="2.0.0"

		[cluster.sluice]
		class-name="kafka"
		servers=[$servers]
		client-profile="sluice"
		topic-refresh=5
		offset-refresh=2

		[consumer.sluice]
		class-name="kafka"
		cluster="sluice"
		servers=[$servers]
		client-profile="sluice"
		offsets-topic="__consumer_offsets"
		start-latest=false

		[storage.default]
		class-name="inmemory"
		intervals=10
		min-distance=1

		[evaluator.default]
		class-name="caching"
		expire-cache=1

		[httpserver.default]
		address="127.0.0.1:$http_port"
	EOF
	Burrow --config-dir "$dir" >"$dir/burrow.log" 2>&1 &
	helper_pids+=($!)
	burrow_http="127.0.0.1:$http_port"
}

# burrow_total_lag prints the totallag of Burrow's lag answer at url, or
# nothing while Burrow does not answer or does not know the group.
burrow_total_lag() {
	"$PYTHON" - "$1" <<-'EOF' 2>/dev/null
		import json, sys, urllib.request
		with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:
		    status = json.load(answer)["status"]
		if status["status"] != "NOTFOUND":
		    print(status["totallag"])
	EOF
}

# kafka_python runs the python suite and counts its ok / not ok lines.
kafka_python() {
	local bootstrap=$1 status
	timeout $((CHECK_TIMEOUT * 5)) "$PYTHON" "$PY_SUITE" --bootstrap "$bootstrap" suite >"$work/py.out" 2>"$work/py.err"
	status=$?
	count_results "kafka-python suite" "$status" "$work/py.out" "$work/py.err"
}

# confluent_txn runs test/compat/confluent_txn.py: librdkafka's
# transactional producer commits one transaction and aborts another, then
# read_committed and read_uncommitted consumers must read exactly the
# committed records and all of them, respectively.
confluent_txn() {
	local bootstrap=$1 status
	timeout "$CHECK_TIMEOUT" "$PYTHON" "$TXN_SUITE" --bootstrap "$bootstrap" >"$work/txn.out" 2>"$work/txn.err"
	status=$?
	count_results "confluent-kafka transactions" "$status" "$work/txn.out" "$work/txn.err"
}

# count_results counts the ok / not ok lines a python script printed to out
# and fails name when it exited non-zero without saying which check failed.
count_results() {
	local name=$1 status=$2 out=$3 err=$4 line
	while IFS= read -r line; do
		case $line in
		"ok "*) pass "${line#ok }" ;;
		"not ok "*)
			line=${line#not ok }
			fail "${line%%: *}" "${line#*: }"
			;;
		*) echo "$line" ;;
		esac
	done <"$out"
	if ((status != 0)) && ! grep -q '^not ok ' "$out"; then
		fail "$name" "exited with status $status: $(tail -n 5 "$err" | tr '\n' ' ')"
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
	run_checks "127.0.0.1:$port"
	# The same clients against a 3-broker cluster, every topic RF=3
	# (skipped when another broker command was given: it runs one node).
	if [[ -z ${SLUICE_COMPAT_BROKER_CMD:-} && ${SLUICE_COMPAT_CLUSTER:-1} != 0 ]]; then
		stop_broker
		start_cluster
		phase="[3 brokers RF=3] " expect_brokers=3
		export SLUICE_COMPAT_RF=3
		run_checks "$cluster_bootstrap"
		stop_cluster
	fi
	summary
	((failed == 0))
}

# run_checks runs every client check against bootstrap.
run_checks() {
	local bootstrap=$1 codec
	for codec in "${CODECS[@]}"; do
		kcat_round_trip "$bootstrap" "$codec"
		check_broker_alive
	done
	kcat_metadata "$bootstrap"
	kcat_auto_create "$bootstrap"
	check_broker_alive
	kcat_group "$bootstrap"
	check_broker_alive
	kafka_python "$bootstrap"
	check_broker_alive
	burrow_lag "$bootstrap"
	check_broker_alive
	confluent_txn "$bootstrap"
	check_broker_alive
}

main "$@"
