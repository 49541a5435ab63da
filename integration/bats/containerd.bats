#!/usr/bin/env bats
# containerd (private instance, no CRI) drives the runtime through the runc v2 shim.

load helpers

setup_file() {
	require_runtime
	command -v containerd >/dev/null && command -v ctr >/dev/null || {
		echo "containerd/ctr not installed" >&2
		return 1
	}
	CTD_DIR=$(mktemp -d /tmp/cgfw-ctd.XXXXXX)
	export CTD_DIR
	"$REPO_ROOT/integration/containerd/containerd.sh" start "$CTD_DIR" >/dev/null
}

teardown_file() {
	[ -n "${CTD_DIR:-}" ] || return 0
	"$REPO_ROOT/integration/containerd/containerd.sh" stop "$CTD_DIR" || true
	rm -rf "$CTD_DIR"
}

setup() {
	setup_common
	mkbundle "$TEST_DIR/b"
	ROOTFS=$TEST_DIR/b/rootfs
	# --runc-root: the shim passes it to the runtime as --root
	RT_ROOT=$TEST_DIR/rtroot
	NAME=$(cid ctr)
	CTR_RUN=(run --runtime io.containerd.runc.v2 --runc-binary "$RUNTIME" --runc-root "$RT_ROOT"
		--env PATH=/usr/sbin:/usr/bin:/sbin:/bin)
	# ctr sets cpu shares 1024 by default; hack/pure-v2.sh's cgroup2 view of a hybrid host
	# has no cpu controller (it is bound to v1), so leave cpu alone there.
	if is_cgroup2_only && ! grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
		CTR_RUN+=(--cpu-shares 0)
	fi
}

teardown() {
	local t
	for t in $(c tasks ls -q 2>/dev/null); do c tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
	sleep 0.2
	for t in $(c tasks ls -q 2>/dev/null); do c tasks delete -f "$t" >/dev/null 2>&1 || true; done
	for t in $(c containers ls -q 2>/dev/null); do c containers delete "$t" >/dev/null 2>&1 || true; done
	[ -n "${WORLD_UP:-}" ] && "$WORLD" down "$WORLD_UP" >/dev/null 2>&1
	ROOT=$RT_ROOT teardown_common
}

c() { timeout --kill-after=5 60 ctr --address "$CTD_DIR/containerd.sock" --namespace cgfw-test "$@" </dev/null; }

nothing_left() {
	run -0 c tasks ls -q
	[ -z "$output" ] || fail "tasks left: $output"
	run -0 c containers ls -q
	[ -z "$output" ] || fail "containers left: $output"
	# the shim runs the runtime with --root <runc-root>/<namespace>
	local left i
	for i in $(seq 1 50); do
		left=$(ls -A "$RT_ROOT"/cgfw-test 2>/dev/null || true)
		[ -z "$left" ] && return 0
		sleep 0.2
	done
	fail "left under the runtime root: $left"
}

@test "containerd: ctr run --rm through the runc v2 shim, exit 5 propagates, nothing left" {
	run -5 c "${CTR_RUN[@]}" --rm --rootfs "$ROOTFS" "$NAME" sh -c 'echo out-line; exit 5'
	[[ $output == *out-line* ]] || fail "got: $output"
	nothing_left
}

@test "containerd: ctr run -d, task exec, kill, delete" {
	run -0 c "${CTR_RUN[@]}" -d --rootfs "$ROOTFS" "$NAME" sh -c 'trap "exit 9" TERM; sleep 600 & wait'
	run -0 c tasks ls
	[[ $output =~ $NAME\ +[0-9]+\ +RUNNING ]] || fail "tasks: $output"
	run -0 c tasks exec --exec-id e1 "$NAME" sh -c 'echo in-exec $(cat /proc/1/comm)'
	[ "$output" = "in-exec sh" ]
	run -3 c tasks exec --exec-id e2 "$NAME" sh -c 'exit 3'
	# the runtime lists it under the shim's --root
	run -0 timeout 10 "$RUNTIME" --root "$RT_ROOT/cgfw-test" list -q
	[ "$output" = "$NAME" ] || fail "runtime list: $output"
	run -0 c tasks kill "$NAME"
	local i st=""
	for i in $(seq 1 50); do
		st=$(c tasks ls | awk -v n="$NAME" '$1 == n { print $3 }')
		[ "$st" = STOPPED ] && break
		sleep 0.2
	done
	[ "$st" = STOPPED ] || fail "status after TERM: $st"
	run -0 c tasks delete "$NAME"
	run -0 c containers delete "$NAME"
	nothing_left
}

@test "containerd: ctr run -t / tasks exec -t (the shim's console socket): a terminal, owned by the process's user" {
	# ctr -t wants a terminal of its own: script(1) gives it one.
	local ctr=(ctr --address "$CTD_DIR/containerd.sock" --namespace cgfw-test)
	run -0 timeout --kill-after=5 60 script -qefc "$(printf '%q ' "${ctr[@]}" "${CTR_RUN[@]}" --rm -t \
		--rootfs "$ROOTFS" "$NAME" sh -c 'tty; stat -c owner=%u:%g $(tty)')" /dev/null </dev/null
	[[ $output == */dev/pts/* ]] || fail "got: $output"
	[[ $output == *owner=0:5* ]] || fail "got: $output"
	nothing_left
	run -0 c "${CTR_RUN[@]}" -d --rootfs "$ROOTFS" "$NAME" sleep 600
	run -0 timeout --kill-after=5 60 script -qefc "$(printf '%q ' "${ctr[@]}" tasks exec -t --user 1000 --exec-id e1 "$NAME" \
		sh -c 'tty; stat -c owner=%u:%g $(tty)')" /dev/null </dev/null
	[[ $output == */dev/pts/* ]] || fail "got: $output"
	[[ $output == *owner=1000:5* ]] || fail "got: $output"
	run -0 c tasks kill -s SIGKILL "$NAME"
}

@test "containerd: task in the test world netns (--with-ns network:...) resolves and fetches" {
	WORLD_UP=wc$(printf '%x' $$)
	run -0 "$WORLD" up "$WORLD_UP"
	rm -rf "$TEST_DIR/b"
	mkbundle "$TEST_DIR/b" --nameserver 198.18.0.2
	run -0 c "${CTR_RUN[@]}" --rm --with-ns "network:/run/netns/$WORLD_UP-c" --rootfs "$ROOTFS" "$NAME" \
		sh -c 'nslookup evil.test; timeout 5 wget -qO- http://allowed.test/'
	[[ $output == *198.18.0.30* ]] || fail "got: $output"
	[[ $output == *allowed.test* ]] || fail "got: $output"
	nothing_left
}
