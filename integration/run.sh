#!/usr/bin/env bash
# integration/run.sh: every end-to-end suite against the built runtime (target/release/cgfw-runc),
# on this host's cgroup layout and again in a pure cgroup v2 view (hack/pure-v2.sh).
# CGFW_LONG=1 adds the long leak/soak tests; --long-only runs only those (make test-long).
# Needs root. Each suite tears down what it made.
set -uo pipefail
cd "$(dirname "$0")/.."
long_only=0
case "${1:-}" in
--long-only) long_only=1; export CGFW_LONG=1 ;;
'') ;;
*) echo "usage: $0 [--long-only]" >&2; exit 2 ;;
esac
export RUNTIME=${RUNTIME:-$PWD/target/release/cgfw-runc}
[ -x "$RUNTIME" ] || { echo "integration: $RUNTIME not built (make build)" >&2; exit 1; }

failed=()
suite() {
	local name=$1
	shift
	echo "=== $name"
	local start=$SECONDS
	if "$@"; then
		echo "=== $name: ok ($((SECONDS - start)) s)"
	else
		echo "=== $name: FAILED ($((SECONDS - start)) s)"
		failed+=("$name")
	fi
}

if ((long_only)); then
	# The long tests alone: the leak cycles of the compat suite in both cgroup views, the
	# firewall's create/delete cycles in the pure-v2 view, and the load and soak of
	# hardening_long.bats (its 1000 cycles with a policy cover the host view's firewall cycles).
	suite "leak (host cgroups)" bats integration/bats/leak.bats
	suite "leak (pure cgroup v2)" hack/pure-v2.sh bats integration/bats/leak.bats
	suite "firewall cycles (pure cgroup v2)" hack/pure-v2.sh bats --filter '^CGFW_LONG' integration/bats/firewall.bats
	suite "hardening_long" bats integration/bats/hardening_long.bats
else
	long=()
	[ "${CGFW_LONG:-0}" = 1 ] && long=(--with-long)

	fw_files=(integration/bats/firewall.bats integration/bats/podman_firewall.bats integration/bats/containerd_firewall.bats)
	suite "runc compatibility (host cgroups)" integration/bats/run-compat.sh "${long[@]}"
	suite "runc compatibility (pure cgroup v2)" integration/bats/run-compat.sh --pure-v2
	suite "firewall (host cgroups)" bats "${fw_files[@]}"
	suite "firewall (pure cgroup v2)" hack/pure-v2.sh bats integration/bats/firewall.bats integration/bats/hardening_netns.bats
	# Real clients in a Debian rootfs (hack/mkrootfs-debian.sh; built once, ~2 min, cached).
	suite "real clients: long transfers" bats integration/bats/clients_long.bats
	suite "real clients: Kubernetes search list and workload identity" bats integration/bats/clients_k8s.bats
	suite "real clients: resolver failover" bats integration/bats/clients_failover.bats
	suite "metrics and installer" bats integration/bats/metrics.bats integration/bats/installer.bats
	# Upgrades: a container of the last build before program sets (its own programs and maps
	# in its pins), deleted by this one. That build is made once (~5 min, cached in target/).
	old_rc=0
	old=$(hack/build-at.sh 20661b0) || old_rc=$?
	if ((old_rc == 0)); then
		suite "upgrade" env CGFW_OLD_RUNTIME="$old" bats integration/bats/upgrade.bats
	elif ((old_rc == 3)); then
		# Not a failure of this build: the clone has no history to build the older one from.
		echo "=== upgrade: NOT RUN: the older revision is not in this clone (a full clone runs it)"
	else
		echo "=== upgrade: FAILED (building the older build)"
		failed+=(upgrade)
	fi
	# hardening_long.bats skips itself unless CGFW_LONG=1.
	for extra in integration/bats/cri.bats integration/bats/hardening.bats integration/bats/hardening_dns_forge.bats integration/bats/hardening_netns.bats integration/bats/hardening_flood.bats integration/bats/hardening_caps.bats integration/bats/hardening_long.bats; do
		[ -f "$extra" ] && suite "$(basename "$extra" .bats)" bats "$extra"
	done
fi

if ((${#failed[@]})); then
	echo "integration: FAILED suites: ${failed[*]}" >&2
	exit 1
fi
echo "integration: all suites passed"
