#!/usr/bin/env bash
# test-deps.sh: the Debian packages the Go test suite needs beyond Go itself,
# installed with apt-get when missing (CI runs as root: `make gotest` calls
# this first). Today that is the network-partition test of test/cluster
# (TestNetworkPartition), which builds its own network namespaces, veth
# pairs and a bridge with `ip` (iproute2) and cuts links with `iptables`.
#
#   bash scripts/test-deps.sh
#
# Not root, or no apt-get: it says what is missing and exits 0; the tests
# that need the tools skip with the reason (they check for themselves).
# An apt-get that fails as root is an error (exit 1): CI must not quietly
# skip the partition test on a machine that could have run it.
set -uo pipefail

APT_LOCK_TIMEOUT=${SLUICE_TEST_DEPS_APT_LOCK_TIMEOUT:-600} # seconds to wait for another apt

# missing_packages names the Debian packages whose tools are absent.
missing_packages() {
	command -v ip >/dev/null 2>&1 || echo iproute2
	command -v iptables-restore >/dev/null 2>&1 || echo iptables
}

packages=$(missing_packages | paste -sd ' ')
[[ -z $packages ]] && exit 0

if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: missing $packages (not root or no apt-get): the network-partition test will skip" >&2
	exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
options=(-y -q -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT")
export DEBIAN_FRONTEND=noninteractive

# apt_update retries while another process holds the lists lock.
apt_update() {
	local deadline=$((SECONDS + APT_LOCK_TIMEOUT))
	until apt-get update "${options[@]}" >>"$log" 2>&1; do
		grep -q 'Could not get lock' "$log" || return 1
		((SECONDS < deadline)) || return 1
		sleep 2
	done
}

echo "test-deps: installing $packages with apt-get" >&2
# shellcheck disable=SC2086 # one word per package
if ! apt-get install "${options[@]}" $packages >"$log" 2>&1; then
	# Refresh the package lists only when the install could not find them.
	# shellcheck disable=SC2086
	if ! apt_update || ! apt-get install "${options[@]}" $packages >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		echo "test-deps: could not install $packages" >&2
		exit 1
	fi
fi
still=$(missing_packages | paste -sd ' ')
if [[ -n $still ]]; then
	echo "test-deps: still missing after apt-get install: $still" >&2
	exit 1
fi
