#!/usr/bin/env bats
# create / start / state: the lifecycle containerd and podman drive.

load helpers

setup() {
	setup_common
	B=$TEST_DIR/bundle
	mkbundle "$B" --annotation org.example.key=value
}

teardown() { teardown_common; }

@test "create: container is created, init waits, state has runc's JSON shape" {
	c=$(cid a)
	run -0 rt create --bundle "$B" "$c"
	[ -z "$output" ]
	run -0 rt state "$c"
	assert_state_json "$output" "$c" created "$B"
	# runc prints the annotations of the bundle in state.
	[ "$(jq -r '.annotations["org.example.key"]' <<<"$output")" = value ]
	pid=$(jq -r .pid <<<"$output")
	[ "$pid" -gt 0 ]
	pid_alive "$pid"
	# The init process has not exec'd the user's command yet.
	if grep -q sleep "/proc/$pid/cmdline"; then fail "init already runs the command before start"; fi
}

@test "create: bundle defaults to the current directory" {
	c=$(cid a)
	cd "$B"
	run -0 rt create "$c"
	run -0 rt state "$c"
	assert_state_json "$output" "$c" created "$B"
}

@test "create --pid-file writes the init pid" {
	c=$(cid a)
	run -0 rt create --bundle "$B" --pid-file "$TEST_DIR/pid" "$c"
	[ -s "$TEST_DIR/pid" ]
	run -0 rt state "$c"
	[ "$(cat "$TEST_DIR/pid")" = "$(jq -r .pid <<<"$output")" ]
}

@test "start: created -> running, runs the process" {
	c=$(cid a)
	run -0 rt create --bundle "$B" "$c"
	run -0 rt start "$c"
	wait_status "$c" running 10
	run -0 rt state "$c"
	assert_state_json "$output" "$c" running "$B"
	pid=$(jq -r .pid <<<"$output")
	# The init is now the bundle's command (sh), with sleep as its child.
	run -0 rt ps -f json "$c"
	[ "$(jq 'length' <<<"$output")" -ge 2 ]
	jq -e --argjson p "$pid" 'index($p) != null' <<<"$output"
}

@test "start: a second start fails" {
	c=$(cid a)
	run -0 rt create --bundle "$B" "$c"
	run -0 rt start "$c"
	run -1 rt start "$c"
	[[ $output == *"not in created state"* || $output == *"cannot start"* ]] || fail "got: $output"
}

@test "start: process that exits -> stopped, pid 0" {
	c=$(cid a)
	mkbundle "$TEST_DIR/b2" --args "sh -c 'exit 0'"
	run -0 rt create --bundle "$TEST_DIR/b2" "$c"
	run -0 rt start "$c"
	wait_status "$c" stopped 10
	run -0 rt state "$c"
	assert_state_json "$output" "$c" stopped "$TEST_DIR/b2"
	[ "$(jq -r .pid <<<"$output")" = 0 ]
}

@test "state: unknown container -> exit 1, 'container does not exist'" {
	run -1 rt state "$(cid nosuch)"
	[[ $output == *"does not exist"* ]] || fail "got: $output"
}
