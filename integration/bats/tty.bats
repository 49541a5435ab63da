#!/usr/bin/env bats
# Terminals: `run -t` / `exec -t` in the foreground (the runtime relays the terminal itself),
# and --console-socket (the caller receives the terminal's master), as runc does them: the
# process's stdio is a terminal of the container's devpts, owned by the process's uid with
# group tty (5), sized by process.consoleSize; runc's checks on -d/-t/--console-socket.
# script(1) gives the foreground runtime a terminal; integration/tools/recv-console.py is the
# console-socket receiver (as runc's recvtty).

load helpers

RECV_CONSOLE=$REPO_ROOT/integration/tools/recv-console.py
# The process's stdio, its terminal's owner and size, and an exit code.
TTY_SCRIPT='for f in /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; do readlink $f; done; stat -c owner=%u:%g $(tty); echo size=$(stty size); exit 3'

setup() {
	setup_common
	c=$(cid t)
}

teardown() { teardown_common; }

# set_config JQ: edit the bundle's config.json.
set_config() {
	jq "$1" "$TEST_DIR/b/config.json" >"$TEST_DIR/config.tmp" && mv "$TEST_DIR/config.tmp" "$TEST_DIR/b/config.json"
}

# in_terminal CMD: run CMD under a pseudo-terminal of its own (script(1)) sized 30x100,
# bounded; output without the terminal's carriage returns. (script's stdin is /dev/null: at
# its EOF script types an end-of-file character, which the container's terminal echoes as
# "^D" or "^@" at some point of the output: taken out.)
in_terminal() {
	local cmd
	cmd=$(printf '%q ' "$@")
	timeout --kill-after=5 60 script -qefc "stty rows 30 cols 100; exec $cmd" /dev/null </dev/null | tr -d '\r\000' | sed 's/\^[@D]//g'
	return "${PIPESTATUS[0]}"
}

# start_receiver: recv-console.py on $TEST_DIR/console.sock, its files in $TEST_DIR/console.
start_receiver() {
	mkdir -p "$TEST_DIR/console"
	spawn python3 "$RECV_CONSOLE" "$TEST_DIR/console.sock" "$TEST_DIR/console"
	local i
	for i in $(seq 100); do
		[ -S "$TEST_DIR/console.sock" ] && return 0
		sleep 0.05
	done
	fail "console receiver did not start"
}

# wait_file FILE PATTERN: until FILE holds a line matching PATTERN (bounded).
wait_file() {
	local i
	for i in $(seq 200); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "--- $1:" >&2
	cat "$1" >&2 || true
	fail "$1: no line matching '$2'"
}

@test "run -t in the foreground: stdio is the container's terminal, relayed; owner root:tty; exit code" {
	mkbundle "$TEST_DIR/b" --terminal --args "$(jq -nc --arg s "$TTY_SCRIPT" '["sh","-c",$s]')"
	run -3 in_terminal "$RUNTIME" --root "$ROOT" run -b "$TEST_DIR/b" "$c"
	[ "${#lines[@]}" -eq 5 ] || fail "output: $output"
	[[ ${lines[0]} =~ /dev/pts/[0-9]+$ ]]
	[[ ${lines[1]} =~ ^/dev/pts/[0-9]+$ ]]
	[[ ${lines[2]} =~ ^/dev/pts/[0-9]+$ ]]
	[ "${lines[3]}" = owner=0:5 ]
	# The host terminal's size (script's).
	[ "${lines[4]}" = "size=30 100" ]
	# Gone (no --keep).
	run -1 rt state "$c"
}

@test "run -t in the foreground as uid 1000 gid 100: the terminal is owned by 1000, group tty" {
	mkbundle "$TEST_DIR/b" --terminal --args "$(jq -nc --arg s "$TTY_SCRIPT" '["sh","-c",$s]')"
	set_config '.process.user = {uid: 1000, gid: 100}'
	run -3 in_terminal "$RUNTIME" --root "$ROOT" run -b "$TEST_DIR/b" "$c"
	[ "${lines[3]}" = owner=1000:5 ] || fail "output: $output"
}

@test "run -t without any terminal of ours (stdin /dev/null, no controlling tty): still a terminal inside" {
	# A deliberate difference: runc 1.1.5 refuses ("open /dev/tty: no such device or address").
	[[ $RUNTIME == */runc ]] && skip "runc needs a terminal of its own for run -t"
	mkbundle "$TEST_DIR/b" --terminal --args "$(jq -nc --arg s "$TTY_SCRIPT" '["sh","-c",$s]')"
	run -3 timeout --kill-after=5 60 setsid -w "$RUNTIME" --root "$ROOT" run -b "$TEST_DIR/b" "$c" </dev/null
	[[ ${lines[0]} =~ ^/dev/pts/[0-9]+$ ]] || fail "output: $output"
	[ "${lines[3]}" = owner=0:5 ]
}

@test "run -t: input reaches the container's terminal" {
	mkbundle "$TEST_DIR/b" --terminal --args '["sh","-c","read -r line; echo got=$line"]'
	run -0 bash -c "printf 'hello\n' | timeout --kill-after=5 60 script -qefc $(printf %q "$(printf '%q ' "$RUNTIME" --root "$ROOT" run -b "$TEST_DIR/b" "$c")") /dev/null"
	[[ $output == *got=hello* ]] || fail "output: $output"
}

@test "exec -t in the foreground: terminal relayed, owned by the container's user (1000)" {
	mkbundle "$TEST_DIR/b"
	set_config '.process.user = {uid: 1000, gid: 100}'
	create_start "$c" "$TEST_DIR/b"
	run -3 in_terminal "$RUNTIME" --root "$ROOT" exec -t "$c" sh -c "$TTY_SCRIPT"
	[[ ${lines[0]} =~ /dev/pts/[0-9]+$ ]] || fail "output: $output"
	[ "${lines[3]}" = owner=1000:5 ]
	[ "${lines[4]}" = "size=30 100" ]
	# Without -t: no terminal, as the container's user.
	run -0 rt exec "$c" sh -c 'id -u; tty || true'
	[ "${lines[0]}" = 1000 ]
	[ "${lines[1]}" = "not a tty" ]
}

@test "--console-socket: create/start and exec -d hand the terminal's master to the socket; consoleSize, owner" {
	mkbundle "$TEST_DIR/b" --terminal --args "$(jq -nc --arg s 'stat -c owner=%u:%g $(tty); echo size=$(stty size); sleep 600' '["sh","-c",$s]')"
	set_config '.process.user = {uid: 1000, gid: 100} | .process.consoleSize = {height: 10, width: 110}'
	start_receiver
	rt create --console-socket "$TEST_DIR/console.sock" --bundle "$TEST_DIR/b" "$c"
	rt start "$c"
	wait_status "$c" running 10
	wait_file "$TEST_DIR/console/1.out" '^size='
	grep -q '^owner=1000:5' "$TEST_DIR/console/1.out"
	grep -q '^size=10 110' "$TEST_DIR/console/1.out"
	grep -q '^size 10 110$' "$TEST_DIR/console/1.info"

	cat >"$TEST_DIR/process.json" <<-'JSON'
		{"terminal": true, "consoleSize": {"height": 20, "width": 90}, "user": {"uid": 0, "gid": 0},
		 "args": ["sh", "-c", "stat -c owner=%u:%g $(tty); echo size=$(stty size)"],
		 "env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"], "cwd": "/"}
	JSON
	rt exec -d --console-socket "$TEST_DIR/console.sock" --pid-file "$TEST_DIR/exec.pid" -p "$TEST_DIR/process.json" "$c"
	[ -s "$TEST_DIR/exec.pid" ]
	wait_file "$TEST_DIR/console/2.out" '^size='
	grep -q '^owner=0:5' "$TEST_DIR/console/2.out"
	grep -q '^size=20 90' "$TEST_DIR/console/2.out"
}

@test "terminal checks as runc: -d -t needs --console-socket; --console-socket needs -d and -t; a bad socket fails" {
	mkbundle "$TEST_DIR/b" --terminal
	run ! rt run -d -b "$TEST_DIR/b" "$c"
	[[ $output == *"cannot allocate tty if runc will detach without setting console socket"* ]]
	run ! rt state "$c"
	start_receiver
	run ! rt run --console-socket "$TEST_DIR/console.sock" -b "$TEST_DIR/b" "$c"
	[[ $output == *"cannot use console socket if runc will not detach or allocate tty"* ]]
	run ! rt create --console-socket "$TEST_DIR/no-such.sock" -b "$TEST_DIR/b" "$c"
	run ! rt state "$c"
	mkbundle "$TEST_DIR/b2"
	c2=$(cid t2)
	create_start "$c2" "$TEST_DIR/b2"
	run ! rt exec -d -t "$c2" true
	[[ $output == *"cannot allocate tty"* ]]
	run ! rt exec --console-socket "$TEST_DIR/console.sock" "$c2" true
	[[ $output == *"cannot use console socket"* ]]
}
