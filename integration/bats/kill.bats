#!/usr/bin/env bats
# kill: signal names, numbers, SIG prefix, default TERM, --all, errors.

load helpers

setup() {
	setup_common
	B=$TEST_DIR/bundle
	mkbundle "$B" --rw
	c=$(cid k)
}

teardown() { teardown_common; }

# The init traps TERM and exits 42; a stopped container with that status proves delivery.
start_long() { create_start "$c" "$B"; }

@test "kill: default signal is TERM" {
	start_long
	run -0 rt kill "$c"
	wait_status "$c" stopped 10
}

@test "kill: by name, SIG-prefixed name and number" {
	for sig in TERM SIGTERM 15; do
		start_long
		run -0 rt kill "$c" "$sig"
		wait_status "$c" stopped 10
		run -0 rt delete "$c"
	done
}

@test "kill: KILL stops the container" {
	start_long
	pid=$(rt state "$c" | jq -r .pid)
	run -0 rt kill "$c" KILL
	wait_status "$c" stopped 10
	wait_pid_gone "$pid" 5
}

@test "kill: a signal the init handles does not stop it (USR1 by number 10 is delivered)" {
	mkbundle "$TEST_DIR/b2" --args "sh -c 'trap \"echo usr1 >/tmp/got\" USR1; sleep 600 & wait; sleep 600 & wait'"
	create_start "$c" "$TEST_DIR/b2"
	run -0 rt kill "$c" USR1
	# still running, and the handler ran
	sleep 0.5
	[ "$(state_status "$c")" = running ]
	run -0 rt exec "$c" cat /tmp/got
	[ "$output" = usr1 ]
}

@test "kill: signal 0 checks the container without stopping it" {
	start_long
	run -0 rt kill "$c" 0
	sleep 0.3
	[ "$(state_status "$c")" = running ]
}

@test "kill: invalid signal name -> exit 1, 'unknown signal'" {
	start_long
	for sig in FOO SIGFOO; do
		run -1 rt kill "$c" "$sig"
		[[ $output == *"nknown signal"* ]] || fail "kill $sig: $output"
	done
	[ "$(state_status "$c")" = running ]
}

@test "kill: invalid signal number -> exit 1" {
	start_long
	run -1 rt kill "$c" 999
	[ "$(state_status "$c")" = running ]
}

@test "kill --all: signals every process of the container" {
	start_long
	run -0 rt exec --detach "$c" sleep 600
	run -0 rt ps -f json "$c"
	[ "$(jq length <<<"$output")" -ge 3 ]
	mapfile -t pids < <(jq -r '.[]' <<<"$output")
	run -0 rt kill --all "$c" KILL
	wait_status "$c" stopped 10
	for p in "${pids[@]}"; do wait_pid_gone "$p" 5; done
}

@test "kill: created (not started) container can be killed" {
	run -0 rt create --bundle "$B" "$c"
	run -0 rt kill "$c" KILL
	wait_status "$c" stopped 10
}

@test "kill: stopped container -> exit 1, 'container not running'" {
	start_long
	run -0 rt kill "$c" KILL
	wait_status "$c" stopped 10
	run -1 rt kill "$c" KILL
	[[ $output == *"not running"* ]] || fail "got: $output"
}

@test "kill: unknown container -> exit 1, 'container does not exist'" {
	run -1 rt kill "$(cid nosuch)" KILL
	[[ $output == *"does not exist"* ]] || fail "got: $output"
}
