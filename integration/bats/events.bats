#!/usr/bin/env bats
# events: --stats once, and a bounded stream.

load helpers

setup() {
	setup_common
	mkbundle "$TEST_DIR/b"
	c=$(cid v)
	create_start "$c" "$TEST_DIR/b"
}

teardown() { teardown_common; }

@test "events --stats: one JSON stats object" {
	run -0 --separate-stderr rt events --stats "$c"
	[ "${#lines[@]}" -eq 1 ] || fail "want one line, got: $output"
	jq -e --arg id "$c" '.type == "stats" and .id == $id and (.data | type == "object")' <<<"$output" ||
		fail "got: $output"
}

@test "events --stats: pids count reflects the container's processes" {
	is_cgroup2_only && ! grep -qw pids /sys/fs/cgroup/cgroup.controllers && skip "no pids controller on this cgroup2 view"
	run -0 --separate-stderr rt events --stats "$c"
	jq -e '.data.pids.current >= 2' <<<"$output" || fail "got: $output"
}

@test "events --interval 1s: a bounded stream of stats lines" {
	# runc's stream watches memory.events for OOM; hack/pure-v2.sh's view of a hybrid host has
	# no memory controller in cgroup2 (it is bound to v1), which a real v2 host always has.
	is_cgroup2_only && ! grep -qw memory /sys/fs/cgroup/cgroup.controllers && skip "no memory controller in this cgroup2 view"
	run -124 --separate-stderr timeout 3.5 "$RUNTIME" --root "$ROOT" events --interval 1s "$c"
	[ "${#lines[@]}" -ge 2 ] || fail "want >= 2 lines in 3.5s, got: $output"
	for l in "${lines[@]}"; do
		jq -e --arg id "$c" '.type == "stats" and .id == $id' <<<"$l" >/dev/null || fail "line: $l"
	done
}

@test "events: unknown container -> exit 1" {
	run -1 rt events --stats "$(cid nosuch)"
	[[ $output == *"does not exist"* ]] || fail "got: $output"
}
