#!/usr/bin/env bats
# Leak check: many create/start/wait/delete cycles leave nothing behind.
# Long: runs only with CGFW_LONG=1 (CGFW_LEAK_CYCLES, default 200).

load helpers

setup() {
	[ "${CGFW_LONG:-0}" = 1 ] || skip "long test: set CGFW_LONG=1"
	setup_common
	mkbundle "$TEST_DIR/b" --args "sh -c true"
}

teardown() { teardown_common; }

# One line per cgroup hierarchy: "<mount point> <number of cgroup dirs>".
cgroup_counts() {
	local m
	while read -r m; do
		echo "$m $(find "$m" -mindepth 1 -type d 2>/dev/null | wc -l)"
	done < <(awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo | sort -u)
}

runtime_procs() {
	local p n=0 exe
	exe=$(readlink -f "$RUNTIME")
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$exe" ] && n=$((n + 1))
	done
	echo "$n"
}

# Processes living in a cgroup named after one of this test's containers.
our_cgroup_procs() {
	grep -l -- "$ID_PREFIX" /proc/[0-9]*/cgroup 2>/dev/null | wc -l
}

snapshot() {
	echo "== cgroups"
	cgroup_counts
	echo "== cgroups named after our containers: $(find /sys/fs/cgroup -type d -name "*$ID_PREFIX*" 2>/dev/null | wc -l)"
	echo "== state dirs under --root: $(find "$ROOT" -mindepth 1 -maxdepth 1 | wc -l)"
	echo "== runtime processes: $(runtime_procs)"
	echo "== processes in our cgroups: $(our_cgroup_procs)"
	echo "== mounts: $(wc -l </proc/self/mountinfo)"
	echo "== bpffs entries named after our containers: $(find /sys/fs/bpf -name "*$ID_PREFIX*" 2>/dev/null | wc -l)"
}

@test "leak: ${CGFW_LEAK_CYCLES:-200} create/start/wait/delete cycles leave no cgroup, state dir, process or mount" {
	local n=${CGFW_LEAK_CYCLES:-200} i id j st
	snapshot >"$TEST_DIR/before"
	SECONDS=0
	for i in $(seq 1 "$n"); do
		id=$ID_PREFIX-$i
		echo "$id" >>"$TEST_DIR/ids"
		rt create --bundle "$TEST_DIR/b" "$id" >/dev/null || fail "cycle $i: create failed"
		rt start "$id" >/dev/null || fail "cycle $i: start failed"
		st=""
		for j in $(seq 1 100); do
			st=$(state_status "$id")
			[ "$st" = stopped ] && break
			sleep 0.05
		done
		[ "$st" = stopped ] || fail "cycle $i: status '$st' after 5s"
		rt delete "$id" >/dev/null || fail "cycle $i: delete failed"
		[ "$SECONDS" -lt 900 ] || fail "cycle $i: over 15 minutes"
	done
	echo "# $n cycles in ${SECONDS}s" >&3
	# settle: allow asynchronous clean-up (bounded)
	for j in $(seq 1 20); do
		snapshot >"$TEST_DIR/after"
		cmp -s "$TEST_DIR/before" "$TEST_DIR/after" && break
		sleep 0.5
	done
	diff -u "$TEST_DIR/before" "$TEST_DIR/after" || fail "something leaked (before/after above)"
}
