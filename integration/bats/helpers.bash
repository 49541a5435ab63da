# Shared helpers for the runc-compatibility suite. Every test runs against $RUNTIME (default:
# the repo's target/release/cgfw-runc; relative paths are taken from the repo root), so the
# same suite validates real runc: RUNTIME=/usr/sbin/runc bats integration/bats
#
# Per test: a private state dir ($ROOT, passed as --root), a bundle made by hack/mkbundle.sh,
# unique container ids (cgroups are machine-wide), and a teardown that force-deletes every
# container the test made and kills every background process it started.

bats_require_minimum_version 1.5.0

REPO_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
RUNTIME=${RUNTIME:-target/release/cgfw-runc}
case "$RUNTIME" in
/*) ;;
*/*) RUNTIME=$REPO_ROOT/$RUNTIME ;;
*) RUNTIME=$(command -v "$RUNTIME" || echo "$REPO_ROOT/$RUNTIME") ;;
esac
export RUNTIME
MKBUNDLE=$REPO_ROOT/hack/mkbundle.sh
WORLD=$REPO_ROOT/hack/world-netns.sh
# Upper bound for one runtime call that should be quick.
RT_TIMEOUT=${RT_TIMEOUT:-20}
# A container init that waits, exits 42 on SIGTERM, and is gone after 10 minutes at most.
LONG_ARGS="sh -c 'trap \"echo got-TERM; exit 42\" TERM; sleep 600 & wait'"

require_runtime() {
	if [ ! -x "$RUNTIME" ]; then
		echo "runtime '$RUNTIME' not found or not executable (set RUNTIME=...)" >&2
		return 1
	fi
}

is_cgroup2_only() { [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; }

# Common setup: call from each file's setup().
setup_common() {
	require_runtime
	TEST_DIR=$(mktemp -d "${CGFW_TEST_TMP:-/tmp}/cgfw-bats.XXXXXX")
	ROOT=$TEST_DIR/root
	mkdir -p "$ROOT"
	BG_PIDS=()
	# Short, unique per test and per run: cgroup paths and names are global.
	ID_PREFIX=t$(printf '%x' "$$")n${BATS_TEST_NUMBER}
}

# cid NAME: a unique container id for this test, recorded for teardown.
cid() {
	local i="${ID_PREFIX}-$1"
	echo "$i" >>"$TEST_DIR/ids"
	echo "$i"
}

# mkbundle DIR [mkbundle.sh options]: make a bundle (default args: a long-running sh).
mkbundle() {
	local dir=$1
	shift
	if [[ " $* " != *" --args "* ]]; then
		set -- --args "$LONG_ARGS" "$@"
	fi
	"$MKBUNDLE" "$dir" "$@" >/dev/null
}

# rt ARGS...: the runtime with our --root, bounded in time, stdin from /dev/null.
# The runtime's stdout/stderr go to fresh files that are printed afterwards: a created or
# detached container inherits them, and must not hold the pipe of bats' `run` (or of `$(...)`)
# open, which would hang the caller until the container exits.
RT_SEQ=0
rt() {
	local rc=0 f
	RT_SEQ=$((RT_SEQ + 1))
	f=$TEST_DIR/rt.$BASHPID.$RT_SEQ
	timeout --kill-after=5 "$RT_TIMEOUT" "$RUNTIME" --root "$ROOT" "$@" </dev/null >"$f.out" 2>"$f.err" || rc=$?
	cat "$f.out"
	cat "$f.err" >&2
	return "$rc"
}

# state_status ID: print the container's status, or nothing.
state_status() {
	rt state "$1" 2>/dev/null | jq -r '.status' 2>/dev/null || true
}

# wait_status ID STATUS [SECONDS]: poll `state` until STATUS (bounded).
wait_status() {
	# Polled every 20 ms so a wait ends soon after the status changes.
	local id=$1 want=$2 secs=${3:-10} got="" end
	end=$((SECONDS + secs + 1)) # SECONDS ticks whole seconds: never less than secs
	while :; do
		got=$(state_status "$id")
		[ "$got" = "$want" ] && return 0
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.02
	done
	echo "container $id: status '$got', want '$want' after ${secs}s" >&2
	return 1
}

# create_start ID BUNDLE: create + start (the lifecycle containerd and podman use), then
# check the container is running.
create_start() {
	local id=$1 bundle=$2
	rt create --bundle "$bundle" "$id" || return 1
	rt start "$id" || return 1
	wait_status "$id" running 10
}

# spawn CMD...: start CMD in the background (bounded by RT_TIMEOUT*3), output to
# $TEST_DIR/spawn.N.{out,err}; remembers its pid in BG_PID (and for teardown).
spawn() {
	local n=${#BG_PIDS[@]}
	timeout --kill-after=5 $((RT_TIMEOUT * 3)) "$@" </dev/null >"$TEST_DIR/spawn.$n.out" 2>"$TEST_DIR/spawn.$n.err" 3>&- &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
	SPAWN_OUT=$TEST_DIR/spawn.$n.out
}

teardown_common() {
	[ -n "${TEST_DIR:-}" ] || return 0
	local ids=() i
	if [ -f "$TEST_DIR/ids" ]; then mapfile -t ids <"$TEST_DIR/ids"; fi
	# Also whatever the runtime lists and whatever state dirs exist under --root.
	if [ -d "$ROOT" ]; then
		mapfile -t -O "${#ids[@]}" ids < <(timeout 10 "$RUNTIME" --root "$ROOT" list -q 2>/dev/null </dev/null || true)
		for i in "$ROOT"/*/; do [ -d "$i" ] && ids+=("$(basename "$i")"); done
	fi
	for i in $(printf '%s\n' "${ids[@]}" | sort -u); do
		[ -n "$i" ] || continue
		timeout 10 "$RUNTIME" --root "$ROOT" delete --force "$i" >/dev/null 2>&1 </dev/null ||
			{
				timeout 10 "$RUNTIME" --root "$ROOT" kill "$i" KILL >/dev/null 2>&1 </dev/null
				sleep 0.2
				timeout 10 "$RUNTIME" --root "$ROOT" delete --force "$i" >/dev/null 2>&1 </dev/null
			} || true
	done
	for i in "${BG_PIDS[@]}"; do kill "$i" 2>/dev/null || true; done
	for i in "${BG_PIDS[@]}"; do wait "$i" 2>/dev/null || true; done
	rm -rf "$TEST_DIR"
}

# assert_json_state JSON ID STATUS BUNDLE: runc's state JSON shape.
assert_state_json() {
	local json=$1 id=$2 status=$3 bundle=$4
	jq -e --arg id "$id" --arg st "$status" --arg b "$bundle" '
		(.ociVersion | type == "string" and test("^[0-9]+\\.[0-9]+\\.[0-9]+"))
		and .id == $id
		and (.pid | type == "number")
		and .status == $st
		and .bundle == $b
		and .rootfs == ($b + "/rootfs")
		and (.created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)$"))
		and has("owner")
	' <<<"$json" >/dev/null || {
		echo "state JSON does not match runc's shape (id=$id status=$status bundle=$bundle):" >&2
		echo "$json" >&2
		return 1
	}
}

# pid_alive PID
pid_alive() { kill -0 "$1" 2>/dev/null; }

# wait_pid_gone PID [SECONDS]
wait_pid_gone() {
	local i
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		pid_alive "$1" || return 0
		sleep 0.1
	done
	echo "pid $1 still alive" >&2
	return 1
}

fail() {
	echo "$@" >&2
	return 1
}
