#!/usr/bin/env bats
# podman drives the runtime (conmon: create/start/exec/kill/delete) with a private storage,
# private runtime root and no host network.

load helpers

setup() {
	setup_common
	# hack/pure-v2.sh's view of this hybrid host has no controllers in cgroup2 (they are bound
	# to v1); podman's spec asks for a pids limit, which libcontainer must write to pids.max
	# (runc skips it). A real cgroup v2 host always has the pids controller.
	if is_cgroup2_only && ! grep -qw pids /sys/fs/cgroup/cgroup.controllers; then
		skip "no pids controller in this cgroup2 view (test-environment artifact)"
	fi
	command -v podman >/dev/null || fail "podman not installed"
	mkbundle "$TEST_DIR/b"
	ROOTFS=$TEST_DIR/b/rootfs
	RT_ROOT=$TEST_DIR/rtroot
	# podman 4.3's clean-up process (conmon's exit command) drops --runtime-flag, so a
	# `--runtime-flag root=...` would send its `delete` to the default root: use a wrapper.
	cat >"$TEST_DIR/runtime" <<-EOF2
		#!/bin/sh
		exec "$RUNTIME" --root "$RT_ROOT" "\$@"
	EOF2
	chmod +x "$TEST_DIR/runtime"
	PODMAN=(podman --root "$TEST_DIR/storage" --runroot "$TEST_DIR/runroot" --tmpdir "$TEST_DIR/ptmp"
		--cgroup-manager cgroupfs --events-backend file --runtime "$TEST_DIR/runtime")
	RUN_FLAGS=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --no-hosts)
	# podman sets pids.max by default; hack/pure-v2.sh's cgroup2 view of a hybrid host has
	# no pids controller (it is bound to v1), so no pids limit there.
	if is_cgroup2_only && ! grep -qw pids /sys/fs/cgroup/cgroup.controllers; then
		RUN_FLAGS+=(--pids-limit -1)
	fi
	NAME=$(cid pm)
}

teardown() {
	if [ -n "${PODMAN:-}" ]; then
		timeout 60 "${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
	fi
	[ -n "${WORLD_UP:-}" ] && "$WORLD" down "$WORLD_UP" >/dev/null 2>&1
	# podman's shm mounts live in its storage: nothing may stay mounted under TEST_DIR.
	local m
	for m in $(awk -v d="$TEST_DIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	ROOT=$RT_ROOT teardown_common
}

pm() { timeout --kill-after=5 60 "${PODMAN[@]}" "$@" </dev/null; }

# podman's --rm clean-up (conmon's exit command) may finish just after `podman run` returns.
runtime_root_empty() {
	local left i
	for i in $(seq 1 50); do
		left=$(ls -A "$RT_ROOT" 2>/dev/null || true)
		[ -z "$left" ] && return 0
		sleep 0.2
	done
	fail "left under the runtime root $RT_ROOT after 10s: $left"
}

@test "podman run --rm: exit code 7 propagates, output captured, nothing left" {
	run -7 pm run --rm --name "$NAME" --network none "${RUN_FLAGS[@]}" --rootfs "$ROOTFS" \
		sh -c 'echo out-line; echo err-line >&2; exit 7'
	[[ $output == *out-line* ]] || fail "got: $output"
	[[ $output == *err-line* ]] || fail "got: $output"
	run -0 pm ps -a -q
	[ -z "$output" ]
	runtime_root_empty
}

@test "podman run: the container has no host network and an empty resolv.conf" {
	run -0 pm run --rm --network none "${RUN_FLAGS[@]}" --rootfs "$ROOTFS" \
		sh -c 'ip -o link | grep -v " lo:" | wc -l; cat /etc/resolv.conf | grep -c nameserver || true'
	[ "${lines[0]}" = 0 ] || fail "interfaces other than lo: $output"
	[ "${lines[1]}" = 0 ] || fail "nameservers in resolv.conf: $output"
}

@test "podman run -d + exec + rm -f" {
	run -0 pm run -d --name "$NAME" --network none "${RUN_FLAGS[@]}" --rootfs "$ROOTFS" sleep 600
	run -0 pm inspect --format '{{.State.Status}}' "$NAME"
	[ "$output" = running ]
	run -0 pm exec "$NAME" sh -c 'echo in-exec $(cat /proc/1/comm)'
	[ "$output" = "in-exec sleep" ]
	run -4 pm exec "$NAME" sh -c 'exit 4'
	run -0 pm exec -e FOO=bar -w /tmp "$NAME" sh -c 'echo $FOO $(pwd)'
	[ "$output" = "bar /tmp" ]
	# the runtime knows the container under its root
	run -0 timeout 10 "$RUNTIME" --root "$RT_ROOT" list -q
	[[ $output == *"$(pm inspect --format '{{.Id}}' "$NAME")"* ]] || fail "runtime list: $output"
	run -0 pm rm -f -t 0 "$NAME"
	run -0 pm ps -a -q
	[ -z "$output" ]
	runtime_root_empty
}

@test "podman stop: TERM then the container exits" {
	run -0 pm run -d --name "$NAME" --network none "${RUN_FLAGS[@]}" --rootfs "$ROOTFS" \
		sh -c 'trap "exit 0" TERM; sleep 600 & wait'
	run -0 pm stop -t 10 "$NAME"
	run -0 pm inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$NAME"
	[ "$output" = "exited 0" ] || fail "got: $output"
	run -0 pm rm "$NAME"
	runtime_root_empty
}

@test "podman run in the test world netns: DNS and HTTP via the world only" {
	WORLD_UP=w$(printf '%x' $$)
	run -0 "$WORLD" up "$WORLD_UP"
	run -0 pm run --rm --network "ns:/run/netns/$WORLD_UP-c" --dns 198.18.0.2 "${RUN_FLAGS[@]}" --rootfs "$ROOTFS" \
		sh -c 'nslookup allowed.test; timeout 5 wget -qO- http://github.com/'
	[[ $output == *198.18.0.10* ]] || fail "got: $output"
	[[ $output == *github.com* ]] || fail "got: $output"
	runtime_root_empty
}

@test "podman run -t / exec -t (conmon's --console-socket): a terminal, owned by the process's user" {
	run -0 pm run --rm -t -u 1000:100 --network none "${RUN_FLAGS[@]}" --rootfs "$ROOTFS" \
		sh -c 'tty; stat -c owner=%u:%g $(tty)'
	[[ ${lines[0]} =~ ^/dev/pts/[0-9]+ ]] || fail "got: $output"
	[[ ${lines[1]} == owner=1000:5* ]] || fail "got: $output"
	run -0 pm run -d --name "$NAME" --network none "${RUN_FLAGS[@]}" --rootfs "$ROOTFS" sleep 600
	run -0 pm exec -t -u 1000:100 "$NAME" sh -c 'tty; stat -c owner=%u:%g $(tty)'
	[[ ${lines[0]} =~ ^/dev/pts/[0-9]+ ]] || fail "got: $output"
	[[ ${lines[1]} == owner=1000:5* ]] || fail "got: $output"
	run -0 pm rm -f -t 0 "$NAME"
	runtime_root_empty
}
