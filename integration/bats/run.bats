#!/usr/bin/env bats
# run: foreground and detached; exit codes propagate; many quick containers in a row.

load helpers

setup() {
	setup_common
	c=$(cid r)
}

teardown() { teardown_common; }

@test "run: stdout of the container reaches the caller, exit 0, container removed" {
	mkbundle "$TEST_DIR/b" --args "sh -c 'echo hello-from-container; echo to-stderr >&2'"
	run -0 rt run --bundle "$TEST_DIR/b" "$c"
	[[ $output == *hello-from-container* ]]
	[[ $output == *to-stderr* ]]
	run -1 rt state "$c"
}

@test "run: exit code propagates (sh -c 'exit 3' -> 3)" {
	mkbundle "$TEST_DIR/b" --args "sh -c 'exit 3'"
	run -3 rt run --bundle "$TEST_DIR/b" "$c"
	mkbundle "$TEST_DIR/b2" --args "sh -c 'exit 255'"
	run -255 rt run --bundle "$TEST_DIR/b2" "$(cid r2)"
}

@test "run: command not found -> non-zero, container not left behind" {
	mkbundle "$TEST_DIR/b" --args "/no/such/binary"
	run rt run --bundle "$TEST_DIR/b" "$c"
	[ "$status" -ne 0 ]
	[[ $output == *"no such file or directory"* || $output == *"No such file"* || $output == *"not found"* ]] || fail "got: $output"
	run -0 rt list -q
	[[ $output != *"$c"* ]] || fail "container left: $output"
}

@test "run: killed by a signal -> 128+n (KILL -> 137)" {
	mkbundle "$TEST_DIR/b" --args "sleep 600"
	spawn "$RUNTIME" --root "$ROOT" run --bundle "$TEST_DIR/b" "$c"
	wait_status "$c" running 10
	run -0 rt kill "$c" KILL
	local rc=0
	wait "$BG_PID" || rc=$?
	[ "$rc" -eq 137 ] || fail "run exited $rc, want 137; its output: $(cat "$SPAWN_OUT" "${SPAWN_OUT%.out}.err")"
}

@test "run: TERM handled by the init -> its exit code (42)" {
	mkbundle "$TEST_DIR/b" --args "$LONG_ARGS"
	spawn "$RUNTIME" --root "$ROOT" run --bundle "$TEST_DIR/b" "$c"
	wait_status "$c" running 10
	sleep 0.2
	run -0 rt kill "$c" TERM
	local rc=0
	wait "$BG_PID" || rc=$?
	[ "$rc" -eq 42 ] || fail "run exited $rc, want 42; its output: $(cat "$SPAWN_OUT" "${SPAWN_OUT%.out}.err")"
}

@test "run --detach: returns at once, container running" {
	mkbundle "$TEST_DIR/b"
	SECONDS=0
	run -0 rt run --detach --bundle "$TEST_DIR/b" "$c"
	[ "$SECONDS" -lt 10 ]
	run -0 rt state "$c"
	assert_state_json "$output" "$c" running "$TEST_DIR/b"
}

@test "run: 35 quick 'sh -c true' containers in a row, each within 5s" {
	mkbundle "$TEST_DIR/b" --args "sh -c true"
	local i rc start
	for i in $(seq 1 35); do
		start=$(date +%s%N)
		rc=0
		timeout --kill-after=2 5 "$RUNTIME" --root "$ROOT" run --bundle "$TEST_DIR/b" "$(cid q$i)" </dev/null >/dev/null 2>"$TEST_DIR/err" || rc=$?
		[ "$rc" -eq 0 ] || fail "container $i: exit $rc after $((($(date +%s%N) - start) / 1000000)) ms (124 = hung): $(cat "$TEST_DIR/err")"
	done
	run -0 rt list -q
	[ -z "$output" ] || fail "left behind: $output"
}

@test "run: output to /dev/null works (the container can write to it)" {
	mkbundle "$TEST_DIR/b" --args "sh -c 'echo out; echo err >&2; echo done > /tmp/marker; cat /tmp/marker'"
	local rc=0
	timeout 20 "$RUNTIME" --root "$ROOT" run --bundle "$TEST_DIR/b" "$c" </dev/null >/dev/null 2>/dev/null || rc=$?
	[ "$rc" -eq 0 ] || fail "run with stdout/stderr on /dev/null exited $rc"
}

@test "run: the runtime adds no ignored signal to the container (SIGPIPE default, as runc)" {
	mkbundle "$TEST_DIR/b" --args "sh -c 'grep SigIgn /proc/self/status'"
	run -0 rt run --bundle "$TEST_DIR/b" "$c"
	local mask
	mask=$(awk '/^SigIgn:/ {print $2}' <<<"$output")
	[ -n "$mask" ] || fail "got: $output"
	# SIGPIPE is bit 13 (0x1000); a Rust runtime ignores it unless it resets it.
	(( (0x$mask & 0x1000) == 0 )) || fail "SIGPIPE ignored in the container: $mask"
}
