#!/usr/bin/env bats
# pause / resume.

load helpers

setup() {
	setup_common
	mkbundle "$TEST_DIR/b"
	c=$(cid p)
	create_start "$c" "$TEST_DIR/b"
}

teardown() { teardown_common; }

@test "pause: state paused, processes frozen; resume: running" {
	run -0 rt pause "$c"
	[ "$(state_status "$c")" = paused ]
	run -0 rt state "$c"
	assert_state_json "$output" "$c" paused "$TEST_DIR/b"
	run -0 rt resume "$c"
	[ "$(state_status "$c")" = running ]
	run -0 rt exec "$c" true
}

@test "pause: exec into a paused container is refused (exit 255)" {
	run -0 rt pause "$c"
	run -255 rt exec "$c" true
	[[ $output == *"paused"* ]] || fail "got: $output"
	run -0 rt resume "$c"
}

@test "pause: twice -> exit 1; resume of a running container -> exit 1" {
	run -0 rt pause "$c"
	run -1 rt pause "$c"
	[[ $output == *"not running"* ]] || fail "got: $output"
	run -0 rt resume "$c"
	run -1 rt resume "$c"
	[[ $output == *"not paused"* ]] || fail "got: $output"
}

@test "pause: a paused container does not handle signals until resumed" {
	run -0 rt pause "$c"
	run -0 rt kill "$c" TERM
	sleep 0.5
	[ "$(state_status "$c")" = paused ]
	run -0 rt resume "$c"
	wait_status "$c" stopped 10
}

@test "pause/resume: unknown container -> exit 1" {
	run -1 rt pause "$(cid nosuch)"
	run -1 rt resume "$(cid nosuch)"
}
