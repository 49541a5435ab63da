#!/usr/bin/env bats
# runc-compatible command line and lifecycle edges (issue 15): help and version as runc
# prints them, checkpoint/restore, exec/kill/delete/events edge cases, PATH-less specs.

load helpers

setup() { setup_common; }
teardown() { teardown_common; }

@test "cli: -h, --help, help: NAME: then 'cgfw-runc - Open Container Initiative runtime'" {
	for form in -h --help help; do
		run -0 rt $form
		[ "${lines[0]}" = "NAME:" ] || fail "$form: ${lines[0]}"
		[[ ${lines[1]} == "   cgfw-runc - Open Container Initiative runtime"* ]] || fail "$form: ${lines[1]}"
	done
}

@test "cli: <verb> -h and help <verb>: '   cgfw-runc <verb> - ...' on the second line" {
	for verb in checkpoint create delete events exec kill list pause restore resume run spec start state update; do
		run -0 rt "$verb" -h
		[ "${lines[0]}" = "NAME:" ] || fail "$verb -h: ${lines[0]}"
		[[ ${lines[1]} == "   cgfw-runc $verb - "* ]] || fail "$verb -h: ${lines[1]}"
	done
	run -0 rt help delete
	[[ ${lines[1]} == "   cgfw-runc delete - "* ]] || fail "help delete: ${lines[1]}"
}

@test "cli: unknown verb (foo, foo -h, help foo) -> exit 3, 'No help topic for 'foo''" {
	run -3 rt foo -h
	[[ $output == *"No help topic for 'foo'"* ]] || fail "$output"
	run -3 rt help foo
	[[ $output == *"No help topic for 'foo'"* ]] || fail "$output"
}

@test "cli: -v and --version: version, commit and spec lines" {
	for form in -v --version; do
		run -0 rt $form
		[[ ${lines[0]} =~ ^cgfw-runc\ version\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "${lines[0]}"
		[[ ${lines[1]} == "commit: "?* ]] || fail "${lines[1]}"
		[[ ${lines[2]} =~ ^spec:\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "${lines[2]}"
	done
}

@test "cli: checkpoint and restore (any runc flags) fail with 'not supported'" {
	run -1 rt checkpoint --image-path "$TEST_DIR/img" --leave-running ct
	[[ $output == *"not supported"* ]] || fail "$output"
	run -1 rt restore --image-path "$TEST_DIR/img" -d ct
	[[ $output == *"not supported"* ]] || fail "$output"
}

@test "cli: spec writes runc's default (terminal, hostname runc, no cgroup ns, deny-all devices)" {
	cd "$TEST_DIR"
	run -0 rt spec
	jq -e '.process.terminal == true and .hostname == "runc"
		and (.linux.namespaces | map(.type) | index("cgroup") == null)
		and .linux.resources.devices == [{"allow": false, "access": "rwm"}]
		and (.process.capabilities | has("inheritable") | not)' config.json
}

@test "cli: --debug run: runc's step lines (nsexec container setup, init, closing the pipe)" {
	mkbundle "$TEST_DIR/b" --args 'echo hi'
	c=$(cid dbg)
	run -0 rt --log "$TEST_DIR/log.json" --log-format json --debug run --bundle "$TEST_DIR/b" "$c"
	[[ $output != *'"level":"debug"'* ]] || fail "debug lines on the terminal: $output"
	for step in "nsexec container setup" "child process in init()" "init: closing the pipe to signal completion"; do
		grep -F "$step" "$TEST_DIR/log.json" | jq -e '.level == "debug"' >/dev/null || fail "no '$step' in the log"
	done
}

@test "cli: exec into a created (not started) container runs, as runc" {
	mkbundle "$TEST_DIR/b"
	c=$(cid cr)
	run -0 rt create --bundle "$TEST_DIR/b" "$c"
	run -0 rt exec "$c" echo from-exec
	[ "$output" = from-exec ]
	[ "$(state_status "$c")" = created ]
	# Its private state view is gone, the container starts normally.
	[ -z "$(find "$ROOT/$c" -maxdepth 1 -name 'exec-*')" ]
	run -0 rt start "$c"
	wait_status "$c" running 10
}

@test "cli: exec --pid-file into a missing directory -> 255, the process is not left running" {
	mkbundle "$TEST_DIR/b"
	c=$(cid pf)
	create_start "$c" "$TEST_DIR/b"
	run -255 rt exec --pid-file "$TEST_DIR/nodir/pid" "$c" sleep 613
	run -0 rt exec "$c" sh -c 'ps | grep -c "[s]leep 613" || true'
	[ "$output" = 0 ] || fail "sleep still running: $output"
	# A good pid file is written whole, no temporary left behind.
	run -0 rt exec --pid-file "$TEST_DIR/exec.pid" "$c" true
	[[ $(cat "$TEST_DIR/exec.pid") =~ ^[0-9]+$ ]]
	[ ! -e "$TEST_DIR/.exec.pid" ]
}

@test "cli: create --pid-file into a missing directory -> exit 1, nothing left" {
	mkbundle "$TEST_DIR/b"
	c=$(cid cpf)
	run -1 rt create --pid-file "$TEST_DIR/nodir/pid" --bundle "$TEST_DIR/b" "$c"
	run -1 rt state "$c"
}

@test "cli: exec --cgroup: a missing sub-cgroup or '..' is refused (libcontainer would create it)" {
	mkbundle "$TEST_DIR/b"
	c=$(cid cg)
	create_start "$c" "$TEST_DIR/b"
	run -255 rt exec --cgroup nonexistent "$c" true
	[[ $output == *"/nonexistent/cgroup.procs: no such file"* ]] || fail "$output"
	run -255 rt exec --cgroup .. "$c" true
	[[ $output == *"is not a sub cgroup path"* ]] || fail "$output"
	run -255 rt exec --cgroup whaaat:/ "$c" true
	[[ $output == *"unknown controller"* ]] || fail "$output"
	run -0 rt exec --cgroup / "$c" true
}

@test "cli: kill -a ID 0 on a stopped container -> 0; kill ID 0 -> 1" {
	mkbundle "$TEST_DIR/b"
	c=$(cid k)
	create_start "$c" "$TEST_DIR/b"
	run -0 rt kill "$c" KILL
	wait_status "$c" stopped 10
	run -0 rt kill -a "$c" 0
	run -1 rt kill "$c" 0
	run -0 rt delete "$c"
}

@test "cli: events --stats: {\"type\":\"stats\",\"id\":ID,\"data\":...} in runc's order" {
	mkbundle "$TEST_DIR/b"
	c=$(cid ev)
	create_start "$c" "$TEST_DIR/b"
	run -0 rt events --stats "$c"
	[[ ${lines[0]} == "{\"type\":\"stats\",\"id\":\"$c\",\"data\":{"* ]] || fail "${lines[0]:0:80}"
}

@test "cli: a spec without PATH: an absolute args[0] runs, a bare name fails as runc's does" {
	mkbundle "$TEST_DIR/b" --args '/bin/sh -c "echo abs-ok"'
	jq '.process.env |= map(select(startswith("PATH=") | not))' "$TEST_DIR/b/config.json" >"$TEST_DIR/c.json"
	mv "$TEST_DIR/c.json" "$TEST_DIR/b/config.json"
	run -0 rt run --bundle "$TEST_DIR/b" "$(cid abs)"
	[[ $output == *abs-ok* ]] || fail "$output"
	jq '.process.args = ["sh", "-c", "echo rel"]' "$TEST_DIR/b/config.json" >"$TEST_DIR/c.json"
	mv "$TEST_DIR/c.json" "$TEST_DIR/b/config.json"
	run -1 rt run --bundle "$TEST_DIR/b" "$(cid rel)"
	[[ $output == *'exec: \"sh\": executable file not found in $PATH'* ]] || fail "$output"
}

@test "cli: a failing poststop hook: delete reports it and still deletes (as runc)" {
	mkbundle "$TEST_DIR/b" --args 'true'
	jq '.hooks = {"poststop": [{"path": "/bin/false"}]}' "$TEST_DIR/b/config.json" >"$TEST_DIR/c.json"
	mv "$TEST_DIR/c.json" "$TEST_DIR/b/config.json"
	c=$(cid hk)
	run -0 rt create --bundle "$TEST_DIR/b" "$c"
	run -0 rt start "$c"
	wait_status "$c" stopped 10
	rm -rf "$TEST_DIR/b"
	run -0 rt delete "$c"
	[[ $output == *"poststop"* ]] || fail "the hook's failure is not reported: $output"
	run -1 rt state "$c"
}
