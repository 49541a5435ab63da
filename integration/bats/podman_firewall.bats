#!/usr/bin/env bats
# podman + cgfw-runc with cgfw.io/* annotations: podman (conmon) drives create/start/exec/
# kill/delete; the firewall must give the right verdicts and log events. Private podman
# storage, cgroupfs, file events; the container joins the test world's client netns only.
#
#   bats integration/bats/podman_firewall.bats

load helpers
load firewall_helpers

setup_file() {
	command -v podman >/dev/null || {
		echo "podman not installed" >&2
		return 1
	}
	fw_setup_file fp
}
teardown_file() { fw_teardown_file; }

setup() {
	fw_setup
	fwbundle "$TEST_DIR/b" --args "sh"
	ROOTFS=$TEST_DIR/b/rootfs
	RT_ROOT=$TEST_DIR/rtroot
	# podman 4.3's clean-up process drops --runtime-flag: global flags go in a wrapper.
	cat >"$TEST_DIR/runtime" <<-EOF2
		#!/bin/sh
		exec "$RUNTIME" --root "$RT_ROOT" --cgfw-log-dir "$LOGS" "\$@"
	EOF2
	chmod +x "$TEST_DIR/runtime"
	PODMAN=(podman --root "$TEST_DIR/storage" --runroot "$TEST_DIR/runroot" --tmpdir "$TEST_DIR/ptmp"
		--cgroup-manager cgroupfs --events-backend file --runtime "$TEST_DIR/runtime")
	RUN_FLAGS=(--network "ns:$FW_NETNS" --dns "$FW_DNS4" --no-hosts
		--ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --rootfs "$ROOTFS")
	NAME=$(cid pf)
}

teardown() {
	if [ -n "${PODMAN:-}" ]; then
		timeout 60 "${PODMAN[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true
	fi
	local m
	for m in $(awk -v d="$TEST_DIR" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	ROOT=$RT_ROOT teardown_common
}

pm() { timeout --kill-after=5 60 "${PODMAN[@]}" "$@" </dev/null; }

# wait_gone ID: podman's --rm clean-up (conmon's exit command) may finish just after `run`.
wait_gone() {
	local k left
	for k in $(seq 1 50); do
		left=$(ROOT=$RT_ROOT fw_leftovers "$1")
		[ -z "$left" ] && [ -z "$(ls -A "$RT_ROOT" 2>/dev/null)" ] && return 0
		sleep 0.2
	done
	fail "left after 10s: $left $(ls -A "$RT_ROOT" 2>/dev/null)"
}

@test "podman run --rm, block github.com: allowed.test fetched, github.com NXDOMAIN, event + report" {
	run -0 pm run --rm --name "$NAME" --cidfile "$TEST_DIR/cid" --annotation cgfw.io/block=github.com "${RUN_FLAGS[@]}" \
		sh -c 'wget -q -O- http://allowed.test/; echo rc1=$?; timeout 5 wget -q -O- http://github.com/; echo rc2=$?'
	local id
	id=$(cat "$TEST_DIR/cid")
	[[ $output == *allowed.test*rc1=0* ]] || fail "allowed.test: $output"
	[[ $output =~ rc2=[1-9] && $output == *"bad address 'github.com'"* ]] || fail "github.com: $output"
	run -0 events "$id" '.kind == "dns" and .domain == "github.com"'
	jq -se --arg id "$id" 'length >= 1 and all(.[]; .verdict == "blocked" and .cmdline == "wget -q -O- http://github.com/"
		and .container == $id and (.pid | type) == "number")' <<<"$output" >/dev/null || fail "events: $output"
	[ -f "$LOGS/$id.report.json" ] || fail "no report"
	jq -e '([.domains[] | select(.domain == "allowed.test")][0].verdict == "allowed")
		and ([.domains[] | select(.domain == "github.com")][0].verdict == "blocked")' "$LOGS/$id.report.json" >/dev/null ||
		fail "report: $(cat "$LOGS/$id.report.json")"
	wait_gone "$id"
}

@test "podman run -d, allow list: exec'd hardcoded IP EPERM (logged), allowed name works; rm -f cleans up" {
	run -0 pm run -d --name "$NAME" --annotation cgfw.io/allow=allowed.test "${RUN_FLAGS[@]}" sleep 600
	local id
	id=$(pm inspect --format '{{.Id}}' "$NAME")
	[ -n "$(sidecar_pids "$id")" ] || fail "no sidecar for $id"
	run -0 pm exec "$NAME" getconn-musl allowed.test
	[[ $output == *"body: allowed.test"* ]] || fail "got: $output"
	run -3 pm exec "$NAME" getconn-musl "$FW_EVIL4"
	[[ $output == *"Operation not permitted"* ]] || fail "got: $output"
	run -2 pm exec "$NAME" getconn-glibc github.com
	run -0 wait_event "$id" ".kind == \"connect\" and .ip == \"$FW_EVIL4\" and .verdict == \"blocked\""
	run -0 wait_event "$id" '.kind == "dns" and .domain == "github.com" and .verdict == "blocked" and .cmdline == "getconn-glibc github.com"'
	run -0 pm rm -f -t 0 "$NAME"
	wait_gone "$id"
	[ -f "$LOGS/$id.report.json" ] || fail "no report"
}

@test "podman run, invalid annotation: podman fails with the policy error, nothing left" {
	run pm run --rm --name "$NAME" --annotation 'cgfw.io/allow=exa$mple.com' "${RUN_FLAGS[@]}" true
	[ "$status" -ne 0 ] || fail "podman run succeeded: $output"
	output=${output//\\\"/\"}
	[[ $output == *'cgfw.io/allow: "exa$mple.com"'* ]] || fail "message: $output"
	pm rm -a -f -t 0 >/dev/null 2>&1 || true
	run -0 timeout 10 "$RUNTIME" --root "$RT_ROOT" list -q
	[ -z "$output" ] || fail "runtime lists: $output"
	[ -z "$(pgrep -f -- "--cgfw-log-dir $LOGS sidecar" || true)" ] || fail "sidecar left"
}
