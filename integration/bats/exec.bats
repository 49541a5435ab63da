#!/usr/bin/env bats
# exec: into a running container.

load helpers

setup() {
	setup_common
	mkbundle "$TEST_DIR/b"
	c=$(cid e)
	create_start "$c" "$TEST_DIR/b"
}

teardown() { teardown_common; }

@test "exec: output and exit 0" {
	run -0 rt exec "$c" echo hello
	[ "$output" = hello ]
}

@test "exec: runs inside the container (its pid namespace and hostname)" {
	run -0 rt exec "$c" hostname
	[ "$output" = runc ]
	run -0 rt exec "$c" sh -c 'cat /proc/1/cmdline | tr "\0" " "'
	[[ $output == "sh -c trap"* ]] || fail "pid 1 in container is: $output"
}

@test "exec: exit code propagates" {
	run -5 rt exec "$c" sh -c 'exit 5'
	run -1 rt exec "$c" false
}

@test "exec: --env and --cwd" {
	run -0 rt exec --env FOO=bar --env X=y --cwd /tmp "$c" sh -c 'echo "$FOO $X $(pwd)"'
	[ "$output" = "bar y /tmp" ]
}

@test "exec: --pid-file with --detach" {
	run -0 rt exec --detach --pid-file "$TEST_DIR/exec.pid" "$c" sleep 600
	[ -s "$TEST_DIR/exec.pid" ]
	pid=$(cat "$TEST_DIR/exec.pid")
	[[ $pid =~ ^[0-9]+$ ]]
	pid_alive "$pid"
	grep -q '^sleep' "/proc/$pid/cmdline"
	run -0 rt ps -f json "$c"
	jq -e --argjson p "$pid" 'index($p) != null' <<<"$output"
}

@test "exec --detach: returns while the process keeps running" {
	SECONDS=0
	run -0 rt exec --detach "$c" sh -c 'sleep 600'
	[ "$SECONDS" -lt 10 ]
	run -0 rt ps -f json "$c"
	[ "$(jq length <<<"$output")" -ge 3 ]
}

@test "exec --process: process.json (args, env, cwd) and exit code" {
	cat >"$TEST_DIR/process.json" <<-'JSON'
		{"terminal": false, "user": {"uid": 0, "gid": 0},
		 "args": ["sh", "-c", "echo from-process $X $(pwd); exit 6"],
		 "env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin", "X=y"], "cwd": "/tmp"}
	JSON
	run -6 rt exec --process "$TEST_DIR/process.json" "$c"
	[ "$output" = "from-process y /tmp" ]
}

@test "exec: as another user (--user 65534:65534)" {
	run -0 rt exec --user 65534:65534 "$c" id
	[[ $output == *"uid=65534"*"gid=65534"* ]] || fail "got: $output"
}

@test "exec: missing binary -> exit 255 (as runc), container keeps running" {
	run -255 rt exec "$c" /no/such/binary
	[ "$(state_status "$c")" = running ]
}

@test "exec: into a stopped container fails" {
	run -0 rt kill "$c" KILL
	wait_status "$c" stopped 10
	run rt exec "$c" true
	[ "$status" -ne 0 ]
}

@test "exec: unknown container -> exit 255, 'does not exist'" {
	run -255 rt exec "$(cid nosuch)" true
	[[ $output == *"does not exist"* ]] || fail "got: $output"
}
